"""Model and checkpoint files load without running pickled code."""

from __future__ import annotations

import os

import pytest
import torch

from semmol.methods.property import PropertyModel
from semmol.models.multimodal import MultiModalEncoder
from semmol.runtime.checkpoint import UnsafeFileError, load_file, save_atomic


class _Payload:
    """Unpickling it would create a file: the mark that code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("loader", [load_file, MultiModalEncoder.load, PropertyModel.load])
def test_a_crafted_pickle_is_refused_and_not_run(tmp_path, loader):
    marker = tmp_path / "code-ran"
    path = tmp_path / "model.pt"
    torch.save({"format": "semmol.encoder/1", "state_dict": {}, "payload": _Payload(str(marker))}, path)
    with pytest.raises(
        UnsafeFileError, match=r"model\.pt: refused to load: it holds Python objects \(posix\.system\)"
    ):
        loader(path)
    assert not marker.exists()


def test_plain_files_round_trip(tmp_path):
    record = {
        "step": 3,
        "weights": torch.arange(4.0),
        "names": ["a", "b"],
        "nested": {"x": 1.5, "none": None},
    }
    save_atomic(record, tmp_path / "ckpt.pt")
    loaded = load_file(tmp_path / "ckpt.pt")
    assert torch.equal(loaded.pop("weights"), record.pop("weights")) and loaded == record


def test_other_files_are_named(tmp_path):
    (tmp_path / "notes.pt").write_text("not a torch file")
    with pytest.raises(ValueError, match=r"notes\.pt: not a readable torch file"):
        load_file(tmp_path / "notes.pt")
    with pytest.raises(FileNotFoundError, match=r"missing\.pt: no such model or checkpoint file"):
        load_file(tmp_path / "missing.pt")

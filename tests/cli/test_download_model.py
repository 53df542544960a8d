"""``semmol download-model --format pretrain_gnns``: a state dict of Hu et al.'s GNN fetched from a
URL (checked against its sha256) and converted into a semmol model of the graph2d_hu view."""

from __future__ import annotations

import functools
import hashlib
import json
from http.server import ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import torch

from semmol.cli.main import main
from semmol.config import PretrainGNNEncoderConfig
from semmol.models.multimodal import MultiModalEncoder
from semmol.models.pretrain_gnns import HuGNN

from ..loopback import QuietFileHandler, serve

ENCODER = {"architecture": "gcn", "dim": 6, "layers": 2, "dropout": 0.0}


@pytest.fixture
def published(tmp_path):
    """Base URL of a loopback server holding ``gcn_tiny.pth`` (a small GCN's state dict, in the
    legacy torch format of the published files), and that state dict."""
    torch.manual_seed(0)
    state = HuGNN("gcn", dim=6, layers=2, dropout=0.0).state_dict()
    root = tmp_path / "www"
    root.mkdir()
    torch.save(state, root / "gcn_tiny.pth", _use_new_zipfile_serialization=False)
    handler = functools.partial(QuietFileHandler, directory=root)
    with serve(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        yield url, state, hashlib.sha256((root / "gcn_tiny.pth").read_bytes()).hexdigest()


def _download(source: dict, out_dir, encoder: dict = ENCODER) -> None:
    main(
        ["download-model", "--name", "hu", "--source", json.dumps(source), "--out-dir", str(out_dir)]
        + ["--format", "pretrain_gnns", "--encoder", json.dumps(encoder)]
    )


def test_a_published_state_dict_becomes_a_graph2d_hu_model(published, tmp_path):
    url, state, sha256 = published
    _download({"kind": "url", "url": f"{url}/gcn_tiny.pth", "sha256": sha256}, tmp_path / "got")

    manifest = json.loads((tmp_path / "got/manifest.json").read_text())
    assert (manifest["file"], manifest["sha256"], manifest["architecture"]) == ("pretrain_gnns.pth", sha256, "gcn")
    model, extra = MultiModalEncoder.load(tmp_path / "got/model.pt")
    assert model.modalities == ["graph2d_hu"] and model.cfg.graph2d_hu == PretrainGNNEncoderConfig(**ENCODER)
    assert extra["published"] == {"format": "pretrain_gnns", "architecture": "gcn"}
    loaded = model.encoders["graph2d_hu"].gnn.state_dict()
    assert all(loaded[name].equal(value) for name, value in state.items())
    reference = HuGNN("gcn", dim=6, layers=2, dropout=0.0)
    reference.load_state_dict(state)
    smiles = ["CCO", "c1ccccc1O"]
    with torch.no_grad():
        hidden = model.eval()(SimpleNamespace(smiles=smiles))["graph2d_hu"].hidden
        graph, members = model.encoders["graph2d_hu"].featurize(smiles)
        nodes = reference.eval()(graph)
    torch.testing.assert_close(hidden[1], nodes[members == 1].mean(dim=0))


def test_a_wrong_checksum_or_architecture_leaves_no_model(published, tmp_path):
    url, _, sha256 = published
    with pytest.raises(SystemExit, match="sha256 mismatch"):
        _download({"kind": "url", "url": f"{url}/gcn_tiny.pth", "sha256": "0" * 64}, tmp_path / "bad_sum")
    assert not (tmp_path / "bad_sum/manifest.json").exists()
    with pytest.raises(SystemExit, match="not the weights of a 2-layer gat of size 6"):
        _download(
            {"kind": "url", "url": f"{url}/gcn_tiny.pth", "sha256": sha256},
            tmp_path / "bad_arch",
            encoder=ENCODER | {"architecture": "gat"},
        )
    assert not (tmp_path / "bad_arch/manifest.json").exists()

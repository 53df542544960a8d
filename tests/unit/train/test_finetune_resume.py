"""Fine-tuning stopped after some epochs and run again ends bit-identical to a run never stopped.

The stop is in-process: :meth:`FineTuner.run_epoch` (the step :meth:`FineTuner.fit` repeats,
checkpoint included) is called ``k`` times and the tuner dropped, as a kill after the epoch-``k``
checkpoint would leave it; :func:`finetune` then runs the job again in the same directory. The
workflow test kills a real fine-tuning job instead (tests/workflow/test_pipeline.py).
"""

from __future__ import annotations

import json
import logging

import polars as pl
import pytest
import torch

from semmol.runtime.checkpoint import load_file
from semmol.train.finetune_state import CHECKPOINT

from .test_finetune import make_job, make_tuner, run

pytestmark = pytest.mark.slow

#: Dropout on and a warm-up schedule: a resumed run must restore the random stream and scheduler.
JOB = make_job(init="scratch", epochs=5, patience=5, schedule="warmup_cosine", warmup_epochs=1, dropout=0.2)


@pytest.fixture(scope="module")
def straight(tiny_benchmark, tmp_path_factory):
    """A run of 5 epochs never stopped."""
    out = tmp_path_factory.mktemp("straight")
    run(tiny_benchmark, out, JOB)
    return out


def stop_after(tiny_benchmark, out, job, epochs: int) -> None:
    """Run ``epochs`` epochs of ``job`` in ``out`` and stop, its checkpoint left behind."""
    tuner = make_tuner(tiny_benchmark, job, out_dir=out)
    for _ in range(epochs):
        tuner.run_epoch()
    assert load_file(out / CHECKPOINT)["parts"]["progress"]["epoch"] == epochs
    assert not (out / "metrics.json").exists() and not (out / "model.pt").exists()


def assert_same_outputs(expected, got) -> None:
    """Same metrics (but the wall time), predictions and weights, to the bit."""
    metrics = [json.loads((out / "metrics.json").read_text()) for out in (expected, got)]
    for record in metrics:
        del record["seconds"]
    assert metrics[0] == metrics[1]
    predictions = [pl.read_parquet(out / "predictions.parquet") for out in (expected, got)]
    assert predictions[0].equals(predictions[1])
    weights = [load_file(out / "model.pt")["state_dict"] for out in (expected, got)]
    assert weights[0].keys() == weights[1].keys()
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), name


# 2: mid-run; 5: after the last epoch, before the outputs were written
@pytest.mark.parametrize("stopped_after", [2, 5])
def test_a_stopped_fine_tuning_resumes_to_the_run_never_stopped(
    tiny_benchmark, straight, tmp_path, caplog, stopped_after
):
    stop_after(tiny_benchmark, tmp_path, JOB, stopped_after)
    torch.manual_seed(123)  # whatever the random state of the process that resumes
    with caplog.at_level(logging.INFO, logger="semmol.train.finetune"):
        run(tiny_benchmark, tmp_path, JOB)
    assert f"after epoch {stopped_after}" in caplog.text
    assert_same_outputs(straight, tmp_path)
    assert not (tmp_path / "_ckpt").exists()  # removed once the outputs are written


def test_a_checkpoint_of_other_options_is_not_resumed(tiny_benchmark, straight, tmp_path, caplog):
    other = make_job(**(JOB.finetune.model_dump() | {"lr": 3e-4}))
    stop_after(tiny_benchmark, tmp_path, other, 2)
    with caplog.at_level(logging.WARNING):
        run(tiny_benchmark, tmp_path, JOB)
    assert "written with other options or inputs; starting afresh" in caplog.text
    assert_same_outputs(straight, tmp_path)

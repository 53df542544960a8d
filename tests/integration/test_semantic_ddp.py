"""Two ranks with half the batch each follow the one-rank trajectory of the SemMol objective."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from semmol.runtime.checkpoint import load_file

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

WORKER = Path(__file__).with_name("ddp_semantic_worker.py")


def one_process_run() -> dict:
    spec = importlib.util.spec_from_file_location("ddp_semantic_worker", WORKER)
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    threads = torch.get_num_threads()
    try:
        return worker.simulate()
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[dict, dict]:
    out = tmp_path_factory.mktemp("ddp") / "two.pt"
    launcher_vars = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}
    env = {name: value for name, value in os.environ.items() if name not in launcher_vars}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += [str(WORKER), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"torchrun failed:\n{done.stdout}\n{done.stderr}"
    return one_process_run(), load_file(out)


def test_infonce_value_and_gradients_match(runs):
    one, two = runs
    assert two["infonce"] == pytest.approx(one["infonce"], rel=1e-5)
    assert torch.allclose(two["infonce_grad"], one["infonce_grad"], atol=1e-6)


def test_centers_losses_and_tau_match_after_training(runs):
    one, two = runs
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-4, abs=1e-6)
    assert any(logs["sem_active"] for logs in one["logs"]), "matching never started"
    assert sum(logs["sem_graph2d_reseeded"] + logs["sem_geom3d_reseeded"] for logs in one["logs"]) > 0
    for key in ("sem_valid_rows", "sem_negatives_per_row", "sem_graph2d_reseeded", "sem_geom3d_dead"):
        assert [logs[key] for logs in two["logs"]] == [logs[key] for logs in one["logs"]], key
    assert set(two["state"]) == set(one["state"])
    for name, value in one["state"].items():
        if value.is_floating_point():
            assert torch.allclose(two["state"][name], value, atol=1e-5), name
        else:
            assert torch.equal(two["state"][name], value), name
    assert torch.allclose(two["encoder"], one["encoder"], atol=1e-5)

"""The device check (tools/gpu-check.sh) end to end in its CPU mode, from a bundle of the tiny
benchmark, in a process of its own that sees no CUDA device and, as a bare GPU machine, cannot
import the packages such a machine lacks (but those the bundle brings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from semmol.evaluate.gpu_check import BROUGHT, prepare
from semmol.evaluate.gpu_measure import ABSENT_ON_DEVICE

from ...conftest import ESOL_TARGET, ROOT, TINY_MODEL

pytestmark = pytest.mark.slow

PRETRAIN_JOB = {
    "model": TINY_MODEL,
    "pretrain": {"steps": 30, "batch_size": 8, "warmup_steps": 1, "checkpoint_every": 4},
    "semantic": {"n_centers": 4, "top_m": 2, "init_cache": 8, "warmup_updates": 1, "snapshot_every": 4},
}
#: Loaded at the start of the run phase's interpreter: refuses the packages named in REFUSED
#: wherever they are installed (the bundle's are found first, on PYTHONPATH).
SITECUSTOMIZE = """
import importlib.abc, os, sys

REFUSED = set(os.environ["REFUSED"].split(","))

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in REFUSED:
            raise ImportError(f"{name} is refused: a bare GPU machine lacks it")

sys.meta_path.insert(0, Refuse())
"""
FINETUNE_JOB = {
    "dataset": {
        "source": {"kind": "local", "path": "esol.csv"},
        "targets": [ESOL_TARGET],
        "task": "regression",
    },
    "model": TINY_MODEL,
    "finetune": {"modalities": ["smiles", "graph2d", "geom3d"], "epochs": 5, "batch_size": 16},
}


@pytest.fixture(scope="module")
def report(tiny_benchmark, tmp_path_factory) -> tuple[dict, str]:
    """``gpu-check.json`` and the printed summary of ``tools/gpu-check.sh run`` in CPU mode."""
    tmp = tmp_path_factory.mktemp("gpu_check")
    bundle, out, refuse = tmp / "bundle", tmp / "out", tmp / "refuse"
    refuse.mkdir()
    (refuse / "sitecustomize.py").write_text(SITECUSTOMIZE)
    prepare(
        corpus_manifest=tiny_benchmark["manifest"],
        molecules=tiny_benchmark["molecules"],
        benchmark_manifest=tiny_benchmark["manifest"],
        split=tiny_benchmark["split"],
        pretrain_job=PRETRAIN_JOB,
        finetune_job=FINETUNE_JOB,
        bundle=bundle,
    )
    env = os.environ | {
        "PYTHON": sys.executable,
        "PYTHONPATH": f"{refuse}:{ROOT}",
        "REFUSED": ",".join(name for name in ABSENT_ON_DEVICE if name not in BROUGHT),
        "CUDA_VISIBLE_DEVICES": "",  # CPU mode on a machine with a GPU as well
        "CPU_STEPS": "8",
    }
    done = subprocess.run(
        [str(ROOT / "tools" / "gpu-check.sh"), "run", str(bundle), str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "gpu-check.json").read_text()), done.stdout


def test_the_cpu_mode_pretrains_in_bf16_times_fp32_and_fine_tunes(report):
    report, printed = report
    assert "CPU mode" in printed and "fp32 / bf16 step time" in printed
    bf16, fp32 = report["bf16"], report["fp32"]
    assert (bf16["device"], bf16["bf16"], bf16["steps"]) == ("cpu", True, 8)
    assert (fp32["bf16"], fp32["steps"]) == (False, 4)
    for run in (bf16, fp32):
        assert run["molecules_per_s"] > 0 and 0 <= run["data_wait_fraction"] < 1
        assert len(run["step_s"]) == run["steps"] - 2  # neither the first nor the last step is timed
        assert run["gpu_utilisation_mean"] is None  # no GPU, no samples: said, not invented
    assert report["fp32_over_bf16_step_time"] > 0
    assert report["finetune"]["epochs_run"] == 1 and report["finetune"]["metric"] == "rmse"
    assert report["finetune"]["test"] > 0


def test_the_run_phase_imports_nothing_a_bare_gpu_machine_lacks(report):
    """It ran with them refused, pydantic aside, which it imported from the bundle."""
    assert report[0]["imported_absent_on_device"] == []
    assert "pydantic" in report[0]["brought"] and "pydantic_core" in report[0]["brought"]

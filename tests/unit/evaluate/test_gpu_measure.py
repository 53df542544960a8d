"""The GPU check's measuring code loads and measures where RDKit, pydantic, polars and
transformers cannot be imported, as on a bare GPU machine: a process of its own with an import
hook that refuses them, on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from semmol.evaluate.gpu_measure import ABSENT_ON_DEVICE

from ...conftest import ROOT

#: Run in a fresh interpreter: refuses the packages named in argv[1], then times a stream of 6
#: batches that each take 20 ms to produce and 10 ms to "train", on the CPU, and prints the
#: figures, the summary and the packages it imported.
CHILD = """
import importlib.abc, json, sys, time

BLOCKED = set(sys.argv[1].split(","))

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{name} is refused: a bare GPU machine lacks it")

sys.meta_path.insert(0, Refuse())
import torch
from semmol.evaluate.gpu_measure import GpuSampler, TimedStream, step_figures, summary, third_party_imports

class Batches:
    def set_epoch(self, epoch, *, start_batch=0):
        self.start = start_batch
    def __iter__(self):
        for _ in range(self.start, 6):
            time.sleep(0.02)
            yield torch.ones(4)

timed = TimedStream(Batches())
timed.set_epoch(0)
device = torch.device("cpu")
with GpuSampler(device) as sampler:
    for batch in timed:
        time.sleep(0.01)
run = {"bf16": False, **step_figures(timed, sampler, device=device, batch_size=4)}
imported = third_party_imports()
finetune = {"epochs_run": 1, "seconds": 0.1, "metric": "rmse", "test": 1.0, "peak_memory_mib": 1.0}
report = {
    "torch": torch.__version__, "bf16": run, "fp32": run, "fp32_over_bf16_step_time": 1.0,
    "finetune": finetune, "imported_absent_on_device": [name for name in BLOCKED if name in imported],
}
print(json.dumps({"run": run, "imported": imported, "summary": summary(report)}))
"""


def test_the_measuring_code_runs_without_the_packages_a_gpu_machine_lacks():
    done = subprocess.run(
        [sys.executable, "-c", CHILD, ",".join(ABSENT_ON_DEVICE)],
        env=os.environ | {"PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    run = result["run"]
    assert {"rdkit", "pydantic", "polars", "transformers"} <= set(ABSENT_ON_DEVICE)
    assert not set(ABSENT_ON_DEVICE) & set(result["imported"])
    assert (run["device"], run["steps"], len(run["step_s"])) == ("cpu", 6, 4)  # first and last untimed
    # each timed step: a 20 ms wait for its batch and 10 ms of "training"
    assert 0.03 <= run["step_s_median"] and 0.3 < run["data_wait_fraction"] < 1
    assert run["gpu_utilisation_mean"] is None and run["peak_memory_mib"] > 0
    assert "imports absent on a bare GPU machine: none" in result["summary"]

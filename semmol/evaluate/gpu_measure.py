"""What the GPU check's run phase measures, apart from the runs themselves: a batch stream's
timing, ``nvidia-smi`` utilisation samples, peak memory, the packages the process imported, and
the printed summary (:mod:`semmol.evaluate.gpu_check` runs the stages and uses these).

It imports PyTorch and the standard library only, so that it loads on a bare GPU machine; a test
(tests/unit/evaluate/test_gpu_measure.py) runs it with RDKit, pydantic, polars and transformers
blocked.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import time

import torch

#: Packages a bare GPU machine lacks, that the run phase must therefore not import unless the
#: bundle brings them (:data:`semmol.evaluate.gpu_check.BROUGHT`).
ABSENT_ON_DEVICE = ("rdkit", "polars", "pydantic", "snakemake", "faiss", "transformers", "datamol")


class TimedStream:
    """A pretraining batch stream that records when each batch was asked for and how long the
    stream took to produce it (reading shards, collating): the data wait of the step."""

    def __init__(self, stream):
        self.stream = stream
        self.asked: list[float] = []
        self.waited: list[float] = []

    def set_epoch(self, epoch: int, *, start_batch: int = 0) -> None:
        self.stream.set_epoch(epoch, start_batch=start_batch)

    def __iter__(self):
        batches = iter(self.stream)
        while True:
            asked = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            self.asked.append(asked)
            self.waited.append(time.perf_counter() - asked)
            yield batch


class GpuSampler:
    """``nvidia-smi`` sampling the GPU's utilisation (percent of time a kernel ran) every
    ``interval_ms`` while inside; no samples where there is no ``nvidia-smi``.

    Args:
        device: the CUDA device sampled.
        interval_ms: sampling period; default 200.
    """

    def __init__(self, device: torch.device, interval_ms: int = 200):
        self.command = None
        if device.type == "cuda" and shutil.which("nvidia-smi"):
            index = torch.cuda.current_device() if device.index is None else device.index
            self.command = [
                "nvidia-smi",
                f"--id={index}",
                "--query-gpu=utilization.gpu",
                "--format=csv,noheader,nounits",
                f"--loop-ms={interval_ms}",
            ]
        self.samples: list[float] = []

    def __enter__(self) -> GpuSampler:
        self.process = None
        if self.command is not None:
            self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is None:
            return
        self.process.terminate()
        out, _ = self.process.communicate()
        self.samples = [float(line) for line in out.split() if line.replace(".", "", 1).isdigit()]


def peak_memory_mib(device: torch.device) -> float:
    """Peak GPU memory allocated by torch since the last reset, or the process's peak RSS on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux


def step_figures(timed: TimedStream, sampler: GpuSampler, *, device: torch.device, batch_size: int) -> dict:
    """The figures of one timed run: molecules/s, step time, the data wait's share of it, peak
    memory and GPU utilisation.

    Step time runs from one batch request to the next: the data wait, the copy to the device, the
    step and what follows it. The first step (kernel selection, allocator growth) and the last
    (followed by the run's outputs) are not timed.

    Args:
        timed: the run's stream, consumed.
        sampler: the utilisation samples taken during the run.
        device: where the run trained.
        batch_size: molecules per step.
    """
    steps = [later - earlier for earlier, later in zip(timed.asked, timed.asked[1:])][1:]
    waits = timed.waited[1:-1]
    return {
        "device": str(device),
        "steps": len(timed.asked),
        "batch_size": batch_size,
        "molecules_per_s": batch_size * len(steps) / sum(steps),
        "step_s_median": statistics.median(steps),
        "step_s_mean": statistics.fmean(steps),
        "data_wait_fraction": sum(waits) / sum(steps),
        "peak_memory_mib": peak_memory_mib(device),
        "peak_memory_kind": "GPU, by torch" if device.type == "cuda" else "process RSS, peak so far",
        "gpu_utilisation_mean": statistics.fmean(sampler.samples) if sampler.samples else None,
        "gpu_utilisation_samples": len(sampler.samples),
        "step_s": steps,
    }


def third_party_imports() -> list[str]:
    """Top-level packages of this process that are neither the standard library nor semmol."""
    return sorted(
        {name.split(".")[0] for name in sys.modules}
        - set(sys.stdlib_module_names)
        - {"semmol", "__main__", "__mp_main__"}
        - {name for name in sys.modules if name.startswith("_")}
    )


def summary(report: dict) -> str:
    """The report's figures as lines of text."""
    lines = [f"device: {report['bf16']['device']} {report.get('gpu', '')} (torch {report['torch']})"]
    for name in ("bf16", "fp32"):
        run = report[name]
        utilisation = run["gpu_utilisation_mean"]
        if utilisation is None:
            utilisation = "n/a (no nvidia-smi)"
        else:
            utilisation = f"{utilisation:.0f}% (mean of {run['gpu_utilisation_samples']} samples)"
        lines.append(
            f"pretrain {name}: {run['steps']} steps of {run['batch_size']}, "
            f"{run['molecules_per_s']:.0f} molecules/s, step {run['step_s_median'] * 1e3:.1f} ms (median), "
            f"data wait {run['data_wait_fraction']:.1%} of step time, peak memory "
            f"{run['peak_memory_mib']:.0f} MiB ({run['peak_memory_kind']}), GPU utilisation {utilisation}"
        )
    lines.append(f"fp32 / bf16 step time over the first steps: {report['fp32_over_bf16_step_time']:.2f}")
    tune = report["finetune"]
    lines.append(
        f"finetune (bf16): {tune['epochs_run']} epochs in {tune['seconds']:.1f} s, "
        f"test {tune['metric']} {tune['test']}, peak memory {tune['peak_memory_mib']:.0f} MiB"
    )
    absent = report["imported_absent_on_device"]
    lines.append("imports absent on a bare GPU machine: " + (", ".join(absent) if absent else "none"))
    return "\n".join(lines)

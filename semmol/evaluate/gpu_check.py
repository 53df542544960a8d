"""The one device check of the GPU path (``tools/gpu-check.sh``): run on a machine with a GPU,
it pretrains the SemMol row on prebuilt demo shards in bf16, times the same pretraining's first
steps in fp32, fine-tunes once, and prints what a GPU run costs.

Two phases, so that the device needs no RDKit: ``prepare`` (here, with the whole environment)
copies the corpus shards, one benchmark's molecules, shards and split, and the two stage jobs
into a bundle directory; ``run`` (on the device) reads only the bundle. Without a GPU, ``run``
does the same on the CPU (shorter, by its step options), which is how CI tests it.

``run`` reports the third-party packages its process imported, and which of those a bare GPU
machine (PyTorch with CUDA and the common scientific stack) lacks: :data:`ABSENT_ON_DEVICE`.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

#: Packages a bare GPU machine lacks, that the run phase must therefore not import.
ABSENT_ON_DEVICE = ("rdkit", "polars", "pydantic", "snakemake", "faiss", "transformers", "datamol")

#: Files of a bundle, relative to its directory.
CORPUS = "corpus/shards/manifest.json"
BENCHMARK = "benchmark"
JOBS = "jobs.json"


def prepare(
    *,
    corpus_manifest: Path,
    molecules: Path,
    benchmark_manifest: Path,
    split: Path,
    pretrain_job: dict,
    finetune_job: dict,
    bundle: Path,
) -> None:
    """Copy what :func:`run` reads into ``bundle`` (replacing an earlier bundle).

    Args:
        corpus_manifest: the corpus ``shards/manifest.json`` (its shards are copied beside it).
        molecules: the benchmark's ``molecules.parquet``.
        benchmark_manifest: the benchmark's ``shards/manifest.json``.
        split: a split JSON of the benchmark.
        pretrain_job: the pretraining job, as the workflow passes it (JSON-able).
        finetune_job: the fine-tuning job, likewise.
        bundle: the directory to write.
    """
    from semmol.data.shards import shard_paths

    shutil.rmtree(bundle, ignore_errors=True)
    for manifest, target in [
        (corpus_manifest, bundle / CORPUS),
        (benchmark_manifest, bundle / BENCHMARK / "shards" / "manifest.json"),
    ]:
        target.parent.mkdir(parents=True)
        shutil.copy(manifest, target)
        for shard in shard_paths(manifest):
            shutil.copy(shard, target.parent / shard.relative_to(manifest.parent))
    shutil.copy(molecules, bundle / BENCHMARK / "molecules.parquet")
    shutil.copy(split, bundle / BENCHMARK / "split.json")
    (bundle / JOBS).write_text(json.dumps({"pretrain": pretrain_job, "finetune": finetune_job}, indent=1))


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


def _peak_memory_mib(device: torch.device) -> float:
    """Peak GPU memory allocated by torch since the last reset, or the process's peak RSS on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux


def timed_pretraining(job, *, manifest: Path, out_dir: Path) -> dict:
    """Run one pretraining job (:class:`~semmol.train.pretrain.Pretrainer`, its own loop,
    checkpoints and outputs) and time it step by step.

    Step time runs from one batch request to the next: the data wait, the copy to the device,
    the step, and whatever logging, checkpoint or snapshot follows it. The first step (kernel
    selection, allocator growth) and the last (followed by the run's outputs) are not timed.
    A step ends by turning its losses into floats, which waits for the GPU, so the host's clock
    times the device's work.

    Args:
        job: a :class:`~semmol.config.PretrainJob`.
        manifest: the corpus ``shards/manifest.json``.
        out_dir: where the run writes ``model.pt`` and its checkpoint.
    """
    from semmol.runtime.distributed import init_distributed
    from semmol.runtime.precision import uses_bf16
    from semmol.train.pretrain import Pretrainer

    trainer = Pretrainer(job, shards_manifest=manifest, out_dir=out_dir, ctx=init_distributed())
    device = trainer.ctx.device
    timed = trainer.stream = TimedStream(trainer.stream)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with GpuSampler(device) as sampler:
        trainer.run()
    steps = [later - earlier for earlier, later in zip(timed.asked, timed.asked[1:])][1:]
    waits = timed.waited[1:-1]
    return {
        "device": str(device),
        "bf16": uses_bf16(job.pretrain.precision, device),
        "steps": len(timed.asked),
        "batch_size": job.pretrain.batch_size,
        "molecules_per_s": job.pretrain.batch_size * len(steps) / sum(steps),
        "step_s_median": statistics.median(steps),
        "step_s_mean": statistics.fmean(steps),
        "data_wait_fraction": sum(waits) / sum(steps),
        "peak_memory_mib": _peak_memory_mib(device),
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


def stage_jobs(config: Path, *, run_name: str, benchmark: str) -> tuple[dict, dict]:
    """The pretraining and fine-tuning jobs of one run and benchmark of a config, as the
    workflow passes them to its stages (``workflow/rules/common.smk``).

    Args:
        config: an experiment config (YAML).
        run_name: one of its ``runs``.
        benchmark: one of its ``benchmarks``.
    """
    from semmol.config import load_config, resolve_run
    from semmol.methods import method_class

    experiment = resolve_run(load_config(config), run_name)
    pretrain = {
        "standardize": experiment.standardize.model_dump(mode="json"),
        "model": experiment.model.model_dump(mode="json"),
        "pretrain": experiment.pretrain.model_dump(mode="json"),
    }
    own = method_class(experiment.pretrain.method).options_section
    if own is not None:
        pretrain[own] = getattr(experiment, own).model_dump(mode="json")
    finetune = {
        "dataset": experiment.datasets[benchmark].model_dump(
            mode="json", exclude={"conformer_fraction"}  # as the workflow's CONFORMER_FIELDS
        ),
        "standardize": pretrain["standardize"],
        "model": pretrain["model"],
        "finetune": experiment.finetune.model_dump(mode="json"),
    }
    return pretrain, finetune


def _with(job, section: str, **options):
    """``job`` with some options of one of its sections replaced."""
    return job.model_copy(update={section: getattr(job, section).model_copy(update=options)})


def run(
    bundle: Path, *, out: Path, steps: int | None, fp32_steps: int, finetune_epochs: int | None
) -> dict:
    """Pretrain in bf16, time the first ``fp32_steps`` of the same pretraining in fp32, fine-tune
    once (bf16) from the bf16 model; write ``out/gpu-check.json`` and return it.

    Args:
        bundle: a directory made by :func:`prepare`.
        out: where the runs and the report go (emptied first).
        steps: pretraining steps (default: the job's).
        fp32_steps: steps of the fp32 run (its first and last are not timed).
        finetune_epochs: fine-tuning epochs (default: the job's).
    """
    from semmol.config import FinetuneJob, PretrainJob
    from semmol.train.finetune import finetune

    jobs = json.loads((bundle / JOBS).read_text())
    pretrain_job = _with(PretrainJob.model_validate(jobs["pretrain"]), "pretrain", precision="bf16")
    if steps is not None:
        pretrain_job = _with(pretrain_job, "pretrain", steps=steps)
    shutil.rmtree(out, ignore_errors=True)
    report = {"bundle": str(bundle), "torch": torch.__version__, "cuda": torch.version.cuda}
    if torch.cuda.is_available():
        report["gpu"] = torch.cuda.get_device_name()
    report["bf16"] = timed_pretraining(pretrain_job, manifest=bundle / CORPUS, out_dir=out / "pretrain-bf16")
    fp32_job = _with(pretrain_job, "pretrain", precision="fp32", steps=fp32_steps)
    report["fp32"] = timed_pretraining(fp32_job, manifest=bundle / CORPUS, out_dir=out / "pretrain-fp32")
    compared = min(len(report["fp32"]["step_s"]), len(report["bf16"]["step_s"]))
    fp32, bf16 = (statistics.fmean(report[name]["step_s"][:compared]) for name in ("fp32", "bf16"))
    report["fp32_over_bf16_step_time"] = fp32 / bf16
    finetune_job = _with(FinetuneJob.model_validate(jobs["finetune"]), "finetune", precision="bf16")
    if finetune_epochs is not None:
        finetune_job = _with(finetune_job, "finetune", epochs=finetune_epochs, patience=finetune_epochs)
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    metrics = finetune(
        finetune_job,
        run="semmol",
        benchmark="benchmark",
        molecules=bundle / BENCHMARK / "molecules.parquet",
        shards_manifest=bundle / BENCHMARK / "shards" / "manifest.json",
        split=bundle / BENCHMARK / "split.json",
        seed=0,
        pretrained=out / "pretrain-bf16" / "model.pt",
        out_dir=out / "finetune",
    )
    report["finetune"] = {
        "seconds": time.perf_counter() - started,
        "epochs_run": len(metrics["history"]),
        "metric": metrics["metric"],
        "test": metrics["test"],
        "peak_memory_mib": _peak_memory_mib(device),
    }
    imported = third_party_imports()
    report["imported"] = imported
    report["imported_absent_on_device"] = [name for name in ABSENT_ON_DEVICE if name in imported]
    (out / "gpu-check.json").write_text(json.dumps(report, indent=1))
    return report


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m semmol.evaluate.gpu_check", description=__doc__)
    phases = parser.add_subparsers(dest="phase", required=True)
    prepare_parser = phases.add_parser("prepare", help="write a bundle from a config's demo outputs")
    prepare_parser.add_argument("bundle", type=Path)
    prepare_parser.add_argument("--config", type=Path, default=Path("config/demo.yaml"))
    prepare_parser.add_argument("--run", default="semmol", help="the run pretrained (default semmol)")
    prepare_parser.add_argument(
        "--benchmark", default="freesolv", help="the benchmark fine-tuned (default freesolv)"
    )
    prepare_parser.add_argument("--results", type=Path, default=Path("results"), help="the workflow results")
    run_parser = phases.add_parser("run", help="pretrain, time and fine-tune from a bundle")
    run_parser.add_argument("bundle", type=Path)
    run_parser.add_argument("--out", type=Path, required=True, help="where the runs and gpu-check.json go")
    run_parser.add_argument("--steps", type=int, help="pretraining steps (default: the job's)")
    run_parser.add_argument("--fp32-steps", type=int, default=20, help="steps of the fp32 run (default 20)")
    run_parser.add_argument("--finetune-epochs", type=int, help="fine-tuning epochs (default: the job's)")
    args = parser.parse_args(argv)
    if args.phase == "prepare":
        from semmol.config import load_config

        corpus = load_config(args.config).corpus
        pretrain_job, finetune_job = stage_jobs(args.config, run_name=args.run, benchmark=args.benchmark)
        data = args.results / "data"
        prepare(
            corpus_manifest=data / corpus / "shards" / "manifest.json",
            molecules=data / args.benchmark / "molecules.parquet",
            benchmark_manifest=data / args.benchmark / "shards" / "manifest.json",
            split=args.results / "benchmarks" / args.benchmark / "splits" / "scaffold-0.json",
            pretrain_job=pretrain_job,
            finetune_job=finetune_job,
            bundle=args.bundle,
        )
    else:
        report = run(
            args.bundle,
            out=args.out,
            steps=args.steps,
            fp32_steps=args.fp32_steps,
            finetune_epochs=args.finetune_epochs,
        )
        print(summary(report))


if __name__ == "__main__":
    main()

"""The one device check of the GPU path (``tools/gpu-check.sh``): run on a machine with a GPU,
it pretrains the SemMol row on prebuilt demo shards in bf16, times the same pretraining's first
steps in fp32, fine-tunes once, and prints what a GPU run costs.

Two phases, so that the device needs no RDKit: ``prepare`` (here, with the whole environment)
copies the corpus shards, one benchmark's molecules, shards and split, and the two stage jobs
into a bundle directory; ``run`` (on the device) reads only the bundle. Without a GPU, ``run``
does the same on the CPU (shorter, by its step options), which is how CI tests it.

``run`` reports the third-party packages its process imported, and which of those a bare GPU
machine (PyTorch with CUDA and the common scientific stack) lacks, :data:`ABSENT_ON_DEVICE`, that
the bundle did not bring. The stage code imports RDKit, polars and transformers only where it
featurizes, reads source tables or builds a DeBERTa; the stage jobs are pydantic models
throughout, so ``prepare`` brings pydantic instead (:data:`BROUGHT`, about 3 MB): wheels for the
device's Python and platform, unpacked into ``site-packages`` of the bundle, which
``tools/gpu-check.sh run`` puts first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from importlib.metadata import version
from pathlib import Path

import torch

from semmol.evaluate.gpu_measure import (
    ABSENT_ON_DEVICE,
    GpuSampler,
    TimedStream,
    peak_memory_mib,
    step_figures,
    summary,
    third_party_imports,
)

#: Files of a bundle, relative to its directory.
CORPUS = "corpus/shards/manifest.json"
BENCHMARK = "benchmark"
JOBS = "jobs.json"
SITE = "site-packages"

#: What the run phase imports that a bare GPU machine may lack, brought by the bundle: pydantic
#: and its requirements (pydantic_core is compiled: its wheel is the device's Python's).
BROUGHT = ("pydantic", "pydantic_core", "annotated_types", "typing_extensions", "typing_inspection")
#: The device's Python version and platform tag, unless told: this interpreter's and machine's.
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
PLATFORM_TAG = f"manylinux2014_{platform.machine()}"


def bring_packages(site: Path, *, python_version: str, platform_tag: str) -> None:
    """Download the wheels of :data:`BROUGHT`, at this environment's versions, for a Python and
    platform with ``pip download`` (the package index or pip's cache), and unpack them into ``site``.

    Args:
        site: the directory to unpack into (put on ``sys.path`` by the run phase).
        python_version: the device's Python, e.g. ``3.11``.
        platform_tag: the device's platform, e.g. ``manylinux2014_x86_64``.
    """
    wheels = site.parent / "wheels"
    pins = [f"{name}=={version(name)}" for name in BROUGHT]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    command += ["--python-version", python_version, "--platform", platform_tag, "--dest", str(wheels)]
    subprocess.run([*command, *pins], check=True)
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    shutil.rmtree(wheels)


def prepare(
    *,
    corpus_manifest: Path,
    molecules: Path,
    benchmark_manifest: Path,
    split: Path,
    pretrain_job: dict,
    finetune_job: dict,
    bundle: Path,
    python_version: str = PYTHON_VERSION,
    platform_tag: str = PLATFORM_TAG,
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
        python_version: the device's Python, for :data:`BROUGHT`.
        platform_tag: the device's platform, likewise.
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
    bring_packages(bundle / SITE, python_version=python_version, platform_tag=platform_tag)


def timed_pretraining(job, *, manifest: Path, out_dir: Path) -> dict:
    """Run one pretraining job (:class:`~semmol.train.pretrain.Pretrainer`, its own loop,
    checkpoints and outputs) and time it step by step (:func:`~semmol.evaluate.gpu_measure.step_figures`).

    A step ends by turning its losses into floats, which waits for the GPU, so the host's clock
    times the device's work; it is followed by whatever logging, checkpoint or snapshot the loop does.

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
    figures = step_figures(timed, sampler, device=device, batch_size=job.pretrain.batch_size)
    return {"bf16": uses_bf16(job.pretrain.precision, device), **figures}


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
        "peak_memory_mib": peak_memory_mib(device),
    }
    imported = third_party_imports()
    brought = [name for name in imported if _loaded_from(name, bundle / SITE)]
    report["imported"], report["brought"] = imported, brought
    report["imported_absent_on_device"] = [
        name for name in ABSENT_ON_DEVICE if name in imported and name not in brought
    ]
    (out / "gpu-check.json").write_text(json.dumps(report, indent=1))
    return report


def _loaded_from(name: str, site: Path) -> bool:
    """Whether the imported package ``name`` was loaded from the directory ``site``."""
    where = getattr(sys.modules[name], "__file__", None)  # None: a namespace package
    return where is not None and site.resolve() in Path(where).resolve().parents


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
    prepare_parser.add_argument(
        "--python", default=PYTHON_VERSION, help=f"the device's Python version (default {PYTHON_VERSION})"
    )
    prepare_parser.add_argument(
        "--platform", default=PLATFORM_TAG, help=f"the device's platform tag (default {PLATFORM_TAG})"
    )
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
            python_version=args.python,
            platform_tag=args.platform,
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

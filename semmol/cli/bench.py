"""``semmol bench``: speed and memory figures of the heavy stages, printed (never asserted in tests).

- ``semmol bench conformers TABLE``: conformer throughput (molecules per second per core) and
  failure rate on the first ``--limit`` molecules of a table;
- ``semmol bench pretrain MANIFEST``: pretraining throughput (molecules per second) and peak
  memory for ``--steps`` steps of a run's job on a set of corpus shards;
- ``semmol bench timings [DIR] [--skip NAME ...]``: a finished pipeline's wall time per stage,
  from the ``benchmarks/`` files Snakemake wrote for its jobs (a Markdown table), optionally
  without some runs' or benchmarks' jobs;
- ``semmol bench conformer-ratio|loader-ratio|pretrain-ratio|finetune-ratio|encoder-ratio|memory-ratio``:
  semmol against a reference measured side by side (:mod:`semmol.evaluate.speed`), printed as
  a table with the target beside each ratio.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from semmol.cli.common import json_model
from semmol.config import ConformerConfig, FinetuneJob, ModelConfig, PretrainJob

HELP = "measure conformer and pretraining throughput, or sum a finished pipeline's stage timings"


def _add_table_arguments(parser: argparse.ArgumentParser, *, limit: int | None) -> None:
    """A table of molecules, its SMILES column, how many to read and the conformers options."""
    parser.add_argument("table", type=Path, help="a CSV/TSV/Parquet/SDF table of molecules")
    parser.add_argument("--smiles-column", default="smiles", help="SMILES column (default 'smiles')")
    parser.add_argument(
        "--limit", type=int, default=limit, help=f"first N molecules only (default: {limit or 'all'})"
    )
    parser.add_argument(
        "--options",
        type=json_model(ConformerConfig),
        default=ConformerConfig(),
        help="conformers section as JSON",
    )


def _add_pretrain_arguments(parser: argparse.ArgumentParser, *, steps: int) -> None:
    """A corpus manifest, the pretrain job and how many steps to time."""
    parser.add_argument("manifest", type=Path, help="a corpus shards/manifest.json")
    parser.add_argument(
        "--job", type=json_model(PretrainJob), default=PretrainJob(), help="pretrain job as JSON"
    )
    parser.add_argument("--steps", type=int, default=steps, help=f"steps to time (default {steps})")


def configure(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="bench", required=True, metavar="BENCH")
    conformers = kinds.add_parser("conformers", help="conformer throughput and failure rate on a table")
    _add_table_arguments(conformers, limit=None)
    conformers.add_argument("--threads", type=int, default=1, help="worker processes (default 1)")
    pretrain = kinds.add_parser("pretrain", help="pretraining throughput and peak memory")
    _add_pretrain_arguments(pretrain, steps=30)
    timings = kinds.add_parser("timings", help="wall time per stage of a finished pipeline")
    timings.add_argument(
        "directory", type=Path, nargs="?", default=Path("benchmarks"), help="default: benchmarks"
    )
    timings.add_argument(
        "--skip",
        nargs="+",
        default=[],
        metavar="NAME",
        help="leave out the jobs with NAME as a folder of their path or their file name (a run or "
        "benchmark that belongs to another table of the same pipeline)",
    )
    conformer_ratio = kinds.add_parser(
        "conformer-ratio", help="conformers stage vs bare RDKit; 1 vs 2 workers"
    )
    _add_table_arguments(conformer_ratio, limit=200)
    loader_ratio = kinds.add_parser("loader-ratio", help="shards -> batches vs featurizing SMILES on the fly")
    loader_ratio.add_argument("manifest", type=Path, help="a shards/manifest.json")
    loader_ratio.add_argument("--limit", type=int, default=1000, help="molecules (default 1000)")
    loader_ratio.add_argument("--batch-size", type=int, default=128, help="molecules per batch (default 128)")
    pretrain_ratio = kinds.add_parser("pretrain-ratio", help="pretraining molecules/s and data-wait share")
    _add_pretrain_arguments(pretrain_ratio, steps=20)
    memory_ratio = kinds.add_parser(
        "memory-ratio", help="pretraining peak memory on N copies of the corpus vs the corpus"
    )
    _add_pretrain_arguments(memory_ratio, steps=10)
    memory_ratio.add_argument("--copies", type=int, default=10, help="corpus copies (default 10)")
    encoder_ratio = kinds.add_parser(
        "encoder-ratio", help="each encoder's training cost per molecule vs the 2D graph encoder's"
    )
    encoder_ratio.add_argument("manifest", type=Path, help="a shards/manifest.json")
    encoder_ratio.add_argument(
        "--model", type=json_model(ModelConfig), default=ModelConfig(), help="model section as JSON"
    )
    encoder_ratio.add_argument(
        "--modalities",
        nargs="+",
        default=["smiles", "description", "graph_attention", "graph_global"],
        help="encoders to time (default: LGM-CL's views; graph2d is always timed)",
    )
    encoder_ratio.add_argument("--batch-size", type=int, default=64, help="molecules per batch (default 64)")
    encoder_ratio.add_argument("--batches", type=int, default=5, help="batches timed (default 5)")
    finetune_ratio = kinds.add_parser(
        "finetune-ratio", help="seconds per fine-tuning epoch vs chemprop, or vs another job"
    )
    finetune_ratio.add_argument(
        "--job", type=json_model(FinetuneJob), required=True, help="finetune job as JSON"
    )
    finetune_ratio.add_argument(
        "--molecules", type=Path, required=True, help="the benchmark's molecules.parquet"
    )
    finetune_ratio.add_argument(
        "--shards-manifest", type=Path, required=True, help="its shards/manifest.json"
    )
    finetune_ratio.add_argument("--split", type=Path, required=True, help="a split JSON")
    finetune_ratio.add_argument(
        "--chemprop", default=".venv-chemprop/bin/chemprop", help="chemprop executable"
    )
    finetune_ratio.add_argument("--epochs", type=int, default=3, help="epochs timed (default 3)")
    finetune_ratio.add_argument(
        "--reference-job",
        type=json_model(FinetuneJob),
        help="a second finetune job as JSON, timed alike in place of chemprop (e.g. the scratch row's)",
    )
    finetune_ratio.add_argument(
        "--max-ratio", type=float, default=1.0, help="the target printed beside the ratio (default 1)"
    )


def _peak_rss_mb() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _bench_conformers(args: argparse.Namespace) -> dict:
    from semmol.config import DatasetConfig, StandardizeConfig
    from semmol.data.conformers import build_shard
    from semmol.data.standardize import standardize

    dataset = DatasetConfig(
        source={"kind": "local", "path": str(args.table)},
        smiles_column=args.smiles_column,
        max_rows=args.limit,
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        standardize(args.table, dataset=dataset, options=StandardizeConfig(), benchmark=True, out_dir=tmp)
        started = time.perf_counter()
        summary = build_shard(
            tmp / "molecules.parquet",
            shard=0,
            n_shards=1,
            options=args.options,
            out=tmp / "0.parquet",
            threads=args.threads,
        )
        wall = time.perf_counter() - started
    n = summary["molecules"]
    no_3d = summary["statuses"]["embed_failed"] + summary["statuses"]["timeout"]
    return {
        "table": str(args.table),
        "molecules": n,
        "threads": args.threads,
        "statuses": summary["statuses"],
        "failure_rate": no_3d / n,
        "molecules_per_cpu_second": n / summary["cpu_seconds"],
        "molecules_per_second_wall": n / wall,
        "wall_seconds": wall,
    }


def _bench_pretrain(args: argparse.Namespace) -> dict:
    import torch

    from semmol.runtime.distributed import init_distributed
    from semmol.train.pretrain import Pretrainer

    job = args.job.model_copy(update={"pretrain": args.job.pretrain.model_copy(update={"steps": args.steps})})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Pretrainer(job, shards_manifest=args.manifest, out_dir=Path(tmp), ctx=init_distributed())
        batches = iter(trainer.stream)
        trainer.train_step(next(batches).to(trainer.ctx.device))  # warm-up step, not timed
        started = time.perf_counter()
        timed = 0
        for batch in batches:
            if timed == args.steps:
                break
            trainer.train_step(batch.to(trainer.ctx.device))
            timed += 1
        seconds = time.perf_counter() - started
    return {
        "manifest": str(args.manifest),
        "method": job.pretrain.method,
        "batch_size": job.pretrain.batch_size,
        "steps_timed": timed,
        "torch_threads": torch.get_num_threads(),
        "molecules_per_second": timed * job.pretrain.batch_size / seconds,
        "seconds_per_step": seconds / max(timed, 1),
        "peak_rss_mb": _peak_rss_mb(),
    }


def stage_timings(directory: Path, *, skip: Sequence[str] = ()) -> list[dict]:
    """Per stage (first folder under ``directory``): jobs, summed and longest wall seconds, peak RSS.

    Reads the tab-separated files of Snakemake's ``benchmark:`` directive (columns ``s`` and
    ``max_rss``, one line per repetition, the last one kept), except those whose name or a
    folder of whose path below ``directory`` is in ``skip``.
    """
    stages: dict[str, list[tuple[float, float]]] = {}
    skipped = set(skip)
    for path in sorted(directory.rglob("*.tsv")):
        if {*path.relative_to(directory).parent.parts, path.stem} & skipped:
            continue
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if not rows:
            raise ValueError(f"{path}: empty benchmark file")
        stage = path.relative_to(directory).parts[0]
        stages.setdefault(stage, []).append((float(rows[-1]["s"]), float(rows[-1]["max_rss"])))
    if not stages:
        raise FileNotFoundError(f"{directory}: no benchmark files (*.tsv); run the pipeline first")
    return [
        {
            "stage": stage,
            "jobs": len(jobs),
            "seconds_total": sum(s for s, _ in jobs),
            "seconds_max": max(s for s, _ in jobs),
            "max_rss_mb": max(rss for _, rss in jobs),
        }
        for stage, jobs in stages.items()
    ]


def _timings_table(directory: Path, *, skip: Sequence[str] = ()) -> str:
    lines = [
        "| stage | jobs | job wall time, summed (min) | longest job (min) | peak RSS (MB) |",
        "|---|---|---|---|---|",
    ]
    for row in stage_timings(directory, skip=skip):
        lines.append(
            f"| {row['stage']} | {row['jobs']} | {row['seconds_total'] / 60:.1f} | {row['seconds_max'] / 60:.1f}"
            f" | {row['max_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def _ratios(args: argparse.Namespace) -> str:
    from rdkit import Chem

    from semmol.data.shards import read_manifest, shard_paths
    from semmol.data.tables import read_table
    from semmol.evaluate import speed

    if args.bench == "conformer-ratio":
        smiles = read_table(args.table, max_rows=args.limit)[args.smiles_column].to_list()
        canonical = [Chem.MolToSmiles(mol) for mol in map(Chem.MolFromSmiles, smiles) if mol is not None]
        rows = speed.conformer_ratios(canonical, args.options)
    elif args.bench == "loader-ratio":
        options = ConformerConfig.model_validate(read_manifest(args.manifest)["options"])
        rows = speed.loader_ratios(
            shard_paths(args.manifest), batch_size=args.batch_size, options=options, limit=args.limit
        )
    elif args.bench == "pretrain-ratio":
        rows = speed.pretrain_ratios(args.job, args.manifest, steps=args.steps)
    elif args.bench == "memory-ratio":
        rows = speed.memory_ratios(args.job, args.manifest, copies=args.copies, steps=args.steps)
    elif args.bench == "encoder-ratio":
        rows = speed.encoder_ratios(
            args.manifest,
            model=args.model,
            modalities=args.modalities,
            batch_size=args.batch_size,
            batches=args.batches,
        )
    else:
        rows = speed.finetune_ratios(
            args.job,
            molecules=args.molecules,
            manifest=args.shards_manifest,
            split=args.split,
            chemprop=args.chemprop,
            epochs=args.epochs,
            reference=args.reference_job,
            max_ratio=args.max_ratio,
        )
    return speed.ratio_table(rows)


def run(args: argparse.Namespace) -> None:
    if args.bench == "timings":
        print(_timings_table(args.directory, skip=args.skip))
    elif args.bench == "conformers":
        print(json.dumps(_bench_conformers(args), indent=2))
    elif args.bench == "pretrain":
        print(json.dumps(_bench_pretrain(args), indent=2))
    else:
        print(_ratios(args))

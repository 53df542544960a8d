"""Fixtures shared by every test module."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .loopback import LoopbackHub, serve

ROOT = Path(__file__).resolve().parents[1]

#: The label column of esol.csv.
ESOL_TARGET = "measured log solubility in mols per litre"

#: Slices of the MoleculeNet CSVs shipped with the tests (tests/data/README.md): what most tests
#: read, so that a fresh clone's suite needs nothing outside the repository.
TEST_DATA = ROOT / "tests" / "data"

#: The complete development data beside the checkout (MoleculeNet CSVs, ZINC250k), present on
#: development and CI machines only; the few tests that check figures of the whole files use it.
SHARED_DATA = Path(os.environ.get("SEMMOL_SHARED_DATA", ROOT.parent / "shared" / "data"))


def drawn_share(png: Path) -> float:
    """Share of a PNG's pixels that differ from its most common colour (the background): 0 for an
    empty figure, about 0.025 for bare axes with their ticks and labels."""
    import matplotlib.image
    import numpy as np

    pixels = matplotlib.image.imread(png)
    _, counts = np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0, return_counts=True)
    return 1 - counts.max() / counts.sum()


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a Snakemake dry run."""
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M) if m[1] != "total"}


def expected_jobs(*config_files: Path) -> dict[str, int]:
    """Jobs per rule that target ``all`` plans in an empty directory, derived from the config files
    (merged in order, as ``--configfile`` does) rather than counted by hand, so that the counts
    follow the configs: a dataset per data stage and shard, a split and fine-tuning per benchmark
    and seed, one pretraining per distinct pretraining configuration (runs that differ only in
    fine-tuning share it: the model, the ``pretrain`` section and the method's own section decide),
    each label fraction below 1 a split and fine-tuning of its own, a center library (k-means
    of the corpus embeddings) of each pretrained model, and, where probes are enabled, a probe of
    each run that fine-tunes a pretrained model per split and one of the fingerprints per split."""
    import json

    from semmol.config import resolve_run
    from semmol.config_layers import load_config_files
    from semmol.methods import method_class

    config = load_config_files(list(config_files))
    runs = [resolve_run(config, name) for name in config.runs]
    pretrainings = set()
    for run in runs:
        if run.finetune.init == "pretrained" and run.finetune.pretrained is None:
            own = method_class(run.pretrain.method).options_section
            sections = [run.model, run.pretrain, *([getattr(run, own)] if own else [])]
            key = json.dumps([section.model_dump(mode="json") for section in sections], sort_keys=True)
            pretrainings.add(key)
    corpus = [config.corpus] if pretrainings else []
    fewshot = [config.fewshot.benchmark] if config.fewshot.benchmark is not None else []
    datasets = len(set(corpus) | set(config.benchmarks) | set(fewshot))
    per_seed = len(config.benchmarks) * len(config.seeds)
    baselines = int(config.baseline.enabled) + int(config.baseline.chemprop.enabled)
    shares = len({fraction for fraction in config.label_fractions if fraction < 1})  # each its own split
    probed = [run for run in runs if run.finetune.init == "pretrained"] if config.probe.enabled else []
    counts = {
        "download": datasets,
        "standardize": datasets,
        "conformers": datasets * config.conformers.shards,
        "gather_shards": datasets,
        "split": per_seed,
        "pretrain": len(pretrainings),
        "centers": len(pretrainings),
        "label_fraction": shares * per_seed,
        "finetune": len(runs) * per_seed * (1 + shares),
        "baseline": baselines * per_seed * (1 + shares),
        "fewshot": len(config.fewshot.rows) * len(config.seeds) if fewshot else 0,
        "probe": len(probed) * per_seed,
        "probe_fingerprints": per_seed if config.probe.enabled else 0,
        "aggregate": 1,
    }
    return {rule: count for rule, count in counts.items() if count}


def planned_counts(jobs: dict[str, int], expected: dict[str, int]) -> dict[str, int]:
    """The planned jobs of the rules :func:`expected_jobs` counts (downloads of pretrained text
    models aside), with 0 for a rule planned nowhere."""
    return {rule: jobs.get(rule, 0) for rule in {*expected, *jobs} - {"all", "download_model"}}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``full_data`` the tests that read the complete development data, so that CI can run
    the suite once as a fresh clone sees it and then only these with the data present."""
    for item in items:
        if {"full_moleculenet_dir", "pretrain_gnns_dir"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.full_data)


@pytest.fixture
def figures(monkeypatch) -> dict:
    """File name -> the figure :mod:`semmol.evaluate.plots` saved to it (still written as a PNG), for
    tests that check what is on its axes."""
    from semmol.evaluate import plots

    saved = {}
    save = plots._save

    def keep(figure, path: str | Path) -> None:
        saved[Path(path).name] = figure
        save(figure, path)

    monkeypatch.setattr(plots, "_save", keep)
    return saved


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Iterator[LoopbackHub]:
    """A loopback Hub (tests/loopback.py), with HF_ENDPOINT pointing at it and a private HF_HOME."""
    server = LoopbackHub()
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with serve(server) as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        yield server


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def moleculenet_dir() -> Path:
    """The first 300 records of bbbp.csv, esol.csv, lipophilicity.csv and tox21.csv (tests/data)."""
    return TEST_DATA / "moleculenet"


@pytest.fixture(scope="session")
def full_moleculenet_dir() -> Path:
    """The complete MoleculeNet CSVs; the test is skipped when they are not on this machine."""
    path = SHARED_DATA / "moleculenet"
    if not path.is_dir():
        if os.environ.get("CI") == "true" and "SEMMOL_SHARED_DATA" not in os.environ:
            # CI's full-data pass (.ci/run) must check the figures, not skip them
            pytest.fail(f"CI has the development data beside the checkout, but {path} is not there")
        pytest.skip(
            f"needs the complete MoleculeNet CSVs ({path} not found; set SEMMOL_SHARED_DATA): "
            "it checks figures of the whole files that the 300-row slices in tests/data cannot give"
        )
    return path


@pytest.fixture(scope="session")
def pretrain_gnns_dir() -> Path:
    """The published checkpoints of Hu et al. (snap-stanford/pretrain-gnns, GCN, GraphSAGE and GAT)
    beside the development data; the test is skipped when they are not on this machine."""
    path = SHARED_DATA.parent / "pretrained" / "pretrain-gnns"
    if not path.is_dir():
        pytest.skip(f"needs the pretrain-gnns checkpoints ({path} not found; set SEMMOL_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory, moleculenet_dir) -> dict[str, Path]:
    """The first 48 ESOL records through standardize, conformers (2 shards) and a scaffold split.

    Returns paths: ``molecules`` (molecules.parquet), ``manifest`` (shards/manifest.json) and
    ``split`` (scaffold split JSON); usable as a small corpus and as a benchmark.
    """
    from semmol.config import ConformerConfig, DatasetConfig, StandardizeConfig
    from semmol.data.conformers import build_shard
    from semmol.data.shards import gather
    from semmol.data.splits import make_split, write_split
    from semmol.data.standardize import standardize

    out = tmp_path_factory.mktemp("tiny_benchmark")
    source = moleculenet_dir / "esol.csv"
    dataset = DatasetConfig(
        source={"kind": "local", "path": str(source)},
        targets=[ESOL_TARGET],
        task="regression",
        max_rows=48,
    )
    standardize(source, dataset=dataset, options=StandardizeConfig(), benchmark=True, out_dir=out)
    options = ConformerConfig(n_conformers=2, mmff_max_iters=20, ecfp_bits=256, timeout_s=5)
    shards = [out / "shards" / f"{i}.parquet" for i in range(2)]
    for i, shard in enumerate(shards):
        build_shard(out / "molecules.parquet", shard=i, n_shards=2, options=options, out=shard)
    gather(shards, out=out / "shards" / "manifest.json")
    split = make_split(
        source, smiles_column="smiles", kind="scaffold", fractions=(0.8, 0.1, 0.1), seed=0, max_rows=48
    )
    write_split(split, out / "split.json")
    return {
        "molecules": out / "molecules.parquet",
        "manifest": out / "shards" / "manifest.json",
        "split": out / "split.json",
    }


def finetune_on(
    benchmark: dict, job, out_dir: Path, *, name: str, run: str, seed: int = 0, pretrained: Path | None = None
) -> dict:
    """Fine-tune ``job`` on a benchmark fixture's ``molecules``, ``manifest`` and ``split``, as the
    workflow's finetune rule does; the metrics as written to ``out_dir``."""
    from semmol.train.finetune import finetune

    return finetune(
        job,
        run=run,
        benchmark=name,
        molecules=benchmark["molecules"],
        shards_manifest=benchmark["manifest"],
        split=benchmark["split"],
        seed=seed,
        pretrained=pretrained,
        out_dir=out_dir,
    )


#: The model section of the small trained models below.
TINY_MODEL = {
    "proj_dim": 16,
    "smiles": {"dim": 16, "layers": 1, "heads": 2, "max_len": 64},
    "graph2d": {"dim": 16, "layers": 2},
    "geom3d": {"dim": 16, "layers": 1, "num_gaussians": 8},
    "fingerprint": {"dim": 16},
    "descriptors": {"dim": 16},
}


@pytest.fixture(scope="session")
def pretrained_dir(tiny_benchmark, tmp_path_factory) -> Path:
    """``results/pretrain/<run>`` of a few SemMol steps on the tiny benchmark's molecules."""
    from semmol.config import PretrainJob
    from semmol.train.pretrain import pretrain

    job = PretrainJob.model_validate(
        {
            "model": TINY_MODEL,
            "pretrain": {"steps": 3, "batch_size": 8, "warmup_steps": 1},
            "semantic": {"n_centers": 4, "top_m": 2, "init_cache": 8, "warmup_updates": 1},
        }
    )
    out = tmp_path_factory.mktemp("pretrained")
    pretrain(job, shards_manifest=tiny_benchmark["manifest"], out_dir=out)
    return out


@pytest.fixture(scope="session")
def finetuned_dirs(tiny_benchmark, pretrained_dir, tmp_path_factory) -> list[Path]:
    """Two fine-tuning seeds on ESOL from the pretrained model, every view fused, and the MACCS
    and ErG fingerprints fused with them by cross-attention."""
    from semmol.config import DatasetConfig, FinetuneJob

    job = FinetuneJob.model_validate(
        {
            "dataset": DatasetConfig(
                source={"kind": "local", "path": "esol.csv"}, targets=[ESOL_TARGET], task="regression"
            ).model_dump(mode="json"),
            "model": TINY_MODEL,
            "finetune": {
                "modalities": ["smiles", "graph2d", "geom3d", "fingerprint", "descriptors"],
                "fingerprint_fusion": ["maccs", "pubchem", "erg"],
                "epochs": 2,
                "patience": 2,
                "batch_size": 16,
            },
        }
    )
    dirs = []
    for seed in (0, 1):
        out = tmp_path_factory.mktemp(f"finetuned-{seed}")
        model = pretrained_dir / "model.pt"
        finetune_on(tiny_benchmark, job, out, name="esol", run="semmol", seed=seed, pretrained=model)
        dirs.append(out)
    return dirs


#: Classes of the multiclass fixture: ring count, a property the 2D views and fingerprints all see.
RING_CLASSES = ["acyclic", "one_ring", "polycyclic"]


def ring_class(smiles: str) -> str:
    """The class of a molecule in the multiclass fixture: no ring, one ring, or more."""
    from rdkit import Chem
    from rdkit.Chem.rdMolDescriptors import CalcNumRings

    return RING_CLASSES[min(CalcNumRings(Chem.MolFromSmiles(smiles)), 2)]


@pytest.fixture(scope="session")
def multiclass_molecules(tmp_path_factory, moleculenet_dir) -> dict:
    """ESOL's 300 records (tests/data) labelled with their :func:`ring_class` (89, 97 and 114 of
    each) as words, through standardize and a seeded random 80/10/10 split.

    Returns ``dataset`` (the DatasetConfig), ``source`` (the CSV), ``molecules`` (molecules.parquet)
    and ``split`` (split JSON).
    """
    import polars as pl

    from semmol.config import DatasetConfig, StandardizeConfig
    from semmol.data.splits import make_split, write_split
    from semmol.data.standardize import standardize

    out = tmp_path_factory.mktemp("multiclass")
    esol = pl.read_csv(moleculenet_dir / "esol.csv", infer_schema=False)
    source = out / "rings.csv"
    rings = pl.col("smiles").map_elements(ring_class, return_dtype=pl.Utf8)
    esol.select("smiles", rings=rings).write_csv(source)
    dataset = DatasetConfig(
        source={"kind": "local", "path": str(source)}, targets=["rings"], task="multiclass"
    )
    standardize(source, dataset=dataset, options=StandardizeConfig(), benchmark=True, out_dir=out)
    split = make_split(source, smiles_column="smiles", kind="random", fractions=(0.8, 0.1, 0.1), seed=0)
    write_split(split, out / "split.json")
    molecules = out / "molecules.parquet"
    return {"dataset": dataset, "source": source, "molecules": molecules, "split": out / "split.json"}


@pytest.fixture(scope="session")
def multiclass_benchmark(multiclass_molecules) -> dict:
    """:func:`multiclass_molecules` with 2D shards (no conformers, no depictions): also ``manifest``."""
    from semmol.config import ConformerConfig
    from semmol.data.conformers import build_shard
    from semmol.data.shards import gather

    directory = multiclass_molecules["molecules"].parent / "shards"
    options = ConformerConfig(ecfp_bits=256, image_size=0)
    shards = [directory / f"{i}.parquet" for i in range(2)]
    for i, shard in enumerate(shards):
        molecules = multiclass_molecules["molecules"]
        build_shard(molecules, shard=i, n_shards=2, options=options, out=shard, conformer_fraction=0)
    gather(shards, out=directory / "manifest.json")
    return {**multiclass_molecules, "manifest": directory / "manifest.json"}


#: Fine-tuning section of the multiclass model: from scratch on the 2D graph and ECFP views.
MULTICLASS_FINETUNE = {
    "init": "scratch",
    "modalities": ["graph2d", "fingerprint"],
    "epochs": 8,
    "patience": 4,
    "batch_size": 32,
}


@pytest.fixture(scope="session")
def multiclass_finetuned(multiclass_benchmark, tmp_path_factory) -> Path:
    """The result directory of fine-tuning :data:`MULTICLASS_FINETUNE` on the ring classes (seed 0)."""
    from semmol.config import FinetuneJob

    job = FinetuneJob.model_validate(
        {
            "dataset": multiclass_benchmark["dataset"].model_dump(mode="json"),
            "model": TINY_MODEL,
            "finetune": MULTICLASS_FINETUNE,
        }
    )
    out = tmp_path_factory.mktemp("multiclass-finetuned")
    finetune_on(multiclass_benchmark, job, out, name="rings", run="scratch")
    return out

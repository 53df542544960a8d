"""The probe stage: frozen features of one benchmark split, probed (see :mod:`semmol.evaluate.probe`).

Feature sets, each probed by every probe of :data:`~semmol.evaluate.probe.PROBES`:

pretrained
    The pooled encoder outputs (``hidden``, what a fine-tuning head reads) of the run's
    pretrained encoders, one per fine-tuned view the model holds, concatenated; a molecule
    lacking a view (e.g. no conformer) gets zeros there. All conformers are pooled, as
    fine-tuning evaluates.
random_init
    The same encoders with fresh weights (seeded by the split seed): the floor a trained
    embedding must clear. Vector encoders fit their input scaling on train, as in fine-tuning.
ecfp4
    ECFP4 bits (radius 2, 2048 bits), as the random-forest baseline reads them.
rdkit2d
    RDKit's 2D descriptors from the benchmark's shards (sign-log squashed), standardised on
    train before the kNN probe too, so that no descriptor's scale dominates the cosine.

``metrics.json``: run, benchmark, split (kind), seed, task, targets, metric, higher_is_better,
views (the views embedded), n and missing (per subset), rows (one per label fraction, feature
set and probe: ``label_fraction`` and the keys of :func:`~semmol.evaluate.probe.probe_row`, or
null scores and ``skipped`` where a fraction leaves a target no training label), geometry (per
encoder feature set, :func:`~semmol.evaluate.embedding_geometry.embedding_geometry` of the
whole benchmark's features: a collapsed embedding shows there), seconds.
Strict JSON: a score that cannot be computed is null.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semmol.config import DatasetConfig
from semmol.data.benchmark import SUBSETS, load_benchmark_split
from semmol.data.reader import ShardDataset
from semmol.data.shards import shard_paths
from semmol.evaluate.baseline import ecfp_matrix
from semmol.evaluate.embedding_geometry import embedding_geometry
from semmol.evaluate.metrics import TASK_METRIC
from semmol.evaluate.probe import PROBES, ProbeError, label_fraction, probe_row, standardized
from semmol.evaluate.probe_cache import RandomInitStore, random_init_key
from semmol.inference.embed import embed_dataset
from semmol.models.multimodal import MultiModalEncoder
from semmol.runtime.atomic import atomic_path

log = logging.getLogger(__name__)

#: Feature sets of the probe stage, in the order they are reported.
FEATURE_SETS = ("pretrained", "random_init", "ecfp4", "rdkit2d")
#: The feature sets that are encoder outputs, whose spread ``metrics.json`` reports.
ENCODER_FEATURE_SETS = ("pretrained", "random_init")


def encoder_features(
    encoder: MultiModalEncoder,
    dataset: ShardDataset,
    positions: dict[str, list[int]],
    *,
    modalities: list[str],
    batch_size: int,
) -> dict[str, np.ndarray]:
    """Per subset, the views' pooled encoder outputs side by side, zeros where a view is missing.

    Args:
        encoder: the encoders, in evaluation mode for the call.
        dataset: the benchmark's molecules.
        positions: per subset, dataset positions in split order.
        modalities: the views to embed, in order.
        batch_size: molecules per forward pass.
    """
    embedded = embed_dataset(
        encoder, dataset, modalities=modalities, batch_size=batch_size, representation="hidden"
    )
    views = [np.where(valid[:, None], vectors, 0.0) for vectors, valid in embedded.values()]
    everything = np.concatenate(views, axis=1)
    return {name: everything[positions[name]] for name in SUBSETS}


def _row(
    features: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    *,
    name: str,
    probe: str,
    fraction: float,
    dataset: DatasetConfig,
    seed: int,
) -> dict[str, Any]:
    """One row of ``metrics.json``: a probe of one feature set on ``fraction`` of the train labels.
    A fraction below 1 that leaves a target without training labels gives a row of null scores
    and the reason, not a failed job."""
    features, labels = label_fraction(features, labels, fraction=fraction, seed=seed)
    try:
        row = probe_row(
            features, labels, name=name, probe=probe, task=dataset.task, targets=dataset.targets, seed=seed
        )
    except ProbeError as error:
        if fraction == 1.0:
            raise
        log.warning("%s %s at label fraction %g: %s", name, probe, fraction, error)
        row = {"features": name, "probe": probe, **dict.fromkeys(SUBSETS), "skipped": str(error)}
    return {"label_fraction": fraction, **row}


def _merged(rows: list[dict], stored: list[dict], label_fractions: Sequence[float]) -> list[dict]:
    """``rows`` with the stored random-init rows in their place (per label fraction, after the
    pretrained rows), as :func:`run_probe` orders a freshly computed file."""
    places = [(fraction, name) for fraction in label_fractions for name in FEATURE_SETS]
    return sorted([*rows, *stored], key=lambda row: places.index((row["label_fraction"], row["features"])))


def _probed_views(pretrained: MultiModalEncoder, modalities: list[str], model: str | Path) -> list[str]:
    """The fine-tuned views the model holds (those it lacks were never pretrained: left out)."""
    views = [view for view in modalities if view in pretrained.modalities]
    if not views:
        raise ValueError(f"{model}: holds {pretrained.modalities}, none of the fine-tuned views {modalities}")
    if len(views) < len(modalities):
        absent = sorted(set(modalities) - set(views))
        log.warning("views %s are not in %s: probed without them", absent, model)
    return views


def run_probe(
    model: str | Path | None,
    *,
    molecules: str | Path,
    shards_manifest: str | Path,
    split: str | Path,
    dataset: DatasetConfig,
    modalities: list[str],
    run: str | None,
    benchmark: str,
    seed: int,
    out_dir: str | Path,
    label_fractions: Sequence[float] = (1.0,),
    batch_size: int = 256,
    feature_sets: Sequence[str] = FEATURE_SETS,
    random_init_store: str | Path | None = None,
    stage_version: int | str = "",
) -> dict[str, Any]:
    """Probe the feature sets of one benchmark split; write ``out_dir/metrics.json``.

    Args:
        model: the run's pretrained ``model.pt``; None where no encoder feature set is asked for.
        molecules: the benchmark's ``molecules.parquet``.
        shards_manifest: the benchmark's ``shards/manifest.json``.
        split: the split JSON.
        dataset: the benchmark's dataset config (targets, task).
        modalities: the views the run fine-tunes; those the model lacks are left out (their
            encoders were never pretrained).
        run: the run's name; None for fingerprints alone (they do not depend on a run).
        benchmark: the benchmark's name.
        seed: the split seed; seeds the random encoders and the logistic solver.
        out_dir: the result directory.
        label_fractions: shares of the train labels each probe is fit on (default: all); see
            :func:`~semmol.evaluate.probe.label_fraction`.
        batch_size: molecules per forward pass (default 256).
        feature_sets: which of :data:`FEATURE_SETS` to probe (default: all). The workflow
            probes the fingerprints once per benchmark split, not once per run.
        random_init_store: a directory of :class:`~semmol.evaluate.probe_cache.RandomInitStore`
            entries: the random-init rows are read from it where another run of the same
            architecture computed them, and written to it otherwise (default: none, computed).
        stage_version: the caller's version of the probe stage, part of the store's key.

    Returns:
        The metrics as written.
    """
    if dataset.task is None:
        raise ValueError(f"benchmark '{benchmark}' has no task type; a probe needs one")
    if dataset.task == "multiclass":  # the probes score one column per target, a class-1 score
        raise ValueError(f"benchmark '{benchmark}': the probe stage does not handle multiclass targets")
    unknown = sorted(set(feature_sets) - set(FEATURE_SETS))
    if unknown or not feature_sets:
        raise ValueError(f"feature sets {unknown or '[]'}: expected some of {list(FEATURE_SETS)}")
    encoders = [name for name in ENCODER_FEATURE_SETS if name in feature_sets]
    if encoders and model is None:
        raise ValueError(f"feature sets {encoders} need a pretrained model")
    started = time.perf_counter()
    data = load_benchmark_split(molecules, split, targets=dataset.targets)

    features: dict[str, dict[str, np.ndarray]] = {}
    views: list[str] = []
    if encoders:
        pretrained, _ = MultiModalEncoder.load(model)
        views = _probed_views(pretrained, modalities, model)
    shards = ShardDataset(shard_paths(shards_manifest), conformers="all", seed=seed, images="image" in views)
    positions = {name: shards.positions(data[name].mol_index) for name in SUBSETS}
    store = key = stored = None  # the random-init twin's entry, where a store keeps it
    if "random_init" in encoders and random_init_store is not None:
        store = RandomInitStore(random_init_store)
        key = random_init_key(
            spec=pretrained.spec(),
            views=views,
            seed=seed,
            files=[molecules, split, shards_manifest, *shard_paths(shards_manifest)],
            settings={
                "dataset": dataset.model_dump(mode="json"),
                "label_fractions": [float(f) for f in label_fractions],
                "batch_size": batch_size,
                "stage_version": stage_version,
            },
        )
        stored = store.get(key)
        if stored is not None:
            log.info("random-init rows read from the store: %s", key)
    embed = {"modalities": views, "batch_size": batch_size}
    if "pretrained" in encoders:
        features["pretrained"] = encoder_features(pretrained, shards, positions, **embed)
    if "random_init" in encoders and stored is None:
        torch.manual_seed(seed)
        fresh = MultiModalEncoder.from_spec(pretrained.spec(), where=model)
        fresh.fit_input_scaling(shards.columns, np.asarray(positions["train"]), modalities=views)
        features["random_init"] = encoder_features(fresh, shards, positions, **embed)
    if "ecfp4" in feature_sets:
        features["ecfp4"] = {
            name: ecfp_matrix(data[name].smiles, radius=2, n_bits=2048, source=molecules) for name in SUBSETS
        }
    if "rdkit2d" in feature_sets:
        features["rdkit2d"] = standardized({name: shards.columns.descriptors[positions[name]] for name in SUBSETS})
    labels = {name: data[name].labels for name in SUBSETS}
    geometry = {  # label-free: over the whole benchmark
        name: embedding_geometry(np.concatenate([features[name][subset] for subset in SUBSETS]))
        for name in encoders
        if name in features
    }
    rows = [
        _row(features[name], labels, name=name, probe=probe, fraction=fraction, dataset=dataset, seed=seed)
        for fraction in label_fractions
        for name in FEATURE_SETS
        if name in features
        for probe in PROBES
    ]
    if store is not None:
        if stored is None:
            twin_rows = [row for row in rows if row["features"] == "random_init"]
            store.put(key, {"rows": twin_rows, "geometry": geometry["random_init"]})
        else:
            rows = _merged(rows, stored["rows"], label_fractions)
            geometry["random_init"] = stored["geometry"]
        geometry = {name: geometry[name] for name in encoders}
    metric, higher_is_better = TASK_METRIC[dataset.task]
    metrics = {
        "run": run,
        "benchmark": benchmark,
        "split": data.kind,
        "seed": int(seed),
        "task": dataset.task,
        "targets": list(dataset.targets),
        "metric": metric,
        "higher_is_better": higher_is_better,
        "views": views,
        "n": {name: len(data[name]) for name in SUBSETS},
        "missing": data.missing,
        "rows": rows,
        "geometry": geometry,
        "seconds": time.perf_counter() - started,
    }
    with atomic_path(Path(out_dir) / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    for row in rows:
        log.info(
            "%s %s, label fraction %g: test %s %s",
            row["features"],
            row["probe"],
            row["label_fraction"],
            metric,
            row["test"],
        )
    return metrics

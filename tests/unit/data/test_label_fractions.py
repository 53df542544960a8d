from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from semmol.data.benchmark import BenchmarkError, load_benchmark_split
from semmol.data.label_fractions import kept_positions, label_fraction_split
from semmol.evaluate.probe import label_fraction

#: Source rows of the synthetic benchmark: 100 records, of which standardization rejected 7 and 8.
ROWS = [row for row in range(100) if row not in (7, 8)]


def test_shares_are_nested_deterministic_and_of_ceil_size():
    kept = {fraction: kept_positions(41, fraction, seed=5) for fraction in (0.05, 0.1, 0.25, 0.5, 1.0)}
    for fraction, positions in kept.items():
        assert len(positions) == math.ceil(fraction * 41) and len(set(positions)) == len(positions)
        assert list(positions) == sorted(positions) and positions.max() < 41
    sets = [set(kept[fraction].tolist()) for fraction in sorted(kept)]
    assert all(smaller < larger for smaller, larger in zip(sets, sets[1:]))
    assert sets[-1] == set(range(41))
    np.testing.assert_array_equal(kept_positions(41, 0.25, seed=5), kept[0.25])
    assert not np.array_equal(kept_positions(41, 0.25, seed=6), kept[0.25])  # another seed, another draw
    assert len(kept_positions(3, 0.01, seed=0)) == 1  # never an empty train subset
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"label fraction is in \(0, 1\]"):
            kept_positions(41, bad, seed=5)


@pytest.fixture
def benchmark(tmp_path):
    """molecules.parquet (without rows 7 and 8) and a split file of seed 3."""
    molecules = tmp_path / "molecules.parquet"
    pl.DataFrame(
        {"row": ROWS, "smiles": ["C" * (1 + row % 5) for row in ROWS], "y": [float(row % 2) for row in ROWS]}
    ).write_parquet(molecules)
    record = {
        "kind": "scaffold", "seed": 3, "fractions": [0.8, 0.1, 0.1],
        "train": list(range(80)), "valid": list(range(80, 90)), "test": list(range(90, 100)),
        "dropped": [], "sizes": {"train": 80, "valid": 10, "test": 10, "dropped": 0},
    }  # fmt: skip
    split = tmp_path / "scaffold-3.json"
    split.write_text(json.dumps(record))
    return molecules, split


def test_a_share_cuts_train_alone_among_the_molecules_a_model_reads(benchmark, tmp_path):
    molecules, split = benchmark
    whole = json.loads(split.read_text())
    cut = {fraction: label_fraction_split(split, molecules, fraction=fraction) for fraction in (0.1, 0.5)}
    for fraction, record in cut.items():
        assert record["valid"] == whole["valid"] and record["test"] == whole["test"]
        assert (record["kind"], record["seed"], record["label_fraction"]) == ("scaffold", 3, fraction)
        assert record["train_before_fraction"] == 78  # rows 7 and 8 were rejected: never drawn
        assert len(record["train"]) == record["sizes"]["train"] == math.ceil(fraction * 78)
        assert set(record["train"]) <= set(whole["train"]) - {7, 8}
        assert record["train"] == sorted(record["train"])  # split-file order
    assert set(cut[0.1]["train"]) < set(cut[0.5]["train"])
    assert label_fraction_split(split, molecules, fraction=0.1) == cut[0.1]

    path = tmp_path / "scaffold-labels0.1-3.json"
    path.write_text(json.dumps(cut[0.1]))
    data = load_benchmark_split(molecules, path, targets=["y"])
    assert data.label_fraction == 0.1 and data["train"].rows.tolist() == cut[0.1]["train"]
    assert len(data["test"]) == 10 and data.missing == {"train": 0, "valid": 0, "test": 0}
    assert load_benchmark_split(molecules, split, targets=["y"]).label_fraction == 1.0


def test_probes_keep_the_same_molecules_as_the_cut_split(benchmark):
    molecules, split = benchmark
    data = load_benchmark_split(molecules, split, targets=["y"])
    features = {name: data[name].rows[:, None].astype(float) for name in ("train", "valid", "test")}
    labels = {name: data[name].labels for name in ("train", "valid", "test")}
    probed, _ = label_fraction(features, labels, fraction=0.25, seed=data.seed)
    cut = label_fraction_split(split, molecules, fraction=0.25)
    assert probed["train"][:, 0].astype(int).tolist() == cut["train"]


def test_a_bad_split_file_is_named(benchmark, tmp_path):
    molecules, _ = benchmark
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "scaffold", "seed": 0, "train": [1], "valid": [2]}))
    with pytest.raises(BenchmarkError, match=r"bad\.json: split file lacks the key 'test'"):
        label_fraction_split(bad, molecules, fraction=0.5)

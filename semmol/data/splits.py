"""Benchmark splits into train, valid and test: deterministic scaffold, balanced scaffold, random.

The default, :func:`scaffold_split`, is the split behind the published MoleculeNet tables
(Hu et al.'s pretrain-gnns ``scaffold_split``, reused by GEM and Uni-Mol), so that results
are comparable with the literature:

1. drop SMILES that RDKit cannot parse (``Chem.MolFromSmiles`` returns ``None``);
2. group the rest by Bemis-Murcko scaffold SMILES, chirality included, computed on the
   SMILES as written in the source file;
3. sort the groups by ``(size, first position)`` in *descending* order: larger groups first,
   and among groups of equal size the one seen *last* first. This tie-break decides most of
   the test set, which is made of the many small groups at the end of the order;
4. put each group in train while train stays ``<= 0.8 N``, else in valid while
   train + valid stays ``<= 0.9 N``, else in test (N = parseable molecules).

The seed plays no part in it. :func:`balanced_scaffold_split` (chemprop's
``scaffold_balanced``) and :func:`random_split` are seeded alternatives. Two kinds serve a
user's own data: ``column`` takes the subsets a column of the table names
(:func:`column_split`), and ``none`` trains a final model for deployment: every row in train
but a seeded random hold-out of the valid fraction for early stopping, and no test set.

Indices are positions in the given SMILES sequence; when it is a table's whole SMILES column,
as in :func:`make_split`, positions are the source file's row indices (header excluded).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold
from tqdm import tqdm

from semmol.config import SplitKind
from semmol.data.chem import parse_smiles, quiet_rdkit
from semmol.data.tables import read_table, require_columns
from semmol.runtime.atomic import atomic_path

log = logging.getLogger(__name__)

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
SUBSETS = ("train", "valid", "test")
#: Values of a split column (kind ``column``), lower-cased, and the subset each names; ``val``
#: is chemprop's name of the validation subset.
SPLIT_COLUMN_VALUES = {"train": "train", "valid": "valid", "val": "valid", "test": "test"}
#: Kinds whose test subset may be empty: models for deployment, without a test score.
OPEN_TEST_KINDS = ("column", "none")


def split_column_subset(value: str | None) -> str | None:
    """The subset a cell of a split column names (case and surrounding blanks ignored), or ``None``."""
    return None if value is None else SPLIT_COLUMN_VALUES.get(value.strip().lower())


def unknown_split_value_reason(value: str | None) -> str:
    """Why a split-column cell names no subset: one wording for the split and standardize stages."""
    return f"split value {value!r} is not train, valid (or val) or test"


@dataclass(frozen=True)
class Split:
    """Positions (or source rows) of the train, valid and test subsets, each ascending."""

    train: list[int]
    valid: list[int]
    test: list[int]


@dataclass(frozen=True)
class ScaffoldScan:
    """The result of one pass of RDKit over a SMILES sequence.

    Attributes:
        groups: scaffold SMILES -> ascending positions of its molecules, in order of first
            appearance ('' for acyclic molecules, which form one group).
        dropped: position -> reason, for each entry RDKit cannot parse.
    """

    groups: dict[str, list[int]]
    dropped: dict[int, str]

    @property
    def positions(self) -> list[int]:
        """Ascending positions of the parseable entries."""
        return sorted(position for group in self.groups.values() for position in group)


def _parse(smiles: str | None) -> tuple[Chem.Mol | None, str | None]:
    """``(mol, None)`` as ``Chem.MolFromSmiles`` gives it, or ``(None, reason)``; RDKit kept quiet."""
    with quiet_rdkit():  # unparsable benchmark rows are expected: count them, do not spam stderr
        # MolFromSmiles exactly as the reference code calls it (it accepts '' as an empty
        # molecule, so blank cells are caught first); parse_smiles only words the reason.
        mol = Chem.MolFromSmiles(smiles) if smiles is not None and smiles.strip() else None
        if mol is not None:
            return mol, None
        return None, parse_smiles(smiles)[1] or "unparsable SMILES"


def _scaffold_of(mol: Chem.Mol, include_chirality: bool) -> str:
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=include_chirality)


def murcko_scaffold(smiles: str, *, include_chirality: bool = True) -> str:
    """Bemis-Murcko scaffold SMILES of a molecule ('' for an acyclic one).

    Args:
        smiles: the molecule, parsed with ``Chem.MolFromSmiles`` as written.
        include_chirality: keep stereo marks in the scaffold SMILES (default True, as in the
            published MoleculeNet splits).

    Raises:
        ValueError: RDKit cannot parse ``smiles``.
    """
    mol, reason = _parse(smiles)
    if mol is None:
        raise ValueError(f"{reason}: {smiles!r}")
    return _scaffold_of(mol, include_chirality)


def scan_scaffolds(smiles: Sequence[str | None], *, include_chirality: bool = True) -> ScaffoldScan:
    """Parse every entry once and group the parseable ones by scaffold.

    Args:
        smiles: SMILES strings; ``None`` or blank entries count as unparsable.
        include_chirality: see :func:`murcko_scaffold` (default True).
    """
    groups: dict[str, list[int]] = {}
    dropped: dict[int, str] = {}
    for position, text in enumerate(tqdm(smiles, desc="scaffolds", mininterval=5)):
        mol, reason = _parse(text)
        if mol is None:
            dropped[position] = reason
        else:
            groups.setdefault(_scaffold_of(mol, include_chirality), []).append(position)
    if dropped:
        log.warning("%d of %d SMILES cannot be parsed by RDKit; left out", len(dropped), len(smiles))
    return ScaffoldScan(groups=groups, dropped=dropped)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three numbers >= 0 summing to 1, got {list(fractions)}")
    return fractions[0], fractions[1], fractions[2]


def _as_scan(smiles: Sequence[str | None] | ScaffoldScan) -> ScaffoldScan:
    return smiles if isinstance(smiles, ScaffoldScan) else scan_scaffolds(smiles)


def scaffold_split(
    smiles: Sequence[str | None] | ScaffoldScan, *, fractions: Sequence[float] = DEFAULT_FRACTIONS
) -> Split:
    """The deterministic scaffold split of the published MoleculeNet tables (see the module doc).

    Args:
        smiles: SMILES strings (unparsable ones are left out of every subset), or their
            :func:`scan_scaffolds` result when it is already at hand.
        fractions: train, valid and test fractions (default 0.8, 0.1, 0.1).
    """
    frac_train, frac_valid, _ = _check_fractions(fractions)
    scan = _as_scan(smiles)
    n = len(scan.positions)
    # Floats computed as in the reference code, so that boundary cases fall the same way.
    train_cutoff = frac_train * n
    valid_cutoff = (frac_train + frac_valid) * n
    ordered = sorted(scan.groups.values(), key=lambda group: (len(group), group[0]), reverse=True)
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for group in ordered:
        if len(train) + len(group) <= train_cutoff:
            train.extend(group)
        elif len(train) + len(valid) + len(group) <= valid_cutoff:
            valid.extend(group)
        else:
            test.extend(group)
    return Split(sorted(train), sorted(valid), sorted(test))


def balanced_scaffold_split(
    smiles: Sequence[str | None] | ScaffoldScan,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> Split:
    """Seeded balanced scaffold split (chemprop's ``scaffold_balanced``).

    Scaffold groups larger than half the valid or test size go first, in random order, so
    that they land in train; the other groups follow, shuffled. Each group then goes to
    train if train stays within its size, else to valid if valid does, else to test.
    Scaffolds keep chirality, like :func:`scaffold_split` (chemprop drops it), so that both
    kinds group the same molecules together.

    Args:
        smiles: SMILES strings or their :func:`scan_scaffolds` result.
        fractions: train, valid and test fractions (default 0.8, 0.1, 0.1).
        seed: seed of the shuffles (default 0).
    """
    frac_train, frac_valid, frac_test = _check_fractions(fractions)
    scan = _as_scan(smiles)
    n = len(scan.positions)
    train_size, valid_size, test_size = frac_train * n, frac_valid * n, frac_test * n
    big_size = min(valid_size, test_size) / 2
    big = [group for group in scan.groups.values() if len(group) > big_size]
    small = [group for group in scan.groups.values() if len(group) <= big_size]
    rng = random.Random(seed)
    rng.shuffle(big)
    rng.shuffle(small)
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for group in big + small:
        if len(train) + len(group) <= train_size:
            train.extend(group)
        elif len(valid) + len(group) <= valid_size:
            valid.extend(group)
        else:
            test.extend(group)
    return Split(sorted(train), sorted(valid), sorted(test))


def random_split(
    n_or_positions: int | Sequence[int], *, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
) -> Split:
    """Seeded random split: shuffle, then cut at ``floor(0.8 N)`` and ``floor(0.9 N)``.

    Args:
        n_or_positions: the number of items (positions ``0..n-1``), or the positions to split.
        fractions: train, valid and test fractions (default 0.8, 0.1, 0.1).
        seed: seed of the shuffle (default 0).
    """
    frac_train, frac_valid, _ = _check_fractions(fractions)
    positions = list(range(n_or_positions)) if isinstance(n_or_positions, int) else list(n_or_positions)
    random.Random(seed).shuffle(positions)
    n = len(positions)
    # Rounded before truncation: 0.7 + 0.2 is 0.8999999999999999 in floating point.
    train_end = int(round(frac_train * n, 6))
    valid_end = int(round((frac_train + frac_valid) * n, 6))
    train, valid, test = positions[:train_end], positions[train_end:valid_end], positions[valid_end:]
    return Split(sorted(train), sorted(valid), sorted(test))


def column_split(values: Sequence[str | None], positions: Sequence[int]) -> tuple[Split, dict[int, str]]:
    """Kind ``column``: the subset each position's cell names (:data:`SPLIT_COLUMN_VALUES`).

    Args:
        values: the split column, one cell per position of the table.
        positions: the positions to place (e.g. those with a parseable SMILES).

    Returns:
        The split, and position -> reason for each cell that names no subset (left out).
    """
    subsets: dict[str, list[int]] = {name: [] for name in SUBSETS}
    unknown: dict[int, str] = {}
    for position in positions:
        subset = split_column_subset(values[position])
        if subset is None:
            unknown[position] = unknown_split_value_reason(values[position])
        else:
            subsets[subset].append(position)
    return Split(*(sorted(subsets[name]) for name in SUBSETS)), unknown


def make_split(
    table_path: str | Path,
    *,
    smiles_column: str,
    kind: SplitKind,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    max_rows: int | None = None,
    sha256: str | None = None,
    name: str | None = None,
    column: str | None = None,
) -> dict[str, Any]:
    """Split a source table's rows and describe the split as a JSON-ready record.

    Args:
        table_path: the benchmark's source file, read with :func:`semmol.data.tables.read_table`.
        smiles_column: column holding the SMILES.
        kind: 'scaffold' (deterministic, ignores the seed), 'balanced_scaffold', 'random',
            'column' (the subsets ``column`` names; ignores the seed and fractions) or 'none'
            (a seeded hold-out of the valid fraction, the rest in train, no test).
        fractions: train, valid and test fractions (default 0.8, 0.1, 0.1).
        seed: seed of the seeded kinds; recorded for every kind (default 0).
        max_rows: split only the first ``max_rows`` records (default: all).
        sha256: checksum of the source file recorded in the output (default: none).
        name: the benchmark's name, for messages (default: the file's name).
        column: the split column of kind 'column' (default: none).

    Returns:
        ``{"kind", "seed", "fractions", "train", "valid", "test", "dropped", "sizes", "source"}``
        (and ``"column"`` for kind 'column'); subsets are ascending source row indices,
        ``dropped`` lists the rows left out (unparsable SMILES, a split value naming no subset)
        as ``{"row", "column", "value", "reason"}``.

    Raises:
        semmol.data.tables.TableError: the file is unreadable or lacks a column it needs.
        ValueError: unknown ``kind`` or bad ``fractions``, or too few molecules to give every
            subset at least one (fine-tuning needs all three; kinds 'column' and 'none' may
            leave test empty).
    """
    table = read_table(table_path, max_rows=max_rows)
    if kind == "column" and column is None:
        raise ValueError("split kind 'column' needs the split column's name")
    require_columns(table.columns, [smiles_column, *([column] if kind == "column" else [])], path=table_path)
    smiles = table.get_column(smiles_column).to_list()
    scan = scan_scaffolds(smiles)
    dropped = [
        {"row": row, "column": smiles_column, "value": smiles[row], "reason": reason}
        for row, reason in sorted(scan.dropped.items())
    ]
    if kind == "column":
        values = table.get_column(column).to_list()
        split, unknown = column_split(values, scan.positions)
        dropped += [
            {"row": row, "column": column, "value": values[row], "reason": reason}
            for row, reason in unknown.items()
        ]
        dropped.sort(key=lambda entry: entry["row"])
    elif kind == "none":
        # every row in train but a seeded hold-out of the valid fraction, for early stopping only
        # (a model stopped on its own training rows would never stop)
        holdout = fractions[1]
        split = random_split(scan.positions, fractions=(1.0 - holdout, holdout, 0.0), seed=seed)
    elif kind == "scaffold":
        split = scaffold_split(scan, fractions=fractions)
    elif kind == "balanced_scaffold":
        split = balanced_scaffold_split(scan, fractions=fractions, seed=seed)
    elif kind == "random":
        split = random_split(scan.positions, fractions=fractions, seed=seed)
    else:
        raise ValueError(
            f"unknown split kind '{kind}'; expected scaffold, balanced_scaffold, random, column or none"
        )
    subsets = {subset: getattr(split, subset) for subset in SUBSETS}
    sizes = {subset: len(rows) for subset, rows in subsets.items()}
    needed = SUBSETS[:2] if kind in OPEN_TEST_KINDS else SUBSETS
    if not all(sizes[subset] for subset in needed):
        counts = ", ".join(f"{subset} {size}" for subset, size in sizes.items())
        how = f"by column '{column}'" if kind == "column" else f"with fractions {list(fractions)}"
        wanted = "every subset" if needed == SUBSETS else " and ".join(needed)
        remedy = "add molecules or change split.fractions"
        if kind == "column":
            remedy = f"name {wanted} rows in '{column}'"
        raise ValueError(
            f"benchmark '{name or Path(table_path).name}' ({table_path}): {len(scan.positions)} parseable "
            f"molecules ({len(scan.dropped)} unparsable) give a {kind} split {how} of "
            f"{counts}; fine-tuning needs {wanted}: {remedy}"
        )
    return {
        "kind": kind,
        **({"column": column} if kind == "column" else {}),
        "seed": seed,
        "fractions": list(fractions),
        **subsets,
        "dropped": dropped,
        "sizes": {**sizes, "dropped": len(dropped)},
        "source": {"file": Path(table_path).name, "sha256": sha256},
    }


def write_split(record: dict[str, Any], path: str | Path) -> None:
    """Write a :func:`make_split` record as JSON, atomically (a killed job leaves no partial file)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record) + "\n")


def read_split(path: str | Path) -> Split:
    """The train/valid/test source rows of a split file written by :func:`write_split`.

    Raises:
        ValueError: naming the file, when it is not JSON or lacks a subset.
    """
    try:
        record = json.loads(Path(path).read_text())
        return Split(*(list(map(int, record[name])) for name in SUBSETS))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: not a split file ({type(error).__name__}: {error})") from None

"""Multiclass targets: class labels read from text cells and numbered 0..K-1 in a stable order.

A cell names its class by an integer ('3', also written '3.0') or by a word ('inhibitor').
``label_map`` turns words into numbers first, as for binary labels; for classes that also sets
their order, and a class numbered through ``label_map`` is named by the first key that maps to
it. Classes are sorted by value, integers (numerically) before words (alphabetically), and
numbered in that order, so the numbering depends on the set of classes alone, never on the
order of the rows.

The standardize stage stores the class numbers as the target column of ``molecules.parquet``
(float, NaN where missing, like every label) and the class names in that file's Parquet
metadata under :data:`CLASSES_METADATA_KEY`, so that every later stage reading the file knows
what the numbers mean.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: Key of the class names in the Parquet metadata of ``molecules.parquet``: JSON ``{target: [name, ...]}``.
CLASSES_METADATA_KEY = b"semmol.classes"

#: A class as read from a cell, before numbering: an integer or a word.
ClassValue = int | str


def mapped_number(text: str, label_map: Mapping[str, float]) -> float | None:
    """A stripped label cell as a number: through ``label_map``, else parsed; ``None`` when it is none."""
    if text in label_map:
        return float(label_map[text])
    try:
        return float(text)
    except ValueError:
        return None


def parse_class(text: str | None, *, label_map: Mapping[str, float]) -> tuple[ClassValue | None, str | None]:
    """A multiclass label cell: ``(class, None)``, ``(None, None)`` when missing, ``(None, reason)`` when bad.

    Args:
        text: the cell as read (``None`` for an empty cell).
        label_map: the dataset's ``label_map`` (word -> number).
    """
    if text is None or not text.strip():
        return None, None
    text = text.strip()
    number = mapped_number(text, label_map)
    if number is None:
        return text, None  # a named class
    if math.isnan(number):
        return None, None  # 'nan' marks a missing label, as for the other tasks
    if not math.isfinite(number):
        return None, "label is not finite"
    if not number.is_integer():
        return None, "multiclass label is not a whole number (classes are integers or names)"
    return int(number), None


def _order(value: ClassValue) -> tuple[int, int | str]:
    """Sort key: integers by value, then words alphabetically."""
    return (0, value) if isinstance(value, int) else (1, value)


@dataclass(frozen=True)
class ClassIndex:
    """The classes of a multiclass target, in their numbering order.

    Attributes:
        values: the classes as read (integers or words), sorted.
        names: their names: the word, the integer as text, or the first ``label_map`` key of the integer.
    """

    values: tuple[ClassValue, ...]
    names: tuple[str, ...]

    @classmethod
    def of(cls, labels: Sequence[ClassValue | None], *, label_map: Mapping[str, float]) -> ClassIndex:
        """The classes occurring in ``labels`` (``None``: missing), numbered in sorted order.

        Args:
            labels: the labels of the accepted molecules, as :func:`parse_class` read them.
            label_map: the dataset's ``label_map``, whose keys name the classes they number.
        """
        values = tuple(sorted({label for label in labels if label is not None}, key=_order))
        key_of: dict[float, str] = {}
        for key, number in label_map.items():
            key_of.setdefault(float(number), key)
        names = tuple(
            value if isinstance(value, str) else key_of.get(float(value), str(value)) for value in values
        )
        if len(set(names)) != len(names):
            clash = sorted(name for name in names if names.count(name) > 1)[0]
            raise ValueError(f"two classes are named '{clash}': a label_map key names one after the other")
        return cls(values=values, names=names)

    def codes(self, labels: Sequence[ClassValue | None]) -> list[float]:
        """Class numbers of ``labels`` as floats (the label columns' type), NaN where missing."""
        number = {value: float(code) for code, value in enumerate(self.values)}
        return [math.nan if label is None else number[label] for label in labels]

    def counts(self, labels: Sequence[ClassValue | None]) -> list[int]:
        """Molecules per class, in numbering order."""
        counted = Counter(labels)
        return [counted[value] for value in self.values]


def with_classes_metadata(table: pa.Table, classes: Mapping[str, Sequence[str]]) -> pa.Table:
    """``table`` (a pyarrow table) with ``classes`` ({target: names}) in its schema metadata."""
    metadata = dict(table.schema.metadata or {})
    metadata[CLASSES_METADATA_KEY] = json.dumps({target: list(names) for target, names in classes.items()})
    return table.replace_schema_metadata(metadata)


def read_classes(path: str | Path) -> dict[str, list[str]]:
    """The class names stored in a ``molecules.parquet`` ({target: names}; empty when it has none)."""
    metadata = pq.read_schema(path).metadata or {}
    if CLASSES_METADATA_KEY not in metadata:
        return {}
    return json.loads(metadata[CLASSES_METADATA_KEY])


def probability_column(target: str, name: str) -> str:
    """The column of class ``name``'s probability in prediction tables: ``<target>__prob_<name>``."""
    return f"{target}__prob_{name}"

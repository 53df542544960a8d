"""A store of the random-init twin's probe results, shared by the runs of one architecture.

The random-init feature set of the probe stage is the run's encoders rebuilt from the model's
architecture with fresh weights seeded by the split seed, so every run whose pretrained model has
the same architecture (SemMol, InfoNCE and their ablations on one D-MPNN) probes the very same
twin. Each run's job would embed and fit it again; the store keeps its rows once, under a key
that hashes everything they are computed from: the architecture (the model's spec), the views,
the seed, the bytes of the benchmark's molecules, split and shards, the dataset, the label
fractions, the batch size, and :data:`STORE_VERSION` (with the probe stage's version, which the
workflow passes, so that a change to the probes misses the old entries).

Entries are written whole or not at all (a temporary file renamed into place), so jobs running
side by side may both compute an entry, never read half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Bumped when what an entry holds, or how it is computed, changes.
STORE_VERSION = 1


def random_init_key(
    *,
    spec: dict,
    views: Sequence[str],
    seed: int,
    files: Sequence[str | Path],
    settings: dict[str, Any],
) -> str:
    """The hex digest naming one twin's entry.

    Args:
        spec: the model's :meth:`~semmol.models.multimodal.MultiModalEncoder.spec`.
        views: the views embedded, in order.
        seed: the split seed (it seeds the fresh weights and the logistic solver).
        files: the inputs read, hashed by content (molecules, split, shard files, manifest).
        settings: the rest that decides the rows (dataset, label fractions, batch size, the
            caller's version), as plain JSON data.
    """
    digest = hashlib.sha256()
    described = {"store": STORE_VERSION, "spec": spec, "views": list(views), "seed": int(seed), **settings}
    digest.update(json.dumps(described, sort_keys=True).encode())
    for path in files:
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


class RandomInitStore:
    """Entries ``{"rows": [...], "geometry": {...}}`` in ``directory``, one JSON file per key.

    Args:
        directory: where the entries are kept (created on the first write).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The entry of ``key``, or None where there is none."""
        path = self._path(key)
        return json.loads(path.read_text()) if path.exists() else None

    def put(self, key: str, entry: dict) -> None:
        """Write the entry of ``key`` (replacing any, as a whole)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w") as out:
                out.write(json.dumps(entry, indent=1, allow_nan=False) + "\n")
            os.replace(tmp, self._path(key))
        finally:
            Path(tmp).unlink(missing_ok=True)

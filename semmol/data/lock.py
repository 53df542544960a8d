"""The sources lock: what each dataset source gave on its first download, enforced afterwards.

A config does not fix a dataset's bytes: an ``hf`` source may follow a branch (``revision:
main``), and a URL, a local file or a package's data can change under the same name. So the
download stage records, for each source, the commit its ``hf`` revision resolved to and the sha256
of the file it gave, in ``config/sources.lock`` (beside the presets, so that it outlives
``results/`` and ``resources/`` and is committed with an experiment, as a package manager's lock
file is). Later downloads fetch an ``hf`` source at its locked commit, so a branch that moves on
does not move the data, and stop when the file's sha256 differs from the locked one.
``semmol lock --update`` re-resolves the sources and records what they give now. The file::

    {"version": 1,
     "sources": [{"source": {"kind": "hf", "repo_id": ..., "revision": "main", ...},
                  "datasets": ["bbbp"], "revision": "<resolved commit, or null>", "sha256": "..."}]}

An entry belongs to a source (its kind and every field), not to a dataset name: presets and
overlays that give a dataset another source each keep their own entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from semmol.config import Source
from semmol.runtime.atomic import atomic_path

#: Where the workflow keeps the lock, relative to its working directory (as all its paths are).
LOCK_PATH = Path("config/sources.lock")
_VERSION = 1
#: What :meth:`SourcesLock.record` did: a first entry, an entry confirmed, or one overwritten.
Recorded = Literal["added", "kept", "replaced"]


class LockError(ValueError):
    """The lock file is unreadable, or a source no longer gives what the lock file records."""


@dataclass(frozen=True)
class Pin:
    """What a source gave: the commit an ``hf`` revision resolved to (None for other kinds) and the file's sha256."""

    revision: str | None
    sha256: str

    def __str__(self) -> str:
        return f"sha256 {self.sha256}" + (f" at commit {self.revision}" if self.revision else "")


class SourcesLock:
    """The lock file at ``path`` (created on the first record).

    Reads see a complete file (it is replaced atomically); records take an exclusive ``flock`` on
    its directory around read-modify-write, so parallel download jobs neither lose nor tear entries.
    """

    def __init__(self, path: str | Path = LOCK_PATH) -> None:
        self.path = Path(path)

    def pin(self, source: Source) -> Pin | None:
        """The pin recorded for ``source``, or None when it has none."""
        entry = _entry(self._read(), source)
        return None if entry is None else Pin(entry["revision"], entry["sha256"])

    def record(self, source: Source, *, dataset: str, found: Pin, origin: str, replace: bool = False) -> Recorded:
        """Record that ``source`` gave ``found`` for ``dataset``.

        Args:
            source: the dataset's source, as configured.
            dataset: the dataset's name, for the entry and for messages.
            found: what the download gave.
            origin: where the file came from (URL or path), for messages.
            replace: overwrite a different recorded pin instead of stopping (``semmol lock --update``).

        Returns:
            "added" (no entry before), "kept" (the same pin recorded) or "replaced".

        Raises:
            LockError: the recorded pin differs from ``found`` and ``replace`` is false.
        """
        with self._exclusive():
            data = self._read()
            entry = _entry(data, source)
            if entry is None:
                data["sources"].append({"source": _key(source), "datasets": [dataset]})
                entry, outcome = data["sources"][-1], "added"
            else:
                recorded = Pin(entry["revision"], entry["sha256"])
                if recorded != found and not replace:
                    raise LockError(
                        f"{dataset}: {origin} gives {found}, but {self.path} pins {recorded}; the file was "
                        "not kept. If the change is intended, `semmol lock --update` records the new content"
                    )
                if recorded == found and dataset in entry["datasets"]:
                    return "kept"
                outcome = "kept" if recorded == found else "replaced"
                entry["datasets"] = sorted({*entry["datasets"], dataset})
            entry.update(revision=found.revision, sha256=found.sha256)
            self._write(data)
            return outcome

    @contextlib.contextmanager
    def fetching_at(self, dataset: str, source: Source, pin: Pin | None) -> Iterator[None]:
        """Name the lock in the error of a fetch at a locked commit (it may be gone from the Hub).

        Args:
            dataset: the dataset's name, for the message.
            source: the dataset's source, as configured.
            pin: the pin the fetch is made under; errors of a fetch without a locked commit pass unchanged.
        """
        try:
            yield
        except ValueError as error:
            if pin is None or pin.revision is None:
                raise
            raise LockError(
                f"{dataset}: {self.path} pins commit {pin.revision} of '{source.revision}', which cannot be "
                f"fetched ({error}); if the repository's history was rewritten, `semmol lock --update` "
                f"records '{source.revision}' as it is now"
            ) from error

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"version": _VERSION, "sources": []}
        try:
            data = json.loads(self.path.read_text())
            if data.get("version") != _VERSION or not isinstance(data.get("sources"), list):
                raise ValueError(f"expected version {_VERSION} and a list of sources")
        except ValueError as error:
            raise LockError(
                f"{self.path} is not a sources lock ({error}); restore it from version control, or delete "
                "it to record every source again"
            ) from error
        return data

    def _write(self, data: dict[str, Any]) -> None:
        data["sources"].sort(key=lambda entry: json.dumps(entry["source"], sort_keys=True))
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(data, indent=2) + "\n")

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            fcntl.flock(directory, fcntl.LOCK_EX)
            yield
        finally:
            os.close(directory)  # closing releases the flock


def pinned(source: Source, pin: Pin | None) -> Source:
    """``source`` as it is fetched under ``pin``: an ``hf`` source at its locked commit, others as they are.

    Args:
        source: the dataset's source, as configured.
        pin: its recorded pin, or None (nothing recorded, or ``semmol lock --update``).
    """
    if pin is None or pin.revision is None or source.kind != "hf":
        return source
    return source.model_copy(update={"revision": pin.revision})


def _key(source: Source) -> dict[str, Any]:
    return source.model_dump(mode="json")


def _entry(data: dict[str, Any], source: Source) -> dict[str, Any] | None:
    key = _key(source)
    return next((entry for entry in data["sources"] if entry["source"] == key), None)

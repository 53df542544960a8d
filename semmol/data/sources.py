"""Fetching a dataset's file from its source: the Hugging Face Hub, a URL, a local path or a package.

:func:`fetch` places the file in an output directory and writes ``manifest.json`` beside it::

    {"name": "bbbp", "source": {...}, "file": "bbbp.csv", "sha256": "...", "bytes": 123,
     "rows": 2050, "columns": ["num", "name", "p_np", "smiles"], "revision": null,
     "origin": "/abs/path/bbbp.csv"}

The manifest is the mark of a complete download: it is removed first and written last, and both
it and the data file are written under temporary names and renamed into place, so a killed
download never leaves a file that looks complete. Under a sources lock (:mod:`semmol.data.lock`)
an ``hf`` source is fetched at its locked commit and every file must have its locked sha256.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from semmol.config import DatasetConfig, HFSource, LocalSource, PackageSource, Source, URLSource
from semmol.data.lock import Pin, SourcesLock, pinned
from semmol.data.tables import read_table, require_columns
from semmol.runtime.atomic import atomic_path, file_sha256

log = logging.getLogger(__name__)

#: Name of the manifest written beside the data file.
MANIFEST_NAME = "manifest.json"
#: Seconds a URL download may wait on the server before failing.
URL_TIMEOUT_S = 60.0
_CHUNK_BYTES = 1 << 20
_LISTED_NAMES = 20  # directory listings in error messages are cut after this many names


class SourceError(ValueError):
    """A dataset source cannot be fetched: unreachable, ambiguous, not installed, or failing its checksum."""


@dataclass(frozen=True)
class _Fetched:
    """A source's file, copied into the staging directory."""

    path: Path
    origin: str
    revision: str | None = None


def fetch(
    dataset: DatasetConfig, *, name: str, out_dir: Path, lock: SourcesLock | None = None, relock: bool = False
) -> Path:
    """Place ``dataset``'s file in ``out_dir`` and describe it in ``out_dir/manifest.json``.

    The file keeps its source name (``url`` sources: ``filename``, default the URL's last path
    part). Before the manifest is written, the file is read as a table and must hold the
    configured SMILES and target columns.

    Args:
        dataset: the dataset entry; only its ``source``, ``smiles_column`` and ``targets`` are used.
        name: the dataset's name, recorded in the manifest and used in log messages.
        out_dir: directory to fill (created if missing).
        lock: the sources lock to fetch under and record in (:mod:`semmol.data.lock`); default none.
        relock: record what the source gives now, over a different recorded pin.

    Returns:
        The path of the manifest.

    Raises:
        SourceError: the source is unreachable, ambiguous, not installed or fails its checksum.
        semmol.data.lock.LockError: the file differs from the one ``lock`` pins.
        FileNotFoundError: a local file, package resource or offline Hub cache entry is missing.
        semmol.data.tables.TableError: the file is not a readable table or lacks a configured column.
    """

    def check_table(data_path: Path) -> dict[str, Any]:
        frame = read_table(data_path)
        require_columns(frame.columns, [dataset.smiles_column, *dataset.targets], path=data_path)
        return {"rows": frame.height, "columns": frame.columns}

    return fetch_file(dataset.source, name=name, out_dir=out_dir, describe=check_table, lock=lock, relock=relock)


def fetch_file(
    source: Source,
    *,
    name: str,
    out_dir: Path,
    filename: str | None = None,
    describe: Callable[[Path], dict[str, Any]] | None = None,
    lock: SourcesLock | None = None,
    relock: bool = False,
) -> Path:
    """Place ``source``'s file in ``out_dir`` and describe it in ``out_dir/manifest.json``.

    Args:
        source: where the file comes from.
        name: what it is, recorded in the manifest and used in log messages.
        out_dir: directory to fill (created if missing).
        filename: the name to give the file; default the source's.
        describe: checks the placed file and returns more manifest fields (raises when the
            file is unusable: no manifest is written then); default none.
        lock: fetch an ``hf`` source at the commit this lock pins and check the file against the
            pinned sha256 (the first download records them); default none.
        relock: fetch at the configured revision and record what it gives, over a different pin.

    Returns:
        The path of the manifest (its ``file`` field names the data file).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST_NAME
    manifest.unlink(missing_ok=True)  # a stale manifest must never describe a new file
    log.info("%s: fetching from its %s source", name, source.kind)
    # Staged inside out_dir so that the final rename stays on one file system (atomic).
    pin = lock.pin(source) if lock is not None and not relock else None
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".staging-") as staging:
        with lock.fetching_at(name, source, pin) if lock is not None else contextlib.nullcontext():
            fetched = _FETCHERS[source.kind](pinned(source, pin), Path(staging))
        digest = file_sha256(fetched.path)
        _check_sha256(fetched, getattr(source, "sha256", None), digest)
        if lock is not None:
            found = Pin(fetched.revision, digest)
            lock.record(source, dataset=name, found=found, origin=fetched.origin, replace=relock)
        data_path = out_dir / (filename or fetched.path.name)
        if data_path.name == MANIFEST_NAME:
            raise SourceError(f"{fetched.origin}: a data file may not be called {MANIFEST_NAME}")
        os.replace(fetched.path, data_path)
    record = {
        "name": name,
        "source": source.model_dump(mode="json"),
        "file": data_path.name,
        "sha256": digest,
        "bytes": data_path.stat().st_size,
        **(describe(data_path) if describe is not None else {}),
        "revision": fetched.revision,
        "origin": fetched.origin,
    }
    with atomic_path(manifest) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return manifest


def _check_sha256(fetched: _Fetched, expected: str | None, got: str) -> None:
    """Compare a fetched file's checksum ``got`` with the one its source pins (nothing to do without one)."""
    if expected is None:
        return
    if got != expected.lower():
        raise SourceError(
            f"{fetched.origin}: sha256 mismatch for {fetched.path.name}: the source pins {expected.lower()}, "
            f"the downloaded file has {got}; the file was not kept"
        )


# --------------------------------------------------------------------------------------
# Local files and package data
# --------------------------------------------------------------------------------------
def _fetch_local(source: LocalSource, staging: Path) -> _Fetched:
    file = Path(source.path).expanduser()
    if source.filename is not None:
        file = file / source.filename
    if file.is_dir():
        files = _preview(_entries(file))
        raise SourceError(f"local source {file} is a directory; set 'filename' to one of its files: {files}")
    if not file.is_file():
        raise _not_found(file, message=f"local source file {file} not found")
    return _Fetched(path=_stage_copy(file, staging), origin=str(file.resolve()))


def _fetch_package(source: PackageSource, staging: Path) -> _Fetched:
    resource = PurePosixPath(source.resource)
    if resource.is_absolute() or ".." in resource.parts:
        raise SourceError(f"package resource '{source.resource}' must be a relative path inside the package")
    roots = _package_dirs(source.package)
    for root in roots:
        file = root.joinpath(*resource.parts)
        if file.is_file():
            return _Fetched(path=_stage_copy(file, staging), origin=str(file.resolve()))
    message = f"package '{source.package}' has no file '{source.resource}'"
    raise _not_found(roots[0].joinpath(*resource.parts), message=message)


def _package_dirs(package: str) -> list[Path]:
    """Directories of an installed package, found without importing (executing) it."""
    top, *inner = package.split(".")
    # find_spec on a top-level name only locates it; a dotted name would import its parents.
    spec = importlib.util.find_spec(top)
    if spec is None:
        raise SourceError(f"package '{top}' is not installed; pip install {top}")
    if not spec.submodule_search_locations:
        raise SourceError(f"'{top}' is a single module ({spec.origin}), not a package holding data files")
    return [Path(location).joinpath(*inner) for location in spec.submodule_search_locations]


def _not_found(path: Path, *, message: str) -> FileNotFoundError:
    """``message`` plus the closest names in the deepest existing directory on ``path``."""
    missing = path
    while not missing.parent.is_dir() and missing.parent != missing:
        missing = missing.parent
    directory = missing.parent
    if directory.is_dir():
        names = _entries(directory)
        by_lower = {name.lower(): name for name in names}
        close = difflib.get_close_matches(missing.name.lower(), list(by_lower), n=3, cutoff=0.6)
        if close:
            message += "; did you mean " + " or ".join(repr(by_lower[c]) for c in close) + "?"
        message += f" ({directory} holds: {_preview(names)})"
    return FileNotFoundError(message)


def _entries(directory: Path) -> list[str]:
    """Names in ``directory``, sorted, hidden ones left out."""
    return sorted(entry.name for entry in directory.iterdir() if not entry.name.startswith("."))


def _preview(names: list[str]) -> str:
    """``names`` joined for an error message, cut after :data:`_LISTED_NAMES`."""
    if not names:
        return "nothing"
    shown = ", ".join(names[:_LISTED_NAMES])
    return shown if len(names) <= _LISTED_NAMES else f"{shown}, ... ({len(names) - _LISTED_NAMES} more)"


# --------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------
def _fetch_url(source: URLSource, staging: Path) -> _Fetched:
    from tqdm.auto import tqdm

    url = source.url
    if urlsplit(url).scheme not in {"http", "https", "file"}:
        raise SourceError(f"{url}: unsupported URL scheme (expected http, https or file)")
    filename = source.filename or PurePosixPath(unquote(urlsplit(url).path)).name
    if not filename:
        raise SourceError(f"{url}: the URL names no file; set 'filename'")
    target = staging / filename
    log.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=URL_TIMEOUT_S) as response, open(target, "wb") as handle:
            size = response.headers.get("Content-Length")
            with tqdm(
                total=int(size) if size else None, unit="B", unit_scale=True, unit_divisor=1024, desc=filename
            ) as progress:
                for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                    handle.write(chunk)
                    progress.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise SourceError(f"{url}: HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise SourceError(f"{url}: cannot download: {error.reason}") from error
    except OSError as error:  # timeouts and dropped connections while reading
        raise SourceError(f"{url}: download failed: {error}") from error
    return _Fetched(path=target, origin=url)


# --------------------------------------------------------------------------------------
# Hugging Face Hub
# --------------------------------------------------------------------------------------
def _fetch_hf(source: HFSource, staging: Path) -> _Fetched:
    """Find the one file matching ``source.pattern`` in the repository, download it and stage a copy.

    Files are cached in the standard Hugging Face cache: ``HF_HUB_CACHE``, else ``HF_HOME/hub``
    (default ``~/.cache/huggingface/hub``), read at call time, so files fetched beforehand with
    ``hf download`` are reused. ``HF_ENDPOINT`` selects the Hub (or a mirror). With
    ``HF_HUB_OFFLINE`` set, only the cache is used: the pattern is matched among the cached files
    of the revision.
    """
    from huggingface_hub import HfApi, constants, hf_hub_download, hf_hub_url, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    cache_dir = _hub_cache_dir()
    where = f"{source.repo_type} repository '{source.repo_id}' (revision '{source.revision}')"
    if _hf_offline():
        try:
            snapshot = Path(
                snapshot_download(
                    source.repo_id,
                    repo_type=source.repo_type,
                    revision=source.revision,
                    cache_dir=cache_dir,
                    local_files_only=True,
                )
            )
        except LocalEntryNotFoundError as error:
            raise FileNotFoundError(
                f"HF_HUB_OFFLINE is set and {where} is not in the cache {cache_dir}; "
                "download it once with network access"
            ) from error
        files = sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file())
        path_in_repo = _match_one(source.pattern, files, where=f"the cached files of {where} in {cache_dir}")
        commit, cached = snapshot.name, snapshot / path_in_repo
    else:
        api = HfApi(endpoint=endpoint)
        with _hub_errors(f"{where} at {endpoint}"):
            commit = api.resolve_revision(
                source.repo_id, repo_type=source.repo_type, revision=source.revision, cache_dir=cache_dir
            ).resolved
            files = api.list_repo_files(source.repo_id, repo_type=source.repo_type, revision=commit)
        path_in_repo = _match_one(source.pattern, files, where=f"{where} at {endpoint} (commit {commit})")
        log.info("%s: %s matches %s", source.repo_id, source.pattern, path_in_repo)
        with _hub_errors(f"{where} at {endpoint}"):
            cached = Path(
                hf_hub_download(
                    source.repo_id,
                    path_in_repo,
                    repo_type=source.repo_type,
                    revision=commit,
                    cache_dir=cache_dir,
                    endpoint=endpoint,
                )
            )
    origin = hf_hub_url(
        source.repo_id, path_in_repo, repo_type=source.repo_type, revision=commit, endpoint=endpoint
    )
    return _Fetched(path=_stage_copy(cached, staging), origin=origin, revision=commit)


def _match_one(pattern: str, files: list[str], *, where: str) -> str:
    """The one path in ``files`` whose path or base name matches the case-insensitive glob ``pattern``."""
    wanted = pattern.lower()
    matches = [
        path
        for path in files
        if any(fnmatch.fnmatchcase(name.lower(), wanted) for name in (path, PurePosixPath(path).name))
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SourceError(
            f"pattern '{pattern}' matches no file in {where}; its files: {_preview(sorted(files))}"
        )
    raise SourceError(
        f"pattern '{pattern}' matches {len(matches)} files in {where}: {_preview(sorted(matches))}; "
        "make it match exactly one"
    )


@contextlib.contextmanager
def _hub_errors(where: str) -> Iterator[None]:
    """Turn the Hub client's failures (HTTP errors, unreachable host) into a SourceError naming ``where``."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, RevisionResolutionError

    try:
        yield
    except (HfHubHTTPError, RevisionResolutionError, httpx2.TransportError, OSError) as error:
        detail = " ".join(str(error).split()) or type(error).__name__  # one line for the CLI
        raise SourceError(f"{where}: {detail}") from error


def _hub_cache_dir() -> Path:
    """The Hugging Face cache, from the environment as it is now (huggingface_hub reads it at import)."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def _hf_offline() -> bool:
    """Whether HF_HUB_OFFLINE is set now, or was at huggingface_hub's import (its HTTP calls then fail)."""
    from huggingface_hub import constants

    offline_now = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    return offline_now or constants.HF_HUB_OFFLINE


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------
def _stage_copy(file: Path, staging: Path) -> Path:
    target = staging / file.name
    shutil.copyfile(file, target)
    return target


_FETCHERS: dict[str, Callable[[Any, Path], _Fetched]] = {
    "hf": _fetch_hf,
    "url": _fetch_url,
    "local": _fetch_local,
    "package": _fetch_package,
}

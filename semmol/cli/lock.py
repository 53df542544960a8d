"""``semmol lock``: fetch a config's datasets and record what their sources give in the lock file.

The workflow's download stage records a source the first time it fetches it and holds it to that
afterwards (:mod:`semmol.data.lock`); this command does the same for every dataset of a config at
once, and with ``--update`` deliberately accepts what the sources give now. Files go where the
download stage puts them, so the workflow's later stages re-run on changed data.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from semmol.data.lock import LOCK_PATH

HELP = (
    "fetch a config's datasets and record each source's resolved commit and sha256 in "
    "config/sources.lock, or check them against it; --update accepts what the sources give now"
)

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--configfile",
        nargs="+",
        required=True,
        type=Path,
        help="config files, merged in order as `snakemake --configfile` merges them",
    )
    parser.add_argument(
        "--dataset",
        nargs="+",
        help="only these datasets (default: the corpus, the benchmarks and the few-shot benchmark)",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="fetch each source at its configured revision and record what it gives, replacing a "
        "different entry (default: record sources the lock lacks, check the others against it)",
    )
    parser.add_argument("--lock", type=Path, default=LOCK_PATH, help=f"the lock file (default {LOCK_PATH})")
    parser.add_argument(
        "--resources",
        type=Path,
        default=Path("resources/datasets"),
        help="where each dataset's file and manifest go, in <dir>/<dataset>/ as the workflow's "
        "download stage places them (default resources/datasets)",
    )


def run(args: argparse.Namespace) -> None:
    from semmol.config_layers import load_config_files
    from semmol.data.lock import SourcesLock
    from semmol.data.sources import fetch

    config = load_config_files(args.configfile)
    fewshot = [config.fewshot.benchmark] if config.fewshot.benchmark is not None else []
    names = args.dataset or list(dict.fromkeys([config.corpus, *config.benchmarks, *fewshot]))
    unknown = [name for name in names if name not in config.datasets]
    if unknown:
        files = " ".join(str(path) for path in args.configfile)
        raise ValueError(f"no dataset {unknown} in {files} (datasets there: {sorted(config.datasets)})")
    lock = SourcesLock(args.lock)
    for name in names:
        source = config.datasets[name].source
        before = lock.pin(source)
        fetch(config.datasets[name], name=name, out_dir=args.resources / name, lock=lock, relock=args.update)
        after = lock.pin(source)
        if before is None:
            log.info("%s: recorded %s", name, after)
        elif before != after:
            log.info("%s: updated to %s (was %s)", name, after, before)
        else:
            log.info("%s: unchanged, %s", name, after)
    log.info("%s: the sources of %d datasets recorded or checked", lock.path, len(names))

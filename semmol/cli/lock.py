"""``semmol lock``: record what a config's dataset sources give in the lock file, or refresh it.

The workflow's download stage records a source the first time it fetches it and holds later
downloads to that (:mod:`semmol.data.lock`). This command records every dataset of a config at
once (before a long run, or to commit the lock with a config), and with ``--update`` accepts
what the sources give now. It writes no dataset files: a dataset whose content changed loses
its download manifest, so that the workflow's next run downloads it again, under the new lock,
and re-runs what depends on it.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from semmol.data.lock import LOCK_PATH

HELP = (
    "record each dataset source's resolved commit and sha256 in config/sources.lock (sources it "
    "lacks); --update fetches them again and accepts what they give now"
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
        help="fetch every source, locked or not, at its configured revision and record what it gives",
    )
    parser.add_argument("--lock", type=Path, default=LOCK_PATH, help=f"the lock file (default {LOCK_PATH})")
    parser.add_argument(
        "--resources",
        type=Path,
        default=Path("resources/datasets"),
        help="the workflow's downloads (<dir>/<dataset>/manifest.json); with --update, a dataset whose "
        "content changed loses its manifest there, so the next run downloads it again (default resources/datasets)",
    )


def run(args: argparse.Namespace) -> None:
    from semmol.config_layers import load_config_files
    from semmol.data.lock import SourcesLock
    from semmol.data.sources import MANIFEST_NAME, fetch

    config = load_config_files(args.configfile)
    fewshot = [config.fewshot.benchmark] if config.fewshot.benchmark is not None else []
    names = args.dataset or list(dict.fromkeys([config.corpus, *config.benchmarks, *fewshot]))
    unknown = [name for name in names if name not in config.datasets]
    if unknown:
        files = " ".join(str(path) for path in args.configfile)
        raise ValueError(f"no dataset {unknown} in {files} (datasets there: {sorted(config.datasets)})")
    lock = SourcesLock(args.lock)
    for name in names:
        dataset = config.datasets[name]
        before = lock.pin(dataset.source)
        if before is not None and not args.update:
            log.info("%s: locked, %s", name, before)
            continue
        with tempfile.TemporaryDirectory() as staging:  # the file is only needed for its checksum
            fetch(dataset, name=name, out_dir=Path(staging), lock=lock, relock=args.update)
        after = lock.pin(dataset.source)
        if before is None:
            log.info("%s: recorded %s", name, after)
        elif before == after:
            log.info("%s: unchanged, %s", name, after)
        else:
            (args.resources / name / MANIFEST_NAME).unlink(missing_ok=True)
            log.info("%s: updated to %s (was %s); the next run downloads it again", name, after, before)

"""Config files layered as ``snakemake --configfile BASE.yaml OVERLAY.yaml ...`` layers them.

Snakemake merges the files key by key (:func:`snakemake.utils.update_config`). For a dataset's
source that is wrong when an overlay gives a source of another kind (``config/overlays/
local-data.yaml`` turns ``hf`` and ``url`` sources into ``local`` ones): the earlier kind's fields
stay beside the new ones. :func:`settle_source_kinds` drops them, so that a source's ``kind``
decides its fields; the workflow calls it on the merged config before validating it, and
:func:`load_config_files` (the commands that take ``--configfile``) does the same.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, get_args

import yaml

from semmol.config import ExperimentConfig, HFSource, LocalSource, PackageSource, URLSource, load_config

#: Source kind -> the fields a source of that kind has.
_SOURCE_FIELDS = {
    get_args(model.model_fields["kind"].annotation)[0]: set(model.model_fields)
    for model in (HFSource, URLSource, LocalSource, PackageSource)
}


def settle_source_kinds(raw: dict[str, Any]) -> dict[str, Any]:
    """Drop, in place, the fields that belong to another kind of source from each dataset's source.

    A field no kind has (a misspelling) is kept, so validation still names it.

    Args:
        raw: a merged config mapping, as Snakemake holds it.

    Returns:
        ``raw``.
    """
    every_field = set().union(*_SOURCE_FIELDS.values())
    for dataset in (raw.get("datasets") or {}).values():
        source = dataset.get("source") if isinstance(dataset, dict) else None
        if not isinstance(source, dict) or source.get("kind") not in _SOURCE_FIELDS:
            continue
        for field in every_field - _SOURCE_FIELDS[source["kind"]]:
            source.pop(field, None)
    return raw


def merge_layers(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """Config mappings merged in order, as ``snakemake --configfile`` merges their files, sources settled.

    Args:
        layers: the contents of the config files, the base first (left unchanged).
    """
    from snakemake.utils import update_config

    merged: dict[str, Any] = {}
    for layer in layers:
        update_config(merged, copy.deepcopy(layer))
    return settle_source_kinds(merged)


def merge_config_files(paths: list[Path]) -> dict[str, Any]:
    """The config files merged in order, as ``snakemake --configfile`` merges them, sources settled.

    Args:
        paths: YAML config files, the base first.

    Raises:
        FileNotFoundError: a file is missing.
    """
    return merge_layers([yaml.safe_load(Path(path).read_text()) or {} for path in paths])


def load_config_files(paths: list[Path]) -> ExperimentConfig:
    """The validated experiment of config files layered in order (see :func:`merge_config_files`).

    Args:
        paths: YAML config files, the base first.
    """
    return load_config(merge_config_files(paths))

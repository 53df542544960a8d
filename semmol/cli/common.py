"""Helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


def json_model(model: type[ModelT]):
    """An argparse ``type=`` that parses a pydantic model from JSON text or ``@file.json``."""

    def parse(text: str) -> ModelT:
        if text.startswith("@"):
            text = Path(text[1:]).read_text()
        try:
            return model.model_validate_json(text)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(top level)"
            more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
            raise argparse.ArgumentTypeError(
                f"invalid {model.__name__}: {where}: {first['msg']}{more}"
            ) from None

    parse.__name__ = model.__name__  # argparse names the type in its error messages
    return parse

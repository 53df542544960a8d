"""Atomic checkpoint files: a killed job never leaves a half-written checkpoint behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from semmol.atomic import atomic_path


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename over it."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_if_exists(path: str | Path) -> dict[str, Any] | None:
    """The checkpoint at ``path``, or ``None`` when there is none yet."""
    path = Path(path)
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)

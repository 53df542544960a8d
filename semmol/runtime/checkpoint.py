"""Checkpoint and model files: written atomically, read without running any pickled code.

Every file semmol writes with :func:`save_atomic` holds only tensors and plain data (dicts,
lists, strings, numbers), so :func:`load_file` reads it with ``torch.load(weights_only=True)``,
which refuses anything else. A model file from elsewhere therefore cannot execute code when
it is loaded: a crafted pickle is refused with :class:`UnsafeFileError`.

A resumable job also saves the random streams it draws from (:func:`rng_state`).
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from semmol.runtime.atomic import atomic_path


class UnsafeFileError(ValueError):
    """A model or checkpoint file holds Python objects other than tensors and plain data."""


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename over it."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_file(path: str | Path) -> Any:
    """The contents of a file written by :func:`save_atomic`, on the CPU.

    Raises:
        FileNotFoundError: no such file.
        UnsafeFileError: the file needs more than tensors and plain data to unpickle (such a
            file could run code; it is not loaded).
        ValueError: the file is not a torch file at all (truncated or of another format).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model or checkpoint file")
    if not zipfile.is_zipfile(path):  # what torch.save writes; anything else is not ours
        raise ValueError(f"{path}: not a readable torch file (truncated or another format?)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL (\S+)", str(error))  # torch names the first refused object
        if found is None:
            raise ValueError(f"{path}: not a readable torch file (its pickle is damaged)") from None
        raise UnsafeFileError(
            f"{path}: refused to load: it holds Python objects ({found[1]}), not only tensors and plain "
            "data, and unpickling them could run code; semmol files never do, so this one was not "
            "written by semmol or was altered"
        ) from None
    except (RuntimeError, EOFError, OSError) as error:
        raise ValueError(
            f"{path}: not a readable torch file (truncated or another format?): {error}"
        ) from None


def load_if_exists(path: str | Path) -> dict[str, Any] | None:
    """The checkpoint at ``path``, or ``None`` when there is none yet."""
    path = Path(path)
    if not path.exists():
        return None
    return load_file(path)


def rng_state() -> dict[str, torch.Tensor]:
    """The global random streams a training loop draws from: the CPU's and, where there is one,
    the current CUDA device's (dropout, random initialisation)."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, torch.Tensor]) -> None:
    """Restore what :func:`rng_state` returned; a CUDA stream saved where there is no CUDA
    device is ignored (the run goes on on the CPU, and so cannot match a GPU run anyway).

    Args:
        state: a dict from :func:`rng_state`.
    """
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])

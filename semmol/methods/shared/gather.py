"""The rows of the global batch in an order that does not depend on how it is split over ranks.

The center library's initialisation cache, its re-seeding and the memory bank all consume the
global batch. Sorting it by molecule key makes one process with batch ``G`` and ``W``
processes with ``G / W`` each see exactly the same rows in exactly the same order.
"""

from __future__ import annotations

import torch

from semmol.runtime.distributed import all_gather


def gather_rows_by_key(
    features: torch.Tensor, keys: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The valid rows of every rank, sorted by molecule key (identical on every rank).

    Ranks may hold different numbers of rows. Rows with equal keys keep rank order, so a
    molecule repeated across ranks is the one case where the order depends on the split.

    Args:
        features: ``[B, dim]`` this rank's rows; detached and cast to float32.
        keys: ``[B]`` int64 molecule keys (``mol_index``), all ``>= 0``.
        valid: ``[B]`` bool; invalid rows are left out.

    Returns:
        ``(features [N, dim], keys [N])`` over the valid rows of all ranks.

    Raises:
        ValueError: shapes disagree or a key is negative.
    """
    if features.ndim != 2 or keys.shape != (features.shape[0],) or valid.shape != keys.shape:
        raise ValueError(
            f"expected features [B, dim], keys [B] and valid [B], got {tuple(features.shape)}, "
            f"{tuple(keys.shape)} and {tuple(valid.shape)}"
        )
    if keys.numel() and int(keys.min()) < 0:
        raise ValueError(f"molecule keys must be >= 0, got {int(keys.min())}")
    features = features.detach().float()
    tagged = torch.where(valid, keys.long(), torch.full_like(keys.long(), -1))  # -1: left out
    longest = int(all_gather(torch.tensor([keys.shape[0]], device=keys.device)).max())
    padding = longest - keys.shape[0]
    if padding:  # all_gather needs equal shapes
        features = torch.cat([features, features.new_zeros(padding, features.shape[1])])
        tagged = torch.cat([tagged, tagged.new_full((padding,), -1)])
    all_features, all_keys = all_gather(features), all_gather(tagged)
    kept = all_keys >= 0
    all_features, all_keys = all_features[kept], all_keys[kept]
    order = torch.sort(all_keys, stable=True).indices
    return all_features[order], all_keys[order]

"""Dual cross-attention between a molecule's learned views and its fingerprints (LGM-CL's
fusion at fine-tuning): the views query the fingerprints, the fingerprints query the views."""

from __future__ import annotations

import torch
from torch import nn

from semmol.data.feature_sizes import ERG_SIZE, MACCS_BITS, PUBCHEM_BITS

#: Fingerprints read from the shards: their batch field and width (ECFP's is the shards' bit count).
FINGERPRINT_WIDTHS = {"maccs": MACCS_BITS, "pubchem": PUBCHEM_BITS, "erg": ERG_SIZE}


class _CrossAttention(nn.Module):
    """``queries + attention(queries, keys)``, layer-normalised (a post-norm residual block)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor | None
    ) -> torch.Tensor:
        attended, _ = self.attention(queries, keys, keys, key_padding_mask=key_mask, need_weights=False)
        return self.norm(queries + attended)


class DualCrossAttentionFusion(nn.Module):
    """One token per learned view (its hidden vector, mapped to ``dim``) and one per fingerprint
    (the vector, mapped to ``dim``). Views -> fingerprints: each view token attends over the
    fingerprint tokens; fingerprints -> views: each fingerprint token attends over the view
    tokens the molecule has (a missing view, e.g. no conformer, is masked out as a key and
    left out of the pooling; a molecule with no view at all keeps every token). The two sides
    are mean-pooled and concatenated: ``[B, 2 * dim]``.

    Args:
        view_dims: hidden size of each view, in token order.
        fingerprint_widths: length of each fingerprint vector, in token order (the batch fields
            are read by the caller).
        dim: token size; default 64.
        heads: attention heads; default 4.
        dropout: attention dropout; default 0.
    """

    def __init__(
        self,
        view_dims: list[int],
        fingerprint_widths: list[int],
        *,
        dim: int = 64,
        heads: int = 4,
        dropout: float = 0.0,
    ):
        super().__init__()
        if not view_dims or not fingerprint_widths:
            raise ValueError("dual cross-attention needs at least one view and one fingerprint")
        self.out_dim = 2 * dim
        self.view_in = nn.ModuleList(nn.Linear(width, dim) for width in view_dims)
        self.fingerprint_in = nn.ModuleList(nn.Linear(width, dim) for width in fingerprint_widths)
        self.views_to_fingerprints = _CrossAttention(dim, heads, dropout)
        self.fingerprints_to_views = _CrossAttention(dim, heads, dropout)

    def forward(
        self, views: list[torch.Tensor], view_valid: torch.Tensor, fingerprints: list[torch.Tensor]
    ) -> torch.Tensor:
        """``views``: one ``[B, view_dim]`` per view; ``view_valid``: ``[B, V]`` bool;
        ``fingerprints``: one ``[B, width]`` per fingerprint. Returns ``[B, 2 * dim]``."""
        view_tokens = torch.stack([layer(v) for layer, v in zip(self.view_in, views)], dim=1)
        fp_tokens = torch.stack([layer(f) for layer, f in zip(self.fingerprint_in, fingerprints)], dim=1)
        valid = view_valid | ~view_valid.any(dim=1, keepdim=True)
        views_out = self.views_to_fingerprints(view_tokens, fp_tokens, None)
        fps_out = self.fingerprints_to_views(fp_tokens, view_tokens, ~valid)
        weights = valid.unsqueeze(-1).to(views_out.dtype)
        pooled_views = (weights * views_out).sum(dim=1) / weights.sum(dim=1)
        return torch.cat([pooled_views, fps_out.mean(dim=1)], dim=1)

"""Graph-text cross-attention (LGM-CL): a molecule's structure views attend to its text tokens,
fused into one embedding in the shared projection space."""

from __future__ import annotations

import torch
from torch import nn

from semmol.models.multimodal import ModalityOutput

#: Modalities on the text side (token sequences); every other modality is a structure view.
TEXT_VIEWS = ("smiles", "description")


def text_tokens(outputs: dict[str, ModalityOutput], views: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """The projected token states of ``views``, one sequence after the other: ``[B, L, proj_dim]``,
    and ``[B, L]`` bool, false at padding and in a view the molecule lacks.

    Raises:
        ValueError: a view was encoded without its token states (``token_views``).
    """
    for view in views:
        if outputs[view].projected_tokens is None:
            raise ValueError(f"view '{view}' was encoded without token states; pass it in token_views")
    tokens = torch.cat([outputs[v].projected_tokens for v in views], dim=1)
    valid = torch.cat([outputs[v].token_valid & outputs[v].valid[:, None] for v in views], dim=1)
    return tokens, valid


class GraphTextCrossAttention(nn.Module):
    """Each structure view's projection is a query over the text tokens; ``LayerNorm(query +
    attention)`` (a post-norm residual block), averaged over the structure views the molecule
    has (all of them when it has none), is the unified embedding ``[B, dim]``. Padded tokens
    are masked out as keys; a molecule without any text token gets its queries, layer-normalised.

    Args:
        dim: the projection size (``model.proj_dim``), divisible by ``heads``.
        heads: attention heads; default 4.

    Raises:
        ValueError: ``dim`` is not divisible by ``heads``.
    """

    def __init__(self, dim: int, heads: int = 4):
        super().__init__()
        if dim % heads:
            raise ValueError(
                f"graph-text cross-attention: model.proj_dim ({dim}) must be divisible by {heads} heads"
            )
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        structure: torch.Tensor,
        structure_valid: torch.Tensor,
        tokens: torch.Tensor,
        token_valid: torch.Tensor,
    ) -> torch.Tensor:
        """``structure``: ``[B, S, dim]`` view projections; ``structure_valid``: ``[B, S]`` bool;
        ``tokens``: ``[B, L, dim]``; ``token_valid``: ``[B, L]`` bool. Returns ``[B, dim]``."""
        has_text = token_valid.any(dim=1)
        # An all-masked row would make the softmax NaN: unmask it, then drop what it attended.
        key_mask = ~(token_valid | ~has_text[:, None])
        attended, _ = self.attention(structure, tokens, tokens, key_padding_mask=key_mask, need_weights=False)
        fused = self.norm(structure + attended * has_text[:, None, None].to(attended.dtype))
        weights = (structure_valid | ~structure_valid.any(dim=1, keepdim=True)).unsqueeze(-1).to(fused.dtype)
        return (weights * fused).sum(dim=1) / weights.sum(dim=1)

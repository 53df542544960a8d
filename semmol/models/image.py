"""Image encoder: a small residual CNN over the stored 2D depiction of each molecule.

A ResNet-18-style network cut down for CPU budgets: a 3x3 stem (``stem_stride`` 2 halves the
resolution at once), then ``stages`` stages of one
residual block each (two 3x3 convolutions), every stage halving the resolution and doubling
the channels, global average pooling and a linear layer. GroupNorm instead of BatchNorm, as
everywhere in semmol: a molecule's output never depends on the rest of its batch. Pixels are
inverted (ink 1, paper 0) so the white background contributes nothing.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch

from semmol.config import ImageEncoderConfig
from semmol.models.base import EncoderOutput
from semmol.models.corruption import CorruptionKey

#: Channels per GroupNorm group.
_GROUP = 8


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(max(1, channels // _GROUP), channels)


class _ResidualBlock(nn.Module):
    """``relu(norm(conv(relu(norm(conv(x))))) + shortcut(x))``, the first convolution strided."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            _norm(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            _norm(out_channels),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and in_channels == out_channels
            else nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), _norm(out_channels)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ImageEncoder(nn.Module):
    """``batch.image`` ``[B, 3, S, S]`` uint8 -> ``hidden`` ``[B, dim]``; ``valid`` from ``batch.image_valid``.

    No reconstruction loss (nothing is masked in the image view).

    Args:
        cfg: dim, width (channels of the first stage), stages, dropout.
    """

    def __init__(self, cfg: ImageEncoderConfig):
        super().__init__()
        self.dim = cfg.dim
        channels = [cfg.width * 2**i for i in range(cfg.stages)]
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels[0], 3, stride=cfg.stem_stride, padding=1, bias=False),
            _norm(channels[0]),
            nn.ReLU(),
        )
        self.stages = nn.Sequential(
            *(_ResidualBlock(channels[max(0, i - 1)], channels[i], stride=2) for i in range(cfg.stages))
        )
        self.out = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(channels[-1], cfg.dim))

    def forward(self, batch: Batch, corrupt: CorruptionKey | None = None) -> EncoderOutput:
        if not hasattr(batch, "image"):
            raise ValueError("the batch has no images: read the shards with ShardDataset(images=True)")
        ink = 1.0 - batch.image.float() / 255.0
        pooled = self.stages(self.stem(ink)).mean(dim=(2, 3))
        valid = batch.image_valid.bool()
        hidden = self.out(pooled) * valid.unsqueeze(1)  # zeros where the molecule has no image
        return EncoderOutput(hidden=hidden, valid=valid)

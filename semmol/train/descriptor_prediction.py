"""Descriptor prediction: an auxiliary pretraining task beside any method's terms.

MolBERT's PhysChem task (Fabian et al. 2020): each listed view's pooled representation predicts,
through a linear head, the molecule's RDKit 2D descriptors (the shards' squashed
``descriptors``), standardized with the corpus moments and clipped as the descriptor encoder's
input is. The targets come from the structure alone, so pretraining stays self-supervised; the
task writes into the representation the physico-chemical quantities (logP, polar surface, atom
and ring counts) that property benchmarks depend on, which contrast between views need not.

The heads are pretraining scaffolding: fine-tuning reads the encoders only, so ``model.pt``
does not carry them (the checkpoint does, for resumption).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from semmol.models.multimodal import ModalityOutput
from semmol.models.vector import scaling, standardize
from semmol.runtime.distributed import global_mean


class DescriptorPrediction(nn.Module):
    """Linear heads from views' representations to standardized descriptors, and their loss.

    Args:
        widths: per view, the width of its pooled representation (``hidden``).
        n_descriptors: the descriptors' count (``len(DESCRIPTOR_NAMES)``).
    """

    def __init__(self, widths: dict[str, int], *, n_descriptors: int):
        super().__init__()
        self.heads = nn.ModuleDict({view: nn.Linear(width, n_descriptors) for view, width in widths.items()})
        self.register_buffer("mean", torch.zeros(n_descriptors))
        self.register_buffer("std", torch.ones(n_descriptors))

    @torch.no_grad()
    def set_scaling(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Standardize the targets with the corpus' mean and standard deviation."""
        mean, std = scaling(mean, std)
        self.mean.copy_(mean)
        self.std.copy_(std)

    def forward(self, outputs: dict[str, ModalityOutput], descriptors: torch.Tensor) -> torch.Tensor:
        """This rank's share of the global-batch mean squared error per descriptor, summed over views.

        Args:
            outputs: the encoders' outputs, holding at least the heads' views.
            descriptors: ``[B, n_descriptors]`` the batch's squashed descriptors.
        """
        target = standardize(descriptors, self.mean, self.std)
        loss = descriptors.new_zeros(())
        for view, head in self.heads.items():
            valid = outputs[view].valid  # e.g. molecules without a conformer have no 3D view
            error = (head(outputs[view].hidden[valid]) - target[valid]).pow(2).mean(dim=1)
            loss = loss + global_mean(error.sum(), int(valid.sum()))
        return loss

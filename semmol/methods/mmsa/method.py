"""MMSA (Multi-Modal molecular representation learning via Structure Awareness) as a pretraining method.

Per step, over the views ``V`` (``pretrain.anchor`` and ``pretrain.targets``, taken alike):

1. *cross-modal contrast*: symmetric InfoNCE between every pair of views;
2. *multi-modal fusion*: attention over each molecule's valid views gives one fused embedding
   (:class:`~semmol.methods.mmsa.fusion.AttentionFusion`), from which every view's projection
   is reconstructed (:class:`~semmol.methods.mmsa.fusion.ViewReconstruction`);
3. *structure awareness*: the fused embeddings of the global batch and a memory bank of
   recent ones are the nodes of a hypergraph, each batch molecule spanning a hyperedge with
   its ``k`` nearest neighbours; hypergraph convolution refines each molecule's embedding
   with those of the molecules it shares hyperedges with
   (:class:`~semmol.methods.mmsa.hypergraph.HypergraphRefiner`), and InfoNCE between the
   refined embedding and each of the molecule's views carries that structure into the encoders;
4. *memory anchors*: the refined embedding is aligned with its soft assignment over ``M``
   anchors of typical representations (:class:`~semmol.methods.mmsa.memory.MemoryAnchors`).

``loss = w_contrastive * L_pairs + w_fusion_reconstruction * L_rec + w_structure * L_struct + w_memory * L_memory``.

Where the paper is silent (its code is not public) the choices are ours, documented in
``docs/methods.md``: attention fusion, cosine reconstruction targets detached from the views,
kNN hyperedges over the batch plus a bank, the refined-vs-view InfoNCE, and EMA anchors.
Fine-tuning uses the pretrained view encoders like every other row.
"""

from __future__ import annotations

from itertools import combinations

import torch

from semmol.config import MMSAConfig, PretrainJob
from semmol.methods.base import Logs, LossTerms, PretrainMethod
from semmol.methods.mmsa.fusion import AttentionFusion, ViewReconstruction
from semmol.methods.mmsa.hypergraph import HypergraphRefiner
from semmol.methods.mmsa.memory import MemoryAnchors
from semmol.methods.shared.contrastive import infonce_loss, view_pairs_infonce
from semmol.methods.shared.memory import MemoryBank
from semmol.models.multimodal import ModalityOutput
from semmol.runtime.distributed import all_gather, all_reduce_sum, gather_with_grad, global_mean, rank


class MMSAMethod(PretrainMethod):
    """See the module docstring.

    Args:
        job: the run's options; ``job.mmsa`` holds MMSA's own.
    """

    name = "mmsa"
    options_section = "mmsa"

    def __init__(self, job: PretrainJob):
        super().__init__(job)
        dim, views = job.model.proj_dim, self.modalities
        if len(views) < 2:
            raise ValueError(f"MMSA needs at least two views, got {views}")
        self.fusion = AttentionFusion(dim, modalities=views)
        self.reconstruction = ViewReconstruction(dim, modalities=views)
        self.refiner = (
            HypergraphRefiner(dim, k=self.cfg.k_neighbours, layers=self.cfg.hypergraph_layers)
            if self.cfg.hypergraph
            else None
        )
        self.bank = (
            MemoryBank(size=self.cfg.bank_size, dim=dim)
            if self.cfg.hypergraph and self.cfg.bank_size
            else None
        )
        self.memory = (
            MemoryAnchors(
                n_anchors=self.cfg.n_memories,
                dim=dim,
                update=self.cfg.memory_update,
                momentum=self.cfg.memory_momentum,
                temperature=self.cfg.memory_temperature,
                seed=job.pretrain.seed,
            )
            if self.cfg.n_memories
            else None
        )

    @property
    def cfg(self) -> MMSAConfig:
        return self.job.mmsa

    def forward(
        self, outputs: dict[str, ModalityOutput], keys: torch.Tensor, step: int
    ) -> tuple[LossTerms, Logs]:
        pretrain = self.job.pretrain
        views = {m: (outputs[m].projected, outputs[m].valid) for m in self.modalities}
        pairs = view_pairs_infonce(
            outputs, combinations(self.modalities, 2), temperature=pretrain.temperature
        )
        terms = {"infonce": pretrain.w_contrastive * pairs}

        fused, fusion_weights = self.fusion(views)
        rec_sum, rec_count = self.reconstruction(fused, views)
        terms["fusion_reconstruction"] = self.cfg.w_fusion_reconstruction * global_mean(rec_sum, rec_count)

        refined = self._refine(fused, keys)
        structure = [
            infonce_loss(refined, z, valid, keys, temperature=pretrain.temperature)
            for z, valid in views.values()
        ]
        terms["structure"] = self.cfg.w_structure * torch.stack(structure).mean()

        logs = self._fusion_logs(fusion_weights)
        if self.memory is not None:
            memory, memory_logs = self.memory(refined, keys)
            terms["memory"] = self.cfg.w_memory * memory
            logs.update(memory_logs)
        return terms, logs

    def _refine(self, fused: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """This rank's rows of the hypergraph-refined global batch (``fused`` without a hypergraph).

        Every rank builds the same hypergraph over the whole global batch (gathered in rank
        order, which is the one-process batch order) and keeps its own rows; gradients reach
        every rank's fused rows through the gather's backward.
        """
        if self.refiner is None:
            return fused
        global_fused, global_keys = gather_with_grad(fused), all_gather(keys)
        if self.bank is not None and len(self.bank):
            bank, bank_keys = self.bank.entries()
        else:
            bank, bank_keys = fused.new_zeros(0, fused.shape[1]), keys.new_zeros(0)
        refined = self.refiner(global_fused, bank, batch_keys=global_keys, bank_keys=bank_keys)
        if self.bank is not None:
            self.bank.push(fused, keys, torch.ones_like(keys, dtype=torch.bool))
        start = rank() * fused.shape[0]
        return refined[start : start + fused.shape[0]]

    def _fusion_logs(self, weights: torch.Tensor) -> Logs:
        """``fusion_weight_<view>``: the mean attention weight of each view over the global batch."""
        totals = all_reduce_sum(torch.cat([weights.detach().sum(dim=0), weights.new_tensor([len(weights)])]))
        return {f"fusion_weight_{m}": float(totals[i] / totals[-1]) for i, m in enumerate(self.modalities)}

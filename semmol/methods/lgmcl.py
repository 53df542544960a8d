"""LGM-CL (Local-Global Multimodal Contrastive Learning) as a pretraining method.

The views (``pretrain.anchor`` and ``pretrain.targets``, taken alike) fall into two sides:
*text* views (``smiles``, ``description``) and *structure* views (every other modality; the
paper's are AttentiveFP's local ``graph_attention`` view and the graph transformer's global
``graph_global`` view). Per step, each an NT-Xent over the global batch:

1. *local vs global*: every pair of structure views;
2. *text*: every pair of text views (the SMILES, randomised when ``model.smiles.randomize``,
   against the molecule's description);
3. *structure vs text*, by ``lgmcl.fusion``: ``cross_attention`` (the paper's graph-text
   fusion): the structure views' projections attend to the tokens of one text view
   (:class:`GraphTextCrossAttention`), and that unified embedding is contrasted with each
   other text view's projection, averaged over the ordered pairs of text views; the text a
   unified embedding has read is never its own positive, which copying would match. ``mean``
   (ablation): the mean structure projection against the mean text projection.

``loss = w_local_global * L_local_global + w_text * L_text + w_graph_text * L_graph_text``;
a term whose side has fewer than two views (or a side that is absent) drops out, so the
ablations are run by choosing the views. The fingerprint fusion of LGM-CL belongs to
fine-tuning (``finetune.fingerprint_fusion``), like the graph-text fusion that the head reads
(``finetune.graph_text_fusion``, which starts from :attr:`LGMCLMethod.fusion`'s weights).
"""

from __future__ import annotations

from itertools import combinations, permutations

import torch
from torch import nn

from semmol.config import LGMCLConfig, PretrainJob
from semmol.methods.base import Logs, LossTerms, PretrainMethod
from semmol.methods.shared.contrastive import infonce_loss, view_pairs_infonce
from semmol.models.graph_text_fusion import TEXT_VIEWS, GraphTextCrossAttention, text_tokens
from semmol.models.multimodal import ModalityOutput


def _mean_projection(
    outputs: dict[str, ModalityOutput], views: list[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The L2-normalised mean of the valid views' projections, and whether a molecule has any."""
    valid = torch.stack([outputs[v].valid for v in views], dim=1)
    z = torch.stack([outputs[v].projected for v in views], dim=1) * valid.unsqueeze(-1)
    return nn.functional.normalize(z.sum(dim=1), dim=-1), valid.any(dim=1)


class LGMCLMethod(PretrainMethod):
    """See the module docstring.

    Args:
        job: the run's options; ``job.lgmcl`` holds LGM-CL's own.

    Raises:
        ValueError: the views give no term (e.g. one structure view and nothing else), or
            ``lgmcl.fusion: cross_attention`` has structure views and a single text view.
    """

    name = "lgmcl"
    options_section = "lgmcl"

    def __init__(self, job: PretrainJob):
        super().__init__(job)
        self.text = [m for m in self.modalities if m in TEXT_VIEWS]
        self.structure = [m for m in self.modalities if m not in TEXT_VIEWS]
        if len(self.structure) < 2 and len(self.text) < 2 and not (self.structure and self.text):
            raise ValueError(
                f"LGM-CL needs two structure views, two text views, or one of each; got {self.modalities}"
            )
        self.fusion = None
        if self.cfg.fusion == "cross_attention" and self.structure and self.text:
            if len(self.text) < 2:
                raise ValueError(
                    f"lgmcl.fusion 'cross_attention' contrasts the structure views fused with one text view "
                    f"against another text view; {self.modalities} has one (use lgmcl.fusion: mean)"
                )
            self.fusion = GraphTextCrossAttention(job.model.proj_dim)

    @property
    def token_views(self) -> list[str]:
        return self.text if self.fusion is not None else []

    @property
    def cfg(self) -> LGMCLConfig:
        return self.job.lgmcl

    def forward(
        self, outputs: dict[str, ModalityOutput], keys: torch.Tensor, step: int
    ) -> tuple[LossTerms, Logs]:
        terms: LossTerms = {}
        tau = self.job.pretrain.temperature
        if len(self.structure) >= 2:
            pairs = combinations(self.structure, 2)
            terms["local_global"] = self.cfg.w_local_global * view_pairs_infonce(
                outputs, pairs, temperature=tau
            )
        if len(self.text) >= 2:
            pairs = combinations(self.text, 2)
            terms["text"] = self.cfg.w_text * view_pairs_infonce(outputs, pairs, temperature=tau)
        if self.fusion is not None:
            terms["graph_text"] = self.cfg.w_graph_text * self._fused_graph_text(outputs, tau)
        elif self.structure and self.text:
            structure, structure_valid = _mean_projection(outputs, self.structure)
            text, text_valid = _mean_projection(outputs, self.text)
            terms["graph_text"] = self.cfg.w_graph_text * infonce_loss(
                structure, text, structure_valid & text_valid, temperature=tau
            )
        return terms, {}

    def _fused_graph_text(self, outputs: dict[str, ModalityOutput], tau: float) -> torch.Tensor:
        """The structure views fused with text view ``a`` against text view ``b``, averaged over
        the ordered pairs ``(a, b)``."""
        structure = torch.stack([outputs[v].projected for v in self.structure], dim=1)
        structure_valid = torch.stack([outputs[v].valid for v in self.structure], dim=1)
        losses = []
        for read, positive in permutations(self.text, 2):
            tokens, token_valid = text_tokens(outputs, [read])
            unified = self.fusion(structure, structure_valid, tokens, token_valid)
            unified = nn.functional.normalize(unified, dim=-1)
            valid = structure_valid.any(dim=1) & outputs[read].valid & outputs[positive].valid
            losses.append(infonce_loss(unified, outputs[positive].projected, valid, temperature=tau))
        return torch.stack(losses).mean()

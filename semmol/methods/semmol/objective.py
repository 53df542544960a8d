"""The SemMol objective: center libraries + soft matching, as one module the pretraining loop calls.

Per step (:meth:`SemMolObjective.forward`):

1. matching, once every target library is initialised and has made ``warmup_updates``
   updates: each anchor row is matched (:func:`~semmol.methods.semmol.matching.soft_match`)
   against a detached snapshot of each target library taken *before* this step's update,
   so a batch never retrieves centers it moved itself;
2. the losses. With the fused positive (``semantic.positive: fused``, the reference),
   ``p = normalize(sum over targets of sum_k w_k c_k)`` for every row; ``L_pseudo`` is the
   mean over (row, target library) pairs that have a negative of
   ``logsumexp([a.p, a.n_1, ...] / tau_L) - a.p / tau_L`` with that library's hard-negative
   centers (plus its memory-bank entries other than the molecule itself, when there is a
   bank), and ``L_align`` the mean over rows of ``(a - p)^2`` reduced over the feature
   dimension (``align_reduction``). With per-modality positives, each (row, target) pair
   whose target view is valid has its own positive in both terms. Each term is a mean over
   the global batch in the ``global_mean`` convention;
   ``loss = w_pseudo * ramp(step) * L_pseudo + w_align * L_align``, where ``ramp`` rises
   linearly from 0 to 1 over ``ramp_steps`` steps from the step matching started;
3. every library update and memory-bank push (no gradient), also before matching starts;
   until then the loss is a zero still attached to the anchor graph.

Gradients reach the anchor and a learnable tau only; centers and banks are buffers. So the
method's own terms train the anchor's encoder alone (plus the targets' with
``semantic.w_infonce > 0``, see :class:`~semmol.methods.semmol.method.SemMolMethod`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from semmol.config import SemanticConfig
from semmol.methods.semmol.library import CenterLibrary
from semmol.methods.semmol.matching import (
    SoftMatch,
    alignment_loss,
    fuse_positives,
    pseudo_pair_loss,
    soft_match,
)
from semmol.methods.semmol.temperature import Temperature
from semmol.methods.shared.memory import MemoryBank
from semmol.runtime.atomic import atomic_path
from semmol.runtime.distributed import all_reduce_sum, global_mean

Targets = dict[str, tuple[torch.Tensor, torch.Tensor]]


class SemMolObjective(nn.Module):
    """Dynamic Center Libraries and Anchor-Center Soft Matching (see the module docstring).

    Args:
        cfg: the ``semantic`` config section.
        dim: size of the projected features.
        targets: target modalities, one library (and bank) each.
        seed: seed of the clustering and re-seeding (library ``i`` uses ``seed + i``).
        total_steps: optimizer steps of the run (length of a scheduled tau).
    """

    def __init__(self, cfg: SemanticConfig, *, dim: int, targets: list[str], seed: int, total_steps: int):
        super().__init__()
        if not targets or len(set(targets)) != len(targets):
            raise ValueError(f"SemMol needs distinct target modalities, got {targets}")
        if cfg.top_m > cfg.n_centers:
            raise ValueError(f"semantic.top_m ({cfg.top_m}) exceeds semantic.n_centers ({cfg.n_centers})")
        self.cfg, self.dim, self.targets = cfg, dim, list(targets)
        self.seed, self.total_steps = seed, total_steps
        self.libraries = nn.ModuleDict(
            {
                name: CenterLibrary(
                    n_centers=cfg.n_centers,
                    dim=dim,
                    beta=cfg.beta,
                    init_cache=cfg.init_cache,
                    init_iters=cfg.init_iters,
                    init_min=cfg.init_min,
                    reseed_after=cfg.reseed_after,
                    faiss_min_size=cfg.faiss_min_size,
                    seed=seed + index,
                )
                for index, name in enumerate(self.targets)
            }
        )
        self.banks = nn.ModuleDict(
            {name: MemoryBank(size=cfg.memory_bank_size, dim=dim) for name in self.targets}
            if cfg.memory_bank_size
            else {}
        )
        self.temperature = Temperature(cfg.tau, total_steps=total_steps)
        self.register_buffer("matching_since", torch.tensor(-1))  # step at which matching started
        self.register_buffer("last_step", torch.tensor(-1))  # step of the last forward call

    def spec(self) -> dict:
        """The constructor's arguments as plain data (weights and buffers aside)."""
        return {
            "semantic": self.cfg.model_dump(mode="json"),
            "dim": self.dim,
            "targets": self.targets,
            "seed": self.seed,
            "total_steps": self.total_steps,
        }

    @classmethod
    def from_spec(cls, spec: dict) -> SemMolObjective:
        """A fresh objective of :meth:`spec`'s shape; load its state dict for the trained buffers."""
        return cls(
            SemanticConfig.model_validate(spec["semantic"]),
            dim=spec["dim"],
            targets=spec["targets"],
            seed=spec["seed"],
            total_steps=spec["total_steps"],
        )

    # ------------------------------------------------------------------ training step
    def forward(
        self, anchor: torch.Tensor, targets: Targets, keys: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """One step: match against the pre-update snapshot, then update libraries and banks.

        A collective: every rank calls it once per step.

        Args:
            anchor: ``[B, dim]`` L2-normalised anchor projections.
            targets: per target modality, ``(features [B, dim], valid [B] bool)``.
            keys: ``[B]`` int64 molecule keys (``mol_index``).
            step: the optimizer step (0-based).

        Returns:
            ``(loss, logs)``: this rank's share of the weighted loss, and floats that are the
            same on every rank (keys listed in :meth:`_logs`).
        """
        self._check(anchor, targets, keys)
        active = all(library.ready(self.cfg.warmup_updates) for library in self.libraries.values())
        with torch.autocast(device_type=anchor.device.type, enabled=False):  # matching in float32
            anchor = anchor.float()
            if active:
                if int(self.matching_since) < 0:
                    self.matching_since.fill_(step)
                tau = self.temperature(step)
                pseudo, align, stats = self._match(anchor, targets, keys, tau)
                ramp = self._ramp(step)
                loss = self.cfg.w_pseudo * ramp * pseudo + self.cfg.w_align * align
            else:
                loss, stats, ramp = anchor.sum() * 0.0, None, 0.0  # keeps DDP aware of the anchor
            reseeded = {}
            for name in self.targets:  # config order: the same sequence of collectives on every rank
                features, valid = targets[name]
                reseeded[name] = self.libraries[name].update(features, keys, valid)
                if name in self.banks:
                    self.banks[name].push(features, keys, valid)
        self.last_step.fill_(step)
        return loss, self._logs(stats, ramp=ramp, reseeded=reseeded, step=step)

    def _match(
        self, anchor: torch.Tensor, targets: Targets, keys: torch.Tensor, tau: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        guided = cfg.positive_from == "target"
        matches = {
            name: self._soft_match(
                anchor,
                self.libraries[name].snapshot(),
                tau,
                cfg.max_negatives,
                guide=targets[name][0].float() if guided else None,
            )
            for name in self.targets
        }
        # A positive chosen by a target view needs that view; one chosen by the anchor does not.
        every_row = torch.ones_like(keys, dtype=torch.bool)
        usable = {name: targets[name][1] if guided else every_row for name in self.targets}
        fused = fused_valid = None
        if cfg.positive == "fused":
            fused = fuse_positives(list(matches.values()), [usable[name] for name in matches])
            fused_valid = torch.stack(list(usable.values())).any(0)
        pseudo_sum = align_sum = anchor.new_zeros(())
        counts = anchor.new_zeros(3)  # pseudo pairs, align pairs, negatives of the pseudo pairs
        for name, match in matches.items():
            # A fused positive exists for every row with a usable target; a per-modality pair
            # needs the molecule's own target view.
            valid = fused_valid if fused is not None else targets[name][1]
            positive = fused if fused is not None else match.positive
            negative_sims, negative_mask = match.negative_sims, match.negative_mask
            if name in self.banks and len(self.banks[name]):
                bank_features, bank_keys = self.banks[name].entries()
                negative_sims = torch.cat([negative_sims, anchor @ bank_features.T], dim=1)
                negative_mask = torch.cat([negative_mask, keys[:, None] != bank_keys[None, :]], dim=1)
            per_row, has_negative = pseudo_pair_loss(
                anchor, positive, negative_sims, negative_mask, temperature=cfg.tau_loss
            )
            rows = valid & has_negative
            pseudo_sum = pseudo_sum + per_row[rows].sum()
            counts[0] += rows.sum()
            counts[2] += negative_mask[rows].sum()
            if fused is None:
                per_pair = alignment_loss(anchor, positive, reduction=cfg.align_reduction)
                align_sum = align_sum + per_pair[valid].sum()
                counts[1] += valid.sum()
        if fused is not None:  # one alignment per anchor row that has a fused positive
            per_row = alignment_loss(anchor, fused, reduction=cfg.align_reduction)
            align_sum = per_row[fused_valid].sum()
            counts[1] += fused_valid.sum()
        pseudo = global_mean(pseudo_sum, counts[0])
        align = global_mean(align_sum, counts[1])
        # log values: global sums, identical on every rank
        stats = all_reduce_sum(torch.cat([torch.stack([pseudo_sum, align_sum]).detach(), counts]))
        return pseudo, align, stats

    def _soft_match(
        self,
        anchor: torch.Tensor,
        centers: torch.Tensor,
        tau: torch.Tensor | float,
        max_negatives: int,
        guide: torch.Tensor | None = None,
    ) -> SoftMatch:
        return soft_match(
            anchor,
            centers,
            guide=guide,
            top_m=self.cfg.top_m,
            tau=tau,
            weighting=self.cfg.weighting,
            delta=self.cfg.delta,
            max_negatives=max_negatives,
            faiss_min_size=self.cfg.faiss_min_size,
        )

    def _ramp(self, step: int) -> float:
        if self.cfg.ramp_steps == 0:
            return 1.0
        return min(1.0, (step - int(self.matching_since)) / self.cfg.ramp_steps)

    def _logs(
        self, stats: torch.Tensor | None, *, ramp: float, reseeded: dict[str, int], step: int
    ) -> dict[str, float]:
        """The step's log values, identical on every rank.

        Keys: ``sem_active`` (0/1), ``sem_tau``, ``sem_ramp``, ``sem_loss_pseudo`` and
        ``sem_loss_align`` (global means before weighting; 0 while inactive), ``sem_valid_rows``
        ((row, modality) pairs in the pseudo-pair mean), ``sem_negatives_per_row`` (mean over
        those pairs), and per target modality ``m``: ``sem_{m}_entropy`` (usage entropy / log K),
        ``sem_{m}_dead`` (centers unused since (re)seeding), ``sem_{m}_reseeded`` (this step),
        ``sem_{m}_updates`` and ``sem_{m}_initialised`` (0/1).
        """
        logs = {"sem_active": float(stats is not None), "sem_tau": self.temperature.value(step)}
        logs["sem_ramp"] = ramp
        pseudo_sum, align_sum, n_pseudo, n_align, n_negatives = (
            stats.tolist() if stats is not None else (0.0, 0.0, 0.0, 0.0, 0.0)
        )
        logs["sem_loss_pseudo"] = pseudo_sum / n_pseudo if n_pseudo else 0.0
        logs["sem_loss_align"] = align_sum / n_align if n_align else 0.0
        logs["sem_valid_rows"] = n_pseudo
        logs["sem_negatives_per_row"] = n_negatives / n_pseudo if n_pseudo else 0.0
        for name, library in self.libraries.items():
            logs[f"sem_{name}_entropy"] = library.usage_entropy()
            logs[f"sem_{name}_dead"] = float(library.dead_centers())
            logs[f"sem_{name}_reseeded"] = float(reseeded[name])
            logs[f"sem_{name}_updates"] = float(library.updates)
            logs[f"sem_{name}_initialised"] = float(library.initialised)
        return logs

    def _check(self, anchor: torch.Tensor, targets: Targets, keys: torch.Tensor) -> None:
        if anchor.ndim != 2 or anchor.shape[1] != self.dim:
            raise ValueError(f"expected anchor [B, {self.dim}], got {tuple(anchor.shape)}")
        if sorted(targets) != sorted(self.targets):
            raise ValueError(f"expected target modalities {sorted(self.targets)}, got {sorted(targets)}")
        if keys.shape != (anchor.shape[0],) or keys.dtype != torch.long:
            raise ValueError(f"expected int64 keys [{anchor.shape[0]}], got {keys.dtype} {tuple(keys.shape)}")
        for name, (features, valid) in targets.items():
            if features.shape != anchor.shape or valid.shape != keys.shape or valid.dtype != torch.bool:
                raise ValueError(
                    f"target '{name}': expected features {tuple(anchor.shape)} and bool valid "
                    f"[{anchor.shape[0]}], got {tuple(features.shape)} and {valid.dtype} {tuple(valid.shape)}"
                )

    # ------------------------------------------------------------------ after training
    @torch.no_grad()
    def fused_positive(self, anchor: torch.Tensor) -> torch.Tensor:
        """``[B, dim]``: the normalised fused soft positive of each anchor row against the frozen centers.

        Uses tau at the last training step. Raises ValueError when a library was never initialised.
        """
        if anchor.ndim != 2 or anchor.shape[1] != self.dim:
            raise ValueError(f"expected anchor [B, {self.dim}], got {tuple(anchor.shape)}")
        anchor, tau = anchor.float(), self.temperature.value(int(self.last_step))
        matches = []
        for name, library in self.libraries.items():
            if not bool(library.initialised):
                raise ValueError(f"the '{name}' center library was never initialised (too few steps)")
            matches.append(self._soft_match(anchor, library.centers, tau, max_negatives=0))
        return fuse_positives(matches)

    def save_snapshot(self, prefix: Path) -> None:
        """Write ``{prefix}.npz`` (``{m}.centers`` [K, dim] float32, ``{m}.counts`` [K] int64 per
        target modality) and ``{prefix}.json`` (step, tau, matching_since and, per modality,
        n_centers, initialised, updates, assigned, usage_entropy, dead_centers).

        ``step`` counts completed steps (the last forward's step + 1). Both files are written
        atomically (temporary file, then rename).
        """
        prefix = Path(prefix)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        arrays, summary = {}, {}
        for name, library in self.libraries.items():
            arrays[f"{name}.centers"] = library.centers.detach().cpu().numpy()
            arrays[f"{name}.counts"] = library.counts.cpu().numpy()
            summary[name] = {
                "n_centers": library.n_centers,
                "initialised": bool(library.initialised),
                "updates": int(library.updates),
                "assigned": int(library.counts.sum()),
                "usage_entropy": library.usage_entropy(),
                "dead_centers": library.dead_centers(),
            }
        record = {
            "step": int(self.last_step) + 1,
            "tau": self.temperature.value(int(self.last_step)),
            "matching_since": int(self.matching_since),
            "modalities": summary,
        }
        with atomic_path(prefix.with_name(prefix.name + ".npz")) as tmp:
            np.savez(tmp, **arrays)
        with atomic_path(prefix.with_name(prefix.name + ".json")) as tmp:
            tmp.write_text(json.dumps(record, indent=2) + "\n")


def read_snapshots(directory: str | Path) -> list[tuple[dict, dict[str, np.ndarray]]]:
    """The snapshots :meth:`SemMolObjective.save_snapshot` wrote to ``directory``, in step order.

    Returns:
        ``(summary, arrays)`` per snapshot: the ``.json`` record and the ``.npz`` arrays.
    """
    snapshots = []
    for summary_path in sorted(Path(directory).glob("step-*.json")):
        with np.load(summary_path.with_suffix(".npz")) as arrays:
            snapshots.append((json.loads(summary_path.read_text()), dict(arrays)))
    return snapshots

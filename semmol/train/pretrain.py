"""Multimodal pretraining on corpus shards, one process per rank (``torchrun``).

Objective per step: the encoders' reconstruction losses on their corrupted inputs (masked
SMILES tokens, masked atoms, coordinate denoising), the terms of the run's pretraining method
(``pretrain.method``, a plug-in of :mod:`semmol.methods`; this loop names none) and, with
``pretrain.descriptor_views``, descriptor prediction (:mod:`semmol.train.descriptor_prediction`). Every
loss is a mean over the *global* batch and every random choice is keyed by molecule, so one
process with batch ``G`` and two with ``G/2`` each follow the same curve.

Resumable: a checkpoint is written to ``{out_dir}/_ckpt/last.pt`` every
``checkpoint_every`` steps, and a restarted job continues from it, skipping the batches it had
consumed, with the same data order and random streams. The loss curve grows beside it in
``_ckpt/metrics.jsonl``. Neither is a declared output, so neither is deleted when Snakemake
re-runs a killed job; the declared ``metrics.jsonl`` and ``model.pt`` are written only when
the run finishes, so a killed run leaves no declared output and its re-run needs no
``--rerun-incomplete``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from semmol.config import PretrainJob
from semmol.data.shards import read_manifest, shard_paths
from semmol.data.stream import ShardStream, column_moments, shard_smiles
from semmol.methods import build_method, method_class
from semmol.models.corruption import CorruptionKey
from semmol.models.multimodal import MultiModalEncoder
from semmol.models.tokenizer import SmilesVocab
from semmol.runtime.atomic import atomic_path
from semmol.runtime.checkpoint import load_if_exists, rng_state, save_atomic, set_rng_state
from semmol.runtime.distributed import (
    DistContext,
    all_gather_objects,
    average_gradients,
    barrier,
    die_with_launcher,
    init_distributed,
    mean_across_ranks,
    shutdown,
)
from semmol.runtime.precision import autocast
from semmol.train.descriptor_prediction import DescriptorPrediction
from semmol.train.schedules import warmup_cosine

log = logging.getLogger(__name__)

CHECKPOINT = "_ckpt/last.pt"
#: The loss curve so far, one JSON line per logged step, kept beside the checkpoint.
HISTORY = "_ckpt/metrics.jsonl"


@dataclass
class PretrainState:
    """Where the loop stands: everything besides weights that a resumed job needs."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0


class Pretrainer:
    """Builds the model, data and objective of a :class:`PretrainJob` and runs its steps.

    Args:
        job: model, pretraining and semantic options of the run.
        shards_manifest: the corpus ``shards/manifest.json``.
        out_dir: ``results/pretrain/{run}``; holds ``model.pt``, ``metrics.jsonl``,
            ``centers/`` snapshots and the undeclared ``_ckpt/`` (checkpoint and loss history).
        ctx: this process's place in the job (default: from the environment).
    """

    def __init__(self, job: PretrainJob, *, shards_manifest: Path, out_dir: Path, ctx: DistContext):
        self.job, self.cfg, self.ctx = job, job.pretrain, ctx
        self.out_dir = Path(out_dir)
        if self.cfg.batch_size % ctx.world_size:
            raise ValueError(
                f"pretrain.batch_size {self.cfg.batch_size} is not divisible by nproc {ctx.world_size}"
            )
        torch.manual_seed(self.cfg.seed)  # identical initial weights on every rank
        paths = shard_paths(shards_manifest)
        manifest = read_manifest(shards_manifest)
        self.conformer_options = manifest["options"]
        modalities = method_class(job.pretrain.method).views(job)
        if manifest["molecules"] < self.cfg.batch_size:
            raise ValueError(
                f"{shards_manifest}: {manifest['molecules']} molecules, fewer than one batch of {self.cfg.batch_size}"
            )
        self.stream = ShardStream(
            paths,
            sizes=[shard["molecules"] for shard in manifest["shards"]],
            batch_size=self.cfg.batch_size // ctx.world_size,
            window=self.cfg.stream_shards,
            seed=self.cfg.seed,
            rank=ctx.rank,
            world_size=ctx.world_size,
            images="image" in modalities,
        )
        self.model = MultiModalEncoder(
            job.model,
            modalities=modalities,
            vocab=SmilesVocab.build(shard_smiles(paths)),  # every rank reads every shard's SMILES
            ecfp_bits=manifest["ecfp_bits"],
        ).to(ctx.device)
        self.model.set_input_scaling(
            partial(column_moments, paths), modalities=modalities
        )  # the whole corpus
        self.method = build_method(job).to(ctx.device)
        # Views no term of the method trains (SemMol's targets without InfoNCE) are read without
        # gradient; their hidden states too unless a descriptor head trains them.
        untrained = set(modalities) - set(method_class(job.pretrain.method).trained_views(job))
        self.detached_projections = sorted(untrained)
        self.detached_hidden = sorted(untrained - set(self.cfg.descriptor_views))
        self.descriptor_prediction = self._descriptor_prediction(paths)
        self.ddp = (
            DistributedDataParallel(self.model, find_unused_parameters=True)
            if ctx.world_size > 1
            else self.model
        )
        # The method's parameters (e.g. a learnable temperature, fusion layers) and the
        # descriptor heads live outside DDP; train_step averages their gradients over ranks.
        # No weight decay on them: it would pull a log-temperature towards 0.
        self.outside_params = [
            p
            for module in (self.method, self.descriptor_prediction)
            if module is not None
            for p in module.parameters()
            if p.requires_grad
        ]
        self.optimizer = torch.optim.AdamW(
            [
                {"params": list(self.model.parameters())},
                {"params": self.outside_params, "weight_decay": 0.0},
            ],
            lr=self.cfg.lr,
            weight_decay=self.cfg.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda step: warmup_cosine(step, warmup=self.cfg.warmup_steps, total=self.cfg.steps),
        )
        self.state = PretrainState()

    def _descriptor_prediction(self, paths: list[Path]) -> DescriptorPrediction | None:
        """The heads of ``pretrain.descriptor_views`` (None without any), targets scaled over the corpus."""
        if not self.cfg.descriptor_views:
            return None
        widths = {view: self.model.encoders[view].dim for view in self.cfg.descriptor_views}
        moments = column_moments(paths, "descriptors")
        # the shards' descriptor count, RDKit's, known without importing RDKit
        heads = DescriptorPrediction(widths, n_descriptors=len(moments[0]))
        heads.set_scaling(*moments)
        return heads.to(self.ctx.device)

    # ---------------------------------------------------------------- checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT

    def save_checkpoint(self) -> None:
        rng = all_gather_objects(rng_state())  # every rank's dropout stream, restored per rank
        heads = self.descriptor_prediction
        if self.ctx.is_main:
            save_atomic(
                {
                    "state": self.state.__dict__,
                    "model": self.model.state_dict(),
                    "method": self.method.state_dict(),
                    "descriptor_prediction": None if heads is None else heads.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "rng": rng,
                    "world_size": self.ctx.world_size,
                    "job": self._resumable_job(),
                },
                self.checkpoint_path,
            )
        barrier()

    def _resumable_job(self) -> dict:
        """The options a checkpoint must share with this job to be resumed: all but the launch
        layout (``nproc``, ``gpus_per_node``, ``nodes``), whose world size :meth:`resume` checks."""
        job = self.job.model_dump(mode="json")
        for launch in ("nproc", "gpus_per_node", "nodes"):
            del job["pretrain"][launch]
        return job

    def resume(self) -> bool:
        """Load the last checkpoint if there is one of this job; True when the run continues from it.

        A checkpoint left by a run with other options (Snakemake re-runs the rule when they
        change) is not resumed: the run starts afresh and replaces it at its first checkpoint.
        """
        checkpoint = load_if_exists(self.checkpoint_path)
        if checkpoint is None:
            return False
        if checkpoint.get("job") != self._resumable_job():
            log.warning("%s was written with other options; starting afresh", self.checkpoint_path)
            return False
        if checkpoint["world_size"] != self.ctx.world_size:
            raise ValueError(
                f"{self.checkpoint_path} was written by {checkpoint['world_size']} processes, "
                f"this job has {self.ctx.world_size}; keep nproc or delete the checkpoint to restart"
            )
        self.model.load_state_dict(checkpoint["model"])
        self.method.load_state_dict(checkpoint["method"])
        if self.descriptor_prediction is not None:
            self.descriptor_prediction.load_state_dict(checkpoint["descriptor_prediction"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        set_rng_state(checkpoint["rng"][self.ctx.rank])
        self.state = PretrainState(**checkpoint["state"])
        log.info("resumed from %s at step %d", self.checkpoint_path, self.state.step)
        return True

    # ---------------------------------------------------------------- one step
    def losses(self, batch) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """The loss terms of one step, and the method's diagnostics.

        Each term is this rank's share of a mean over the global batch, scaled so that the
        average over ranks (what DDP does to gradients) is the global mean.
        """
        outputs = self.ddp(
            batch,
            corrupt=CorruptionKey(seed=self.cfg.seed, step=self.state.step),
            detached_projections=self.detached_projections,
            detached_hidden=self.detached_hidden,
            token_views=self.method.token_views,
        )
        terms, diagnostics = self.method(outputs, batch.mol_id, self.state.step)
        recon = [
            self.method.reconstruction_weight(view) * out.reconstruction_loss
            for view, out in outputs.items()
            if out.reconstruction_loss is not None
        ]
        if recon:  # e.g. LGM-CL's two graph views alone: neither reconstructs its input
            terms["reconstruction"] = self.cfg.w_reconstruction * torch.stack(recon).sum()
        if self.descriptor_prediction is not None:
            terms["descriptors"] = self.cfg.w_descriptors * self.descriptor_prediction(
                outputs, batch.descriptors
            )
        return terms, diagnostics

    def train_step(self, batch) -> dict[str, float]:
        self.model.train()
        with autocast(self.cfg.precision, self.ctx.device):
            terms, diagnostics = self.losses(batch)
            loss = torch.stack(list(terms.values())).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.outside_params)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        record = {f"loss_{name}": mean_across_ranks(value.detach()) for name, value in terms.items()}
        record["loss"] = sum(record.values())
        record["grad_norm"] = float(grad_norm)
        record["lr"] = self.scheduler.get_last_lr()[0]
        record.update(diagnostics)
        return record

    # ---------------------------------------------------------------- the loop
    def run(self, *, stop_after: int | None = None) -> None:
        """Train to ``pretrain.steps``; ``stop_after`` ends the process early (crash/resume tests)."""
        self.resume()
        history = self.out_dir / HISTORY
        if self.ctx.is_main:
            history.parent.mkdir(parents=True, exist_ok=True)
            _truncate_metrics(history, self.state.step)
        started, molecules = time.perf_counter(), 0
        while self.state.step < self.cfg.steps:
            # a resumed run skips the batches consumed before its checkpoint
            self.stream.set_epoch(self.state.epoch, start_batch=self.state.batch_in_epoch)
            for batch in self.stream:
                record = self.train_step(batch.to(self.ctx.device))
                self.state.step += 1
                self.state.batch_in_epoch += 1
                molecules += self.cfg.batch_size
                if self.state.step % self.cfg.log_every == 0 or self.state.step == self.cfg.steps:
                    record.update(
                        step=self.state.step,
                        epoch=self.state.epoch,
                        molecules_per_s=molecules / (time.perf_counter() - started),
                    )
                    if self.ctx.is_main:
                        with history.open("a") as handle:
                            handle.write(json.dumps(record) + "\n")
                        log.info(
                            "step %d/%d loss %.4f (%.0f molecules/s)",
                            self.state.step,
                            self.cfg.steps,
                            record["loss"],
                            record["molecules_per_s"],
                        )
                every = self.method.snapshot_every
                if every is not None and self.state.step % every == 0:
                    self._snapshot()
                if self.state.step % self.cfg.checkpoint_every == 0:
                    self.save_checkpoint()
                if stop_after is not None and self.state.step >= stop_after:
                    log.warning("stopping after step %d as asked (--stop-after)", self.state.step)
                    return
                if self.state.step >= self.cfg.steps:
                    break
            else:
                self.state.epoch += 1
                self.state.batch_in_epoch = 0
        self.finish()

    def _snapshot(self) -> None:
        if self.ctx.is_main:
            self.method.save_snapshot(self.out_dir / "centers" / f"step-{self.state.step:06d}")

    def finish(self) -> None:
        """Write the outputs: the final snapshot, ``metrics.jsonl`` (the whole history) and,
        last, ``model.pt``."""
        if self.method.snapshot_every is not None:
            self._snapshot()
        if self.ctx.is_main:
            with atomic_path(self.out_dir / "metrics.jsonl") as tmp:
                tmp.write_bytes((self.out_dir / HISTORY).read_bytes())
            extra = {
                "pretrain_job": self.job.model_dump(mode="json"),
                # how the corpus was featurized: `semmol embed` repeats it on new molecules
                "featurization": {
                    "standardize": self.job.standardize.model_dump(mode="json"),
                    "conformers": self.conformer_options,
                },
                "steps": self.state.step,
                "method": self.method.state_dict(),
            }
            self.model.save(self.out_dir / "model.pt", extra=extra)
        barrier()


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines past ``step``: they belong to work the resumed run will redo.

    A last line without its newline was cut short by a kill and is dropped as well.
    """
    if not path.exists():
        return
    complete = path.read_text().split("\n")[:-1]
    kept = [line for line in complete if json.loads(line)["step"] <= step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in kept))


def pretrain(
    job: PretrainJob, *, shards_manifest: Path, out_dir: Path, stop_after: int | None = None
) -> None:
    """Run (or resume) one pretraining job in this process; see :class:`Pretrainer`."""
    die_with_launcher()
    ctx = init_distributed()
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads()))))
    try:
        Pretrainer(job, shards_manifest=shards_manifest, out_dir=out_dir, ctx=ctx).run(stop_after=stop_after)
    finally:
        shutdown()

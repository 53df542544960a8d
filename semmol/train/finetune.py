"""Supervised fine-tuning on one benchmark split and seed.

Classification: binary cross-entropy per task over the labelled entries only (missing labels,
as in Tox21, are masked), ROC-AUC averaged over tasks. Multiclass: a softmax head over the
classes, cross-entropy, macro one-vs-rest ROC-AUC (and accuracy). Regression: targets
standardised with the training mean and std, mean squared error, RMSE reported in the original
units (:mod:`semmol.train.tasks`). The model of the best validation epoch by the task's metric
is kept (early stopping with ``patience``) and evaluated on test (a split without test
rows, kind ``none``, gives a model for deployment and no test score).
With ``frozen_epochs``, the encoders stay fixed while the head alone learns for those first
epochs (linear probing, then fine-tuning); with ``layer_lr_ratio``, an encoder's lower layers
learn at lower rates than its upper ones.

Resumable: every epoch ends with a checkpoint in the result directory's undeclared ``_ckpt/``, and
a killed job's re-run continues from it (:mod:`semmol.train.finetune_state`).
"""

from __future__ import annotations

import logging
import math
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from semmol.config import FinetuneJob
from semmol.data.benchmark import SUBSETS, load_benchmark_split
from semmol.data.reader import ShardDataset, make_loader
from semmol.data.shards import read_manifest, shard_paths
from semmol.evaluate.metrics import TASK_METRIC, evaluate
from semmol.evaluate.records import write_result
from semmol.runtime.precision import autocast, default_device
from semmol.train.finetune_model import build_model
from semmol.train.finetune_state import CHECKPOINT, FinetuneCheckpoint, FinetuneProgress, resume_key
from semmol.train.layer_rates import parameter_depths, rate_factor
from semmol.train.schedules import lr_factor
from semmol.train.tasks import TaskLabels, head_width, masked_loss

log = logging.getLogger(__name__)




class FineTuner:
    """Trains a :class:`PropertyModel` on a benchmark split; see :func:`finetune`.

    Args:
        job: dataset, model and fine-tuning options.
        molecules: the benchmark's ``molecules.parquet``.
        shards_manifest: the benchmark's ``shards/manifest.json``.
        split: the split JSON.
        seed: seed of initialisation, batch order and dropout.
        pretrained: the run's pretrained ``model.pt`` (``None``: from scratch).
        out_dir: the result directory, whose ``_ckpt/`` holds the checkpoint of every epoch
            (``None``: no checkpoint, nothing to resume).
    """

    def __init__(
        self,
        job: FinetuneJob,
        *,
        molecules: Path,
        shards_manifest: Path,
        split: Path,
        seed: int,
        pretrained: Path | None,
        out_dir: Path | None = None,
    ):
        self.job, self.cfg, self.seed = job, job.finetune, seed
        self.task = job.dataset.task
        self.split = load_benchmark_split(molecules, split, targets=job.dataset.targets, task=self.task)
        for name in SUBSETS:
            # A test subset the split file leaves empty is a model for deployment (split kinds
            # none and column); one emptied by standardization is an error like any other.
            planned_empty = name == "test" and self.split.missing[name] == 0
            if len(self.split[name]) == 0 and not planned_empty:
                raise ValueError(f"{split}: subset '{name}' has no labelled molecule")
        torch.manual_seed(seed)
        paths = shard_paths(shards_manifest)
        dataset = ShardDataset(paths, conformers="random", seed=seed, images="image" in self.cfg.modalities)
        self.positions = {name: dataset.positions(self.split[name].mol_index) for name in SUBSETS}
        self.targets = TaskLabels(self.split, n_molecules=int(dataset.mol_index.max()) + 1, task=self.task)
        self.model, pretrained_params, self.untrained_views = build_model(
            job,
            n_tasks=head_width(self.task, n_targets=len(job.dataset.targets), classes=self.split.classes),
            ecfp_bits=read_manifest(shards_manifest)["ecfp_bits"],
            corpus_smiles=dataset.columns.smiles,
            pretrained=pretrained,
        )
        if "image" in self.model.used_modalities() and dataset.image_shape is None:  # a head input reads it
            dataset = ShardDataset(paths, conformers="random", seed=seed, images=True)
        self.train_data, self.eval_data = dataset, dataset.with_conformers("all")
        self.device = default_device()
        self.model.to(self.device)
        # Every encoder at encoder_lr, pretrained or not: rows differ in initial weights only.
        encoders = {id(p) for p in self.model.encoder.parameters()}
        head = [p for p in self.model.parameters() if p.requires_grad and id(p) not in encoders]
        self.encoder_params = [p for p in self.model.encoder.parameters() if p.requires_grad]
        encoder_groups = self._encoder_param_groups()
        self.optimizer = torch.optim.AdamW(
            [*encoder_groups, {"params": head, "lr": self.cfg.lr}], weight_decay=self.cfg.weight_decay
        )
        steps_per_epoch = math.ceil(len(self.positions["train"]) / self.cfg.batch_size)
        schedule = partial(
            lr_factor,
            schedule=self.cfg.schedule,
            warmup=round(self.cfg.warmup_epochs * steps_per_epoch),
            total=self.cfg.epochs * steps_per_epoch,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            [partial(schedule, start=self.cfg.frozen_epochs * steps_per_epoch)] * len(encoder_groups)
            + [schedule],
        )
        log.info("%d parameter tensors start from pretraining", len(pretrained_params))
        # Encoders not from pretraining fit their input scaling on the train subset; pretrained
        # ones keep the corpus statistics they were trained with.
        from_pretraining = {id(p) for p in pretrained_params}
        pretrained_modalities = {
            name.split(".")[1]
            for name, p in self.model.encoder.named_parameters()
            if id(p) in from_pretraining
        }
        self.model.encoder.fit_input_scaling(
            dataset.columns,
            np.asarray(self.positions["train"]),
            modalities=[m for m in self.model.encoder.modalities if m not in pretrained_modalities],
        )
        self.metric, higher_is_better = TASK_METRIC[self.task]
        self.progress = FinetuneProgress(
            higher_is_better, patience=self.cfg.patience, max_epochs=self.cfg.epochs
        )
        self.checkpoint = None
        if out_dir is not None:
            inputs = {
                "molecules": molecules,
                "shards": shards_manifest,
                "split": split,
                "pretrained": pretrained,
            }
            self.checkpoint = FinetuneCheckpoint(
                Path(out_dir) / CHECKPOINT,
                key=resume_key(job.model_dump(mode="json"), seed=seed, inputs=inputs),
                parts={
                    "model": self.model,
                    "optimizer": self.optimizer,
                    "scheduler": self.scheduler,
                    "progress": self.progress,
                },
            )

    def _encoder_param_groups(self) -> list[dict]:
        """The encoders' optimizer groups: one at ``encoder_lr``; with ``layer_lr_ratio`` below 1,
        one per rate, each view encoder's rates falling from its output to its input as
        :mod:`~semmol.train.layer_rates` measures depth (on a batch of the train subset, in eval
        mode: no random number is drawn). The views' projections count as outputs."""
        if self.cfg.layer_lr_ratio == 1.0:
            return [{"params": self.encoder_params, "lr": self.cfg.encoder_lr}]
        loader = make_loader(
            self.eval_data, batch_size=self.cfg.batch_size, indices=self.positions["train"], shuffle=False
        )
        batch = next(iter(loader)).to(self.device)
        self.model.encoder.eval()
        depths: dict[int, float] = {}
        for encoder in self.model.encoder.encoders.values():
            depths |= parameter_depths(encoder, partial(encoder, batch))
        groups: dict[float, list[nn.Parameter]] = {}
        for param in self.encoder_params:
            factor = rate_factor(depths.get(id(param), 1.0), ratio=self.cfg.layer_lr_ratio)
            groups.setdefault(factor, []).append(param)
        log.info(
            "encoder rates: %d groups from %.2e to %.2e",
            len(groups),
            self.cfg.encoder_lr * min(groups),
            self.cfg.encoder_lr * max(groups),
        )
        return [{"params": params, "lr": self.cfg.encoder_lr * factor} for factor, params in groups.items()]

    def train_epoch(self, epoch: int) -> float:
        frozen = epoch <= self.cfg.frozen_epochs
        self.model.train()
        if frozen:
            self.model.encoder.eval()
        for param in self.encoder_params:
            param.requires_grad_(not frozen)
        self.train_data.set_epoch(epoch)
        loader = make_loader(
            self.train_data, batch_size=self.cfg.batch_size, indices=self.positions["train"], seed=self.seed
        )
        loader.batch_sampler.set_epoch(epoch)
        total, batches = 0.0, 0
        for batch in loader:
            batch = batch.to(self.device)
            with autocast(self.cfg.precision, self.device):
                outputs, view_contrast = self.model.forward_with_contrast(batch)
                targets = self.targets.of(batch.mol_id)
                loss = masked_loss(outputs, targets, task=self.task)
                if self.cfg.w_view_contrast:
                    loss = loss + self.cfg.w_view_contrast * view_contrast
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
            self.optimizer.step()
            self.scheduler.step()
            total, batches = total + float(loss.detach()), batches + 1
        return total / max(batches, 1)

    @torch.no_grad()
    def predict(self, subset: str) -> np.ndarray:
        """Class-1 probabilities, class probabilities (multiclass) or values (original units) for a
        subset, in split order."""
        if not self.positions[subset]:  # the test subset of a model for deployment
            width = head_width(self.task, n_targets=len(self.job.dataset.targets), classes=self.split.classes)
            return np.zeros((0, width))
        self.model.eval()
        loader = make_loader(
            self.eval_data, batch_size=2 * self.cfg.batch_size, indices=self.positions[subset], shuffle=False
        )
        with autocast(self.cfg.precision, self.device):
            outputs = [self.targets.to_output(self.model(batch.to(self.device))) for batch in loader]
        return torch.cat(outputs).numpy().astype(np.float64)

    def score(self, subset: str) -> float:
        labels, predicted = self.split[subset].labels, self.predict(subset)
        return evaluate(self.task, labels, predicted, classes=self.split.classes)["value"]

    def run_epoch(self) -> None:
        """Train the next epoch, score it on the validation subset, and checkpoint."""
        epoch = self.progress.epoch + 1
        train_loss = self.train_epoch(epoch)
        valid = self.score("valid")
        self.progress.record(train_loss=train_loss, valid=valid, model=self.model)
        log.info("epoch %d: train loss %.4f, valid %s %.4f", epoch, train_loss, self.metric, valid)
        if self.progress.waited >= self.progress.patience:
            log.info("no validation improvement for %d epochs; stopping", self.progress.waited)
        if self.checkpoint is not None:
            self.checkpoint.save()

    def fit(self) -> tuple[list[dict], int]:
        """Train with early stopping, after the checkpoint's epochs when there is one of this job;
        leaves the best validation epoch's weights in the model."""
        if self.checkpoint is not None and self.checkpoint.resume():
            log.info("resumed from %s after epoch %d", self.checkpoint.path, self.progress.epoch)
        while not self.progress.done:
            self.run_epoch()
        self.model.load_state_dict(self.progress.best_weights)
        return self.progress.history, self.progress.best_epoch


def finetune(
    job: FinetuneJob,
    *,
    run: str,
    benchmark: str,
    molecules: Path,
    shards_manifest: Path,
    split: Path,
    seed: int,
    pretrained: Path | None,
    out_dir: Path,
) -> dict:
    """Fine-tune, evaluate and write ``metrics.json``, ``predictions.parquet`` and ``model.pt`` to ``out_dir``.

    Args:
        job: dataset, model and fine-tuning options.
        run: the run's name (a row of the results table).
        benchmark: the benchmark's name.
        molecules: the benchmark's ``molecules.parquet``.
        shards_manifest: the benchmark's ``shards/manifest.json``.
        split: the split JSON.
        seed: seed of initialisation, batch order and dropout.
        pretrained: the run's pretrained ``model.pt`` (``None``: from scratch).
        out_dir: the result directory; its undeclared ``_ckpt/`` holds the checkpoint while the
            job runs and goes when the outputs are written.

    Returns:
        The metrics as written (``seconds``: this process's wall time; a resumed run's counts
        the epochs after the checkpoint only).
    """
    started = time.perf_counter()
    tuner = FineTuner(
        job,
        molecules=molecules,
        shards_manifest=shards_manifest,
        split=split,
        seed=seed,
        pretrained=pretrained,
        out_dir=out_dir,
    )
    history, best_epoch = tuner.fit()
    subsets = {
        name: (
            tuner.split[name].rows,
            tuner.split[name].smiles,
            tuner.split[name].labels,
            tuner.predict(name),
        )
        for name in SUBSETS
    }
    metrics = write_result(
        out_dir,
        run=run,
        benchmark=benchmark,
        split_kind=tuner.split.kind,
        seed=seed,
        task=tuner.task,
        targets=job.dataset.targets,
        subsets=subsets,
        missing=tuner.split.missing,
        seconds=time.perf_counter() - started,
        history=history,
        best_epoch=best_epoch,
        label_fraction=tuner.split.label_fraction,
        classes=tuner.split.classes,
        extra={
            "init": job.finetune.init,
            "mode": job.finetune.mode,
            "modalities": job.finetune.modalities,
            "pretrained": None if pretrained is None else str(pretrained),
            "views_without_method_gradient": tuner.untrained_views,
        },
    )
    tuner.model.save(
        out_dir / "model.pt",
        metadata={
            "run": run,
            "benchmark": benchmark,
            "split": tuner.split.kind,
            "seed": seed,
            "task": tuner.task,
            "targets": job.dataset.targets,
            "classes": tuner.split.classes,
            "smiles_column": job.dataset.smiles_column,
            "label_mean": tuner.targets.mean.tolist(),
            "label_std": tuner.targets.std.tolist(),
            "featurization": {
                "standardize": job.standardize.model_dump(mode="json"),
                "conformers": read_manifest(shards_manifest)["options"],
            },
            "job": job.model_dump(mode="json"),
            "pretrained": None if pretrained is None else str(pretrained),
            "valid": metrics["valid"],
            "test": metrics["test"],
        },
    )
    tuner.checkpoint.remove()  # model.pt, written last, is there: nothing is left to resume
    log.info(
        "%s/%s seed %d: test %s %.4f (valid %.4f, best epoch %d)",
        run,
        benchmark,
        seed,
        tuner.metric,
        metrics["test"] if metrics["test"] is not None else math.nan,
        metrics["valid"] if metrics["valid"] is not None else math.nan,
        best_epoch,
    )
    return metrics

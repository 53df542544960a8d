"""The learners of the few-shot table, each scored on the same episodes of held-out tasks.

- :class:`MetaLearner` (Meta-MM): a :class:`~semmol.fewshot.model.FusionClassifier` meta-trained
  with first-order MAML on episodes of the meta-training tasks (plus ``w_infonce`` times the
  view contrast), adapted to each test episode by the same inner loop; the inner loop's loss
  holds the view contrast too where ``inner_contrast`` says so (the reference's);
- :class:`TransferLearner`: the same model trained multitask on every label of the meta-training
  tasks, then adapted to each episode by the same inner loop, starting from a one-task head that
  averages the multitask head's rows;
- :class:`ForestLearner`: a random forest on ECFP4, trained on the support set only;
- :class:`PrototypeLearner`: a frozen (pretrained) encoder; each query molecule's score is its
  cosine to the positive support mean minus its cosine to the negative support mean.

Every learner returns, for an episode, one score per query molecule (higher: more likely
positive); :func:`evaluate` turns them into ROC-AUC per episode.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from torch_geometric.data import Batch
from tqdm import tqdm

from semmol.config import FewShotConfig, ModelConfig
from semmol.data.reader import ShardDataset, make_loader
from semmol.data.schema import unpack_bits
from semmol.data.shards import read_manifest, shard_paths
from semmol.fewshot.episodes import Episode, EpisodeError, episode_shortfall, sample_episode, task_generator
from semmol.fewshot.maml import Loss, adapt, adapted_names, meta_loss, with_fast_weights
from semmol.fewshot.model import FusionClassifier, Prediction
from semmol.inference.embed import embed_dataset
from semmol.models.multimodal import MultiModalEncoder
from semmol.models.tokenizer import SmilesVocab

log = logging.getLogger(__name__)


@dataclass
class FewShotData:
    """A multi-task benchmark's molecules, featurized, with their labels.

    Attributes:
        dataset: the shard molecules (first conformer each).
        labels: ``[len(dataset), len(targets)]`` 0/1, NaN missing; row ``i`` is dataset position ``i``.
        targets: the label columns.
        ecfp_bits: fingerprint length of the shards.
    """

    dataset: ShardDataset
    labels: np.ndarray
    targets: list[str]
    ecfp_bits: int

    def batch(self, positions: np.ndarray) -> Batch:
        """The molecules at ``positions`` as one batch, in that order."""
        loader = make_loader(self.dataset, batch_size=len(positions), indices=list(positions), shuffle=False)
        return next(iter(loader))


def load_data(
    molecules: Path, shards_manifest: Path, *, targets: list[str], images: bool = False
) -> FewShotData:
    """The benchmark's standardized molecules (labels) and shards (features), aligned by position."""
    frame = pl.read_parquet(molecules)
    dataset = ShardDataset(shard_paths(shards_manifest), conformers="first", images=images)
    labels = frame.select(pl.col(targets).cast(pl.Float64)).to_numpy()[dataset.mol_index]
    return FewShotData(
        dataset=dataset, labels=labels, targets=targets, ecfp_bits=read_manifest(shards_manifest)["ecfp_bits"]
    )


def _episode_loss(labels: np.ndarray, *, w_contrast: float = 0.0) -> Loss:
    """The BCE of a one-task prediction against ``labels``, plus ``w_contrast`` times its view contrast."""
    target = torch.as_tensor(labels, dtype=torch.float32)

    def loss(prediction: Prediction) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(prediction.logits[:, 0], target)
        return bce + w_contrast * prediction.contrast if w_contrast else bce

    return loss


def support_loss(cfg: FewShotConfig, labels: np.ndarray) -> Loss:
    """The inner loop's loss on a support set: with the view contrast where ``cfg.inner_contrast``."""
    return _episode_loss(labels, w_contrast=cfg.w_infonce if cfg.inner_contrast else 0.0)


def build_classifier(
    cfg: FewShotConfig, model: ModelConfig, data: FewShotData, *, n_tasks: int, pretrained: Path | None
) -> FusionClassifier:
    """The fused-views classifier, its encoders from ``pretrained`` where it has them."""
    vocab, state, pretrained_text = SmilesVocab.build(data.dataset.columns.smiles), {}, {}
    if pretrained is not None:
        source, _ = MultiModalEncoder.load(pretrained)
        pretrained_text = source.pretrained_text
        vocab = source.vocab or vocab
        model = model.model_copy(
            update={"proj_dim": source.cfg.proj_dim} | {m: getattr(source.cfg, m) for m in source.modalities}
        )
        state = {k: v for k, v in source.state_dict().items() if k.split(".")[1] in cfg.views}
    encoder = MultiModalEncoder(
        model, modalities=cfg.views, vocab=vocab, ecfp_bits=data.ecfp_bits, pretrained_text=pretrained_text
    )
    encoder.load_state_dict(state, strict=False)
    encoder.fit_input_scaling(
        data.dataset.columns,
        None,
        modalities=[m for m in cfg.views if m not in {k.split(".")[1] for k in state}],
    )
    return FusionClassifier(encoder, views=cfg.views, n_tasks=n_tasks)


class MetaLearner:
    """Meta-MM: first-order MAML over episodes of the meta-training tasks; see the module docstring.

    A meta-training task with too few molecules of a class for an episode is left out, with a
    warning, and named in :attr:`skipped_tasks` (the stage's ``metrics.json``); with none left,
    fitting stops with every task's reason.
    """

    def __init__(self, cfg: FewShotConfig, classifier: FusionClassifier, *, seed: int):
        self.cfg, self.model, self.seed = cfg, classifier, seed
        self.names = adapted_names(classifier, cfg.adapted)
        self.skipped_tasks: dict[str, str] = {}

    def fit(self, data: FewShotData) -> None:
        cfg = self.cfg
        for task in cfg.train_tasks:
            labels = data.labels[:, data.targets.index(task)]
            reason = episode_shortfall(labels, task=task, k_shot=cfg.k_shot, query_size=cfg.query_size)
            if reason is not None:
                log.warning("meta-training without it: %s", reason)
                self.skipped_tasks[task] = reason
        train_tasks = [task for task in cfg.train_tasks if task not in self.skipped_tasks]
        if not train_tasks:
            raise EpisodeError(
                "no meta-training task can give an episode: " + "; ".join(self.skipped_tasks.values())
            )
        optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.outer_lr)
        rng = np.random.default_rng([self.seed, 1])  # which tasks each meta-batch holds
        generators = {task: task_generator(self.seed + 1_000_003, task) for task in train_tasks}
        self.model.train()
        for _ in tqdm(range(cfg.meta_steps), desc="meta-training", mininterval=10):
            tasks = rng.choice(train_tasks, size=cfg.meta_batch, replace=len(train_tasks) < cfg.meta_batch)
            batches, contrast = [], []
            for task in tasks:
                episode = sample_episode(
                    data.labels[:, data.targets.index(task)], task=task, k_shot=cfg.k_shot,
                    query_size=cfg.query_size, rng=generators[task],
                )  # fmt: skip
                support, query = data.batch(episode.support), data.batch(episode.query)
                batches.append(
                    (support, support_loss(cfg, episode.support_labels), query, _episode_loss(episode.query_labels))
                )
                contrast.append(self.model.embed(query)[1])
            loss = meta_loss(self.model, self.names, batches, steps=cfg.inner_steps, lr=cfg.inner_lr)
            loss = loss + cfg.w_infonce * torch.stack(contrast).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def scores(self, data: FewShotData, episode: Episode) -> np.ndarray:
        return _adapted_scores(self.model, self.names, self.cfg, data, episode)


def _adapted_scores(
    model: FusionClassifier, names: list[str], cfg: FewShotConfig, data: FewShotData, episode: Episode
) -> np.ndarray:
    """Query scores after the inner loop on the episode's support (dropout off)."""
    model.eval()
    fast = adapt(
        model,
        names,
        data.batch(episode.support),
        support_loss(cfg, episode.support_labels),
        steps=cfg.inner_steps,
        lr=cfg.inner_lr,
    )
    with torch.no_grad():
        return with_fast_weights(model, fast, data.batch(episode.query)).logits[:, 0].numpy()


class TransferLearner:
    """Multitask training on the meta-training tasks, then the inner loop per episode."""

    def __init__(self, cfg: FewShotConfig, classifier: FusionClassifier, *, seed: int):
        self.cfg, self.model, self.seed = cfg, classifier, seed

    def fit(self, data: FewShotData) -> None:
        cfg = self.cfg
        columns = [data.targets.index(task) for task in cfg.train_tasks]
        labels = torch.as_tensor(data.labels[:, columns], dtype=torch.float32)
        labelled = np.flatnonzero(~np.isnan(data.labels[:, columns]).all(axis=1))
        optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.outer_lr)
        self.model.train()
        for epoch in tqdm(range(cfg.transfer_epochs), desc="multitask training", mininterval=10):
            loader = make_loader(data.dataset, batch_size=64, indices=list(labelled), seed=self.seed)
            loader.batch_sampler.set_epoch(epoch)
            for batch in loader:
                target = labels[_positions(data, batch)]
                logits, contrast = self.model(batch)
                known = ~torch.isnan(target)
                loss = (
                    F.binary_cross_entropy_with_logits(logits[known], target[known])
                    + cfg.w_infonce * contrast
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        # one task's head for the episodes: the mean of the multitask rows
        last = self.model.head[-1]
        binary = torch.nn.Linear(last.in_features, 1)
        with torch.no_grad():
            binary.weight.copy_(last.weight.mean(dim=0, keepdim=True))
            binary.bias.copy_(last.bias.mean().reshape(1))
        self.model.head[-1] = binary
        self.names = adapted_names(self.model, self.cfg.adapted)

    def scores(self, data: FewShotData, episode: Episode) -> np.ndarray:
        return _adapted_scores(copy.deepcopy(self.model), self.names, self.cfg, data, episode)


def _positions(data: FewShotData, batch: Batch) -> torch.Tensor:
    """Dataset positions of a batch's molecules."""
    return torch.as_tensor(data.dataset.positions(batch.mol_id.tolist()))


class ForestLearner:
    """A random forest on the ECFP4 bits of the support set alone."""

    def __init__(self, *, seed: int, n_estimators: int = 100):
        self.seed, self.n_estimators = seed, n_estimators

    def fit(self, data: FewShotData) -> None:
        self.ecfp = np.stack([unpack_bits(packed, data.ecfp_bits) for packed in data.dataset.columns.ecfp])

    def scores(self, data: FewShotData, episode: Episode) -> np.ndarray:
        forest = RandomForestClassifier(n_estimators=self.n_estimators, random_state=self.seed, n_jobs=1)
        forest.fit(self.ecfp[episode.support], episode.support_labels.astype(int))
        return forest.predict_proba(self.ecfp[episode.query])[:, list(forest.classes_).index(1)]


class PrototypeLearner:
    """Nearest class mean in a frozen encoder's embedding space (the concatenated, normalised views)."""

    def __init__(self, encoder: MultiModalEncoder, *, views: list[str]):
        self.encoder, self.views = encoder, views

    def fit(self, data: FewShotData) -> None:
        embedded = embed_dataset(self.encoder, data.dataset, modalities=self.views)
        parts = [np.where(valid[:, None], vectors, 0.0) for vectors, valid in embedded.values()]
        self.embeddings = F.normalize(torch.as_tensor(np.concatenate(parts, axis=1)), dim=1)

    def scores(self, data: FewShotData, episode: Episode) -> np.ndarray:
        support, query = self.embeddings[episode.support], self.embeddings[episode.query]
        positive = F.normalize(support[episode.support_labels == 1].mean(dim=0), dim=0)
        negative = F.normalize(support[episode.support_labels == 0].mean(dim=0), dim=0)
        return (query @ positive - query @ negative).numpy()


def evaluate(learner, data: FewShotData, episodes: list[Episode]) -> dict[str, list[float]]:
    """ROC-AUC on the query set of every episode, per task."""
    scores: dict[str, list[float]] = {}
    for episode in tqdm(episodes, desc="episodes", mininterval=10):
        auc = roc_auc_score(episode.query_labels, learner.scores(data, episode))
        scores.setdefault(episode.task, []).append(float(auc))
    return scores

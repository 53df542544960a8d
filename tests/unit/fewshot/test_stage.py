"""The few-shot stage end to end on the shipped Tox21 slice: every learner, the same episodes."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch

from semmol.config import ConformerConfig, DatasetConfig, FewShotConfig, ModelConfig, StandardizeConfig
from semmol.data.schema import unpack_bits
from semmol.fewshot.episodes import EpisodeError, sample_episode, task_generator
from semmol.fewshot.learners import (
    MetaLearner,
    TransferLearner,
    build_classifier,
    load_data,
    support_loss,
)
from semmol.fewshot.maml import adapt, adapted_names
from semmol.fewshot.stage import run_fewshot

pytestmark = pytest.mark.slow

TRAIN = ["NR-AhR", "NR-ER", "SR-ARE", "SR-MMP"]
TEST = ["SR-HSE", "SR-p53"]
OPTIONS = FewShotConfig(
    train_tasks=TRAIN, test_tasks=TEST, k_shot=4, query_size=8, episodes=3, views=["graph2d", "graph_attention"],
    meta_steps=2, meta_batch=2, inner_steps=2, transfer_epochs=1,
)  # fmt: skip
MODEL = ModelConfig(
    proj_dim=16, graph2d={"dim": 16, "layers": 2}, graph_attention={"dim": 16, "layers": 1, "timesteps": 1}
)


@pytest.fixture(scope="module")
def tox21(tmp_path_factory, moleculenet_dir):
    from semmol.data.conformers import build_shard
    from semmol.data.shards import gather
    from semmol.data.standardize import standardize

    out = tmp_path_factory.mktemp("tox21")
    source = moleculenet_dir / "tox21.csv"
    targets = TRAIN + TEST
    dataset = DatasetConfig(
        source={"kind": "local", "path": str(source)}, targets=targets, task="classification", max_rows=300
    )
    standardize(source, dataset=dataset, options=StandardizeConfig(), benchmark=True, out_dir=out)
    options = ConformerConfig(n_conformers=1, mmff=False, ecfp_bits=256, image_size=0, timeout_s=2)
    build_shard(out / "molecules.parquet", shard=0, n_shards=1, options=options, out=out / "shards/0.parquet")
    gather([out / "shards/0.parquet"], out=out / "shards/manifest.json")
    return out


@pytest.mark.parametrize("learner", ["maml", "transfer", "rf"])
def test_every_learner_scores_the_held_out_tasks(tox21, tmp_path, learner):
    metrics = run_fewshot(
        row=learner, learner=learner, options=OPTIONS, model=MODEL, molecules=tox21 / "molecules.parquet",
        shards_manifest=tox21 / "shards/manifest.json", seed=0, pretrained=None, out_dir=tmp_path,
    )  # fmt: skip
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert set(metrics["per_task"]) == set(TEST)
    for task in metrics["per_task"].values():
        assert len(task["episodes"]) == 3 and all(0 <= auc <= 1 for auc in task["episodes"])
    assert metrics["mean"] == pytest.approx(np.mean([t["mean"] for t in metrics["per_task"].values()]))


@pytest.mark.parametrize("inner_contrast", [True, False])
@pytest.mark.parametrize("learner", ["maml", "transfer"])
def test_fitting_never_reads_a_held_out_task(tox21, learner, inner_contrast):
    options = OPTIONS.model_copy(update={"inner_contrast": inner_contrast})

    def fitted(data):
        torch.manual_seed(0)
        n_tasks = 1 if learner == "maml" else len(TRAIN)
        classifier = build_classifier(options, MODEL, data, n_tasks=n_tasks, pretrained=None)
        fitting = (MetaLearner if learner == "maml" else TransferLearner)(options, classifier, seed=0)
        before = {name: p.detach().clone() for name, p in fitting.model.named_parameters()}
        fitting.fit(data)
        assert getattr(fitting, "skipped_tasks", {}) == {}  # every training task was used
        return before, {name: p.detach() for name, p in fitting.model.named_parameters()}

    data = load_data(tox21 / "molecules.parquet", tox21 / "shards/manifest.json", targets=TRAIN + TEST)
    before, trained = fitted(data)
    moved = [name for name in before if name.startswith("encoder.") and not torch.equal(trained[name], before[name])]
    assert any(name.startswith("encoder.encoders.graph_attention.") for name in moved)
    # the outer step (the multitask step) trains every weight
    assert any(name.startswith("encoder.encoders.graph2d.") for name in moved)
    for task in TEST:  # poisoned: flipped labels, which would change any episode and loss that read them
        column = data.labels[:, data.targets.index(task)]
        column[:] = 1 - column
    _, poisoned = fitted(data)
    assert all(torch.equal(poisoned[name], trained[name]) for name in trained)


def test_the_inner_contrast_adds_its_gradient_to_the_inner_step(tox21):
    """One inner step with ``inner_contrast`` moves each adapted weight by ``-inner_lr * w_infonce``
    times the view contrast's gradient more than the task loss alone does."""
    data = load_data(tox21 / "molecules.parquet", tox21 / "shards/manifest.json", targets=TRAIN + TEST)
    torch.manual_seed(0)
    model = build_classifier(OPTIONS, MODEL, data, n_tasks=1, pretrained=None).eval()
    names = adapted_names(model, OPTIONS.adapted)
    labels = data.labels[:, data.targets.index(TRAIN[0])]
    episode = sample_episode(labels, task=TRAIN[0], k_shot=4, query_size=8, rng=task_generator(0, TRAIN[0]))
    support = data.batch(episode.support)
    lr = 0.5  # large, so that the difference stands far above rounding

    def one_step(inner_contrast: bool) -> dict[str, torch.Tensor]:
        options = OPTIONS.model_copy(update={"inner_contrast": inner_contrast})
        return adapt(model, names, support, support_loss(options, episode.support_labels), steps=1, lr=lr)

    with_contrast, task_only = one_step(True), one_step(False)
    params = dict(model.named_parameters())
    contrast = model(support).contrast
    grads = torch.autograd.grad(contrast, [params[name] for name in names], allow_unused=True)
    assert any(grad is not None and grad.abs().max() > 0 for grad in grads)
    for name, grad in zip(names, grads):
        expected = torch.zeros_like(params[name]) if grad is None else -lr * OPTIONS.w_infonce * grad
        torch.testing.assert_close(with_contrast[name] - task_only[name], expected, atol=1e-6, rtol=1e-4)


def test_a_learner_scores_a_separable_held_out_task_above_chance(tox21, tmp_path):
    """The held-out tasks relabelled by an ECFP bit that about half the molecules set: a random
    forest on the support's bits ranks the query far above chance, so the scores follow the query
    molecules (a shuffled or constant score would give about 0.5)."""
    data = load_data(tox21 / "molecules.parquet", tox21 / "shards/manifest.json", targets=TRAIN + TEST)
    bits = np.stack([unpack_bits(packed, data.ecfp_bits) for packed in data.dataset.columns.ecfp])
    bit = int(np.argmin(np.abs(bits.mean(axis=0) - 0.5)))
    molecules = pl.read_parquet(tox21 / "molecules.parquet")
    label = np.full(molecules.height, np.nan)
    label[data.dataset.mol_index] = bits[:, bit]
    relabelled = tmp_path / "molecules.parquet"
    molecules.with_columns(pl.Series(task, label) for task in TEST).write_parquet(relabelled)
    metrics = run_fewshot(
        row="rf", learner="rf", options=OPTIONS, model=MODEL, molecules=relabelled,
        shards_manifest=tox21 / "shards/manifest.json", seed=0, pretrained=None, out_dir=tmp_path,
    )  # fmt: skip
    assert metrics["mean"] > 0.8, metrics["per_task"]


def test_a_meta_training_task_too_small_for_an_episode_is_left_out(tox21):
    data = load_data(tox21 / "molecules.parquet", tox21 / "shards/manifest.json", targets=TRAIN + TEST)
    column = data.labels[:, data.targets.index("NR-ER")]
    column[np.flatnonzero(column == 1)[2:]] = np.nan  # two positives: an episode needs 4 + 4
    learner = MetaLearner(OPTIONS, build_classifier(OPTIONS, MODEL, data, n_tasks=1, pretrained=None), seed=0)
    learner.fit(data)
    assert list(learner.skipped_tasks) == ["NR-ER"]
    assert "has 2 molecules labelled 1, fewer than the 8 an episode needs" in learner.skipped_tasks["NR-ER"]
    data.labels[:, [data.targets.index(task) for task in TRAIN]] = np.nan
    with pytest.raises(EpisodeError, match="no meta-training task can give an episode"):
        MetaLearner(OPTIONS, build_classifier(OPTIONS, MODEL, data, n_tasks=1, pretrained=None), seed=0).fit(
            data
        )

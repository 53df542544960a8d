"""The few-shot stage end to end on the shipped Tox21 slice: every learner, the same episodes."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch

from semmol.config import ConformerConfig, DatasetConfig, FewShotConfig, ModelConfig, StandardizeConfig
from semmol.data.schema import unpack_bits
from semmol.fewshot.episodes import EpisodeError
from semmol.fewshot.learners import MetaLearner, build_classifier, load_data
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


def test_meta_training_never_reads_a_held_out_task(tox21):
    def meta_trained(data):
        torch.manual_seed(0)
        classifier = build_classifier(OPTIONS, MODEL, data, n_tasks=1, pretrained=None)
        learner = MetaLearner(OPTIONS, classifier, seed=0)
        before = {name: p.detach().clone() for name, p in learner.model.named_parameters()}
        learner.fit(data)
        assert learner.skipped_tasks == {}  # every meta-training task was used, none left out silently
        return before, {name: p.detach() for name, p in learner.model.named_parameters()}

    data = load_data(tox21 / "molecules.parquet", tox21 / "shards/manifest.json", targets=TRAIN + TEST)
    before, trained = meta_trained(data)
    moved = [name for name in trained if not torch.allclose(trained[name], before[name])]
    assert any(name.startswith("encoder.encoders.graph_attention.") for name in moved)
    # the outer step trains every weight
    assert any(name.startswith("encoder.encoders.graph2d.") for name in moved)
    for task in TEST:  # poisoned: flipped labels, which would change any episode and loss that read them
        column = data.labels[:, data.targets.index(task)]
        column[:] = 1 - column
    _, poisoned = meta_trained(data)
    assert all(torch.equal(poisoned[name], trained[name]) for name in trained)


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

"""Fine-tuning: from scratch, from pretrained encoders, and in the SemMol mode."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch

from semmol.config import DatasetConfig, FinetuneJob, PretrainJob
from semmol.evaluate.records import PRED_SUFFIX as RECORD_PRED_SUFFIX
from semmol.inference.predict import PRED_SUFFIX, Predictor, predict_smiles
from semmol.methods.property import PropertyModel
from semmol.models.multimodal import MultiModalEncoder
from semmol.runtime.checkpoint import load_file
from semmol.train.finetune import FineTuner, finetune
from semmol.train.finetune_model import build_model, views_without_method_gradient
from semmol.train.pretrain import pretrain

from ...conftest import ESOL_TARGET, RING_CLASSES, finetune_on

pytestmark = pytest.mark.slow

MODEL = {
    "proj_dim": 16,
    "smiles": {"dim": 16, "layers": 1, "heads": 2, "max_len": 64},
    "graph2d": {"dim": 16, "layers": 2},
    "geom3d": {"dim": 16, "layers": 1, "num_gaussians": 8},
    "fingerprint": {"dim": 16},
}
DATASET = DatasetConfig(
    source={"kind": "local", "path": "esol.csv"}, targets=[ESOL_TARGET], task="regression"
).model_dump(mode="json")


def make_job(**finetune) -> FinetuneJob:
    return FinetuneJob.model_validate(
        {
            "dataset": DATASET,
            "model": MODEL,
            "finetune": {"epochs": 3, "patience": 2, "batch_size": 16, **finetune},
        }
    )


@pytest.fixture(scope="module", params=["semmol", "infonce"])
def pretrained(request, tiny_benchmark, tmp_path_factory):
    job = PretrainJob.model_validate(
        {
            "model": MODEL,
            "pretrain": {"method": request.param, "steps": 4, "batch_size": 8, "warmup_steps": 1},
            "semantic": {"n_centers": 4, "top_m": 2, "init_cache": 8, "warmup_updates": 1},
        }
    )
    out = tmp_path_factory.mktemp(f"pretrained-{request.param}")
    pretrain(job, shards_manifest=tiny_benchmark["manifest"], out_dir=out)
    return request.param, out / "model.pt"


def run(tiny_benchmark, out_dir, job, pretrained_model=None, seed=0):
    options = {"name": "esol", "run": "test", "seed": seed, "pretrained": pretrained_model}
    return finetune_on(tiny_benchmark, job, out_dir, **options)


def make_tuner(tiny_benchmark, job, pretrained_model=None, out_dir=None) -> FineTuner:
    """A :class:`FineTuner` of seed 0 on the tiny benchmark (checkpointing to ``out_dir`` if given)."""
    return FineTuner(
        job,
        molecules=tiny_benchmark["molecules"],
        shards_manifest=tiny_benchmark["manifest"],
        split=tiny_benchmark["split"],
        seed=0,
        pretrained=pretrained_model,
        out_dir=out_dir,
    )


def test_scratch_finetuning_is_seeded_and_writes_its_outputs(tiny_benchmark, tmp_path):
    job = make_job(init="scratch")
    first = run(tiny_benchmark, tmp_path / "a", job)
    second = run(tiny_benchmark, tmp_path / "b", job)
    other_seed = run(tiny_benchmark, tmp_path / "c", job, seed=1)
    assert first["metric"] == "rmse" and first["test"] > 0
    assert [e["valid"] for e in first["history"]] == [e["valid"] for e in second["history"]]
    assert first["test"] == second["test"] != other_seed["test"]
    assert 1 <= first["best_epoch"] <= 3
    predictions = pl.read_parquet(tmp_path / "a/predictions.parquet")
    assert sorted(set(predictions["subset"])) == ["test", "train", "valid"]
    assert (tmp_path / "a/model.pt").exists()
    best = first["history"][first["best_epoch"] - 1]["valid"]
    assert first["valid"] == pytest.approx(best, rel=1e-6)  # the best epoch's weights were restored


def test_the_view_contrast_weight_changes_training_only_with_weighted_fusion(tiny_benchmark, tmp_path):
    views = {"init": "scratch", "modalities": ["smiles", "graph2d"], "fusion": "weighted"}
    plain = run(tiny_benchmark, tmp_path / "plain", make_job(**views))
    contrast = run(tiny_benchmark, tmp_path / "contrast", make_job(**views, w_view_contrast=0.5))
    assert plain["history"][0]["train_loss"] != contrast["history"][0]["train_loss"]
    model, _ = PropertyModel.load(tmp_path / "contrast/model.pt")
    assert model.fusion_kind == "weighted" and model.used_modalities() == ["smiles", "graph2d"]


def test_pretrained_encoders_are_loaded(tiny_benchmark, pretrained):
    method, model_path = pretrained
    model, pretrained_params, _ = build_model(
        make_job(), n_tasks=1, ecfp_bits=256, corpus_smiles=["C"], pretrained=model_path
    )
    state = load_file(model_path)["state_dict"]
    loaded = model.encoder.state_dict()
    for name in ("encoders.smiles.token_embedding.weight", "encoders.geom3d.embedding.weight"):
        torch.testing.assert_close(loaded[name], state[name])
    assert "encoders.fingerprint.net.0.weight" not in state  # fingerprints were not pretrained
    from_pretraining = {name for name, _ in model.encoder.named_parameters() if name in state}
    assert {id(p) for p in pretrained_params} == {
        id(p) for name, p in model.encoder.named_parameters() if name in from_pretraining
    }


def test_method_mode_needs_a_method_with_a_head_input(tiny_benchmark, pretrained, tmp_path):
    method, model_path = pretrained
    job = make_job(mode="method", modalities=["smiles", "graph2d"])
    if method == "infonce":
        with pytest.raises(ValueError, match="method 'infonce' offers no fine-tuning head input"):
            run(tiny_benchmark, tmp_path, job, model_path)
        return
    metrics = run(tiny_benchmark, tmp_path, job, model_path)
    assert metrics["mode"] == "method" and json.loads((tmp_path / "metrics.json").read_text()) == metrics
    model, _ = PropertyModel.load(tmp_path / "model.pt")
    _, pretrained_extra = MultiModalEncoder.load(model_path)
    # the head reads both views' hidden vectors and [anchor || fused soft positive] of the proj_dim
    assert model.method == "semmol" and model.head[0].in_features == 16 + 16 + 2 * MODEL["proj_dim"]
    # the head input is the pretrained method's, frozen through fine-tuning and saved with the model
    head_input = model.head_input.state_dict()
    assert head_input and all(torch.equal(head_input[k], pretrained_extra["method"][k]) for k in head_input)


def test_scratch_cannot_use_the_method_mode(tiny_benchmark, tmp_path):
    with pytest.raises(ValueError, match="needs a pretrained model"):
        run(tiny_benchmark, tmp_path, make_job(init="scratch", mode="method"))


def test_pretrained_encoders_keep_their_architecture(pretrained):
    _, model_path = pretrained
    model = {**MODEL, "proj_dim": 32, "smiles": {**MODEL["smiles"], "dim": 32}, "fingerprint": {"dim": 24}}
    job = FinetuneJob.model_validate({"dataset": DATASET, "model": model})
    built, _, _ = build_model(job, n_tasks=1, ecfp_bits=256, corpus_smiles=["C"], pretrained=model_path)
    assert built.encoder.cfg.proj_dim == 16 and built.encoder.encoders["smiles"].dim == 16
    assert built.encoder.encoders["fingerprint"].dim == 24  # not pretrained: the run's own section


def test_a_pretrained_fingerprint_encoder_needs_its_bit_count(pretrained, tmp_path):
    _, model_path = pretrained
    encoder, extra = MultiModalEncoder.load(model_path)
    with_fingerprints = MultiModalEncoder(
        encoder.cfg, modalities=[*encoder.modalities, "fingerprint"], vocab=encoder.vocab, ecfp_bits=128
    )
    with_fingerprints.save(tmp_path / "model.pt", extra=extra)
    with pytest.raises(ValueError, match="reads 128 ECFP bits, the benchmark's shards hold 256"):
        build_model(
            make_job(), n_tasks=1, ecfp_bits=256, corpus_smiles=["C"], pretrained=tmp_path / "model.pt"
        )


def test_descriptor_scaling_is_fitted_on_the_train_subset(tiny_benchmark):
    job = make_job(modalities=["graph2d", "descriptors"], init="scratch")
    tuner = make_tuner(tiny_benchmark, job)
    train = tuner.train_data.columns.descriptors[tuner.positions["train"]]
    encoder = tuner.model.encoder.encoders["descriptors"]
    torch.testing.assert_close(encoder.input_mean, torch.as_tensor(train.mean(axis=0), dtype=torch.float32))


def test_every_encoder_learns_at_encoder_lr_and_the_head_at_lr(tiny_benchmark, pretrained):
    _, model_path = pretrained
    for init, path in (("scratch", None), ("pretrained", model_path)):
        tuner = make_tuner(tiny_benchmark, make_job(init=init, lr=1e-3, encoder_lr=2e-4), path)
        encoders, head = tuner.optimizer.param_groups
        assert (encoders["lr"], head["lr"]) == (2e-4, 1e-3)
        assert {id(p) for p in encoders["params"]} == {id(p) for p in tuner.model.encoder.parameters()}


def test_frozen_epochs_train_the_head_alone_then_everything(tiny_benchmark, pretrained):
    job = make_job(init="pretrained", frozen_epochs=1, dropout=0.0)
    tuner = make_tuner(tiny_benchmark, job, pretrained[1])
    encoder_params, head_params = (group["params"] for group in tuner.optimizer.param_groups)

    def snapshot(params):
        return [p.detach().clone() for p in params]

    def changed(before, params):
        return sum(not torch.equal(a, p) for a, p in zip(before, params))

    encoders, head = snapshot(encoder_params), snapshot(head_params)
    tuner.train_epoch(1)
    assert changed(encoders, encoder_params) == 0 and changed(head, head_params) > 0
    assert not tuner.model.encoder.training  # a linear probe sees the features without dropout
    tuner.train_epoch(2)
    assert changed(encoders, encoder_params) > 0
    assert all(p.requires_grad for p in encoder_params) and tuner.model.encoder.training


def test_layer_lr_ratio_lets_each_encoder_learn_slower_at_its_input(tiny_benchmark, pretrained):
    job = make_job(init="pretrained", lr=1e-3, encoder_lr=1e-3, layer_lr_ratio=0.1)
    tuner = make_tuner(tiny_benchmark, job, pretrained[1])
    *encoder_groups, head = tuner.optimizer.param_groups
    rate = {id(p): group["lr"] for group in encoder_groups for p in group["params"]}
    assert set(rate) == {id(p) for p in tuner.model.encoder.parameters()} and head["lr"] == 1e-3
    for modality, encoder in tuner.model.encoder.encoders.items():
        first = next(p for p in encoder.parameters() if rate[id(p)] < 1e-3)  # its input
        assert rate[id(first)] == pytest.approx(1e-4), modality
        assert max(rate[id(p)] for p in encoder.parameters()) == pytest.approx(1e-3), modality
    assert all(rate[id(p)] == 1e-3 for p in tuner.model.encoder.projections.parameters())
    tuner.train_epoch(1)  # one scheduler factor per group: the ratios hold through the schedule
    lrs = [group["lr"] for group in tuner.optimizer.param_groups]
    assert lrs[-1] > 0 and all(
        lr / lrs[-1] == pytest.approx(group["initial_lr"] / 1e-3)
        for lr, group in zip(lrs, tuner.optimizer.param_groups)
    )


@pytest.mark.parametrize("ratio", [0.0, 1.5])
def test_layer_lr_ratio_is_a_fraction(ratio):
    with pytest.raises(ValueError, match="layer_lr_ratio"):
        make_job(layer_lr_ratio=ratio)


def test_frozen_epochs_must_leave_epochs_to_fine_tune():
    with pytest.raises(ValueError, match="frozen_epochs"):
        make_job(frozen_epochs=3)


def test_lgmcl_pretraining_then_fine_tuning_with_fingerprint_fusion(tiny_benchmark, tmp_path):
    """LGM-CL end to end: local/global graphs and both text views pretrained, then fine-tuned
    with MACCS and ErG fused by dual cross-attention; the saved model predicts again."""
    views = ["graph_attention", "graph_global", "smiles", "description"]
    model = {
        "proj_dim": 16,
        "smiles": {"name": "deberta", "dim": 16, "layers": 1, "heads": 2, "randomize": True},
        "description": {"dim": 16, "layers": 1, "heads": 2},
        "graph_attention": {"dim": 16, "layers": 1, "timesteps": 1},
        "graph_global": {"dim": 16, "layers": 1, "heads": 2, "walk_length": 4},
    }
    job = PretrainJob.model_validate(
        {
            "model": model,
            "pretrain": {
                "method": "lgmcl",
                "anchor": views[0],
                "targets": views[1:],
                "steps": 4,
                "batch_size": 8,
                "warmup_steps": 1,
            },
        }
    )
    pretrain(job, shards_manifest=tiny_benchmark["manifest"], out_dir=tmp_path / "pretrained")
    history = [json.loads(line) for line in (tmp_path / "pretrained/metrics.jsonl").read_text().splitlines()]
    assert {"loss_local_global", "loss_text", "loss_graph_text"} <= set(history[-1])
    finetune_job = FinetuneJob.model_validate(
        {
            "dataset": DATASET,
            "model": model,
            "finetune": {
                "epochs": 2,
                "patience": 2,
                "batch_size": 16,
                "modalities": views,
                "fingerprint_fusion": ["maccs", "erg"],
            },
        }
    )
    run(tiny_benchmark, tmp_path / "finetuned", finetune_job, tmp_path / "pretrained/model.pt")
    fine_tuned, _ = PropertyModel.load(tmp_path / "finetuned/model.pt")
    assert fine_tuned.used_modalities() == views
    # the saved model, featurizing the test molecules afresh, predicts what the trained one did
    recorded = pl.read_parquet(tmp_path / "finetuned/predictions.parquet").filter(pl.col("subset") == "test")
    predicted = predict_smiles([Predictor.load(tmp_path / "finetuned")], recorded["smiles"].to_list())
    np.testing.assert_allclose(
        predicted[ESOL_TARGET + PRED_SUFFIX].to_numpy(),
        recorded[ESOL_TARGET + RECORD_PRED_SUFFIX].to_numpy(),
        rtol=1e-5,
        atol=1e-5,
    )
    pretrained_state = load_file(tmp_path / "pretrained/model.pt")["state_dict"]
    name = "encoders.description.deberta.embeddings.word_embeddings.weight"
    assert name in pretrained_state and name in fine_tuned.encoder.state_dict()


def test_views_a_pretraining_method_never_trains_are_named():
    def job(**sections) -> PretrainJob:
        views = {"pretrain": {"anchor": "smiles", "targets": ["graph2d", "geom3d"]}}
        return PretrainJob.model_validate(views | sections)

    # SemMol's matching terms reach the anchor alone, unless its InfoNCE is on
    assert views_without_method_gradient(job(), ["graph2d", "smiles"]) == ["graph2d"]
    assert views_without_method_gradient(job(semantic={"w_infonce": 1.0}), ["graph2d"]) == []
    infonce = job(pretrain={"method": "infonce", "anchor": "smiles", "targets": ["graph2d"]})
    assert views_without_method_gradient(infonce, ["graph2d", "geom3d"]) == ["geom3d"]


def test_a_published_gnn_is_fine_tuned_from_its_weights(tiny_benchmark, tmp_path):
    from semmol.cli.download_model import convert_pretrain_gnns
    from semmol.config import PretrainGNNEncoderConfig
    from semmol.models.pretrain_gnns import HuGNN

    encoder = PretrainGNNEncoderConfig(architecture="gcn", dim=8, layers=2)
    torch.manual_seed(3)
    torch.save(HuGNN("gcn", dim=8, layers=2, dropout=0.0).state_dict(), tmp_path / "published.pth")
    convert_pretrain_gnns(tmp_path / "published.pth", encoder, tmp_path / "model.pt")
    published = torch.load(tmp_path / "published.pth", weights_only=True)
    job = FinetuneJob.model_validate(
        make_job(modalities=["graph2d_hu"]).model_dump() | {"model": {"graph2d_hu": encoder.model_dump()}}
    )
    model, pretrained_params, _ = build_model(
        job, n_tasks=1, ecfp_bits=256, corpus_smiles=["C"], pretrained=tmp_path / "model.pt"
    )
    gnn = model.encoder.encoders["graph2d_hu"].gnn.state_dict()
    assert all(gnn[name].equal(value) for name, value in published.items())
    assert {id(p) for p in model.encoder.encoders["graph2d_hu"].parameters()} <= {
        id(p) for p in pretrained_params
    }
    metrics = run(tiny_benchmark, tmp_path / "tuned", job, pretrained_model=tmp_path / "model.pt")
    assert metrics["modalities"] == ["graph2d_hu"] and metrics["test"] > 0


def test_a_split_without_test_rows_gives_a_model_for_deployment(tiny_benchmark, moleculenet_dir, tmp_path):
    from semmol.data.splits import make_split, write_split

    split = tmp_path / "none-0.json"  # the 48 molecules of tiny_benchmark, no test subset
    write_split(
        make_split(moleculenet_dir / "esol.csv", smiles_column="smiles", kind="none", max_rows=48), split
    )
    metrics = finetune(
        make_job(init="scratch"),
        run="test",
        benchmark="esol",
        molecules=tiny_benchmark["molecules"],
        shards_manifest=tiny_benchmark["manifest"],
        split=split,
        seed=0,
        pretrained=None,
        out_dir=tmp_path / "out",
    )
    assert (
        metrics["split"] == "none"
        and metrics["test"] is None
        and metrics["per_task_test"] == {ESOL_TARGET: None}
    )
    assert metrics["n"] == {"train": 43, "valid": 5, "test": 0} and metrics["valid"] > 0
    assert json.loads((tmp_path / "out/metrics.json").read_text())["test"] is None
    predicted = predict_smiles([Predictor.load(tmp_path / "out")], ["CCO", "c1ccccc1O"])
    assert np.isfinite(predicted[ESOL_TARGET + PRED_SUFFIX].to_numpy()).all()


def test_multiclass_fine_tuning_learns_the_ring_classes(multiclass_finetuned):
    metrics = json.loads((multiclass_finetuned / "metrics.json").read_text())
    assert (metrics["metric"], metrics["classes"]) == ("roc_auc_ovr", RING_CLASSES)
    predictions = pl.read_parquet(multiclass_finetuned / "predictions.parquet")
    test = predictions.filter(pl.col("subset") == "test")
    majority = test["rings"].value_counts()["count"].max() / test.height
    # The number of rings is plain in the 2D graph and the ECFP bits: a model that learnt it beats
    # chance (ROC-AUC 0.5, the majority class's share in accuracy) by far.
    assert metrics["test"] > 0.8 and metrics["accuracy"]["test"] > majority + 0.2
    best = metrics["history"][metrics["best_epoch"] - 1]["valid"]
    assert metrics["valid"] == pytest.approx(best, rel=1e-6)  # the best valid one-vs-rest ROC-AUC is kept
    probabilities = test.select([f"rings__prob_{name}" for name in RING_CLASSES]).to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (test["rings__pred"].to_numpy() == probabilities.argmax(axis=1)).all()
    model, metadata = PropertyModel.load(multiclass_finetuned / "model.pt")
    assert metadata["classes"] == RING_CLASSES and model.head[-1].out_features == 3

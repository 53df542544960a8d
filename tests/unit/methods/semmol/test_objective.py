from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semmol.config import SemanticConfig
from semmol.methods.semmol.matching import alignment_loss, fuse_positives, pseudo_pair_loss, soft_match
from semmol.methods.semmol.objective import SemMolObjective

DIM = 6
TARGETS = ["graph2d", "geom3d"]


def config(**overrides) -> SemanticConfig:
    """Per-modality positives, summed alignment, unit weights: the terms :func:`expected_loss` spells out
    (the reference's fused defaults: test_reference_loss.py)."""
    options = dict(
        positive="per_modality",
        align_reduction="sum",
        w_pseudo=1.0,
        w_align=1.0,
        n_centers=6,
        top_m=2,
        max_negatives=3,
        delta=0.0,
        init_cache=12,
        init_iters=2,
        reseed_after=3,
        faiss_min_size=1 << 62,
        memory_bank_size=10,
        warmup_updates=1,
        ramp_steps=2,
        tau={"mode": "learnable", "init": 0.1, "min": 0.02, "max": 1.0},
    )
    options.update(overrides)
    return SemanticConfig(**options)


def objective(cfg: SemanticConfig | None = None) -> SemMolObjective:
    return SemMolObjective(cfg or config(), dim=DIM, targets=TARGETS, seed=3, total_steps=20)


class Stream:
    """Deterministic synthetic batches: inputs per molecule, two noisy target views, some 3D missing."""

    def __init__(
        self, *, molecules: int = 40, batch: int = 8, fixed_keys: bool = False, all_valid: bool = False
    ):
        generator = torch.Generator().manual_seed(0)
        self.inputs = torch.randn(molecules, DIM, generator=generator)
        self.mix = torch.randn(2, DIM, DIM, generator=generator)
        self.molecules, self.size, self.fixed_keys, self.all_valid = molecules, batch, fixed_keys, all_valid

    def batch(self, step: int):
        generator = torch.Generator().manual_seed(1000 + step)
        keys = torch.randperm(self.molecules, generator=generator)[: self.size]
        if self.fixed_keys:
            keys = torch.arange(self.size)
        noise = 0.1 * torch.randn(2, self.size, DIM, generator=generator)
        x = self.inputs[keys]
        geom_valid = torch.ones(self.size, dtype=torch.bool) if self.all_valid else keys % 3 != 0
        all_rows = torch.ones(self.size, dtype=torch.bool)
        targets = {
            "graph2d": (F.normalize(x @ self.mix[0] + noise[0], dim=1), all_rows),
            "geom3d": (F.normalize(x @ self.mix[1] + noise[1], dim=1), geom_valid),
        }
        return x, targets, keys


def encoder(seed: int = 0) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(DIM, DIM)


def train(
    obj: SemMolObjective, model: torch.nn.Module, steps: range, stream: Stream
) -> list[tuple[float, dict]]:
    optimizer = torch.optim.SGD([*model.parameters(), *obj.parameters()], lr=0.1)
    history = []
    for step in steps:
        x, targets, keys = stream.batch(step)
        loss, logs = obj(F.normalize(model(x), dim=1), targets, keys, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append((loss.item(), logs))
    return history


def test_before_matching_the_loss_is_a_zero_attached_to_the_anchor_and_libraries_update():
    obj, model, stream = objective(config(warmup_updates=2)), encoder(), Stream(all_valid=True)
    x, targets, keys = stream.batch(0)
    loss, logs = obj(F.normalize(model(x), dim=1), targets, keys, 0)
    assert loss.item() == 0.0 and loss.requires_grad and logs["sem_active"] == 0.0
    loss.backward()
    assert model.weight.grad is not None  # DDP sees the anchor branch used
    assert logs["sem_graph2d_initialised"] == 1.0 and logs["sem_geom3d_initialised"] == 1.0


def test_matching_starts_after_warmup_updates_counted_from_initialisation():
    history = train(objective(config(warmup_updates=2)), encoder(), range(5), Stream(all_valid=True))
    # step 0 initialises, steps 1 and 2 are the two updates, step 3 matches
    assert [logs["sem_active"] for _, logs in history] == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert [logs["sem_graph2d_updates"] for _, logs in history] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(loss == 0.0 for loss, _ in history[:3]) and history[3][0] > 0


@pytest.mark.parametrize(("ramp_steps", "ramps"), [(2, [0.0, 0.5, 1.0, 1.0]), (0, [1.0, 1.0, 1.0, 1.0])])
def test_pseudo_weight_ramps_linearly_from_the_first_matching_step(ramp_steps, ramps):
    cfg = config(warmup_updates=0, ramp_steps=ramp_steps, w_align=0.0, w_pseudo=2.0)
    history = train(objective(cfg), encoder(), range(5), Stream(all_valid=True))
    active = history[1:]  # step 0 initialises; matching starts at step 1
    assert [logs["sem_ramp"] for _, logs in active] == ramps
    for (loss, logs), ramp in zip(active, ramps):
        assert loss == pytest.approx(2.0 * ramp * logs["sem_loss_pseudo"], rel=1e-5, abs=1e-7)


def expected_loss(
    centers: dict[str, torch.Tensor], anchor, targets, cfg: SemanticConfig, tau: float
) -> float:
    pseudo, align = [], []
    for name, (_, valid) in targets.items():
        match = soft_match(
            anchor,
            centers[name],
            top_m=cfg.top_m,
            tau=tau,
            weighting=cfg.weighting,
            delta=cfg.delta,
            max_negatives=cfg.max_negatives,
            faiss_min_size=cfg.faiss_min_size,
        )
        per_row, has_negative = pseudo_pair_loss(
            anchor, match.positive, match.negative_sims, match.negative_mask, temperature=cfg.tau_loss
        )
        pseudo += per_row[valid & has_negative].tolist()
        align += alignment_loss(anchor, match.positive, reduction="sum")[valid].tolist()
    return cfg.w_pseudo * float(np.mean(pseudo)) + cfg.w_align * float(np.mean(align))


def test_matching_uses_the_centers_from_before_this_steps_update():
    cfg = config(warmup_updates=0, ramp_steps=0, memory_bank_size=0, tau={"mode": "fixed", "init": 0.1})
    obj, model, stream = objective(cfg), encoder(), Stream()
    train(obj, model, range(2), stream)
    before = {name: obj.libraries[name].centers.clone() for name in TARGETS}
    x, targets, keys = stream.batch(2)
    with torch.no_grad():
        anchor = F.normalize(model(x), dim=1)
        loss, logs = obj(anchor, targets, keys, 2)
    after = {name: obj.libraries[name].centers.clone() for name in TARGETS}
    assert logs["sem_active"] == 1.0
    assert not any(torch.allclose(before[name], after[name]) for name in TARGETS)  # the batch moved them
    assert loss.item() == pytest.approx(expected_loss(before, anchor, targets, cfg, 0.1), rel=1e-5)
    assert loss.item() != pytest.approx(expected_loss(after, anchor, targets, cfg, 0.1), rel=1e-5)


@pytest.mark.parametrize("positive_from", ["anchor", "target"])
def test_gradients_reach_only_the_anchor_and_tau(positive_from):
    cfg = config(warmup_updates=0, ramp_steps=0, positive_from=positive_from)
    obj, model, stream = objective(cfg), encoder(), Stream()
    train(obj, model, range(2), stream)
    x, targets, keys = stream.batch(2)
    targets = {name: (feats.clone().requires_grad_(True), valid) for name, (feats, valid) in targets.items()}
    obj.zero_grad()
    loss, _ = obj(F.normalize(model(x), dim=1), targets, keys, 2)
    loss.backward()
    assert float(model.weight.grad.abs().sum()) > 0
    assert obj.temperature.log_tau.grad is not None and float(obj.temperature.log_tau.grad.abs()) > 0
    assert all(features.grad is None for features, _ in targets.values())
    assert [name for name, p in obj.named_parameters()] == ["temperature.log_tau"]  # centers, banks: buffers


def test_a_row_with_only_bank_negatives_counts_and_a_molecule_is_not_its_own_negative():
    stream = Stream(fixed_keys=True, all_valid=True)  # the same 8 molecules every step
    cfg = config(warmup_updates=0, max_negatives=0, memory_bank_size=0)
    no_bank = train(objective(cfg), encoder(), range(2), stream)
    assert no_bank[1][1]["sem_active"] == 1.0 and no_bank[1][1]["sem_valid_rows"] == 0.0
    assert no_bank[1][1]["sem_loss_pseudo"] == 0.0
    cfg = config(warmup_updates=0, max_negatives=0, memory_bank_size=10)
    with_bank = train(objective(cfg), encoder(), range(2), stream)
    logs = with_bank[1][1]
    assert logs["sem_valid_rows"] == 16.0  # 8 rows x 2 modalities
    assert logs["sem_negatives_per_row"] == 7.0  # the 8 banked rows of step 0, less the molecule itself
    assert logs["sem_loss_pseudo"] > 0


def test_reseeding_is_logged():
    cfg = config(n_centers=6, reseed_after=1, warmup_updates=0)
    history = train(objective(cfg), encoder(), range(6), Stream(batch=4, all_valid=True))
    assert sum(logs["sem_graph2d_reseeded"] for _, logs in history) > 0


@pytest.mark.parametrize("split", [1, 4])
def test_state_dict_round_trip_resumes_the_same_trajectory(split):
    stream, steps = Stream(), 8
    obj, model = objective(), encoder()
    full = train(obj, model, range(steps), stream)

    first, first_model = objective(), encoder()
    train(first, first_model, range(split), stream)
    saved = copy.deepcopy((first.state_dict(), first_model.state_dict()))
    resumed, resumed_model = objective(), encoder(seed=99)
    resumed.load_state_dict(saved[0])
    resumed_model.load_state_dict(saved[1])
    rest = train(resumed, resumed_model, range(split, steps), stream)

    assert [loss for loss, _ in rest] == [loss for loss, _ in full[split:]]
    assert [logs for _, logs in rest] == [logs for _, logs in full[split:]]
    for key, value in obj.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert any(logs["sem_active"] for _, logs in rest)


def test_fused_positive_after_loading_into_a_fresh_module():
    obj, model, stream = objective(), encoder(), Stream()
    train(obj, model, range(6), stream)
    fresh = objective()
    fresh.load_state_dict(obj.state_dict())
    x, _, _ = stream.batch(9)
    anchor = F.normalize(model(x), dim=1).detach()
    fused = fresh.fused_positive(anchor)
    assert torch.equal(fused, obj.fused_positive(anchor))
    assert torch.allclose(fused.norm(dim=1), torch.ones(len(anchor)))
    tau = obj.temperature.value(5)
    expected = fuse_positives(
        [
            soft_match(
                anchor,
                obj.libraries[name].centers,
                top_m=2,
                tau=tau,
                weighting="softmax",
                delta=0.0,
                max_negatives=0,
                faiss_min_size=1 << 62,
            )
            for name in TARGETS
        ]
    )
    assert torch.allclose(fused, expected, atol=1e-6)


def test_fused_positive_needs_initialised_libraries():
    with pytest.raises(ValueError, match="never initialised"):
        objective().fused_positive(torch.zeros(2, DIM))


def test_save_snapshot_writes_centers_counts_and_statistics(tmp_path):
    obj = objective()
    train(obj, encoder(), range(4), Stream())
    obj.save_snapshot(tmp_path / "centers" / "step-000004")
    with np.load(tmp_path / "centers" / "step-000004.npz") as arrays:
        expected = ["geom3d.centers", "geom3d.counts", "graph2d.centers", "graph2d.counts"]
        assert sorted(arrays.files) == expected
        assert arrays["graph2d.centers"].shape == (6, DIM) and arrays["graph2d.counts"].shape == (6,)
        assert np.allclose(arrays["geom3d.centers"], obj.libraries["geom3d"].centers.numpy())
        assert arrays["graph2d.counts"].sum() == int(obj.libraries["graph2d"].counts.sum())
    record = json.loads((tmp_path / "centers" / "step-000004.json").read_text())
    assert record["step"] == 4
    assert record["tau"] == pytest.approx(obj.temperature.value(3))
    graph = record["modalities"]["graph2d"]
    assert graph["initialised"] is True and graph["n_centers"] == 6
    assert graph["updates"] == int(obj.libraries["graph2d"].updates)
    assert graph["usage_entropy"] == pytest.approx(obj.libraries["graph2d"].usage_entropy())
    assert graph["dead_centers"] == obj.libraries["graph2d"].dead_centers()
    assert not list((tmp_path / "centers").glob(".*.tmp"))


def test_inputs_are_checked():
    obj = objective()
    x, targets, keys = Stream().batch(0)
    with pytest.raises(ValueError, match="target modalities"):
        obj(x, {"graph2d": targets["graph2d"]}, keys, 0)
    with pytest.raises(ValueError, match="int64 keys"):
        obj(x, targets, keys.int(), 0)
    with pytest.raises(ValueError, match="top_m"):
        objective(config(top_m=7))


def test_target_chosen_positives_read_each_molecules_own_target_views():
    cfg = config(
        positive="fused", positive_from="target", memory_bank_size=0, warmup_updates=0, ramp_steps=0
    )
    obj, model, stream = objective(cfg), encoder(), Stream()
    train(obj, model, range(3), stream)
    x, targets, keys = stream.batch(3)
    snapshots = {name: obj.libraries[name].snapshot().clone() for name in TARGETS}
    tau = obj.temperature(3).detach()
    with torch.no_grad():
        loss, _ = obj(F.normalize(model(x), dim=1), targets, keys, 3)
        anchor = F.normalize(model(x), dim=1)
    options = dict(top_m=2, tau=tau, weighting="softmax", delta=0.0, max_negatives=3, faiss_min_size=1 << 62)
    matches = [soft_match(anchor, snapshots[t], guide=targets[t][0], **options) for t in TARGETS]
    usable = [targets[t][1] for t in TARGETS]
    assert not usable[1].all()  # some molecules lack a 3D view: their positive is the 2D match alone
    positive = fuse_positives(matches, usable)
    pseudo = []
    for match in matches:  # every row has a 2D view, so every row has a fused positive
        per_row, has_negative = pseudo_pair_loss(
            anchor, positive, match.negative_sims, match.negative_mask, temperature=cfg.tau_loss
        )
        pseudo.append(per_row[has_negative])
    expected = torch.cat(pseudo).mean() + alignment_loss(anchor, positive, reduction="sum").mean()
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)

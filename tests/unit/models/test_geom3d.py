from __future__ import annotations

import pytest
import torch

from semmol.config import ModelConfig
from semmol.data.reader import ShardDataset, make_loader
from semmol.models.corruption import CorruptionKey
from semmol.models.geom3d import GeometryEncoder

BATCH = [3, 10, 24, 7, 16, 23, 0, 21]  # 24 has no conformer; 23 has 41 heavy atoms, 0 has 3
WITH_3D = [i for i in BATCH if i != 24]


@pytest.fixture()
def encoder(model_config: ModelConfig) -> GeometryEncoder:
    torch.manual_seed(0)
    return GeometryEncoder(model_config.geom3d).eval()


def rotation(seed: int) -> torch.Tensor:
    """A random proper rotation matrix (``det = +1``)."""
    q, r = torch.linalg.qr(
        torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    )
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.float()


def conformer_atoms(batch) -> int:
    """Atoms summed over every present conformer: the count of the denoising mean."""
    return int(batch.conf_mask[batch.batch].sum())


def test_output_shapes_and_missing_conformers(encoder: GeometryEncoder, make_batch):
    batch = make_batch(BATCH)
    out = encoder(batch)
    assert out.hidden.shape == (len(BATCH), 16) and out.valid.shape == (len(BATCH),)
    assert out.valid.tolist() == [i != 24 for i in BATCH] and out.reconstruction_loss is None
    assert bool(torch.isfinite(out.hidden).all())
    assert bool((out.hidden[2] == 0).all()) and bool((out.hidden[out.valid] != 0).any(dim=1).all())


def test_a_batch_without_any_conformer(encoder: GeometryEncoder, make_batch):
    out = encoder(make_batch([24, 25, 26]), CorruptionKey(seed=0, step=0))
    assert not bool(out.valid.any()) and bool((out.hidden == 0).all())
    assert out.reconstruction_loss.requires_grad and float(out.reconstruction_loss.detach()) == 0.0


def test_a_molecule_does_not_depend_on_its_batch(encoder: GeometryEncoder, make_batch):
    together = encoder(make_batch(BATCH)).hidden
    torch.testing.assert_close(encoder(make_batch(BATCH[::-1])).hidden, together.flip(0))
    for row, index in enumerate(BATCH):
        torch.testing.assert_close(encoder(make_batch([index])).hidden[0], together[row])


@pytest.mark.parametrize("index", [16, 23])
def test_invariant_to_the_order_of_atoms(encoder: GeometryEncoder, make_batch, permute_atoms, index: int):
    batch = make_batch([index])
    order = torch.randperm(batch.num_nodes, generator=torch.Generator().manual_seed(index))
    torch.testing.assert_close(encoder(permute_atoms(batch, order)).hidden, encoder(batch).hidden)


@pytest.mark.parametrize("shift", [0.0, 20.0], ids=["rotation", "rotation_translation"])
def test_invariant_to_rigid_motions(encoder: GeometryEncoder, make_batch, shift: float):
    batch = make_batch(WITH_3D)
    moved = batch.clone()
    moved.pos = batch.pos @ rotation(1).T + shift * torch.tensor([1.0, -0.5, 0.3])
    torch.testing.assert_close(encoder(moved).hidden, encoder(batch).hidden, rtol=1e-4, atol=1e-4)


def test_invariant_to_the_order_of_conformers(encoder: GeometryEncoder, make_batch):
    batch = make_batch(BATCH)
    swapped = batch.clone()
    swapped.pos, swapped.conf_mask = batch.pos.flip(1), batch.conf_mask.flip(1)
    torch.testing.assert_close(encoder(swapped).hidden, encoder(batch).hidden)


def test_the_mean_over_conformers_is_the_mean_of_single_conformer_encodings(
    encoder: GeometryEncoder, make_batch, dataset: ShardDataset
):
    batch = make_batch(WITH_3D)
    assert bool(batch.conf_mask.all())
    singles = []
    for slot in range(2):
        single = batch.clone()
        single.conf_mask = torch.zeros_like(batch.conf_mask)
        single.conf_mask[:, slot] = True
        singles.append(encoder(single).hidden)
    torch.testing.assert_close(encoder(batch).hidden, (singles[0] + singles[1]) / 2)
    # the reader's one-conformer layout ([N, 1, 3]) encodes as the first slot does
    loader = make_loader(
        dataset.with_conformers("first"), batch_size=len(WITH_3D), indices=WITH_3D, shuffle=False
    )
    (first,) = list(loader)
    assert first.pos.shape[1] == 1
    torch.testing.assert_close(encoder(first).hidden, singles[0])


def test_reconstruction_loss_needs_a_key_and_trains_the_encoder(encoder: GeometryEncoder, make_batch):
    out = encoder.train()(make_batch(BATCH), CorruptionKey(seed=0, step=0))
    loss = out.reconstruction_loss
    assert loss is not None and loss.ndim == 0 and bool(torch.isfinite(loss))
    assert 0.5 < float(loss.detach()) < 5.0  # near 1 (the noise's variance) for an untrained head
    loss.backward()
    for name in ["embedding.weight", "interactions.0.lin.weight", "noise_head.edge_weight.0.weight"]:
        grad = encoder.get_parameter(name).grad
        assert grad is not None and bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0, name


@torch.no_grad()
def test_the_same_key_gives_the_same_loss_whatever_the_batch_split(encoder: GeometryEncoder, make_batch):
    key = CorruptionKey(seed=3, step=11)
    whole = make_batch(BATCH)
    halves = [make_batch(part) for part in (BATCH[:4], BATCH[4:])]
    # without a process group global_mean(sum, count) is sum / count, so loss * count is the sum
    sums = [float(encoder(half, key).reconstruction_loss) * conformer_atoms(half) for half in halves]
    loss = float(encoder(whole, key).reconstruction_loss)
    assert loss * conformer_atoms(whole) == pytest.approx(sum(sums), rel=1e-5)
    assert float(encoder(whole, CorruptionKey(seed=3, step=12)).reconstruction_loss) != loss


@torch.no_grad()
@pytest.mark.parametrize("index", [16, 23])
def test_the_noise_head_is_rotation_equivariant(encoder: GeometryEncoder, make_batch, index: int):
    """Rotating (and moving) the noisy input rotates the predicted noise."""
    seen = []
    encoder.noise_head.register_forward_hook(lambda module, inputs, output: seen.append((inputs[1], output)))
    key, batch = CorruptionKey(seed=5, step=2), make_batch([index])
    encoder(batch, key)
    noisy, predicted = seen[0]  # conformer by conformer: [C * n, 3]
    n_atoms = batch.num_nodes
    noisy = noisy.view(-1, n_atoms, 3).transpose(0, 1)  # the reader's layout [n, C, 3]
    r, shift = rotation(2), torch.tensor([3.0, -1.0, 2.0])
    moved = batch.clone()
    moved.pos = noisy @ r.T + shift - (noisy - batch.pos)  # the same key adds the same noise back
    encoder(moved, key)
    moved_noisy, moved_predicted = seen[1]
    torch.testing.assert_close(moved_noisy.view(-1, n_atoms, 3).transpose(0, 1), noisy @ r.T + shift)
    assert float(predicted.abs().max()) > 1e-3
    torch.testing.assert_close(moved_predicted, predicted @ r.T, rtol=1e-4, atol=1e-5)


@torch.no_grad()
def test_the_coordinate_noise_has_noise_std(encoder: GeometryEncoder, make_batch):
    seen = []
    encoder.noise_head.register_forward_hook(lambda module, inputs, output: seen.append(inputs[1]))
    batch = make_batch(WITH_3D)
    encoder(batch, CorruptionKey(seed=0, step=0))
    # the head sees conformer graphs molecule by molecule, conformer by conformer
    clean = torch.cat(
        [batch.pos[a:b].transpose(0, 1).reshape(-1, 3) for a, b in zip(batch.ptr, batch.ptr[1:])]
    )
    offset = seen[0] - clean
    assert float(offset.mean()) == pytest.approx(0.0, abs=0.02)
    assert float(offset.std()) == pytest.approx(encoder.cfg.noise_std, rel=0.1)


def test_gradients_are_the_same_on_every_pass_with_two_threads(encoder: GeometryEncoder, make_batch):
    # A resumed pretraining matches an uninterrupted one bit for bit only if a backward pass
    # adds the same numbers in the same order every time, also when the CPU runs two threads.
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    batch = make_batch(list(range(24)))
    try:
        passes = []
        for _ in range(30):
            encoder.zero_grad()
            out = encoder(batch, CorruptionKey(seed=0, step=0))
            (out.hidden.sum() + out.reconstruction_loss).backward()
            passes.append({name: p.grad.clone() for name, p in encoder.named_parameters()})
    finally:
        torch.set_num_threads(threads)
    for grads in passes[1:]:
        for name, grad in grads.items():
            assert torch.equal(grad, passes[0][name]), name

from __future__ import annotations

import pytest
import torch

from semmol.models.corruption import CorruptionKey

KEY = CorruptionKey(seed=7, step=3)


def grid(molecules: int, positions: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (molecule, position) pair as two broadcastable int64 tensors."""
    return torch.arange(molecules)[:, None], torch.arange(positions)[None, :]


def test_uniform_is_in_the_unit_interval_and_roughly_uniform():
    mol, position = grid(200, 500)
    draws = KEY.uniform(1, mol, position)
    assert draws.shape == (200, 500) and draws.dtype == torch.float32
    assert float(draws.min()) >= 0.0 and float(draws.max()) < 1.0
    assert float(draws.mean()) == pytest.approx(0.5, abs=0.01)
    assert float(draws.var()) == pytest.approx(1 / 12, abs=0.005)
    counts = torch.histc(draws, bins=10, min=0.0, max=1.0)
    assert float((counts / draws.numel() - 0.1).abs().max()) < 0.01


def test_uniform_never_rounds_up_to_one():
    # This draw's 32-bit hash is within 2**-25 of 2**32, which a float32 division rounds to 1.0.
    draw = CorruptionKey(seed=0, step=0).uniform(1, torch.tensor([0]), torch.tensor([13166804]))
    assert float(draw) < 1.0


def test_uniform_is_deterministic():
    mol, position = grid(5, 40)
    assert torch.equal(KEY.uniform(2, mol, position), CorruptionKey(seed=7, step=3).uniform(2, mol, position))


@pytest.mark.parametrize(
    ("key", "stream", "mol_offset", "position_offset"),
    [
        (CorruptionKey(seed=8, step=3), 1, 0, 0),
        (CorruptionKey(seed=7, step=4), 1, 0, 0),
        (KEY, 2, 0, 0),
        (KEY, 1, 1, 0),
        (KEY, 1, 0, 1),
    ],
    ids=["seed", "step", "stream", "molecule", "position"],
)
def test_uniform_depends_on_every_part_of_the_key(key, stream, mol_offset, position_offset):
    mol, position = grid(20, 50)
    reference = KEY.uniform(1, mol, position)
    other = key.uniform(stream, mol + mol_offset, position + position_offset)
    assert float((reference == other).float().mean()) < 0.01
    # and the two draws are uncorrelated
    assert abs(float(torch.corrcoef(torch.stack([reference.flatten(), other.flatten()]))[0, 1])) < 0.1


def test_normal_is_standard_normal():
    mol, position = grid(200, 500)
    draws = KEY.normal(3, mol, position)
    assert bool(torch.isfinite(draws).all())
    assert float(draws.mean()) == pytest.approx(0.0, abs=0.02)
    assert float(draws.std()) == pytest.approx(1.0, abs=0.02)
    assert float((draws.abs() < 1).float().mean()) == pytest.approx(0.6827, abs=0.01)
    assert torch.equal(draws, KEY.normal(3, mol, position))


def test_draws_of_a_molecule_do_not_depend_on_its_batch():
    positions = torch.arange(30)
    alone = KEY.uniform(1, torch.tensor([42]).expand(30), positions)
    batch = torch.tensor([5, 42, 9999])[:, None].expand(3, 30)
    assert torch.equal(KEY.uniform(1, batch, positions.expand(3, 30))[1], alone)
    reordered = torch.tensor([42, 5])[:, None].expand(2, 30)
    assert torch.equal(
        KEY.normal(3, reordered, positions.expand(2, 30))[0], KEY.normal(3, torch.tensor([42]), positions)
    )

from __future__ import annotations

import pytest
import torch

from semmol.methods.shared.memory import MemoryBank


def rows(keys: list[int], dim: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Features whose first column is the key, so that stored rows are easy to read back."""
    keys_tensor = torch.tensor(keys)
    return keys_tensor.float()[:, None].expand(-1, dim).clone(), keys_tensor


def push(bank: MemoryBank, keys: list[int], valid: list[bool] | None = None) -> None:
    features, keys_tensor = rows(keys)
    mask = torch.ones(len(keys), dtype=torch.bool) if valid is None else torch.tensor(valid)
    bank.push(features, keys_tensor, mask)


def test_fifo_wraps_around_and_drops_the_oldest():
    bank = MemoryBank(size=5, dim=2)
    assert len(bank) == 0 and bank.entries()[0].shape == (0, 2)
    push(bank, [10, 11, 12])
    assert len(bank) == 3 and bank.entries()[1].tolist() == [10, 11, 12]
    push(bank, [20, 21, 22, 23])
    features, keys = bank.entries()
    assert keys.tolist() == [22, 23, 12, 20, 21]  # 10 and 11 were overwritten
    assert features[:, 0].tolist() == [22.0, 23.0, 12.0, 20.0, 21.0]
    assert int(bank.position) == 2


def test_a_batch_larger_than_the_bank_keeps_its_newest_rows():
    bank = MemoryBank(size=3, dim=2)
    push(bank, [1, 2, 3, 4, 5, 6, 7])
    assert sorted(bank.entries()[1].tolist()) == [5, 6, 7]


def test_rows_are_enqueued_valid_only_in_key_order():
    bank = MemoryBank(size=4, dim=2)
    push(bank, [9, 3, 7, 5], valid=[True, False, True, True])
    assert bank.entries()[1].tolist() == [5, 7, 9]


def test_entries_are_copies():
    bank = MemoryBank(size=2, dim=2)
    push(bank, [1, 2])
    features, _ = bank.entries()
    push(bank, [3, 4])
    assert features[:, 0].tolist() == [1.0, 2.0]


def test_state_dict_round_trip():
    bank = MemoryBank(size=4, dim=2)
    push(bank, [1, 2, 3, 4, 5])
    fresh = MemoryBank(size=4, dim=2)
    fresh.load_state_dict(bank.state_dict())
    push(bank, [6])
    push(fresh, [6])
    assert torch.equal(bank.entries()[1], fresh.entries()[1]) and torch.equal(bank.features, fresh.features)


def test_size_must_be_positive():
    with pytest.raises(ValueError, match="size"):
        MemoryBank(size=0, dim=2)

from __future__ import annotations

import pytest
import torch

from semmol.methods.shared.gather import gather_rows_by_key


def test_without_a_process_group_rows_are_the_valid_ones_sorted_by_key():
    features = torch.arange(8.0).reshape(4, 2)
    keys = torch.tensor([7, 2, 9, 4])
    valid = torch.tensor([True, True, False, True])
    rows, row_keys = gather_rows_by_key(features, keys, valid)
    assert row_keys.tolist() == [2, 4, 7]
    assert rows.tolist() == [[2.0, 3.0], [6.0, 7.0], [0.0, 1.0]]


def test_negative_keys_are_refused():
    with pytest.raises(ValueError, match=">= 0"):
        gather_rows_by_key(torch.zeros(2, 3), torch.tensor([0, -1]), torch.ones(2, dtype=torch.bool))


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="expected features"):
        gather_rows_by_key(torch.zeros(2, 3), torch.tensor([0, 1, 2]), torch.ones(3, dtype=torch.bool))

from __future__ import annotations

import pytest

from semmol.train.schedules import lr_factor, warmup_cosine


def test_warmup_cosine_schedule():
    factors = [warmup_cosine(step, warmup=4, total=12) for step in range(13)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == pytest.approx(1.0) and factors[12] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(factors[3:], factors[4:]))


def test_fine_tuning_schedules():
    assert {lr_factor(step, schedule="constant", warmup=4, total=12) for step in range(20)} == {1.0}
    assert [lr_factor(step, schedule="warmup_cosine", warmup=4, total=12) for step in range(13)] == [
        warmup_cosine(step, warmup=4, total=12) for step in range(13)
    ]

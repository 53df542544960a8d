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


def test_a_schedule_that_starts_late_is_zero_until_then_and_runs_afresh():
    late = [lr_factor(step, schedule="warmup_cosine", warmup=2, total=12, start=4) for step in range(13)]
    assert late[:4] == [0.0] * 4
    assert late[4:] == [warmup_cosine(step, warmup=2, total=8) for step in range(9)]
    constant = [lr_factor(step, schedule="constant", warmup=0, total=12, start=3) for step in range(6)]
    assert constant == [0.0] * 3 + [1.0] * 3

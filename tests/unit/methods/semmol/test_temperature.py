from __future__ import annotations

import math

import pytest
import torch

from semmol.config import TemperatureConfig
from semmol.methods.semmol.temperature import Temperature


def test_fixed_temperature_is_constant():
    tau = Temperature(TemperatureConfig(mode="fixed", init=0.2), total_steps=10)
    assert float(tau(0)) == pytest.approx(0.2) and float(tau(9)) == pytest.approx(0.2)
    assert list(tau.parameters()) == []


def test_scheduled_temperature_follows_the_cosine():
    tau = Temperature(TemperatureConfig(mode="scheduled", init=0.2, final=0.05), total_steps=100)
    for step in (0, 25, 50, 75, 100):
        expected = 0.05 + 0.15 * 0.5 * (1 + math.cos(math.pi * step / 100))
        assert float(tau(step)) == pytest.approx(expected)
    assert tau.value(50) == pytest.approx(0.125)
    assert tau.value(400) == pytest.approx(0.05)  # stays at the final value


def test_learnable_temperature_gets_a_gradient():
    tau = Temperature(TemperatureConfig(mode="learnable", init=0.1, min=0.02, max=1.0), total_steps=10)
    value = tau(0)
    assert float(value.detach()) == pytest.approx(0.1)
    (1.0 / value).backward()
    # d(1/tau)/d(log tau) = -1/tau
    assert float(tau.log_tau.grad) == pytest.approx(-10.0, rel=1e-5)


def test_learnable_temperature_is_clamped():
    tau = Temperature(TemperatureConfig(mode="learnable", init=0.1, min=0.02, max=0.5), total_steps=10)
    with torch.no_grad():
        tau.log_tau.fill_(math.log(10.0))
    assert tau.value(0) == pytest.approx(0.5)
    assert float(tau(0).detach()) == pytest.approx(0.5)
    # the parameter itself is pulled back inside, so that the optimizer can move it again
    assert float(tau.log_tau.detach()) == pytest.approx(math.log(0.5))
    with torch.no_grad():
        tau.log_tau.fill_(math.log(1e-4))
    assert float(tau(0).detach()) == pytest.approx(0.02)


def test_inconsistent_bounds_are_refused():
    with pytest.raises(ValueError, match="exceeds"):
        Temperature(TemperatureConfig(mode="learnable", init=0.1, min=0.5, max=0.2), total_steps=10)
    with pytest.raises(ValueError, match="outside"):
        Temperature(TemperatureConfig(mode="learnable", init=2.0, min=0.02, max=1.0), total_steps=10)

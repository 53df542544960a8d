"""Layer-wise learning rates: depth measured by the order in which modules run."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from semmol.train.layer_rates import parameter_depths, rate_factor


class Tower(nn.Module):
    """Registers its layers output-first and keeps a head the forward pass never calls."""

    def __init__(self):
        super().__init__()
        self.top = nn.Linear(4, 1)  # 5 parameters
        self.middle = nn.Linear(4, 4)  # 20
        self.embed = nn.Embedding(3, 4)  # 12
        self.unused_head = nn.Linear(4, 3)

    def forward(self, tokens):
        return self.top(torch.relu(self.middle(self.embed(tokens))))


def test_depth_follows_the_forward_pass_and_counts_parameters():
    tower = Tower().eval()
    depths = parameter_depths(tower, lambda: tower(torch.tensor([0, 2])))
    # embed (12 parameters) runs first, middle (20) next, top last: starts at 0, 12 and 32 of 32
    assert depths[id(tower.embed.weight)] == 0.0
    assert depths[id(tower.middle.weight)] == depths[id(tower.middle.bias)] == pytest.approx(12 / 32)
    assert depths[id(tower.top.weight)] == 1.0
    assert depths[id(tower.unused_head.weight)] == 1.0  # never ran: not below anything
    assert all(not hook for m in tower.modules() for hook in [m._forward_pre_hooks])


def test_a_shared_module_is_placed_where_it_first_runs():
    shared, first = nn.Linear(2, 2), nn.Linear(2, 2)
    model = nn.ModuleDict({"shared": shared, "first": first})
    depths = parameter_depths(model, lambda: shared(shared(first(torch.zeros(1, 2)))))
    assert depths[id(first.weight)] == 0.0 and depths[id(shared.weight)] == 1.0


def test_the_rate_factor_runs_from_the_ratio_at_the_input_to_one_at_the_output():
    assert rate_factor(0.0, ratio=0.1) == pytest.approx(0.1)
    assert rate_factor(0.5, ratio=0.1) == pytest.approx(0.1**0.5)
    assert rate_factor(1.0, ratio=0.1) == 1.0
    assert rate_factor(0.3, ratio=1.0) == 1.0

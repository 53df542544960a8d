from __future__ import annotations

import pytest
import torch
from torch import nn

from semmol.fewshot.maml import adapt, adapted_names, meta_loss, with_fast_weights


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(2, 2)
        self.head = nn.Linear(2, 1)

    def forward(self, x):
        return self.head(torch.tanh(self.body(x))).squeeze(-1)


def mse(target):
    return lambda output: ((output - target) ** 2).mean()


@pytest.fixture
def model() -> Tiny:
    torch.manual_seed(0)
    return Tiny()


def test_the_inner_loop_changes_only_the_configured_parameters(model):
    x, y = torch.randn(6, 2), torch.randn(6)
    names = adapted_names(model, ["head."])
    assert names == ["head.weight", "head.bias"]
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    fast = adapt(model, names, x, mse(y), steps=3, lr=0.1)
    assert set(fast) == {"head.weight", "head.bias"}
    assert all(not torch.equal(fast[n].detach(), before[n]) for n in names)
    for name, p in model.named_parameters():  # the module's own parameters are untouched
        assert torch.equal(p.detach(), before[name]), name
    with pytest.raises(ValueError, match="starts with 'nothing'"):
        adapted_names(model, ["nothing"])


def test_first_order_maml_matches_a_hand_computation(model):
    x_s, y_s, x_q, y_q = torch.randn(4, 2), torch.randn(4), torch.randn(5, 2), torch.randn(5)
    lr = 0.3
    loss = meta_loss(model, ["head.weight", "head.bias"], [(x_s, mse(y_s), x_q, mse(y_q))], steps=1, lr=lr)
    loss.backward()

    # by hand: one SGD step on the head, then the query gradient at the adapted head, applied to the head
    w, b = (
        model.head.weight.detach().clone().requires_grad_(),
        model.head.bias.detach().clone().requires_grad_(),
    )
    hidden_s = torch.tanh(model.body(x_s)).detach()
    gw, gb = torch.autograd.grad((((hidden_s @ w.T).squeeze(-1) + b - y_s) ** 2).mean(), [w, b])
    w2, b2 = (w - lr * gw).detach().requires_grad_(), (b - lr * gb).detach().requires_grad_()
    body = Tiny().body
    body.load_state_dict(model.body.state_dict())
    query = (((torch.tanh(body(x_q)) @ w2.T).squeeze(-1) + b2 - y_q) ** 2).mean()
    query.backward()
    torch.testing.assert_close(loss.detach(), query.detach())
    torch.testing.assert_close(model.head.weight.grad, w2.grad)  # first order: d fast / d w = I
    torch.testing.assert_close(model.head.bias.grad, b2.grad)
    # the body is not adapted but still learns from the query loss (through the adapted head)
    for mine, theirs in zip(model.body.parameters(), body.parameters()):
        torch.testing.assert_close(mine.grad, theirs.grad)


def test_fast_weights_replace_their_parameters_only(model):
    x = torch.randn(3, 2)
    fast = {"head.bias": torch.tensor([5.0])}
    shifted = with_fast_weights(model, fast, x)
    torch.testing.assert_close(shifted - model(x), (5.0 - model.head.bias).detach().expand(3))

"""First-order MAML over the parameters of a module, with ``torch.func.functional_call``.

Inner loop (:func:`adapt`): a few plain-SGD steps on the support set, applied to fast copies
of the *adapted* parameters only (configurable, e.g. the graph-attention encoder and the
head); every other parameter enters unchanged. First order: the inner gradients are treated
as constants, so the query loss's gradient with respect to a fast weight flows unchanged to the
parameter it came from (``d fast / d w = I``), and :func:`meta_loss` is simply the mean query
loss of the tasks, to be back-propagated and stepped by an outer optimizer (Adam).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call

#: A loss of a module's output on a batch: ``loss(output) -> scalar``.
Loss = Callable[[torch.Tensor], torch.Tensor]


def adapted_names(module: nn.Module, prefixes: list[str]) -> list[str]:
    """Names of ``module``'s trainable parameters that start with one of ``prefixes``.

    Raises:
        ValueError: a prefix matches no parameter.
    """
    names = [name for name, p in module.named_parameters() if p.requires_grad]
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name in names):
            raise ValueError(f"no parameter of the model starts with '{prefix}'")
    return [name for name in names if any(name.startswith(prefix) for prefix in prefixes)]


def adapt(
    module: nn.Module, names: list[str], support: object, loss: Loss, *, steps: int, lr: float
) -> dict[str, torch.Tensor]:
    """Fast weights of ``names`` after ``steps`` SGD steps of ``loss(module(support))``.

    The returned tensors stay in the graph of the module's parameters (first-order: the inner
    gradients are constants), so a loss computed with them back-propagates to the parameters.
    """
    params = dict(module.named_parameters())
    fast = {name: params[name] for name in names}
    for _ in range(steps):
        output = functional_call(module, {**params, **fast}, (support,))
        grads = torch.autograd.grad(loss(output), list(fast.values()), allow_unused=True)
        fast = {
            name: weight if grad is None else weight - lr * grad.detach()
            for (name, weight), grad in zip(fast.items(), grads)
        }
    return fast


def with_fast_weights(module: nn.Module, fast: dict[str, torch.Tensor], inputs: object) -> torch.Tensor:
    """``module(inputs)`` with the fast weights in place of their parameters."""
    return functional_call(module, {**dict(module.named_parameters()), **fast}, (inputs,))


def meta_loss(
    module: nn.Module,
    names: list[str],
    tasks: list[tuple[object, Loss, object, Loss]],
    *,
    steps: int,
    lr: float,
) -> torch.Tensor:
    """The mean over tasks ``(support, support_loss, query, query_loss)`` of the query loss after
    adapting on the support: the first-order MAML objective of one meta-batch."""
    losses = []
    for support, support_loss, query, query_loss in tasks:
        fast = adapt(module, names, support, support_loss, steps=steps, lr=lr)
        losses.append(query_loss(with_fast_weights(module, fast, query)))
    return torch.stack(losses).mean()

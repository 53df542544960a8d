from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semmol.methods.shared.contrastive import infonce_loss


def views(rows: int = 6, dim: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    anchor = F.normalize(torch.randn(rows, dim, generator=generator), dim=1).requires_grad_(True)
    target = F.normalize(torch.randn(rows, dim, generator=generator), dim=1).requires_grad_(True)
    return anchor, target


def direct(anchor, target, valid, temperature, keys=None):
    """Row by row: -log softmax of the positive among the allowed rows, both directions, averaged."""
    allowed = [j for j in range(len(valid)) if valid[j]]
    terms = []
    for i in allowed:
        columns = [j for j in allowed if j == i or keys is None or keys[j] != keys[i]]
        for queries, candidates in ((anchor, target), (target, anchor)):
            logits = torch.stack([queries[i] @ candidates[j] for j in columns]) / temperature
            terms.append(0.5 * (torch.logsumexp(logits, 0) - logits[columns.index(i)]))
    return torch.stack(terms).sum() / len(allowed)


def test_matches_a_direct_computation_with_invalid_rows_masked():
    anchor, target = views()
    valid = torch.tensor([True, False, True, True, False, True])
    loss = infonce_loss(anchor, target, valid, temperature=0.2)
    expected = direct(anchor, target, valid.tolist(), 0.2)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    grads = torch.autograd.grad(loss, (anchor, target))
    expected_grads = torch.autograd.grad(expected, (anchor, target))
    for got, want in zip(grads, expected_grads):
        assert torch.allclose(got, want, atol=1e-6)
    assert float(grads[0][1].abs().sum()) == 0.0  # an invalid row is neither anchor nor negative


def test_invalid_rows_do_not_change_the_loss():
    anchor, target = views()
    valid = torch.tensor([True, False, True, True, False, True])
    loss = infonce_loss(anchor, target, valid, temperature=0.2)
    kept = valid.nonzero().flatten()
    alone = infonce_loss(anchor[kept], target[kept], torch.ones(4, dtype=torch.bool), temperature=0.2)
    assert loss.item() == pytest.approx(alone.item(), rel=1e-6)


def test_repeats_of_a_molecule_are_not_negatives():
    anchor, target = views()
    valid = torch.ones(6, dtype=torch.bool)
    keys = torch.tensor([0, 1, 2, 1, 3, 4])
    loss = infonce_loss(anchor, target, valid, keys, temperature=0.5)
    expected = direct(anchor, target, valid.tolist(), 0.5, keys.tolist())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss.item() != pytest.approx(infonce_loss(anchor, target, valid, temperature=0.5).item(), rel=1e-5)


def test_no_valid_row_gives_a_zero_in_the_graph():
    anchor, target = views()
    loss = infonce_loss(anchor, target, torch.zeros(6, dtype=torch.bool), temperature=0.1)
    assert loss.item() == 0.0 and loss.requires_grad


def test_bad_arguments_are_refused():
    anchor, target = views()
    with pytest.raises(ValueError, match="temperature"):
        infonce_loss(anchor, target, torch.ones(6, dtype=torch.bool), temperature=0.0)
    with pytest.raises(ValueError, match="expected anchor"):
        infonce_loss(anchor, target[:3], torch.ones(6, dtype=torch.bool), temperature=0.1)

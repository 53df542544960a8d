"""The per-task pieces of fine-tuning: head width, loss and outputs, multiclass above all."""

from __future__ import annotations

import math

import pytest
import torch

from semmol.config import ConformerConfig, ModelConfig, StandardizeConfig
from semmol.data.reader import make_loader
from semmol.inference.molecules import prepare_molecules
from semmol.methods.property import PropertyModel, to_target_units
from semmol.models.multimodal import MultiModalEncoder
from semmol.models.tokenizer import SmilesVocab
from semmol.train.tasks import head_width, masked_loss

NAN = math.nan
SMILES = ["CCO", "c1ccccc1", "CCN", "C1CCCCC1", "c1ccc2ccccc2c1"]


def test_a_multiclass_head_has_one_output_per_class():
    assert head_width("multiclass", n_targets=1, classes=["a", "b", "c", "d"]) == 4
    assert head_width("classification", n_targets=12, classes=None) == 12
    with pytest.raises(ValueError, match="one target and its class names"):
        head_width("multiclass", n_targets=1, classes=None)


def test_the_multiclass_model_outputs_class_logits_and_learns_from_labelled_molecules():
    options = ConformerConfig(ecfp_bits=64, image_size=0)
    prepared = prepare_molecules(
        SMILES, standardize=StandardizeConfig(), conformers=options, modalities=["fingerprint"]
    )
    (batch,) = list(make_loader(prepared.dataset, batch_size=len(SMILES), shuffle=False))
    torch.manual_seed(0)
    config = ModelConfig(proj_dim=8, fingerprint={"dim": 16, "layers": 2, "dropout": 0.0})
    vocab = SmilesVocab.build(SMILES)
    encoder = MultiModalEncoder(config, modalities=["fingerprint"], vocab=vocab, ecfp_bits=64)
    model = PropertyModel(encoder, modalities=["fingerprint"], n_tasks=4, head_hidden=8, dropout=0.0)
    logits = model(batch)
    assert logits.shape == (5, 4)
    labels = torch.tensor([[2.0], [NAN], [0.0], [3.0], [NAN]])  # class numbers, two molecules unlabelled
    loss = masked_loss(logits, labels, task="multiclass")
    expected = torch.nn.functional.cross_entropy(logits[[0, 2, 3]], torch.tensor([2, 0, 3]))
    torch.testing.assert_close(loss, expected)
    gradient = torch.autograd.grad(loss, logits)[0]
    assert gradient[[1, 4]].abs().sum() == 0 and gradient[[0, 2, 3]].abs().sum() > 0
    scaling = {"mean": torch.zeros(1), "std": torch.ones(1)}
    probabilities = to_target_units(logits.detach(), task="multiclass", **scaling)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(5))
    torch.testing.assert_close(probabilities, torch.softmax(logits.detach(), dim=1))


def test_a_batch_without_labels_gives_a_zero_loss_with_a_gradient():
    logits = torch.randn(2, 3, requires_grad=True)
    loss = masked_loss(logits, torch.full((2, 1), NAN), task="multiclass")
    assert loss.item() == 0.0 and loss.requires_grad

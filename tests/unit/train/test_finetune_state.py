"""Fine-tuning's early stopping and checkpoint, on a small linear model (no data needed)."""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from semmol.train.finetune_state import FinetuneCheckpoint, FinetuneProgress, resume_key


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience():
    model = nn.Linear(2, 1)
    progress = FinetuneProgress(higher_is_better=False, patience=2, max_epochs=10)
    for epoch, (valid, weight) in enumerate([(1.0, 1.0), (0.5, 2.0), (math.nan, 3.0), (0.7, 4.0)], 1):
        with torch.no_grad():
            model.weight.fill_(weight)
        assert not progress.done, epoch
        progress.record(train_loss=0.1 * epoch, valid=valid, model=model)
    assert progress.done and (progress.epoch, progress.best_epoch, progress.best_score) == (4, 2, 0.5)
    # a copy of epoch 2's weights, not the live tensor
    assert torch.equal(progress.best_weights["weight"], torch.full((1, 2), 2.0))
    assert [entry["epoch"] for entry in progress.history] == [1, 2, 3, 4]


def test_the_first_epoch_is_kept_when_every_score_is_nan():
    progress = FinetuneProgress(higher_is_better=True, patience=5, max_epochs=2)
    for _ in range(2):
        progress.record(train_loss=1.0, valid=math.nan, model=nn.Linear(1, 1))
    assert progress.done and progress.best_epoch == 1 and progress.best_weights is not None


def _parts(seed: int) -> dict:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + step))
    progress = FinetuneProgress(higher_is_better=True, patience=3, max_epochs=5)
    return {"model": model, "optimizer": optimizer, "scheduler": scheduler, "progress": progress}


def _epoch(parts: dict) -> None:
    """One step of training (dropout draws from the global stream) and its record."""
    loss = parts["model"](torch.ones(8, 3)).pow(2).mean()
    parts["optimizer"].zero_grad()
    loss.backward()
    parts["optimizer"].step()
    parts["scheduler"].step()
    value = float(loss.detach())
    parts["progress"].record(train_loss=value, valid=-value, model=parts["model"])


def test_a_resumed_loop_continues_as_the_loop_never_stopped(tmp_path):
    key = resume_key({"lr": 0.1}, seed=0, inputs={"data": None})
    straight = _parts(0)
    for _ in range(4):
        _epoch(straight)
    stopped = _parts(0)
    for _ in range(2):
        _epoch(stopped)
    FinetuneCheckpoint(tmp_path / "_ckpt/last.pt", key=key, parts=stopped).save()
    resumed = _parts(1)  # other weights and another random state, until the checkpoint is loaded
    assert FinetuneCheckpoint(tmp_path / "_ckpt/last.pt", key=key, parts=resumed).resume()
    for _ in range(2):
        _epoch(resumed)
    for name, value in straight["model"].state_dict().items():
        assert torch.equal(value, resumed["model"].state_dict()[name]), name
    assert resumed["progress"].history == straight["progress"].history
    assert resumed["scheduler"].get_last_lr() == straight["scheduler"].get_last_lr()


def test_a_checkpoint_of_other_options_or_inputs_is_not_resumed_and_says_so(tmp_path, caplog):
    data = tmp_path / "split.json"
    data.write_text("{}")
    key = resume_key({"lr": 0.1}, seed=0, inputs={"split": data})
    path = tmp_path / "_ckpt/last.pt"
    FinetuneCheckpoint(path, key=key, parts=_parts(0)).save()
    data.write_text('{"train": []}')  # the split made again
    others = [
        resume_key({"lr": 0.2}, seed=0, inputs={"split": data}),
        resume_key({"lr": 0.1}, seed=1, inputs={"split": data}),
        resume_key({"lr": 0.1}, seed=0, inputs={"split": data}),
    ]
    parts = _parts(1)
    before = {name: value.clone() for name, value in parts["model"].state_dict().items()}
    with caplog.at_level(logging.WARNING):
        assert not any(FinetuneCheckpoint(path, key=other, parts=parts).resume() for other in others)
    assert caplog.text.count("written with other options or inputs; starting afresh") == 3
    assert all(torch.equal(value, parts["model"].state_dict()[name]) for name, value in before.items())


def test_removing_the_checkpoint_removes_its_folder_when_empty(tmp_path):
    checkpoint = FinetuneCheckpoint(tmp_path / "_ckpt/last.pt", key={}, parts=_parts(0))
    checkpoint.save()
    checkpoint.remove()
    assert not (tmp_path / "_ckpt").exists()
    checkpoint.save()
    (tmp_path / "_ckpt/notes.txt").write_text("not ours")
    checkpoint.remove()
    assert [path.name for path in (tmp_path / "_ckpt").iterdir()] == ["notes.txt"]

"""Worker of ``test_semantic_ddp.py``: a tiny SemMol training run on a synthetic feature stream.

Run by ``torchrun --nproc-per-node 2 ddp_semantic_worker.py OUT`` (rank 0 writes the results
to ``OUT``), or imported and called in one process without a process group. Every step has
the same global batch of molecules, dealt out to the ranks in turn; each molecule's features
depend only on its key and the step, so both runs see the same data.

Inside the run it asserts that every rank holds bit-identical centers, banks and tau after
each step.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from semmol.config import SemanticConfig
from semmol.methods.semmol.objective import SemMolObjective
from semmol.methods.shared.contrastive import infonce_loss
from semmol.runtime.distributed import (
    all_gather,
    average_gradients,
    init_distributed,
    mean_across_ranks,
    shutdown,
)

MOLECULES, IN_DIM, DIM, GLOBAL_BATCH, STEPS = 48, 12, 8, 16, 14

CONFIG = SemanticConfig(
    n_centers=8,
    top_m=3,
    max_negatives=3,
    delta=0.0,
    init_cache=24,
    init_iters=3,
    reseed_after=2,
    faiss_min_size=128,  # one rank of 16 rows searches with FAISS, two ranks of 8 with torch
    memory_bank_size=24,
    warmup_updates=2,
    ramp_steps=3,
    tau={"mode": "learnable", "init": 0.1, "min": 0.02, "max": 1.0},
)


def _stream() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(1234)
    inputs = torch.randn(MOLECULES, IN_DIM, generator=generator)
    mix = torch.randn(2, IN_DIM, DIM, generator=generator)
    noise = 0.1 * torch.randn(STEPS + 1, MOLECULES, 2, DIM, generator=generator)
    orders = [torch.randperm(MOLECULES, generator=generator)[:GLOBAL_BATCH] for _ in range(STEPS + 1)]
    return inputs, mix, noise, orders


def _assert_same_on_every_rank(name: str, value: torch.Tensor) -> None:
    copies = all_gather(value.detach().float().reshape(1, -1))
    if not all(torch.equal(copies[0], other) for other in copies[1:]):
        raise AssertionError(f"{name} differs between ranks")


def simulate() -> dict:
    """Run the InfoNCE check and ``STEPS`` SemMol training steps; returns what the test compares."""
    ctx = init_distributed()
    torch.set_num_threads(1)
    inputs, mix, noise, orders = _stream()
    torch.manual_seed(0)  # identical encoder on every rank
    encoder = torch.nn.Linear(IN_DIM, DIM)
    model = DistributedDataParallel(encoder) if ctx.world_size > 1 else encoder
    objective = SemMolObjective(CONFIG, dim=DIM, targets=["graph2d", "geom3d"], seed=7, total_steps=STEPS)
    optimizer = torch.optim.SGD([*encoder.parameters(), *objective.parameters()], lr=0.5)

    def batch(step: int):
        keys = orders[step][ctx.rank :: ctx.world_size]  # interleaved: rank order is not batch order
        x = inputs[keys]
        targets = {
            "graph2d": (F.normalize(x @ mix[0] + noise[step, keys, 0], dim=1), torch.ones_like(keys).bool()),
            "geom3d": (F.normalize(x @ mix[1] + noise[step, keys, 1], dim=1), keys % 4 != 0),
        }
        return F.normalize(model(x), dim=1), targets, keys

    # InfoNCE: value and encoder gradient of one step (the last batch of the stream)
    anchor, targets, keys = batch(STEPS)
    loss = infonce_loss(anchor, *targets["geom3d"], temperature=0.2)
    loss.backward()
    results = {"infonce": mean_across_ranks(loss.detach()), "infonce_grad": encoder.weight.grad.clone()}
    optimizer.zero_grad()

    losses, logs = [], []
    for step in range(STEPS):
        anchor, targets, keys = batch(step)
        loss, step_logs = objective(anchor, targets, keys, step)
        optimizer.zero_grad()
        loss.backward()
        average_gradients(objective.parameters())  # tau lives outside DDP, as in the pretraining loop
        optimizer.step()
        for name, tensor in objective.state_dict().items():
            _assert_same_on_every_rank(name, tensor)
        losses.append(mean_across_ranks(loss.detach()))
        logs.append(step_logs)
    results.update(
        losses=losses,
        logs=logs,
        state={name: tensor.clone() for name, tensor in objective.state_dict().items()},
        encoder=encoder.weight.detach().clone(),
    )
    return results


if __name__ == "__main__":
    outcome = simulate()
    if init_distributed().is_main:
        torch.save(outcome, sys.argv[1])
    shutdown()

"""The GPU path's logic, run on the CPU: bf16 autocast through every method's loss and a
pretraining step, where modules, batches and checkpoints end up, and the resume on a machine
without CUDA of a checkpoint that a CUDA machine wrote.

CPU autocast (``torch.autocast("cpu", dtype=torch.bfloat16)``) runs the same casts as CUDA
autocast for the layers used here (linear layers and matmuls in bf16, reductions such as
``logsumexp`` and the losses' float32 islands in float32), so these tests exercise what a GPU run
computes except the kernels themselves. What they cannot show (NCCL, CUDA RNG streams, kernel
speed) is the subject of ``tools/gpu-check.sh``.

Tolerance of bf16 against float32: bf16 keeps 8 significant bits (unit roundoff
``2**-8 ~ 0.4%``). A projection is rounded once to bf16, and the contrastive logits divide
cosines by a temperature of 0.1, so a logit moves by up to ``~10 x 0.4% ~ 0.04``; losses and
gradients built from a handful of such logits move by a few percent. The tests accept 5% relative
error on losses and on whole gradient vectors (norm of the difference over the norm), plus, for a
loss, an absolute ``2**-8``: a term such as ``1 - cos`` near zero (MMSA's memory term, 0.014)
carries the absolute error of a cosine of bf16-rounded unit vectors whatever its size. Measured
here: losses within 0.3% (MMSA's: 0.9%, its memory term 6e-4 absolute), gradients within 0.9%
(MMSA's: 2.6%). The tests also check that bf16 changed something, so that a silently disabled
autocast cannot pass.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import get_args

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from semmol.config import FinetuneJob, Precision, PretrainJob
from semmol.methods import build_method, method_class
from semmol.methods.shared.kmeans import top_k_inner_product
from semmol.models.multimodal import ModalityOutput
from semmol.runtime.checkpoint import load_file, save_atomic
from semmol.runtime.distributed import DistContext
from semmol.runtime.precision import PRECISIONS, autocast, default_device, uses_bf16
from semmol.train.finetune import FineTuner
from semmol.train.pretrain import CHECKPOINT, Pretrainer

from ...conftest import ESOL_TARGET, TINY_MODEL

#: Relative error allowed between a bf16 and a float32 loss or gradient (module docstring).
BF16_RTOL = 0.05
#: Absolute error allowed between a bf16 and a float32 loss term (module docstring).
BF16_ATOL = 2**-8

B, IN, DIM = 8, 12, 8
CPU = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))

#: One small job per method; each names the views its paper uses.
METHOD_JOBS = {
    "semmol": {
        "pretrain": {"method": "semmol"},
        "semantic": {
            "n_centers": 4,
            "top_m": 2,
            "max_negatives": 2,
            "delta": 0.0,
            "init_cache": 8,
            "init_iters": 2,
            "memory_bank_size": 8,
            "warmup_updates": 1,
            "ramp_steps": 0,
        },
    },
    "infonce": {"pretrain": {"method": "infonce"}},
    "mmsa": {
        "pretrain": {"method": "mmsa", "anchor": "graph2d", "targets": ["image", "geom3d"]},
        "mmsa": {"n_memories": 4, "bank_size": 16, "k_neighbours": 3},
    },
    "lgmcl": {
        "pretrain": {
            "method": "lgmcl",
            "anchor": "graph_attention",
            "targets": ["graph_global", "smiles", "description"],
        }
    },
}


def method_job(name: str) -> PretrainJob:
    options = copy.deepcopy(METHOD_JOBS[name])
    options["pretrain"] |= {"batch_size": B, "steps": 20}
    return PretrainJob.model_validate({"model": {"proj_dim": DIM}, **options})


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value.double() - reference.double()).norm() / reference.double().norm().clamp_min(1e-12))


class ViewHeads(nn.Module):
    """A linear projection per view, standing in for the encoders' projection heads: under
    autocast its outputs are bf16, as the encoders' are on a GPU. The ``token_views`` also get
    projected token states (three tokens per molecule, the first molecule's last one padding),
    as the text encoders give them to a method that asks (LGM-CL's cross-attention)."""

    def __init__(self, views: list[str], token_views: list[str] = ()):
        super().__init__()
        torch.manual_seed(0)
        self.heads = nn.ModuleDict({view: nn.Linear(IN, DIM) for view in views})
        self.token_views = set(token_views)

    def forward(self, inputs: dict[str, torch.Tensor], valid: dict[str, torch.Tensor]):
        outputs = {}
        for view, head in self.heads.items():
            output = ModalityOutput(
                hidden=inputs[view], valid=valid[view], projected=F.normalize(head(inputs[view]), dim=1)
            )
            if view in self.token_views:
                tokens = inputs[view][:, None, :] * torch.tensor([0.5, 1.0, 1.5])[None, :, None]
                output.projected_tokens = F.normalize(head(tokens), dim=-1)
                output.token_valid = torch.ones(tokens.shape[:2], dtype=torch.bool)
                output.token_valid[0, -1] = False
            outputs[view] = output
        return outputs


def method_inputs(views: list[str], step: int) -> tuple[dict, dict, torch.Tensor]:
    """Inputs per view (the last view misses its first two molecules, like absent conformers) and keys."""
    generator = torch.Generator().manual_seed(step)
    inputs = {view: torch.randn(B, IN, generator=generator) for view in views}
    valid = {view: torch.ones(B, dtype=torch.bool) for view in views}
    valid[views[-1]][:2] = False
    keys = torch.randperm(4 * B, generator=generator)[:B]
    return inputs, valid, keys


def method_step(method, heads: ViewHeads, step: int, *, bf16: bool):
    """One step of a method's terms on the heads' projections: ``(terms, logs, gradients)``."""
    inputs, valid, keys = method_inputs(list(heads.heads), step)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        outputs = heads(inputs, valid)
        terms, logs = method(outputs, keys, step)
        loss = torch.stack(list(terms.values())).sum()
    loss.backward()
    params = [*heads.parameters(), *method.parameters()]
    gradients = torch.cat([p.grad.flatten() for p in params if p.grad is not None])
    return terms, logs, gradients, outputs


@pytest.mark.parametrize("name", sorted(METHOD_JOBS))
def test_every_methods_loss_under_bf16_autocast_is_float32_and_close_to_fp32(name):
    job = method_job(name)
    views = method_class(name).views(job)
    torch.manual_seed(0)
    method = build_method(job)
    heads = ViewHeads(views, method.token_views)
    for step in range(3):  # SemMol's libraries initialise and its matching starts; banks fill
        method_step(method, heads, step, bf16=False)
        heads.zero_grad()
        method.zero_grad()
    results = {}
    for bf16 in (False, True):
        state = copy.deepcopy((method, heads))  # the same starting point for both precisions
        results[bf16] = method_step(*state, 3, bf16=bf16)
    (fp32_terms, fp32_logs, fp32_grads, _), (terms, logs, grads, outputs) = results[False], results[True]
    assert all(out.projected.dtype == torch.bfloat16 for out in outputs.values())  # autocast ran
    if name == "semmol":
        assert logs["sem_active"] == 1.0  # the matching terms are part of the comparison
    assert list(terms) == list(fp32_terms)
    for term, value in terms.items():
        assert value.dtype == torch.float32 and bool(torch.isfinite(value)), term
        expected = pytest.approx(float(fp32_terms[term].detach()), rel=BF16_RTOL, abs=BF16_ATOL)
        assert float(value.detach()) == expected, term
    assert bool(torch.isfinite(grads).all())
    assert 0 < relative_error(grads, fp32_grads) < BF16_RTOL


def test_a_faiss_search_takes_bf16_queries_and_answers_on_their_device():
    generator = torch.Generator().manual_seed(0)
    queries = F.normalize(torch.randn(6, DIM, generator=generator), dim=1).bfloat16()  # as under autocast
    keys = F.normalize(torch.randn(10, DIM, generator=generator), dim=1)
    by_faiss = top_k_inner_product(queries, keys, 3, faiss_min_size=0)  # through numpy on the CPU
    by_torch = top_k_inner_product(queries, keys, 3, faiss_min_size=1 << 62)
    assert [t.dtype for t in by_faiss] == [torch.float32, torch.int64]
    assert {t.device for t in by_faiss} == {queries.device}
    torch.testing.assert_close(by_faiss[0], by_torch[0])
    assert torch.equal(by_faiss[1], by_torch[1])


def test_the_precision_option_and_the_device_rule():
    assert get_args(Precision) == PRECISIONS
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert [uses_bf16(p, cpu) for p in PRECISIONS] == [False, True, False]
    assert [uses_bf16(p, cuda) for p in PRECISIONS] == [True, True, False]
    assert PretrainJob().pretrain.precision == "auto"  # as before the option: bf16 on CUDA only
    with pytest.raises(ValueError, match="precision must be one of"):
        uses_bf16("fp16", cpu)
    with autocast("bf16", cpu):
        assert torch.is_autocast_enabled("cpu")
    with autocast("auto", cpu):
        assert not torch.is_autocast_enabled("cpu")
    assert default_device() == (torch.device("cuda", 0) if torch.cuda.is_available() else cpu)


# ------------------------------------------------------------------ pretraining on corpus shards
TINY_JOB = {
    "model": TINY_MODEL,
    "pretrain": {"steps": 4, "batch_size": 8, "warmup_steps": 1, "checkpoint_every": 2},
    # Every term at weight 1, the mix the 5% bound below was measured with: with the reference's
    # weights (no InfoNCE, 3D denoising at 0.5) the first step's gradient is mostly the SMILES
    # masked-token term, whose bf16 error at batch 8 measured 7.8%.
    "semantic": {"n_centers": 4, "top_m": 2, "init_cache": 8, "warmup_updates": 1, "w_infonce": 1.0, "reconstruction_weights": {}},
}


def pretrain_job(precision: str) -> PretrainJob:
    job = copy.deepcopy(TINY_JOB)
    job["pretrain"]["precision"] = precision
    return PretrainJob.model_validate(job)


def trainer(manifest, out_dir, precision: str = "fp32") -> Pretrainer:
    return Pretrainer(pretrain_job(precision), shards_manifest=manifest, out_dir=out_dir, ctx=CPU)


def model_gradients(trainer: Pretrainer) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])


def test_a_pretraining_step_in_bf16_is_close_to_fp32(tiny_benchmark, tmp_path):
    runs = {p: trainer(tiny_benchmark["manifest"], tmp_path / p, p) for p in ("fp32", "bf16")}
    batch = next(iter(runs["fp32"].stream))
    with autocast("bf16", CPU.device):
        terms, _ = runs["bf16"].losses(batch)
    assert terms and all(t.dtype == torch.float32 and bool(torch.isfinite(t)) for t in terms.values())
    records = {p: run.train_step(batch) for p, run in runs.items()}
    losses = [key for key in records["fp32"] if key.startswith("loss")]
    assert {"loss", "loss_reconstruction"} <= set(losses)
    for key in losses:
        assert records["bf16"][key] == pytest.approx(records["fp32"][key], rel=BF16_RTOL), key
    error = relative_error(model_gradients(runs["bf16"]), model_gradients(runs["fp32"]))
    assert 0 < error < BF16_RTOL


def finetune_job(precision: str, task: str) -> FinetuneJob:
    return FinetuneJob.model_validate(
        {
            "dataset": {
                "source": {"kind": "local", "path": "esol.csv"},
                "targets": [ESOL_TARGET],
                "task": task,
            },
            "model": TINY_JOB["model"],
            "finetune": {
                "modalities": ["smiles", "graph2d", "geom3d"],
                "batch_size": 16,
                "precision": precision,
            },
        }
    )


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_fine_tuning_in_bf16_trains_and_predicts_like_fp32(tiny_benchmark, task):
    results = {}
    for precision in ("fp32", "bf16"):
        tuner = FineTuner(
            finetune_job(precision, task),
            molecules=tiny_benchmark["molecules"],
            shards_manifest=tiny_benchmark["manifest"],
            split=tiny_benchmark["split"],
            seed=0,
            pretrained=None,
        )
        if task == "classification":  # ESOL values above their median as the positive class
            table = tuner.targets.table
            tuner.targets.table = torch.where(table.isnan(), table, (table > table.nanmedian()).float())
        train_loss = tuner.train_epoch(1)
        results[precision] = (train_loss, tuner.predict("valid"))
    (fp32_loss, fp32_predictions), (loss, predictions) = results["fp32"], results["bf16"]
    assert loss == pytest.approx(fp32_loss, rel=BF16_RTOL)
    assert predictions.dtype == np.float64 and np.isfinite(predictions).all()
    assert 0 < relative_error(torch.from_numpy(predictions), torch.from_numpy(fp32_predictions)) < BF16_RTOL


# ------------------------------------------------------------------ where tensors end up
def stray_tensors(module: nn.Module) -> list[str]:
    """Tensors held as plain attributes of a module or its submodules: ``module.to(device)``
    leaves them where they are, so on a GPU they meet the moved weights on the wrong device."""
    return [
        f"{prefix or type(module).__name__}.{name}"
        for prefix, sub in module.named_modules()
        for name, value in vars(sub).items()
        if isinstance(value, torch.Tensor) and not name.startswith("_")
    ]


@pytest.mark.parametrize("name", sorted(METHOD_JOBS))
def test_every_method_moves_whole_to_a_device(name):
    job = method_job(name)
    method = build_method(job)
    heads = ViewHeads(method_class(name).views(job), method.token_views)
    for step in range(3):  # libraries, banks and memories hold their state by now
        method_step(method, heads, step, bf16=False)
    assert stray_tensors(method) == []
    assert {t.device.type for t in method.state_dict().values()} <= {"cpu"}  # infonce, lgmcl: no state


def test_the_encoders_descriptor_heads_and_a_batch_move_whole(tiny_benchmark, tmp_path):
    job = pretrain_job("fp32")
    job.pretrain.descriptor_views = ["graph2d"]
    run = Pretrainer(job, shards_manifest=tiny_benchmark["manifest"], out_dir=tmp_path, ctx=CPU)
    for module in (run.model, run.descriptor_prediction):
        assert stray_tensors(module) == []
        assert {t.device.type for t in module.state_dict().values()} == {"cpu"}
    # the meta device allocates nothing: a tensor field the move missed would stay on the CPU
    batch = next(iter(run.stream)).to(torch.device("meta"))
    tensors = {key: value for key, value in batch.to_dict().items() if isinstance(value, torch.Tensor)}
    assert tensors and {t.device.type for t in tensors.values()} == {"meta"}


# ------------------------------------------------------------------ a CUDA machine's checkpoint
#: Storages (by data pointer) that :func:`_tag_as_cuda` names ``cuda:0`` in a file being written.
_AS_CUDA: set[int] = set()


def _tag_as_cuda(storage) -> str | None:
    return "cuda:0" if storage.data_ptr() in _AS_CUDA else None


def _no_restore(storage, location):  # restoring is torch's own business (map_location)
    return None


torch.serialization.register_package(1, _tag_as_cuda, _no_restore)


@contextmanager
def written_as_on_cuda(tensors: list[torch.Tensor]):
    """While inside, ``torch.save`` records these tensors' storages as living on ``cuda:0``,
    as a CUDA machine's checkpoint records its weights and optimizer state."""
    _AS_CUDA.update(t.untyped_storage().data_ptr() for t in tensors)
    try:
        yield
    finally:
        _AS_CUDA.clear()


def cuda_checkpoint(checkpoint: dict) -> dict:
    """``checkpoint`` as a one-GPU run writes it: weights and optimizer state on ``cuda:0``, and a
    CUDA generator state (16 bytes: seed and offset) beside the CPU one."""
    checkpoint = copy.deepcopy(checkpoint)
    checkpoint["rng"][0]["cuda"] = torch.arange(16, dtype=torch.uint8)
    return checkpoint


def on_device(checkpoint: dict) -> list[torch.Tensor]:
    optimizer = [t for state in checkpoint["optimizer"]["state"].values() for t in state.values()]
    return [*checkpoint["model"].values(), *checkpoint["method"].values(), *optimizer]


def test_a_cuda_checkpoint_resumes_on_a_machine_without_cuda(tiny_benchmark, tmp_path):
    manifest = tiny_benchmark["manifest"]
    trainer(manifest, tmp_path / "cpu").run(stop_after=2)
    written = load_file(tmp_path / "cpu" / CHECKPOINT)
    crafted = cuda_checkpoint(written)
    path = tmp_path / "cuda" / CHECKPOINT
    path.parent.mkdir(parents=True)
    with written_as_on_cuda(on_device(crafted)):
        save_atomic(crafted, path)
    if not torch.cuda.is_available():  # the file does name CUDA storages: torch.load alone refuses it
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    loaded = load_file(path)
    assert {t.device.type for t in on_device(loaded)} == {"cpu"}
    batch = next(iter(trainer(manifest, tmp_path / "cpu").stream))
    records = {}
    for name in ("cpu", "cuda"):  # one after the other: resume sets the process's RNG
        run = trainer(manifest, tmp_path / name)
        assert run.resume() and run.state.step == 2
        devices = [*run.model.parameters(), *(t for s in run.optimizer.state.values() for t in s.values())]
        assert {t.device.type for t in devices} == {"cpu"}
        records[name] = run.train_step(batch)
    assert records["cuda"] == records["cpu"]  # the CPU stream resumed exactly; the CUDA entry was ignored

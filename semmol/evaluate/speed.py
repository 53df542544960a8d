"""Speed ratios of semmol's heavy stages against a reference, measured side by side in one process.

Each function returns rows ``(figure, semmol, reference, ratio, target)`` that ``semmol bench``
prints as one table; nothing here asserts a target (speed lives in benchmarks, not tests).

- :func:`conformer_ratios`: the conformers stage's CPU time per molecule against bare RDKit
  ETKDGv3 (+ MMFF) with the same molecules, seeds and options; and the stage's parallel
  efficiency with 2 workers against 1.
- :func:`loader_ratios`: molecules per second from shards into torch_geometric batches against
  featurizing the same molecules from SMILES on the fly (2D only, and with conformers).
- :func:`pretrain_ratios`: pretraining molecules per second and the share of step time spent
  waiting for the next batch.
- :func:`finetune_ratios`: seconds per fine-tuning epoch against chemprop's on the same split,
  or against another fine-tuning job's (e.g. LGM-CL's row against the D-MPNN ``scratch`` row).
- :func:`encoder_ratios`: each encoder's training cost per molecule (forward and backward)
  against the 2D graph encoder's, on the same batches.
- :func:`memory_ratios`: pretraining's peak memory on a corpus ``copies`` times as large
  (the same shards listed again) against the corpus itself.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rdkit import Chem
from rdkit.Chem import AllChem, rdDistGeom

from semmol.config import ConformerConfig, FinetuneJob, ModelConfig, PretrainJob
from semmol.data.chem import quiet_rdkit
from semmol.data.conformers import featurize_molecules, molecule_seed
from semmol.data.description import describe_molecule
from semmol.data.featurize import erg_fingerprint, maccs_keys
from semmol.data.pubchem import pubchem_fingerprint


@dataclass(frozen=True)
class Ratio:
    """One line of a bench table: semmol's figure, the reference's, their ratio and the target."""

    figure: str
    semmol: float
    reference: float
    ratio: float
    target: str


def ratio_table(rows: Sequence[Ratio]) -> str:
    """The rows as a Markdown table."""
    lines = ["| figure | semmol | reference | ratio | target |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row.figure} | {row.semmol:.4g} | {row.reference:.4g} | {row.ratio:.3f} | {row.target} |"
        )
    return "\n".join(lines)


def _cpu_seconds(work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


def _wall_seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def bare_rdkit_conformers(smiles: Sequence[str], options: ConformerConfig) -> None:
    """ETKDGv3 embedding (+ MMFF) of each molecule with the stage's seeds and options, nothing else."""
    with quiet_rdkit():
        for text in smiles:
            mol = Chem.AddHs(Chem.MolFromSmiles(text))
            params = rdDistGeom.ETKDGv3()
            params.randomSeed = molecule_seed(text, base_seed=options.seed)
            params.numThreads = 1
            params.timeout = max(1, math.ceil(options.timeout_s))
            rdDistGeom.EmbedMultipleConfs(mol, numConfs=options.n_conformers, params=params)
            if options.mmff and mol.GetNumConformers() and AllChem.MMFFHasAllMoleculeParams(mol):
                AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=options.mmff_max_iters)


def conformer_ratios(smiles: Sequence[str], options: ConformerConfig) -> list[Ratio]:
    """The conformers stage against bare RDKit, per molecule in CPU seconds, in one process
    (1 worker); then the stage's parallel efficiency, ``wall(1) / (2 wall(2))``."""
    smiles = list(smiles)
    n = len(smiles)
    stage = _cpu_seconds(lambda: featurize_molecules(smiles, options=options, threads=1)) / n
    bare = _cpu_seconds(lambda: bare_rdkit_conformers(smiles, options)) / n
    embed_only = (
        _cpu_seconds(lambda: featurize_molecules(smiles, options=options, threads=1, embed=False)) / n
    )
    mols = [Chem.MolFromSmiles(text) for text in smiles]
    fingerprints = _cpu_seconds(lambda: [(maccs_keys(mol), erg_fingerprint(mol)) for mol in mols]) / n
    pubchem = _cpu_seconds(lambda: [pubchem_fingerprint(mol) for mol in mols]) / n
    descriptions = _cpu_seconds(lambda: [describe_molecule(mol) for mol in mols]) / n
    one = _wall_seconds(lambda: featurize_molecules(smiles, options=options, threads=1))
    two = _wall_seconds(lambda: featurize_molecules(smiles, options=options, threads=2))
    return [
        Ratio(
            "conformers: CPU s per molecule, stage vs bare ETKDGv3+MMFF", stage, bare, stage / bare, "<= 1.10"
        ),
        Ratio(
            "  of which 2D features, ECFP, descriptors, depiction (s/molecule)",
            embed_only,
            bare,
            embed_only / bare,
            "-",
        ),
        Ratio("  of which MACCS keys and ErG (s/molecule)", fingerprints, bare, fingerprints / bare, "-"),
        Ratio("  of which the PubChem fingerprint (s/molecule)", pubchem, bare, pubchem / bare, "-"),
        Ratio("  of which the text description (s/molecule)", descriptions, bare, descriptions / bare, "-"),
        Ratio(
            "conformers: parallel efficiency, 2 workers vs 1 (wall s)", two, one, one / (2 * two), ">= 0.90"
        ),
    ]


def loader_ratios(
    shards: Sequence[Path], *, batch_size: int, options: ConformerConfig, limit: int
) -> list[Ratio]:
    """Molecules per second: shards -> batches, against featurizing the same SMILES on the fly
    (2D features only, and with conformers as the shards hold them)."""
    from semmol.data.reader import ShardDataset, make_loader

    dataset = ShardDataset(list(shards), conformers="first")
    n = min(limit, len(dataset))
    indices = list(range(n))

    def read() -> None:
        for _ in make_loader(dataset, batch_size=batch_size, indices=indices, shuffle=False):
            pass

    smiles = [dataset.columns.smiles[i] for i in indices]
    from_shards = n / _wall_seconds(read)
    flat = n / _wall_seconds(lambda: featurize_molecules(smiles, options=options, threads=1, embed=False))
    with_3d = n / _wall_seconds(lambda: featurize_molecules(smiles, options=options, threads=1))
    return [
        Ratio(
            "loader: molecules/s, shards vs on-the-fly 2D featurization",
            from_shards,
            flat,
            from_shards / flat,
            ">= 10",
        ),
        Ratio(
            "loader: molecules/s, shards vs on-the-fly with conformers",
            from_shards,
            with_3d,
            from_shards / with_3d,
            ">= 10",
        ),
    ]


def pretrain_ratios(job: PretrainJob, manifest: Path, *, steps: int) -> list[Ratio]:
    """Pretraining molecules per second, and the share of step time spent waiting for batches."""
    from semmol.runtime.distributed import init_distributed
    from semmol.train.pretrain import Pretrainer

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Pretrainer(job, shards_manifest=manifest, out_dir=Path(tmp), ctx=init_distributed())
        batches = iter(trainer.stream)
        trainer.train_step(next(batches).to(trainer.ctx.device))  # warm-up, not timed
        waiting = computing = 0.0
        for _ in range(steps):
            started = time.perf_counter()
            batch = next(batches).to(trainer.ctx.device)
            fetched = time.perf_counter()
            trainer.train_step(batch)
            waiting, computing = waiting + fetched - started, computing + time.perf_counter() - fetched
    total = waiting + computing
    return [
        Ratio(
            "pretrain: molecules/s (no reference)",
            steps * job.pretrain.batch_size / total,
            math.nan,
            math.nan,
            "-",
        ),
        Ratio(
            "pretrain: s per step waiting for data vs whole step",
            waiting / steps,
            total / steps,
            waiting / total,
            "<= 0.20 (GPU preset, on a GPU)",
        ),
    ]


def _pretrain_peak_rss_mb(job: PretrainJob, manifest: Path, *, steps: int) -> float:
    """Peak RSS of ``semmol bench pretrain`` in a process of its own (peak memory is per process)."""
    command = [sys.executable, "-m", "semmol", "bench", "pretrain", str(manifest)]
    command += ["--job", job.model_dump_json(), "--steps", str(steps)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:5])} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)["peak_rss_mb"]


def memory_ratios(job: PretrainJob, manifest: Path, *, copies: int, steps: int) -> list[Ratio]:
    """Peak memory of ``steps`` pretraining steps on a corpus of ``copies`` times the shards of
    ``manifest`` (each shard file listed ``copies`` times in a manifest of its own) against the
    corpus itself; flat in corpus size when ``pretrain.stream_shards`` is set."""
    from semmol.data.shards import read_manifest, shard_paths

    original = read_manifest(manifest)
    with tempfile.TemporaryDirectory() as tmp:
        scaled = Path(tmp) / "manifest.json"
        shards = [
            shard | {"file": str(path.resolve())}
            for _ in range(copies)
            for shard, path in zip(original["shards"], shard_paths(manifest))
        ]
        scaled.write_text(
            json.dumps(original | {"molecules": original["molecules"] * copies, "shards": shards})
        )
        small = _pretrain_peak_rss_mb(job, manifest, steps=steps)
        large = _pretrain_peak_rss_mb(job, scaled, steps=steps)
    window = job.pretrain.stream_shards
    return [
        Ratio(
            f"pretrain memory: peak RSS (MB), {copies}x vs 1x the corpus "
            f"({original['molecules'] * copies} vs {original['molecules']} molecules, stream_shards {window})",
            large,
            small,
            large / small,
            "<= 1.10",
        )
    ]


def _seconds_per_epoch(
    job: FinetuneJob, *, molecules: Path, manifest: Path, split: Path, epochs: int
) -> float:
    """Wall seconds per training epoch of ``job`` from scratch, after one untimed epoch."""
    from semmol.train.finetune import FineTuner

    tuner = FineTuner(
        job, molecules=molecules, shards_manifest=manifest, split=split, seed=0, pretrained=None
    )
    tuner.train_epoch(0)  # warm-up
    return _wall_seconds(lambda: [tuner.train_epoch(epoch) for epoch in range(1, epochs + 1)]) / epochs


def finetune_ratios(
    job: FinetuneJob,
    *,
    molecules: Path,
    manifest: Path,
    split: Path,
    chemprop: str,
    epochs: int,
    reference: FinetuneJob | None = None,
    max_ratio: float = 1.0,
) -> list[Ratio]:
    """Seconds per fine-tuning epoch of ``job`` on one split, against chemprop's (its own
    command line) or, given ``reference``, against that job's timed alike.

    chemprop's per-epoch time is the difference of two runs (``E`` and ``3 E`` epochs, ``E`` at
    least 3) over ``2 E``, which leaves out its start-up and featurization (NaN when noise
    exceeds the difference: time more epochs).

    Args:
        max_ratio: the target printed beside the ratio.
    """
    from semmol.config import ChempropConfig
    from semmol.evaluate.chemprop import run_chemprop

    timing = {"molecules": molecules, "manifest": manifest, "split": split, "epochs": epochs}
    ours = _seconds_per_epoch(job, **timing)
    if reference is not None:
        theirs = _seconds_per_epoch(reference, **timing)
        figure = "finetune: s per epoch, job vs reference job (same split)"
        return [Ratio(figure, ours, theirs, ours / theirs, f"<= {max_ratio}")]
    base = max(3, epochs)  # chemprop needs more epochs than its 2 warm-up epochs
    chemprop_seconds = []
    for n_epochs in (base, 3 * base):
        options = ChempropConfig(enabled=True, command=chemprop, epochs=n_epochs)
        with tempfile.TemporaryDirectory() as tmp:
            chemprop_seconds.append(
                _wall_seconds(
                    lambda: run_chemprop(
                        molecules,
                        split,
                        dataset=job.dataset,
                        options=options,
                        benchmark="bench",
                        seed=0,
                        out_dir=Path(tmp),
                    )
                )
            )
    theirs = (chemprop_seconds[1] - chemprop_seconds[0]) / (2 * base)
    if theirs <= 0:  # the two runs' start-up noise exceeded their difference: too few epochs timed
        theirs = math.nan
    return [
        Ratio(
            "finetune: s per epoch, semmol vs chemprop (same split)",
            ours,
            theirs,
            ours / theirs,
            f"<= {max_ratio}",
        )
    ]


def encoder_ratios(
    manifest: Path, *, model: ModelConfig, modalities: Sequence[str], batch_size: int, batches: int
) -> list[Ratio]:
    """Milliseconds per molecule of one training step of each modality's encoder and projection
    (forward with the pretraining corruptions, backward of its projection and reconstruction
    loss), against ``graph2d``'s on the same batches; one process, after one untimed batch."""

    from semmol.data.reader import ShardDataset, make_loader
    from semmol.data.shards import read_manifest, shard_paths
    from semmol.models.corruption import CorruptionKey
    from semmol.models.multimodal import MultiModalEncoder
    from semmol.models.tokenizer import SmilesVocab

    names = list(dict.fromkeys(["graph2d", *modalities]))
    dataset = ShardDataset(shard_paths(manifest), conformers="first", images="image" in names)
    encoder = MultiModalEncoder(
        model,
        modalities=names,
        vocab=SmilesVocab.build(dataset.columns.smiles),
        ecfp_bits=read_manifest(manifest)["ecfp_bits"],
    )
    encoder.fit_input_scaling(dataset.columns, None, modalities=names)
    n = min(len(dataset), batch_size * (batches + 1))
    loaded = list(make_loader(dataset, batch_size=batch_size, indices=list(range(n)), shuffle=False))
    seconds = {}
    for name in names:

        def step(batch, index: int, name: str = name) -> None:
            out = encoder(batch, CorruptionKey(seed=0, step=index), modalities=[name])[name]
            loss = out.projected.sum() + (
                out.reconstruction_loss if out.reconstruction_loss is not None else 0
            )
            loss.backward()

        step(loaded[0], 0)  # warm-up
        seconds[name] = _wall_seconds(lambda: [step(b, i) for i, b in enumerate(loaded[1:], 1)])
    molecules = n - len(loaded[0].smiles)
    per_molecule = {name: 1000 * value / molecules for name, value in seconds.items()}
    return [
        Ratio(
            f"encoder {name} ({getattr(model, name).name}): ms per molecule, training step vs graph2d",
            per_molecule[name],
            per_molecule["graph2d"],
            per_molecule[name] / per_molecule["graph2d"],
            "-",
        )
        for name in names
    ]

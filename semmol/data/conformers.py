"""The conformers stage: every modality of a molecule in one shard row, computed once.

Each molecule gets its 2D graph features, ECFP bits and up to ``n_conformers`` 3D conformers
(RDKit ETKDGv3, optionally MMFF94-optimised). A molecule whose embedding fails keeps its 2D
record with a status saying why (see :mod:`semmol.data.schema`), so the failure rate is
visible and nothing disappears.

Reproducibility: each molecule's random seed is derived from the base seed and its canonical
SMILES, so its conformers do not depend on the shard count, the shard it lands in, or the
worker that embeds it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rdkit import Chem
from rdkit.Chem import AllChem, rdDistGeom

from semmol.config import ConformerConfig
from semmol.data.chem import quiet_rdkit
from semmol.data.description import describe_molecule
from semmol.data.featurize import (
    atom_features,
    bond_features,
    depiction_png,
    ecfp_bits,
    erg_fingerprint,
    maccs_keys,
    rdkit_descriptors,
)
from semmol.data.pubchem import pubchem_fingerprint
from semmol.data.schema import (
    SHARD_METADATA_KEY,
    STATUS_EMBED_FAILED,
    STATUS_MMFF_FAILED,
    STATUS_NOT_EMBEDDED,
    STATUS_OK,
    STATUS_TIMEOUT,
    STATUSES,
    shard_schema,
)
from semmol.runtime.atomic import atomic_path

log = logging.getLogger(__name__)

#: Rows per Parquet row group: readers stream shards a row group at a time.
ROW_GROUP_SIZE = 1024


def molecule_seed(smiles: str, *, base_seed: int) -> int:
    """A seed in ``[0, 2**31)`` derived from the base seed and the canonical SMILES."""
    digest = hashlib.blake2b(f"{base_seed}:{smiles}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % (2**31)


def gets_conformers(smiles: str, *, fraction: float, base_seed: int) -> bool:
    """Whether a molecule is embedded when only ``fraction`` of its dataset is.

    The choice hashes the canonical SMILES (apart from :func:`molecule_seed`'s hash), so the
    same molecules get conformers whatever their order, shard or worker.
    """
    if fraction >= 1:
        return True
    digest = hashlib.blake2b(f"{base_seed}:3d:{smiles}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64 < fraction


def _embed(mol_h: Chem.Mol, *, options: ConformerConfig, seed: int, deadline: float) -> tuple[list[int], str]:
    """Embed conformers into ``mol_h`` (with hydrogens); returns conformer ids and a status."""
    for attempt in range(options.max_embed_attempts):
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return [], STATUS_TIMEOUT
        params = rdDistGeom.ETKDGv3()
        params.randomSeed = (seed + attempt) % 2**31  # RDKit's seed is a C int
        params.numThreads = 1  # parallelism is across molecules
        params.useRandomCoords = attempt > 0  # the usual rescue for hard ring systems
        params.timeout = max(1, math.ceil(remaining))
        # failed or timed-out embeddings come back as id -1
        conf_ids = [
            i
            for i in rdDistGeom.EmbedMultipleConfs(mol_h, numConfs=options.n_conformers, params=params)
            if i >= 0
        ]
        if conf_ids:
            return conf_ids, STATUS_OK
    status = STATUS_TIMEOUT if time.perf_counter() >= deadline else STATUS_EMBED_FAILED
    return [], status


def _optimize(mol_h: Chem.Mol, *, options: ConformerConfig) -> tuple[list[float], str]:
    """MMFF94-optimise every conformer in place; energies (NaN where not optimised) and a status.

    A conformer still moving after ``mmff_max_iters`` iterations is kept as it is then: it is
    already relaxed out of the distance-geometry geometry, which is what the 3D encoder needs.
    """
    n_confs = mol_h.GetNumConformers()
    if not options.mmff:
        return [math.nan] * n_confs, STATUS_OK
    if not AllChem.MMFFHasAllMoleculeParams(mol_h):
        return [math.nan] * n_confs, STATUS_MMFF_FAILED
    results = AllChem.MMFFOptimizeMoleculeConfs(mol_h, numThreads=1, maxIters=options.mmff_max_iters)
    return [float(energy) for _, energy in results], STATUS_OK


def featurize_molecule(smiles: str, *, options: ConformerConfig, embed: bool = True) -> dict:
    """One shard row (without ``mol_index``/``row``) for a canonical SMILES.

    Args:
        smiles: canonical SMILES from ``molecules.parquet`` (already sanitized once).
        options: the ``conformers`` section of the config.
        embed: make conformers; default True. Without them (a model that has no 3D view)
            the row has no coordinates and the status :data:`STATUS_NOT_EMBEDDED`.
    """
    started = time.perf_counter()
    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:  # cannot happen for standardized input; guard against hand-edited files
            raise ValueError(f"SMILES '{smiles}' does not parse; was molecules.parquet edited?")
        bonds, bond_feats = bond_features(mol)
        record = {
            "smiles": smiles,
            "atomic_numbers": [atom.GetAtomicNum() for atom in mol.GetAtoms()],
            "atom_features": atom_features(mol).tolist(),
            "bonds": bonds.tolist(),
            "bond_features": bond_feats.tolist(),
            "ecfp": np.packbits(
                ecfp_bits(mol, radius=options.ecfp_radius, n_bits=options.ecfp_bits)
            ).tobytes(),
            "descriptors": rdkit_descriptors(mol).tolist(),
            "maccs": np.packbits(maccs_keys(mol)).tobytes(),
            "pubchem": np.packbits(pubchem_fingerprint(mol)).tobytes(),
            "erg": erg_fingerprint(mol).tolist(),
            "image": depiction_png(mol, size=options.image_size) if options.image_size else None,
            "description": describe_molecule(mol),
        }
        mol_h = Chem.AddHs(mol)
        seed = molecule_seed(smiles, base_seed=options.seed)
        conf_ids, status = (
            _embed(mol_h, options=options, seed=seed, deadline=started + options.timeout_s)
            if embed
            else ([], STATUS_NOT_EMBEDDED)
        )
        energies: list[float] = []
        if conf_ids:
            energies, status = _optimize(mol_h, options=options)
        heavy = mol.GetNumAtoms()  # AddHs appends hydrogens, so heavy atoms keep their indices
        record["coords"] = [
            mol_h.GetConformer(conf_id).GetPositions()[:heavy].astype(np.float32).tolist()
            for conf_id in conf_ids
        ]
    record["energies"] = energies
    record["status"] = status
    record["seconds"] = time.perf_counter() - started
    return record


def _featurize_chunk(smiles: list[str], options: ConformerConfig, embed: list[bool]) -> list[dict]:
    return [featurize_molecule(s, options=options, embed=e) for s, e in zip(smiles, embed, strict=True)]


def featurize_molecules(
    smiles: list[str],
    *,
    options: ConformerConfig,
    threads: int = 1,
    embed: bool | Sequence[bool] = True,
    chunk_size: int = 32,
    desc: str = "featurize",
) -> list[dict]:
    """:func:`featurize_molecule` for each SMILES, in order, over ``threads`` worker processes
    (joblib), with a progress bar.

    Args:
        smiles: canonical SMILES.
        options: the ``conformers`` section.
        threads: worker processes; default 1.
        embed: make conformers (True, the default), none (False), or one flag per molecule.
        chunk_size: molecules per task sent to a worker; default 32.
        desc: label of the progress bar.
    """
    from joblib import Parallel, delayed
    from tqdm import tqdm

    flags = [embed] * len(smiles) if isinstance(embed, bool) else list(embed)
    if len(flags) != len(smiles):
        raise ValueError(f"{len(flags)} embed flags for {len(smiles)} molecules")
    starts = range(0, len(smiles), chunk_size)
    records: list[dict] = []
    parallel = Parallel(n_jobs=max(1, threads), return_as="generator")
    results = parallel(
        delayed(_featurize_chunk)(smiles[i : i + chunk_size], options, flags[i : i + chunk_size])
        for i in starts
    )
    with tqdm(total=len(smiles), desc=desc, mininterval=5) as bar:
        for chunk_records in results:
            records.extend(chunk_records)
            bar.update(len(chunk_records))
    return records


def shard_bounds(n_molecules: int, *, shard: int, n_shards: int) -> tuple[int, int]:
    """``[start, stop)`` of the molecules (positions in molecules.parquet) in ``shard``."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is outside 0..{n_shards - 1}")
    edges = np.linspace(0, n_molecules, n_shards + 1).round().astype(int)
    return int(edges[shard]), int(edges[shard + 1])


def build_shard(
    molecules: Path,
    *,
    shard: int,
    n_shards: int,
    options: ConformerConfig,
    out: Path,
    conformer_fraction: float = 1.0,
    threads: int = 1,
    chunk_size: int = 32,
) -> dict:
    """Compute shard ``shard`` of ``n_shards`` of ``molecules.parquet`` and write it to ``out``.

    Args:
        molecules: the standardize stage's ``molecules.parquet``.
        shard: which shard (0-based).
        n_shards: how many shards the molecules are cut into (contiguous blocks).
        options: the ``conformers`` section.
        out: the shard's Parquet file (written atomically).
        conformer_fraction: share of the dataset's molecules embedded (:func:`gets_conformers`);
            the others are stored with 2D features only; default 1.
        threads: worker processes (joblib); default 1.
        chunk_size: molecules per task sent to a worker; default 32.

    Returns:
        The shard's summary (also stored in the file's metadata).
    """
    schema = shard_schema(options.ecfp_bits)  # rejects bad options before any work is done
    if not 0 <= conformer_fraction <= 1:
        raise ValueError(f"conformer_fraction must be in [0, 1], got {conformer_fraction}")
    columns = ["row", "smiles", "text"] if "text" in pq.read_schema(molecules).names else ["row", "smiles"]
    table = pq.read_table(molecules, columns=columns)
    start, stop = shard_bounds(table.num_rows, shard=shard, n_shards=n_shards)
    rows = table.column("row").to_pylist()[start:stop]
    smiles = table.column("smiles").to_pylist()[start:stop]
    started = time.perf_counter()
    records = featurize_molecules(
        smiles,
        options=options,
        embed=[gets_conformers(s, fraction=conformer_fraction, base_seed=options.seed) for s in smiles],
        threads=threads,
        chunk_size=chunk_size,
        desc=f"conformers {molecules.parent.name} shard {shard}",
    )
    texts = table.column("text").to_pylist()[start:stop] if "text" in columns else [None] * len(rows)
    for offset, (record, row, text) in enumerate(zip(records, rows, texts)):
        record["mol_index"] = start + offset
        record["row"] = row
        if text:  # the dataset's own description replaces the generated one
            record["description"] = text
    statuses = Counter(record["status"] for record in records)
    summary = {
        "shard": shard,
        "n_shards": n_shards,
        "mol_range": [start, stop],
        "total_molecules": table.num_rows,
        "molecules": len(records),
        "statuses": {status: statuses.get(status, 0) for status in STATUSES},
        "cpu_seconds": float(sum(record["seconds"] for record in records)),
        "wall_seconds": time.perf_counter() - started,
        "threads": threads,
        "conformer_fraction": conformer_fraction,
        "options": options.model_dump(mode="json"),
    }
    schema = schema.with_metadata({SHARD_METADATA_KEY: json.dumps(summary)})
    with atomic_path(out) as tmp:
        pq.write_table(pa.Table.from_pylist(records, schema=schema), tmp, row_group_size=ROW_GROUP_SIZE)
    log.info(
        "%s: %d molecules, statuses %s, %.1f molecules/s per core",
        out,
        len(records),
        summary["statuses"],
        len(records) / max(summary["cpu_seconds"], 1e-9),
    )
    return summary

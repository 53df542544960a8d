from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rdkit import Chem

from semmol.config import ConformerConfig
from semmol.data.conformers import (
    SHARD_METADATA_KEY,
    _embed,
    build_shard,
    featurize_molecule,
    gets_conformers,
    molecule_seed,
    shard_bounds,
)
from semmol.data.featurize import ATOM_FEATURES, BOND_FEATURES, ecfp_bits
from semmol.data.schema import STATUSES, read_shard, shard_schema, unpack_bits
from semmol.data.shards import gather

OPTIONS = ConformerConfig(n_conformers=2, mmff_max_iters=10, max_embed_attempts=1, ecfp_bits=128)
PARACETAMOL = "CC(=O)Nc1ccc(O)cc1"
#: Both bridgeheads '@': a norbornane that cannot exist, so ETKDG fails fast.
IMPOSSIBLE = "C1C[C@H]2CC[C@H]1C2"
#: A polyether macrocycle ETKDG does not embed within minutes.
MACROCYCLE = (
    "C=C1C[C@@H]2CC[C@@]34C[C@@H]5O[C@@H]6C(O[C@H]7CC[C@H](CC(=O)C[C@@H]8[C@@H](OC)[C@@H](CC(=O)CO)"
    "O[C@H]8C[C@H]8O[C@@H](CC[C@@H]1O2)C[C@@H](C)C8=C)O[C@@H]7[C@@H]6O3)[C@H]5O4"
)
#: Canonical SMILES of a small molecules.parquet: rings, stereo, a charge, one atom.
SMILES = ["CCO", "Oc1ccccc1", "O=C(O)[C@@H]1CCCN1", "C[N+](C)(C)C", "C", "CCN(CC)CC"]


def test_featurize_molecule_fields_and_shapes():
    record = featurize_molecule(PARACETAMOL, options=OPTIONS)
    mol = Chem.MolFromSmiles(PARACETAMOL)
    atoms = mol.GetNumHeavyAtoms()
    assert record["smiles"] == PARACETAMOL and record["status"] == "ok"
    assert record["atomic_numbers"] == [atom.GetAtomicNum() for atom in mol.GetAtoms()]
    assert np.array(record["atom_features"]).shape == (atoms, len(ATOM_FEATURES))
    bonds = np.array(record["bonds"])
    assert bonds.shape == (mol.GetNumBonds(), 2) and (bonds < atoms).all() and (bonds >= 0).all()
    assert np.array(record["bond_features"]).shape == (mol.GetNumBonds(), len(BOND_FEATURES))
    coords = np.array(record["coords"])
    assert coords.shape == (2, atoms, 3)
    assert len(record["energies"]) == 2 and all(math.isfinite(e) for e in record["energies"])
    assert len(record["ecfp"]) == 128 // 8
    np.testing.assert_array_equal(unpack_bits(record["ecfp"], 128), ecfp_bits(mol, n_bits=128))
    assert record["seconds"] > 0
    # coordinates follow the atom order of the bonds: every bond is a chemical bond length
    lengths = np.linalg.norm(coords[:, bonds[:, 0]] - coords[:, bonds[:, 1]], axis=-1)
    assert ((lengths > 1.1) & (lengths < 1.6)).all()
    assert not np.allclose(coords[0], coords[1])  # two different conformers


def test_record_fits_the_shard_schema():
    record = featurize_molecule(PARACETAMOL, options=OPTIONS) | {"mol_index": 0, "row": 0}
    table = pa.Table.from_pylist([record], schema=shard_schema(OPTIONS.ecfp_bits))
    assert table.num_rows == 1


def test_featurize_molecule_is_deterministic():
    first = featurize_molecule(PARACETAMOL, options=OPTIONS)
    again = featurize_molecule(PARACETAMOL, options=OPTIONS)
    assert first["coords"] == again["coords"] and first["energies"] == again["energies"]
    other_seed = featurize_molecule(PARACETAMOL, options=OPTIONS.model_copy(update={"seed": 7}))
    assert other_seed["coords"] != first["coords"]


def test_molecule_seed():
    seed = molecule_seed("CCO", base_seed=42)
    assert seed == molecule_seed("CCO", base_seed=42)
    assert 0 <= seed < 2**31
    assert seed != molecule_seed("OCC", base_seed=42)  # the SMILES text counts (callers pass canonical ones)
    assert seed != molecule_seed("CCO", base_seed=43)
    assert len({molecule_seed(s, base_seed=0) for s in SMILES}) == len(SMILES)


def test_mmff_off_leaves_energies_nan():
    record = featurize_molecule(PARACETAMOL, options=OPTIONS.model_copy(update={"mmff": False}))
    assert record["status"] == "ok" and len(record["coords"]) == 2
    assert len(record["energies"]) == 2 and all(math.isnan(e) for e in record["energies"])


def test_mmff_without_parameters_keeps_the_embedded_coordinates():
    record = featurize_molecule("OB(O)c1ccccc1", options=OPTIONS)  # MMFF94 has no boron
    assert record["status"] == "mmff_failed"
    assert np.array(record["coords"]).shape == (2, 9, 3)
    assert all(math.isnan(e) for e in record["energies"])


def _assert_2d_only(record: dict, smiles: str) -> None:
    atoms = Chem.MolFromSmiles(smiles).GetNumAtoms()
    assert record["coords"] == [] and record["energies"] == []
    assert len(record["atom_features"]) == atoms and len(record["bonds"]) > 0 and len(record["ecfp"]) == 16


def test_embedding_failure_keeps_the_2d_record():
    # a generous time limit: on a loaded machine the default one turns the failure into a timeout
    options = OPTIONS.model_copy(update={"max_embed_attempts": 2, "timeout_s": 300})
    record = featurize_molecule(IMPOSSIBLE, options=options)
    assert record["status"] == "embed_failed"
    _assert_2d_only(record, IMPOSSIBLE)


def test_rdkit_timeout_keeps_the_2d_record():
    started = time.perf_counter()
    record = featurize_molecule(MACROCYCLE, options=OPTIONS.model_copy(update={"timeout_s": 0.5}))
    assert record["status"] == "timeout"
    _assert_2d_only(record, MACROCYCLE)
    assert time.perf_counter() - started < 10  # RDKit's own timeout stopped the embedding


def test_spent_time_budget_is_a_timeout():
    record = featurize_molecule("CCO", options=OPTIONS.model_copy(update={"timeout_s": 1e-9}))
    assert record["status"] == "timeout"
    _assert_2d_only(record, "CCO")


def test_retry_seed_stays_a_valid_rdkit_seed():
    mol_h = Chem.AddHs(Chem.MolFromSmiles(IMPOSSIBLE))
    options = OPTIONS.model_copy(update={"max_embed_attempts": 2})
    # the largest seed molecule_seed can return, plus the retry: must not overflow RDKit's int
    conf_ids, status = _embed(mol_h, options=options, seed=2**31 - 1, deadline=time.perf_counter() + 30)
    assert (conf_ids, status) == ([], "embed_failed")


def test_unparsable_smiles_is_a_clear_error():
    with pytest.raises(ValueError, match=r"SMILES 'C1CC' does not parse; was molecules\.parquet edited\?"):
        featurize_molecule("C1CC", options=OPTIONS)


@pytest.mark.parametrize(
    ("n_molecules", "n_shards"), [(0, 1), (1, 3), (7, 1), (7, 2), (7, 3), (10, 4), (1000, 7)]
)
def test_shard_bounds_cover_every_molecule_once(n_molecules, n_shards):
    bounds = [shard_bounds(n_molecules, shard=shard, n_shards=n_shards) for shard in range(n_shards)]
    assert [i for start, stop in bounds for i in range(start, stop)] == list(range(n_molecules))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("shard", [-1, 3])
def test_shard_outside_the_range_is_an_error(shard):
    with pytest.raises(ValueError, match=r"shard .* is outside 0\.\.2"):
        shard_bounds(10, shard=shard, n_shards=3)


@pytest.fixture(scope="module")
def molecules(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("conformers") / "molecules.parquet"
    rows = [3 * i for i in range(len(SMILES))]
    pq.write_table(pa.table({"row": pa.array(rows, pa.int64()), "smiles": SMILES}), path)
    return path


def _by_molecule(path) -> dict[int, dict]:
    return {record["mol_index"]: record for record in read_shard(path).to_pylist()}


@pytest.fixture(scope="module")
def single_shard(molecules, tmp_path_factory) -> dict[int, dict]:
    """Every molecule computed in one shard by one process."""
    out = tmp_path_factory.mktemp("single") / "0.parquet"
    build_shard(molecules, shard=0, n_shards=1, options=OPTIONS, out=out)
    return _by_molecule(out)


def test_single_shard_rows(single_shard):
    assert sorted(single_shard) == list(range(len(SMILES)))
    assert [single_shard[i]["smiles"] for i in range(len(SMILES))] == SMILES
    assert [single_shard[i]["row"] for i in range(len(SMILES))] == [3 * i for i in range(len(SMILES))]
    assert {record["status"] for record in single_shard.values()} == {"ok"}


def test_coordinates_do_not_depend_on_shard_or_threads(molecules, single_shard, tmp_path):
    start, stop = shard_bounds(len(SMILES), shard=1, n_shards=3)
    for threads in (1, 2):
        out = tmp_path / f"1-of-3-threads-{threads}.parquet"
        summary = build_shard(
            molecules, shard=1, n_shards=3, options=OPTIONS, out=out, threads=threads, chunk_size=1
        )
        assert summary["threads"] == threads
        records = _by_molecule(out)
        assert sorted(records) == list(range(start, stop))
        for mol_index, record in records.items():
            expected = single_shard[mol_index]
            assert record["smiles"] == expected["smiles"] and record["row"] == expected["row"]
            # bit-identical: float32 coordinates compared exactly
            assert record["coords"] == expected["coords"]
            assert record["energies"] == expected["energies"]
            assert record["ecfp"] == expected["ecfp"]


def test_shard_file_carries_its_summary(molecules, tmp_path):
    out = tmp_path / "shard.parquet"
    summary = build_shard(molecules, shard=0, n_shards=2, options=OPTIONS, out=out)
    stored = json.loads(pq.read_schema(out).metadata[SHARD_METADATA_KEY])
    assert stored == summary
    assert summary["shard"] == 0 and summary["n_shards"] == 2
    assert summary["mol_range"] == [0, 3] and summary["molecules"] == 3 and summary["total_molecules"] == 6
    assert summary["statuses"] == {status: 3 if status == "ok" else 0 for status in STATUSES}
    assert summary["options"] == OPTIONS.model_dump(mode="json")
    assert 0 < summary["cpu_seconds"] and 0 < summary["wall_seconds"]
    assert pq.read_metadata(out).num_rows == 3
    assert not list(tmp_path.glob(".*"))  # the temporary file was renamed away


def test_more_shards_than_molecules_gives_empty_valid_shards(tmp_path):
    path = tmp_path / "molecules.parquet"
    pq.write_table(pa.table({"row": pa.array([0], pa.int64()), "smiles": ["CCO"]}), path)
    out = tmp_path / "empty.parquet"
    summary = build_shard(path, shard=0, n_shards=2, options=OPTIONS, out=out)
    assert summary["molecules"] == 0 and summary["mol_range"] == [0, 0]
    assert read_shard(out).num_rows == 0


def test_bad_fingerprint_length_fails_before_any_work(tmp_path):
    options = OPTIONS.model_copy(update={"ecfp_bits": 100})
    with pytest.raises(ValueError, match="ecfp_bits must be a multiple of 8, got 100"):
        build_shard(
            tmp_path / "not-read.parquet", shard=0, n_shards=1, options=options, out=tmp_path / "0.parquet"
        )


def test_gets_conformers_keeps_about_the_fraction_and_ignores_order():
    smiles = [f"C{'C' * i}O" for i in range(400)]
    chosen = [s for s in smiles if gets_conformers(s, fraction=0.25, base_seed=42)]
    assert 70 <= len(chosen) <= 130  # binomial(400, 0.25): mean 100, std 8.7
    assert chosen == [s for s in reversed(smiles) if gets_conformers(s, fraction=0.25, base_seed=42)][::-1]
    assert all(gets_conformers(s, fraction=0.5, base_seed=42) for s in chosen)  # nested in a larger share
    assert all(gets_conformers(s, fraction=1.0, base_seed=42) for s in smiles)
    assert not any(gets_conformers(s, fraction=0.0, base_seed=42) for s in smiles)


def test_conformer_fraction_leaves_the_rest_2d_only(molecules, single_shard, tmp_path):
    embedded = {i for i, s in enumerate(SMILES) if gets_conformers(s, fraction=0.5, base_seed=OPTIONS.seed)}
    assert 0 < len(embedded) < len(SMILES)  # this fixture has both kinds
    for n_shards in (1, 2):
        records: dict[int, dict] = {}
        shards = [tmp_path / f"{n_shards}" / f"{shard}.parquet" for shard in range(n_shards)]
        for shard, out in enumerate(shards):
            summary = build_shard(
                molecules, shard=shard, n_shards=n_shards, options=OPTIONS, out=out, conformer_fraction=0.5
            )
            assert summary["conformer_fraction"] == 0.5
            records |= _by_molecule(out)
        assert {i for i, record in records.items() if record["status"] == "ok"} == embedded
        statuses = gather(shards, out=tmp_path / f"{n_shards}" / "manifest.json")["statuses"]
        assert statuses["ok"] == len(embedded) and statuses["not_embedded"] == len(SMILES) - len(embedded)
        for mol_index, record in records.items():
            expected = single_shard[mol_index]
            assert record["atom_features"] == expected["atom_features"] and record["ecfp"] == expected["ecfp"]
            if mol_index in embedded:
                assert record["coords"] == expected["coords"]
            else:
                assert record["status"] == "not_embedded" and record["coords"] == []


def test_conformer_fraction_outside_zero_to_one_is_an_error(molecules, tmp_path):
    with pytest.raises(ValueError, match=r"conformer_fraction must be in \[0, 1\], got 1.5"):
        build_shard(
            molecules,
            shard=0,
            n_shards=1,
            options=OPTIONS,
            out=tmp_path / "0.parquet",
            conformer_fraction=1.5,
        )

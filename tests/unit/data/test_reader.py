from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem

from semmol.data.conformers import build_shard
from semmol.data.featurize import erg_fingerprint, maccs_keys
from semmol.data.pubchem import pubchem_fingerprint
from semmol.data.reader import DistributedBatchSampler, ShardDataset, make_loader
from semmol.data.schema import read_shard, unpack_bits


def _rows(paths) -> list[dict]:
    return [record for path in paths for record in read_shard(path).to_pylist()]


@pytest.fixture(scope="module")
def records(shard_set) -> list[dict]:
    """The shard rows, in shard order."""
    return _rows(shard_set.shards)


@pytest.fixture(scope="module")
def dataset(shard_set) -> ShardDataset:
    return ShardDataset(shard_set.shards, conformers="first")


def test_items_equal_the_shard_rows(dataset, records, shard_set):
    assert len(dataset) == len(records) == len(shard_set.smiles)
    for index, record in enumerate(records):
        data = dataset[index]
        atoms, bonds = len(record["atomic_numbers"]), len(record["bonds"])
        assert data.num_nodes == atoms
        assert data.x.dtype == torch.long and data.x.tolist() == record["atom_features"]
        assert data.z.tolist() == record["atomic_numbers"]
        # every bond in both directions, each direction with the bond's features
        assert data.edge_index.shape == (2, 2 * bonds)
        assert data.edge_index.T.tolist() == record["bonds"] + [[b, a] for a, b in record["bonds"]]
        assert data.edge_attr.tolist() == record["bond_features"] * 2
        assert data.ecfp.shape == (1, 128)
        assert data.ecfp[0].tolist() == unpack_bits(record["ecfp"], 128).tolist()
        mol = Chem.MolFromSmiles(record["smiles"])
        assert data.maccs[0].tolist() == maccs_keys(mol).tolist()
        assert data.pubchem[0].tolist() == pubchem_fingerprint(mol).tolist()
        torch.testing.assert_close(data.erg[0], torch.from_numpy(erg_fingerprint(mol)))
        assert data.smiles == record["smiles"] == shard_set.smiles[index]
        assert data.mol_id.tolist() == [record["mol_index"]] == [index]
        assert data.row.tolist() == [record["row"]] == [shard_set.rows[index]]
        assert data.pos.shape == (atoms, 1, 3)
        if index in shard_set.no_3d:
            assert record["coords"] == [] and record["status"] == "embed_failed"
            assert data.has_3d.tolist() == [False] and not data.conf_mask.any() and not data.pos.any()
        else:
            assert data.has_3d.tolist() == [True] and data.conf_mask.tolist() == [[True]]
            assert data.pos[:, 0].tolist() == record["coords"][0]
    assert dataset.has_3d.tolist() == [i not in shard_set.no_3d for i in range(len(dataset))]
    assert dataset.mol_index.tolist() == list(range(len(dataset)))


def test_all_conformers_are_padded(shard_set, tmp_path):
    # shard 1 rebuilt with one conformer per molecule: its molecules are padded to two
    one_conformer = tmp_path / "1.parquet"
    options = shard_set.options.model_copy(update={"n_conformers": 1})
    build_shard(shard_set.molecules, shard=1, n_shards=2, options=options, out=one_conformer)
    paths = [shard_set.shards[0], one_conformer]
    mixed = ShardDataset(paths, conformers="all")
    assert mixed.max_conformers == 2
    for index, record in enumerate(_rows(paths)):
        data, coords = mixed[index], record["coords"]
        assert data.pos.shape == (data.num_nodes, 2, 3)
        assert data.conf_mask.tolist() == [[k < len(coords) for k in range(2)]]
        assert data.has_3d.tolist() == [bool(coords)]
        for k in range(2):
            expected = coords[k] if k < len(coords) else [[0.0] * 3] * data.num_nodes
            assert data.pos[:, k].tolist() == expected
    assert [len(record["coords"]) for record in _rows(paths)] == [2, 2, 0, 2, 1, 1, 1]


def _choices(dataset: ShardDataset) -> list[int | None]:
    """Which stored conformer each molecule carries (None: no conformer)."""
    everything = dataset.with_conformers("all")
    choices = []
    for index in range(len(dataset)):
        pos, stored = dataset[index].pos[:, 0], everything[index].pos
        matches = [k for k in range(stored.shape[1]) if torch.equal(stored[:, k], pos)]
        choices.append(matches[0] if dataset.has_3d[index] else None)
        assert len(matches) >= 1
    return choices


def test_random_conformer_is_seeded_per_epoch_and_molecule(shard_set):
    dataset = ShardDataset(shard_set.shards, conformers="random", seed=3)
    first = _choices(dataset)
    assert first == _choices(dataset)  # the same epoch gives the same conformers
    assert first[shard_set.no_3d[0]] is None
    per_epoch = []
    for epoch in range(1, 6):
        dataset.set_epoch(epoch)
        per_epoch.append(_choices(dataset))
    assert any(choices != first for choices in per_epoch)
    dataset.set_epoch(0)
    assert _choices(dataset) == first
    # the choice belongs to the molecule: the same with only its shard loaded, other with another seed
    alone = ShardDataset(shard_set.shards[1:], conformers="random", seed=3)
    assert _choices(alone) == first[4:]
    other_seeds = [_choices(ShardDataset(shard_set.shards, conformers="random", seed=s)) for s in range(4, 9)]
    assert any(choices != first for choices in other_seeds)


def test_positions(shard_set, dataset):
    assert dataset.positions([5, 0, 2]) == [5, 0, 2]
    second_shard = ShardDataset(shard_set.shards[1:])
    assert second_shard.positions(np.array([6, 4])) == [2, 0]
    with pytest.raises(KeyError, match="molecule 1 is not in the shards"):
        second_shard.positions([4, 1])


def test_with_conformers_shares_memory(dataset):
    view = dataset.with_conformers("all")
    assert view.conformers == "all" and dataset.conformers == "first"
    assert view.columns is dataset.columns
    assert view[0].pos.shape[1] == 2 and dataset[0].pos.shape[1] == 1
    assert np.shares_memory(view[0].x.numpy(), dataset.columns.atom_features)


def test_no_shards_is_an_error():
    with pytest.raises(ValueError, match="give shard files or a table of shard rows"):
        ShardDataset([])


# --------------------------------------------------------------------------------------
# DistributedBatchSampler
# --------------------------------------------------------------------------------------
INDICES = list(range(100, 122))  # 22 dataset positions


def _epoch(*, epoch: int = 0, start_batch: int = 0, **options) -> list[list[int]]:
    sampler = DistributedBatchSampler(INDICES, **options)
    sampler.set_epoch(epoch, start_batch=start_batch)
    batches = list(sampler)
    assert len(sampler) == len(batches)
    return batches


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_ranks_together_see_the_single_process_batches(world_size, drop_last, shuffle):
    for epoch in (0, 1):
        single = _epoch(epoch=epoch, batch_size=6, shuffle=shuffle, seed=5, drop_last=drop_last)
        ranks = [
            _epoch(
                epoch=epoch,
                batch_size=6 // world_size,
                shuffle=shuffle,
                seed=5,
                drop_last=drop_last,
                rank=rank,
                world_size=world_size,
            )
            for rank in range(world_size)
        ]
        assert all(len(batches) == len(single) for batches in ranks)
        for step, batch in enumerate(single):
            assert [i for batches in ranks for i in batches[step]] == batch
            assert all(batches[step] for batches in ranks)  # no rank gets an empty batch


def test_drop_last_and_order():
    kept = _epoch(batch_size=6, shuffle=False)
    assert kept == [INDICES[0:6], INDICES[6:12], INDICES[12:18], INDICES[18:22]]
    assert _epoch(batch_size=6, shuffle=False, drop_last=True) == kept[:3]
    shuffled = _epoch(batch_size=6, seed=1)
    assert sorted(i for batch in shuffled for i in batch) == INDICES
    assert shuffled != kept
    assert shuffled == _epoch(batch_size=6, seed=1)
    assert shuffled != _epoch(batch_size=6, seed=1, epoch=1)
    assert shuffled != _epoch(batch_size=6, seed=2)


@pytest.mark.parametrize("drop_last", [False, True])
def test_resume_mid_epoch(drop_last):
    full = _epoch(epoch=2, batch_size=2, seed=4, rank=1, world_size=2, drop_last=drop_last)
    for start_batch in range(len(full) + 1):
        resumed = _epoch(
            epoch=2, start_batch=start_batch, batch_size=2, seed=4, rank=1, world_size=2, drop_last=drop_last
        )
        assert resumed == full[start_batch:]


def test_len():
    assert len(DistributedBatchSampler(INDICES, batch_size=5, world_size=2)) == 3  # 10 + 10 + 2
    assert len(DistributedBatchSampler(INDICES, batch_size=5, world_size=2, drop_last=True)) == 2
    sampler = DistributedBatchSampler(INDICES, batch_size=5, world_size=2)
    sampler.set_epoch(0, start_batch=1)
    assert len(sampler) == 2


def test_last_batch_too_small_for_every_rank():
    # 22 = 3 * 6 + 4: the last global batch cannot give each of 5 ranks a molecule
    with pytest.raises(ValueError, match="the last batch holds 2 molecules, fewer than the 5 processes"):
        DistributedBatchSampler(INDICES, batch_size=4, world_size=5)
    assert len(DistributedBatchSampler(INDICES, batch_size=4, world_size=5, drop_last=True)) == 1


# --------------------------------------------------------------------------------------
# make_loader
# --------------------------------------------------------------------------------------
def test_loader_batches_keep_molecule_ids(dataset, shard_set):
    """PyG offsets attributes whose name contains 'index' when batching: mol_id must not be."""
    batches = list(make_loader(dataset.with_conformers("all"), batch_size=3, shuffle=False))
    assert [batch.mol_id.tolist() for batch in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [batch.row.tolist() for batch in batches] == [
        shard_set.rows[0:3],
        shard_set.rows[3:6],
        shard_set.rows[6:],
    ]
    first = batches[0]
    assert first.smiles == shard_set.smiles[:3]
    assert first.conf_mask.shape == (3, 2) and first.has_3d.tolist() == [True, True, False]
    assert first.ecfp.shape == (3, 128)
    assert first.pos.shape == (first.num_nodes, 2, 3)
    # edge_index is offset per molecule: every edge stays inside its molecule
    graph = first.batch
    assert torch.equal(graph[first.edge_index[0]], graph[first.edge_index[1]])
    assert first.edge_index.max() < first.num_nodes


def test_loader_with_indices_and_ranks(dataset):
    positions = [6, 1, 3, 0, 5, 2]
    single = [
        batch.mol_id.tolist() for batch in make_loader(dataset, batch_size=4, indices=positions, seed=2)
    ]
    ranks = [
        [
            batch.mol_id.tolist()
            for batch in make_loader(dataset, batch_size=2, indices=positions, seed=2, rank=r, world_size=2)
        ]
        for r in range(2)
    ]
    assert sorted(i for batch in single for i in batch) == sorted(positions)
    assert [a + b for a, b in zip(*ranks)] == single

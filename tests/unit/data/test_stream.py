"""ShardStream: a window of shards in memory, an order independent of the number of processes,
resumable mid-epoch; and the corpus statistics read one shard at a time."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from semmol.data.reader import ShardDataset
from semmol.data.stream import ShardStream, column_moments, shard_smiles


@pytest.fixture(scope="module")
def sizes(shard_files) -> list[int]:
    return [pq.read_metadata(path).num_rows for path in shard_files]


def stream(shard_files, sizes, **options) -> ShardStream:
    return ShardStream(shard_files, sizes=sizes, **({"batch_size": 4, "seed": 3} | options))


def epoch_ids(source: ShardStream, epoch: int, *, start_batch: int = 0) -> list[list[int]]:
    source.set_epoch(epoch, start_batch=start_batch)
    return [batch.mol_id.tolist() for batch in source]


@pytest.mark.parametrize("window", [1, 2, None])
def test_an_epoch_reads_each_molecule_at_most_once(shard_files, sizes, window):
    source = stream(shard_files, sizes, window=window)
    total = sum(sizes)
    assert source.batches_per_epoch() == total // 4 == len(source)
    for epoch in range(3):
        ids = [m for batch in epoch_ids(source, epoch) for m in batch]
        assert len(ids) == len(set(ids)) == total // 4 * 4
        assert set(ids) <= set(range(total))
    assert epoch_ids(source, 0) != epoch_ids(source, 1)  # a new order every epoch
    assert epoch_ids(source, 1) == epoch_ids(stream(shard_files, sizes, window=window), 1)  # seeded


def test_memory_holds_at_most_two_windows(shard_files, sizes):
    for window in (1, 2):
        source = stream(shard_files, sizes, window=window, batch_size=5)  # batches straddle windows
        for epoch in range(3):
            epoch_ids(source, epoch)
        assert source.peak_resident_shards <= 2 * window
    everything = stream(shard_files, sizes)
    epoch_ids(everything, 0)
    assert everything.peak_resident_shards == len(shard_files)


def test_a_window_reads_its_shards_only(shard_files, sizes):
    """Within a window, batches draw from that window's shards: the first batches of an epoch
    come from the first shard of the epoch's shard order."""
    source = stream(shard_files, sizes, window=1, batch_size=3)
    first = source.windows(0)[0].shards[0]
    start = sum(sizes[:first])
    for batch in epoch_ids(source, 0)[: sizes[first] // 3]:
        assert all(start <= m < start + sizes[first] for m in batch)


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("window", [1, None])
def test_ranks_together_see_the_single_process_batches(shard_files, sizes, world_size, window):
    one = epoch_ids(stream(shard_files, sizes, window=window, batch_size=6), 1)
    ranks = [
        epoch_ids(
            stream(
                shard_files, sizes, window=window, batch_size=6 // world_size, rank=r, world_size=world_size
            ),
            1,
        )
        for r in range(world_size)
    ]
    assert [sum((rank[b] for rank in ranks), []) for b in range(len(one))] == one


def test_resume_mid_epoch_reads_the_rest_of_the_epoch(shard_files, sizes):
    source = stream(shard_files, sizes, window=2, batch_size=4)
    whole = epoch_ids(source, 2)
    assert epoch_ids(stream(shard_files, sizes, window=2, batch_size=4), 2, start_batch=3) == whole[3:]


def test_batches_hold_the_shard_rows(shard_files, sizes, dataset):
    """Each molecule carries its stored atoms, bonds and a conformer drawn per epoch as
    ShardDataset draws it."""
    source = stream(shard_files, sizes, window=2, batch_size=5)
    reference = ShardDataset(shard_files, conformers="random", seed=3)
    reference.set_epoch(1)
    source.set_epoch(1)
    batch = next(iter(source))
    for i, mol_id in enumerate(batch.mol_id.tolist()):
        expected = reference[mol_id]  # the shards hold mol_index 0..n-1 in order
        molecule = batch.get_example(i)
        torch.testing.assert_close(molecule.x, expected.x)
        torch.testing.assert_close(molecule.edge_index, expected.edge_index)
        torch.testing.assert_close(molecule.pos, expected.pos)
        assert molecule.smiles == expected.smiles


def test_corpus_statistics_read_shard_by_shard(shard_files, dataset):
    assert list(shard_smiles(shard_files)) == dataset.columns.smiles
    mean, std = column_moments(shard_files, "descriptors")
    values = dataset.columns.descriptors.astype(np.float64)
    np.testing.assert_allclose(mean, values.mean(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(std, values.std(axis=0, ddof=1), rtol=1e-9, atol=1e-12)


def test_errors(shard_files, sizes):
    with pytest.raises(ValueError, match="5 shard files but 4 shard sizes"):
        stream(shard_files, sizes[:4])
    with pytest.raises(ValueError, match="fewer than one global batch"):
        stream(shard_files, sizes, batch_size=sum(sizes), world_size=2)

"""Pretraining batches read a window of shards at a time, so memory follows the window.

:class:`ShardStream` holds at most two windows of ``window`` shards in memory (the current one,
and the next while a global batch straddles both), whatever the corpus size. Its epoch order
depends only on ``(seed, epoch)`` and the shard sizes, never on the number of processes:

1. the shards are permuted with a generator seeded by ``(seed, epoch)`` and cut into windows
   of ``window`` consecutive shards of that order;
2. each window's molecules are permuted with a generator seeded by ``(seed, epoch, w)``;
3. the windows' orders are concatenated and cut into global batches of
   ``batch_size * world_size`` (the incomplete last one dropped), each cut into contiguous
   per-rank slices, as :class:`~semmol.data.reader.DistributedBatchSampler` does.

So ``W`` processes with batch ``G / W`` see the molecules one process with ``G`` sees, and a
run resumed at batch ``b`` of an epoch reads what an uninterrupted one reads from there. With a
window of every shard, step 1 does not matter and the order is one permutation of the corpus.

:func:`shard_smiles` and :func:`column_moments` read the columns the model's set-up needs from
the whole corpus (SMILES for the vocabulary, descriptor moments), one shard at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch_geometric.data import Batch

from semmol.data.reader import ConformerChoice, ShardDataset, vector_column
from semmol.data.schema import read_shard


@dataclass
class _Window:
    shards: list[int]  # shard ids in the window, in the epoch's shard order
    order: np.ndarray  # window-local positions, permuted


class ShardStream:
    """Global batches over shard files, reading ``window`` shards at a time.

    Args:
        paths: shard files, in shard order.
        sizes: molecules per shard (the manifest's ``shards[i].molecules``).
        batch_size: molecules per rank and step.
        window: shards in memory at once (twice that while a batch straddles two windows);
            ``None`` (default) keeps every shard in memory.
        seed: seed of the order and of the random conformer choice; default 0.
        rank: this process's rank; default 0.
        world_size: number of processes; default 1.
        conformers: which conformer a molecule carries (see :class:`ShardDataset`); default
            ``"random"``, drawn per epoch and molecule.
        images: load the depictions (the image view); default False.

    Raises:
        ValueError: sizes and paths differ in length, or the corpus holds less than one
            global batch.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        sizes: Sequence[int],
        batch_size: int,
        window: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        conformers: ConformerChoice = "random",
        images: bool = False,
    ):
        if len(paths) != len(sizes):
            raise ValueError(f"{len(paths)} shard files but {len(sizes)} shard sizes")
        self.paths = [Path(path) for path in paths]
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.window = len(self.paths) if window is None else max(1, min(window, len(self.paths)))
        self.seed, self.conformers, self.images = seed, conformers, images
        if self.batches_per_epoch() == 0:
            raise ValueError(
                f"{int(self.sizes.sum())} molecules, fewer than one global batch of {batch_size * world_size}"
            )
        self.epoch = 0
        self.start_batch = 0
        self._resident: dict[tuple[int, ...], ShardDataset] = {}
        #: most shards held in memory at once so far (what the window bounds)
        self.peak_resident_shards = 0

    def __len__(self) -> int:
        return self.batches_per_epoch() - self.start_batch

    def batches_per_epoch(self) -> int:
        return int(self.sizes.sum()) // (self.batch_size * self.world_size)

    def set_epoch(self, epoch: int, *, start_batch: int = 0) -> None:
        """Use epoch ``epoch``'s order, starting at its batch ``start_batch`` (resuming mid-epoch)."""
        self.epoch = epoch
        self.start_batch = start_batch

    def windows(self, epoch: int) -> list[_Window]:
        """Epoch ``epoch``'s windows: their shards and their molecules' order."""
        shard_order = np.random.default_rng([self.seed, epoch]).permutation(len(self.paths))
        windows = []
        for w, start in enumerate(range(0, len(shard_order), self.window)):
            shards = shard_order[start : start + self.window].tolist()
            n = int(self.sizes[shards].sum())
            windows.append(_Window(shards, np.random.default_rng([self.seed, epoch, w]).permutation(n)))
        return windows

    def _dataset(self, shards: list[int]) -> ShardDataset:
        key = tuple(shards)
        if key not in self._resident:
            dataset = ShardDataset(
                [self.paths[s] for s in shards],
                conformers=self.conformers,
                seed=self.seed,
                images=self.images,
            )
            self._resident[key] = dataset
            resident = sum(len(k) for k in self._resident)
            self.peak_resident_shards = max(self.peak_resident_shards, resident)
        dataset = self._resident[key]
        dataset.set_epoch(self.epoch)
        return dataset

    def _release(self, keep: set[tuple[int, ...]]) -> None:
        for key in [key for key in self._resident if key not in keep]:
            del self._resident[key]

    def __iter__(self) -> Iterator[Batch]:
        windows = self.windows(self.epoch)
        # (window, window-local position) of every molecule of the epoch, in order
        window_of = np.repeat(np.arange(len(windows)), [len(w.order) for w in windows])
        position = np.concatenate([w.order for w in windows])
        global_size = self.batch_size * self.world_size
        for b in range(self.start_batch, self.batches_per_epoch()):
            batch = np.arange(b * global_size, (b + 1) * global_size)
            chosen = np.array_split(batch, self.world_size)[self.rank]
            keys = {tuple(windows[w].shards) for w in set(window_of[chosen].tolist())}
            self._release(keep=keys)  # before loading: at most the batch's windows resident
            items = [self._dataset(windows[window_of[i]].shards)[int(position[i])] for i in chosen.tolist()]
            yield Batch.from_data_list(items)


def shard_smiles(paths: Sequence[str | Path]) -> Iterator[str]:
    """Every molecule's SMILES, reading that column of one shard at a time (e.g. for
    :meth:`semmol.models.tokenizer.SmilesVocab.build`)."""
    for path in paths:
        yield from read_shard(Path(path), columns=["smiles"]).column("smiles").to_pylist()


def column_moments(paths: Sequence[str | Path], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (``n - 1``) of a vector column (``descriptors``, ``erg``) over
    every shard, reading that column of one shard at a time (Chan's pairwise update, float64).

    Raises:
        ValueError: the shards hold no molecule.
    """
    n, mean, m2 = 0, None, None
    for path in paths:
        values = vector_column(read_shard(Path(path), columns=[name]), name).astype(np.float64)
        k = len(values)
        if k == 0:
            continue
        chunk_mean = values.mean(axis=0)
        chunk_m2 = ((values - chunk_mean) ** 2).sum(axis=0)
        if mean is None:
            n, mean, m2 = k, chunk_mean, chunk_m2
            continue
        delta = chunk_mean - mean
        mean = mean + delta * k / (n + k)
        m2 = m2 + chunk_m2 + delta**2 * n * k / (n + k)
        n += k
    if mean is None:
        raise ValueError("the corpus shards hold no molecules")
    return mean, np.sqrt(m2 / max(n - 1, 1))

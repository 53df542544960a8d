"""Reading conformer shards into torch_geometric batches, without running RDKit again.

:class:`ShardDataset` loads the shards' columns once into flat numpy arrays with offsets (a
few hundred bytes per molecule) and builds a :class:`torch_geometric.data.Data` per molecule
on access. :class:`DistributedBatchSampler` deals out global batches so that one process
with batch ``G`` and ``W`` processes with ``G / W`` see exactly the same molecules per step.

Fields of one molecule (``B`` molecules, ``N`` atoms in a batch):

- ``x``: ``[N, len(ATOM_FEATURES)]`` long, categorical atom features;
- ``edge_index``: ``[2, 2 * bonds]`` long, each bond in both directions; ``edge_attr``: ``[2 * bonds, len(BOND_FEATURES)]``;
- ``z``: ``[N]`` long atomic numbers;
- ``pos``: ``[N, C, 3]`` float Angstrom, ``C`` conformers (1 for ``conformers="random"``/``"first"``,
  the stored maximum for ``"all"``); ``conf_mask``: ``[B, C]`` bool, which conformers exist;
- ``has_3d``: ``[B]`` bool, whether the molecule has any conformer;
- ``ecfp``: ``[B, bits]`` float 0/1; ``descriptors``: ``[B, len(DESCRIPTOR_NAMES)]`` float (squashed RDKit 2D descriptors);
- ``maccs``: ``[B, MACCS_BITS]`` and ``pubchem``: ``[B, PUBCHEM_BITS]`` float 0/1; ``erg``: ``[B, ERG_SIZE]``
  float (ErG fingerprint);
- with ``images=True``: ``image``: ``[B, 3, S, S]`` uint8 RGB depiction, ``image_valid``: ``[B]`` bool
  (a molecule whose shard row holds no image gets a white image and ``False``);
- ``smiles``: list of ``B`` canonical SMILES; ``description``: list of ``B`` texts; ``mol_id`` (the molecule's ``mol_index``, its position
  in molecules.parquet; named so that PyG does not offset it when batching), ``row``: ``[B]`` long.
"""

from __future__ import annotations

import copy
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from semmol.data.feature_sizes import MACCS_BITS, PUBCHEM_BITS
from semmol.data.schema import SHARD_COLUMNS, read_shard, unpack_bits

ConformerChoice = Literal["random", "first", "all"]


def _flat(array: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """Values of a list column, and its zero-based offsets (``None`` for fixed-size lists)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if isinstance(array, pa.FixedSizeListArray):
        return array.flatten(), None
    offsets = array.offsets.to_numpy().astype(np.int64)
    return array.flatten(), offsets - offsets[0]


def _lengths(offsets: np.ndarray) -> np.ndarray:
    return np.diff(offsets)


@dataclass
class _Columns:
    """Every shard's columns, concatenated and flattened."""

    mol_index: np.ndarray
    row: np.ndarray
    smiles: list[str]
    descriptions: list[str]
    atom_offsets: np.ndarray  # [M + 1]
    atomic_numbers: np.ndarray  # [atoms]
    atom_features: np.ndarray  # [atoms, F]
    bond_offsets: np.ndarray  # [M + 1]
    bonds: np.ndarray  # [bonds, 2]
    bond_features: np.ndarray  # [bonds, Fb]
    conf_offsets: np.ndarray  # [M + 1] -> conformer ids
    coords: np.ndarray  # [conformers * atoms, 3], conformer k of molecule m at atom_offsets-style blocks
    coord_offsets: np.ndarray  # [conformers + 1]
    ecfp: np.ndarray  # [M, bits / 8] packed
    descriptors: np.ndarray  # [M, D]
    maccs: np.ndarray  # [M, ceil(MACCS_BITS / 8)] packed
    pubchem: np.ndarray  # [M, ceil(PUBCHEM_BITS / 8)] packed
    erg: np.ndarray  # [M, ERG_SIZE]
    images: list[bytes | None] | None  # [M] PNG, or None when not loaded


def decode_image(png: bytes) -> np.ndarray:
    """``[3, S, S]`` uint8 RGB from a stored depiction."""
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB")).transpose(2, 0, 1).copy()


def _fixed_bytes(column: pa.ChunkedArray) -> np.ndarray:
    """``[rows, width]`` uint8 view of a fixed-size binary column (packed bit vectors)."""
    array = column.combine_chunks()
    width = array.type.byte_width
    return np.frombuffer(array.buffers()[1], dtype=np.uint8).reshape(-1, width)[
        array.offset : array.offset + len(array)
    ]


def _bit_row(packed: np.ndarray, n_bits: int) -> torch.Tensor:
    """``[1, n_bits]`` float 0/1 from a packed bit-vector cell."""
    return torch.from_numpy(unpack_bits(packed, n_bits).astype(np.float32)).unsqueeze(0)


def vector_column(table: pa.Table, name: str) -> np.ndarray:
    """``[rows, width]`` values of a fixed-width list column (``descriptors``, ``erg``)."""
    return _flat(table.column(name))[0].to_numpy().reshape(table.num_rows, -1).copy()


def _load_columns(table: pa.Table) -> _Columns:
    atom_feats, atom_offsets = _flat(table.column("atom_features"))
    atom_feat_values, _ = _flat(atom_feats)
    bond_list, bond_offsets = _flat(table.column("bonds"))
    bond_values, _ = _flat(bond_list)
    bond_feats, _ = _flat(table.column("bond_features"))
    bond_feat_values, _ = _flat(bond_feats)
    atomic_numbers, _ = _flat(table.column("atomic_numbers"))
    conformers, conf_offsets = _flat(table.column("coords"))
    atoms_per_conf, coord_offsets = _flat(conformers)
    xyz, _ = _flat(atoms_per_conf)
    return _Columns(
        mol_index=table.column("mol_index").to_numpy(),
        row=table.column("row").to_numpy(),
        smiles=table.column("smiles").to_pylist(),
        descriptions=table.column("description").to_pylist(),
        atom_offsets=atom_offsets,
        atomic_numbers=atomic_numbers.to_numpy().astype(np.int64),
        atom_features=atom_feat_values.to_numpy().astype(np.int64).reshape(len(atom_feats), -1),
        bond_offsets=bond_offsets,
        bonds=bond_values.to_numpy().astype(np.int64).reshape(-1, 2),
        bond_features=bond_feat_values.to_numpy().astype(np.int64).reshape(len(bond_feats), -1),
        conf_offsets=conf_offsets,
        coords=xyz.to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, 3),
        coord_offsets=coord_offsets,
        ecfp=_fixed_bytes(table.column("ecfp")),
        descriptors=vector_column(table, "descriptors"),
        maccs=_fixed_bytes(table.column("maccs")),
        pubchem=_fixed_bytes(table.column("pubchem")),
        erg=vector_column(table, "erg"),
        images=table.column("image").to_pylist() if "image" in table.column_names else None,
    )


class ShardDataset(Dataset):
    """Molecules of a set of shard files as :class:`~torch_geometric.data.Data` objects.

    Args:
        paths: shard files, in shard order (see :func:`semmol.data.shards.shard_paths`).
        table: instead of ``paths``, shard rows already in memory (the shard layout of
            :func:`semmol.data.schema.shard_schema`), e.g. molecules featurized for prediction.
        conformers: which conformers a molecule carries: ``"random"`` (one, drawn per epoch
            and molecule from ``seed``; training), ``"first"`` (one, deterministic) or
            ``"all"`` (every stored conformer, padded; evaluation). Default ``"random"``.
        seed: seed of the random conformer choice; default 0.
        images: load the depictions and give each molecule its ``image`` (the image view);
            default False, which leaves them on disk.

    Raises:
        ValueError: ``images`` asked for, but the shards hold none (``conformers.image_size: 0``).
    """

    def __init__(
        self,
        paths: Sequence[str | Path] = (),
        *,
        table: pa.Table | None = None,
        conformers: ConformerChoice = "random",
        seed: int = 0,
        images: bool = False,
    ):
        if (table is None) == (not paths):
            raise ValueError("give shard files or a table of shard rows (exactly one)")
        if table is None:
            columns = SHARD_COLUMNS if images else [name for name in SHARD_COLUMNS if name != "image"]
            table = pa.concat_tables([read_shard(Path(path), columns=columns) for path in paths])
        elif not images:
            table = table.drop_columns([name for name in ("image",) if name in table.column_names])
        self.columns = _load_columns(table)
        self.image_shape: tuple[int, ...] | None = None
        if images:
            stored = next((png for png in self.columns.images if png is not None), None)
            if stored is None:
                raise ValueError("the image view needs depictions in the shards; conformers.image_size is 0")
            self.image_shape = decode_image(stored).shape
        self.conformers = conformers
        self.seed = seed
        self.epoch = 0
        n_confs = _lengths(self.columns.conf_offsets)
        self.max_conformers = max(1, int(n_confs.max(initial=0)))
        self.has_3d = n_confs > 0
        self._position = {int(m): i for i, m in enumerate(self.columns.mol_index)}

    def __len__(self) -> int:
        return len(self.columns.mol_index)

    def with_conformers(self, conformers: ConformerChoice) -> ShardDataset:
        """The same molecules (sharing memory) with another conformer choice."""
        view = copy.copy(self)
        view.conformers = conformers
        return view

    def set_epoch(self, epoch: int) -> None:
        """Draw new random conformers (``conformers="random"``)."""
        self.epoch = epoch

    @property
    def mol_index(self) -> np.ndarray:
        return self.columns.mol_index

    def positions(self, mol_index: Sequence[int]) -> list[int]:
        """Dataset positions of the given molecules (``mol_index`` values).

        Raises:
            KeyError: a molecule is not in these shards.
        """
        try:
            return [self._position[int(m)] for m in mol_index]
        except KeyError as error:
            raise KeyError(
                f"molecule {error.args[0]} is not in the shards; were they built from this molecules.parquet?"
            ) from None

    def _chosen_conformers(self, index: int) -> list[int]:
        """Conformer ids (into the flat coordinate blocks) carried by molecule ``index``."""
        first, last = self.columns.conf_offsets[index], self.columns.conf_offsets[index + 1]
        if first == last:
            return []
        if self.conformers == "all":
            return list(range(first, last))
        if self.conformers == "first":
            return [first]
        rng = np.random.default_rng([self.seed, self.epoch, int(self.columns.mol_index[index])])
        return [first + int(rng.integers(last - first))]

    def __getitem__(self, index: int) -> Data:
        c = self.columns
        a0, a1 = c.atom_offsets[index], c.atom_offsets[index + 1]
        b0, b1 = c.bond_offsets[index], c.bond_offsets[index + 1]
        bonds = torch.from_numpy(c.bonds[b0:b1]).T
        bond_feats = torch.from_numpy(c.bond_features[b0:b1])
        n_atoms = int(a1 - a0)
        width = self.max_conformers if self.conformers == "all" else 1
        pos = torch.zeros(n_atoms, width, 3)
        conf_mask = torch.zeros(1, width, dtype=torch.bool)
        for slot, conf in enumerate(self._chosen_conformers(index)):
            start = c.coord_offsets[conf]
            pos[:, slot] = torch.from_numpy(c.coords[start : start + n_atoms])
            conf_mask[0, slot] = True
        images = {}
        if self.image_shape is not None:
            png = c.images[index]
            pixels = decode_image(png) if png is not None else np.full(self.image_shape, 255, np.uint8)
            images = {
                "image": torch.from_numpy(pixels).unsqueeze(0),
                "image_valid": torch.tensor([png is not None]),
            }
        return Data(
            x=torch.from_numpy(c.atom_features[a0:a1]),
            edge_index=torch.cat([bonds, bonds.flip(0)], dim=1),
            edge_attr=torch.cat([bond_feats, bond_feats]),
            z=torch.from_numpy(c.atomic_numbers[a0:a1]),
            pos=pos,
            conf_mask=conf_mask,
            has_3d=conf_mask.any(dim=1),
            ecfp=_bit_row(c.ecfp[index], c.ecfp.shape[1] * 8),
            descriptors=torch.from_numpy(c.descriptors[index : index + 1]),
            maccs=_bit_row(c.maccs[index], MACCS_BITS),
            pubchem=_bit_row(c.pubchem[index], PUBCHEM_BITS),
            erg=torch.from_numpy(c.erg[index : index + 1]),
            smiles=c.smiles[index],
            description=c.descriptions[index],
            mol_id=torch.tensor([int(c.mol_index[index])]),
            row=torch.tensor([int(c.row[index])]),
            num_nodes=n_atoms,
            **images,
        )


class DistributedBatchSampler(Sampler[list[int]]):
    """Global batches of ``batch_size * world_size`` indices, cut into contiguous per-rank slices.

    Every epoch permutes the indices with a generator seeded by ``(seed, epoch)`` (or keeps
    their order), so the concatenation of the ranks' batches in rank order is the batch one
    process would see: the basis of world-size-independent training.

    Args:
        indices: dataset positions to draw from (e.g. one split's molecules).
        batch_size: molecules per rank and step.
        shuffle: permute every epoch; default True.
        seed: seed of the permutation; default 0.
        rank: this process's rank; default 0.
        world_size: number of processes; default 1.
        drop_last: drop the last incomplete global batch (training); default False. When
            kept, it is shared out as evenly as possible.

    Raises:
        ValueError: the kept last batch is too small to give every rank a molecule (an empty
            batch cannot be collated).
    """

    def __init__(
        self,
        indices: Sequence[int],
        *,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ):
        self.indices = np.asarray(indices, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.epoch = 0
        self.start_batch = 0
        last = len(self.indices) % (batch_size * world_size)
        if not drop_last and 0 < last < world_size:
            raise ValueError(
                f"the last batch holds {last} molecules, fewer than the {world_size} processes; "
                "use drop_last or another batch size"
            )

    def set_epoch(self, epoch: int, *, start_batch: int = 0) -> None:
        """Use epoch ``epoch``'s order, starting at its batch ``start_batch`` (resuming mid-epoch)."""
        self.epoch = epoch
        self.start_batch = start_batch

    def batches_per_epoch(self) -> int:
        n_global = len(self.indices) / (self.batch_size * self.world_size)
        return math.floor(n_global) if self.drop_last else math.ceil(n_global)

    def __len__(self) -> int:
        return self.batches_per_epoch() - self.start_batch

    def __iter__(self) -> Iterator[list[int]]:
        order = self.indices
        if self.shuffle:
            generator = np.random.default_rng([self.seed, self.epoch])
            order = order[generator.permutation(len(order))]
        global_size = self.batch_size * self.world_size
        for start in range(
            self.start_batch * global_size, self.batches_per_epoch() * global_size, global_size
        ):
            batch = order[start : start + global_size]
            yield np.array_split(batch, self.world_size)[self.rank].tolist()


def make_loader(
    dataset: ShardDataset,
    *,
    batch_size: int,
    indices: Sequence[int] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    drop_last: bool = False,
) -> DataLoader:
    """A torch_geometric loader over ``dataset`` (or the positions ``indices``) with a
    :class:`DistributedBatchSampler`; arguments as there. Batches are built in this process."""
    sampler = DistributedBatchSampler(
        range(len(dataset)) if indices is None else indices,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        rank=rank,
        world_size=world_size,
        drop_last=drop_last,
    )
    # Its own generator: a loader draws a seed from the global RNG whenever it starts an epoch,
    # which would shift the dropout stream of a run resumed mid-epoch.
    return DataLoader(dataset, batch_sampler=sampler, generator=torch.Generator().manual_seed(seed))

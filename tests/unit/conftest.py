"""Real conformer shards of a few dozen molecules, and batches read from them, for the model and method tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from rdkit import Chem
from torch_geometric.data import Batch

from semmol.config import ConformerConfig, ModelConfig
from semmol.data.conformers import build_shard
from semmol.data.reader import ShardDataset, make_loader
from semmol.models.tokenizer import SmilesVocab

#: Bracket atoms, charges, Cl/Br/I, cis/trans and tetrahedral stereo, fused and spiro rings, one atom,
#: and one molecule of more than 25 heavy atoms (index 23).
MOLECULES = [
    "CCO",
    "c1ccccc1",
    "CC(=O)Oc1ccccc1C(=O)O",
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O",
    "Clc1ccc(Br)cc1",
    "C[N+](C)(C)C",
    "[O-]C(=O)c1ccccc1",
    "C/C=C/C(=O)O",
    "F/C=C\\F",
    "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O",
    "c1ccc2ccccc2c1",
    "C1CCC2(CC1)CCCC2",
    "N#Cc1ccccc1",
    "CS(N)(=O)=O",
    "O=P(O)(O)O",
    "CC(C)(C)OC(=O)N[C@@H](Cc1ccccc1)C(=O)O",
    "c1ccncc1",
    "c1cc[nH]c1",
    "Cc1ccc(cc1)S(=O)(=O)Nc1ccccn1",
    "CCN(CC)CCOC(=O)c1ccc(N)cc1",
    "O=C(O)CCl",
    "ICc1ccccc1",
    "CC(C)c1c(C(=O)Nc2ccccc2)c(-c2ccccc2)c(-c2ccc(F)cc2)n1CC[C@@H](O)C[C@@H](O)CC(=O)O",
    "CC12CCC3C(CCC4=CC(=O)CCC34C)C1CCC2O",
    "O=c1cc[nH]cc1",
    "C",
    "COc1ccc(cc1)N1CCN(CC1)C(C)=O",
    "OC(=O)[C@@H]1CCCN1",
    "CC(C)NCC(O)COc1cccc2ccccc12",
]
N_SHARDS = 5
#: The last shard is built with a zero time budget: its molecules keep their 2D record but no conformer.
NO_3D = range(24, 30)
ECFP_BITS = 256


@pytest.fixture(scope="session")
def shard_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Shards of ``MOLECULES`` (2 MMFF conformers each, except the molecules in ``NO_3D``)."""
    directory = tmp_path_factory.mktemp("model_shards")
    molecules = directory / "molecules.parquet"
    smiles = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in MOLECULES]
    pq.write_table(pa.table({"row": pa.array(range(len(smiles)), pa.int64()), "smiles": smiles}), molecules)
    options = ConformerConfig(n_conformers=2, mmff_max_iters=20, ecfp_bits=ECFP_BITS)
    timed_out = options.model_copy(update={"timeout_s": 1e-9})
    paths = []
    for shard in range(N_SHARDS):
        path = directory / f"shard-{shard}.parquet"
        build_shard(
            molecules,
            shard=shard,
            n_shards=N_SHARDS,
            options=timed_out if shard == N_SHARDS - 1 else options,
            out=path,
        )
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def dataset(shard_files: list[Path]) -> ShardDataset:
    """Every molecule with all its stored conformers and its depiction."""
    data = ShardDataset(shard_files, conformers="all", images=True)
    assert data.max_conformers == 2
    assert [i for i in range(len(data)) if not data.has_3d[i]] == list(NO_3D)
    return data


@pytest.fixture(scope="session")
def make_batch(dataset: ShardDataset) -> Callable[[Sequence[int]], Batch]:
    """``make_batch(indices)``: the molecules at ``indices`` (in that order) as one batch."""

    def load(indices: Sequence[int]) -> Batch:
        loader = make_loader(dataset, batch_size=len(indices), indices=list(indices), shuffle=False)
        (batch,) = list(loader)
        return batch

    return load


@pytest.fixture(scope="session")
def vocab(dataset: ShardDataset) -> SmilesVocab:
    return SmilesVocab.build(dataset.columns.smiles)


@pytest.fixture()
def model_config() -> ModelConfig:
    """Small encoders (dim 16), so every forward pass takes milliseconds."""
    return ModelConfig(
        proj_dim=8,
        smiles={"dim": 16, "layers": 2, "heads": 2, "max_len": 64, "dropout": 0.1, "mask_prob": 0.3},
        graph2d={"dim": 16, "layers": 2, "dropout": 0.1, "mask_prob": 0.3},
        geom3d={"dim": 16, "layers": 2, "cutoff": 5.0, "num_gaussians": 12, "noise_std": 0.1},
        fingerprint={"dim": 16, "layers": 2, "dropout": 0.1},
        image={"dim": 16, "width": 8, "stages": 2, "dropout": 0.1},
    )


@pytest.fixture(scope="session")
def permute_atoms() -> Callable[[Batch, torch.Tensor], Batch]:
    """``permute_atoms(batch, order)``: a one-molecule batch with its atoms renumbered, atom ``k``
    of the result being atom ``order[k]`` of ``batch`` (features, coordinates and bonds alike)."""

    def permute(batch: Batch, order: torch.Tensor) -> Batch:
        assert batch.num_graphs == 1
        new_index = torch.empty_like(order)
        new_index[order] = torch.arange(len(order))
        permuted = batch.clone()
        permuted.x, permuted.z, permuted.pos = batch.x[order], batch.z[order], batch.pos[order]
        permuted.edge_index = new_index[batch.edge_index]
        return permuted

    return permute


@pytest.fixture(scope="session")
def ecfp_bits() -> int:
    """Fingerprint length of the shards."""
    return ECFP_BITS

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch_geometric.data import Batch

from semmol.config import ConformerConfig, ModelConfig
from semmol.data.conformers import build_shard
from semmol.data.reader import ShardDataset
from semmol.data.shards import shard_paths
from semmol.inference.embed import embed_dataset, embed_smiles, load_encoder
from semmol.models.multimodal import MultiModalEncoder
from semmol.models.tokenizer import SmilesVocab

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C[N+](C)(C)C", "OC(=O)c1ccccc1Cl", "CCN(CC)CC", "C#N"]
MODALITIES = ["smiles", "graph2d", "geom3d", "fingerprint"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> ShardDataset:
    """Two shards of ``SMILES``; the second, built with no time to embed, has no conformers."""
    directory = tmp_path_factory.mktemp("embed_shards")
    molecules = directory / "molecules.parquet"
    pq.write_table(pa.table({"row": pa.array(range(len(SMILES)), pa.int64()), "smiles": SMILES}), molecules)
    options = ConformerConfig(n_conformers=2, mmff_max_iters=20, ecfp_bits=128)
    paths: list[Path] = []
    for shard, shard_options in enumerate([options, options.model_copy(update={"timeout_s": 1e-9})]):
        paths.append(directory / f"{shard}.parquet")
        build_shard(molecules, shard=shard, n_shards=2, options=shard_options, out=paths[-1])
    return ShardDataset(paths, conformers="all")


@pytest.fixture()
def model(dataset: ShardDataset) -> MultiModalEncoder:
    cfg = ModelConfig(
        proj_dim=8,
        smiles={"dim": 16, "layers": 1, "heads": 2, "max_len": 32},
        graph2d={"dim": 16, "layers": 2},
        geom3d={"dim": 16, "layers": 1, "num_gaussians": 8},
        fingerprint={"dim": 16},
    )
    torch.manual_seed(0)
    return MultiModalEncoder(cfg, modalities=MODALITIES, vocab=SmilesVocab.build(SMILES), ecfp_bits=128)


def test_shapes_order_and_valid_flags(model: MultiModalEncoder, dataset: ShardDataset):
    embeddings = embed_dataset(model, dataset, modalities=["geom3d", "smiles"], batch_size=3)
    assert list(embeddings) == ["geom3d", "smiles"]
    with torch.no_grad():
        expected = model.eval()(Batch.from_data_list([dataset[i] for i in range(len(dataset))]))
    for name, (vectors, valid) in embeddings.items():
        assert vectors.dtype == np.float32 and vectors.shape == (len(SMILES), 8)
        assert valid.dtype == bool and valid.shape == (len(SMILES),)
        np.testing.assert_allclose(vectors, expected[name].projected.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert embeddings["smiles"][1].all()
    assert embeddings["geom3d"][1].tolist() == dataset.has_3d.tolist() == [True] * 4 + [False] * 3


def test_deterministic_in_evaluation_mode_and_the_mode_is_restored(
    model: MultiModalEncoder, dataset: ShardDataset
):
    model.train()  # dropout on: embedding must switch it off, and back on afterwards
    first = embed_dataset(model, dataset, modalities=MODALITIES, batch_size=2)
    assert model.training and all(module.training for module in model.modules())
    second = embed_dataset(model, dataset, modalities=MODALITIES, batch_size=len(SMILES))
    for name in MODALITIES:
        np.testing.assert_allclose(first[name][0], second[name][0], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(first[name][1], second[name][1])
    model.eval()
    embed_dataset(model, dataset, modalities=["graph2d"])
    assert not model.training


@pytest.mark.slow
def test_new_molecules_get_the_embeddings_of_the_pipeline_s_shards(pretrained_dir, tiny_benchmark):
    encoder, featurization = load_encoder(pretrained_dir)
    shards = ShardDataset(shard_paths(tiny_benchmark["manifest"]), conformers="all")
    expected = embed_dataset(encoder, shards, modalities=encoder.modalities)
    smiles = shards.columns.smiles[:6] + ["C1CC"]
    table = embed_smiles(encoder, smiles, featurization=featurization)
    embedding_columns = [f"{modality}_embedding" for modality in encoder.modalities]
    assert table.column_names == ["smiles_canonical", *embedding_columns, "status", "reason"]
    assert table.column("status").to_pylist() == ["ok"] * 6 + ["rejected"]
    for modality in encoder.modalities:
        column = table.column(f"{modality}_embedding")
        assert column.type == pa.list_(pa.float32(), encoder.cfg.proj_dim)
        assert column[6].as_py() is None
        np.testing.assert_allclose(
            np.array(column.to_pylist()[:6]), expected[modality][0][:6], rtol=1e-5, atol=1e-6
        )


@pytest.mark.slow
def test_embed_takes_the_encoders_of_a_fine_tuned_model(finetuned_dirs):
    encoder, featurization = load_encoder(finetuned_dirs[0])
    assert "fingerprint" in encoder.modalities and featurization["conformers"]["ecfp_bits"] == 256
    table = embed_smiles(encoder, ["CCO"], featurization=featurization, modalities=["graph2d"])
    assert table.column_names == ["smiles_canonical", "graph2d_embedding", "status", "reason"]
    with pytest.raises(ValueError, match=r"the model has no \['text'\] encoder"):
        embed_smiles(encoder, ["CCO"], featurization=featurization, modalities=["text"])

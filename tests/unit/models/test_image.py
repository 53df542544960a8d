from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from rdkit import Chem

from semmol.config import ImageEncoderConfig
from semmol.data.featurize import depiction_png
from semmol.data.reader import ShardDataset, decode_image
from semmol.models.image import ImageEncoder

CONFIG = ImageEncoderConfig(dim=16, width=8, stages=2, dropout=0.0)


def test_depiction_is_deterministic_rgb_of_the_asked_size():
    mol = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")
    png = depiction_png(mol, size=48)
    assert png == depiction_png(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"), size=48)
    pixels = decode_image(png)
    assert pixels.shape == (3, 48, 48) and pixels.dtype == np.uint8
    assert (pixels < 128).any() and np.median(pixels) == 255  # ink on white paper


def test_batches_carry_the_stored_depictions(make_batch, shard_files):
    batch = make_batch([0, 3, 5])
    stored = pq.read_table(shard_files[0], columns=["image"]).column("image").to_pylist()
    assert batch.image.shape == (3, 3, 64, 64) and batch.image.dtype == torch.uint8
    assert batch.image_valid.tolist() == [True, True, True]
    assert torch.equal(batch.image[0], torch.from_numpy(decode_image(stored[0])))


def test_images_stay_on_disk_unless_asked_for(shard_files):
    assert not hasattr(ShardDataset(shard_files)[0], "image")


def test_shards_without_depictions_refuse_the_image_view(shard_files, tmp_path):
    table = pq.read_table(shard_files[0])
    path = tmp_path / "no_images.parquet"
    pq.write_table(
        table.set_column(table.column_names.index("image"), "image", [[None] * table.num_rows]), path
    )
    with pytest.raises(ValueError, match="conformers.image_size is 0"):
        ShardDataset([path], images=True)


@torch.no_grad()
def test_encoder_shapes_and_batch_independence(make_batch):
    torch.manual_seed(0)
    encoder = ImageEncoder(CONFIG).eval()
    together = encoder(make_batch([0, 1, 2, 3]))
    assert together.hidden.shape == (4, 16) and together.valid.all() and together.reconstruction_loss is None
    alone = encoder(make_batch([2]))
    torch.testing.assert_close(alone.hidden[0], together.hidden[2], rtol=1e-4, atol=1e-5)


@torch.no_grad()
def test_a_molecule_without_an_image_is_invalid_and_zero(make_batch):
    torch.manual_seed(0)
    encoder = ImageEncoder(CONFIG).eval()
    batch = make_batch([0, 1])
    batch.image_valid = torch.tensor([True, False])
    out = encoder(batch)
    assert out.valid.tolist() == [True, False] and not out.hidden[1].any() and out.hidden[0].any()


def test_a_batch_without_images_names_the_fix(shard_files):
    from torch_geometric.data import Batch

    batch = Batch.from_data_list([ShardDataset(shard_files)[0]])
    with pytest.raises(ValueError, match="images=True"):
        ImageEncoder(CONFIG)(batch)


@torch.no_grad()
def test_a_strided_stem_keeps_the_output_shape(make_batch):
    torch.manual_seed(0)
    encoder = ImageEncoder(CONFIG.model_copy(update={"stem_stride": 2})).eval()
    assert encoder(make_batch([0, 1, 2])).hidden.shape == (3, 16)

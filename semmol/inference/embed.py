"""Embeddings of a dataset, or of new molecules, with trained encoders (no gradients, evaluation mode)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import torch
from tqdm import tqdm

from semmol.config import ConformerConfig, StandardizeConfig
from semmol.data.reader import ShardDataset, make_loader
from semmol.inference.centers import CorpusLibrary
from semmol.inference.molecules import prepare_molecules
from semmol.methods.property import PROPERTY_FORMAT, PropertyModel
from semmol.models.multimodal import MultiModalEncoder
from semmol.runtime.checkpoint import load_file

log = logging.getLogger(__name__)

#: Suffix of the embedding columns written by :func:`embed_smiles`.
EMBEDDING_SUFFIX = "_embedding"


@torch.no_grad()
def embed_dataset(
    model: MultiModalEncoder,
    dataset: ShardDataset,
    *,
    modalities: list[str],
    batch_size: int = 256,
    representation: Literal["projected", "hidden"] = "projected",
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Embeddings of every molecule, per modality.

    Args:
        model: the encoders.
        dataset: the molecules, in dataset order.
        modalities: which views to embed.
        batch_size: molecules per forward pass; default 256.
        representation: 'projected' (default: the L2-normalised projection into the shared
            space) or 'hidden' (the encoder's pooled output, which a fine-tuning head reads).

    Returns:
        ``{modality: (embeddings [N, dim] float32, valid [N] bool)}``, computed in
        evaluation mode; the model is left in the mode it came in.
    """
    was_training = model.training
    model.eval()
    parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {m: [] for m in modalities}
    loader = make_loader(dataset, batch_size=batch_size, shuffle=False)
    try:
        device = next(model.parameters()).device
        for batch in tqdm(loader, desc="embedding", mininterval=5):
            batch = batch.to(device)
            for modality, out in model(batch, modalities=modalities).items():
                parts[modality].append((getattr(out, representation), out.valid))
    finally:
        model.train(was_training)  # a caller in the middle of training keeps its dropout
    return {
        m: (
            torch.cat([e for e, _ in p]).cpu().numpy().astype(np.float32),
            torch.cat([v for _, v in p]).cpu().numpy(),
        )
        for m, p in parts.items()
    }


def load_encoder(path: str | Path) -> tuple[MultiModalEncoder, dict]:
    """The encoders of a pretrained model (``results/pretrain/<run>`` or its ``model.pt``), or of a
    fine-tuned one (``results/finetune/...`` or its ``model.pt``), and how their inputs were made.

    Returns:
        ``(encoder, featurization)``, ``featurization`` holding the ``standardize`` and
        ``conformers`` options the model's training data was made with.
    """
    file = Path(path) / "model.pt" if Path(path).is_dir() else Path(path)
    saved = load_file(file)
    if isinstance(saved, dict) and saved.get("format") == PROPERTY_FORMAT:
        model, metadata = PropertyModel.load(file)
        return model.encoder, metadata["featurization"]
    encoder, extra = MultiModalEncoder.load(file)
    if "featurization" not in extra:
        raise ValueError(
            f"{file}: records no featurization (made by an older semmol); re-run its pretraining"
        )
    return encoder, extra["featurization"]


def embed_smiles(
    encoder: MultiModalEncoder,
    smiles: list[str | None],
    *,
    featurization: dict,
    modalities: list[str] | None = None,
    threads: int = 1,
    batch_size: int = 256,
) -> pa.Table:
    """Embeddings of new molecules, one row per input.

    Args:
        encoder: the encoders (see :func:`load_encoder`).
        smiles: the input SMILES, in order.
        featurization: the model's ``standardize`` and ``conformers`` options.
        modalities: views to embed; default every view of the encoder.
        threads: worker processes of the featurization; default 1.
        batch_size: molecules per forward pass; default 256.

    Returns:
        Columns ``smiles_canonical``, ``<modality>_embedding`` per modality (``fixed_size_list<float32, proj_dim>``:
        the L2-normalised projection; null where the molecule is rejected or lacks the view,
        e.g. no conformer), ``status`` and ``reason``.
    """
    modalities = modalities or encoder.modalities
    unknown = [m for m in modalities if m not in encoder.modalities]
    if unknown:
        raise ValueError(f"the model has no {unknown} encoder; it has {encoder.modalities}")
    started = time.perf_counter()
    prepared = prepare_molecules(
        smiles,
        standardize=StandardizeConfig.model_validate(featurization["standardize"]),
        conformers=ConformerConfig.model_validate(featurization["conformers"]),
        modalities=modalities,
        threads=threads,
    )
    dim = encoder.cfg.proj_dim
    columns: dict[str, pa.Array] = {"smiles_canonical": pa.array(prepared.canonical, pa.string())}
    embedded = (
        embed_dataset(encoder, prepared.dataset, modalities=modalities, batch_size=batch_size)
        if prepared.dataset is not None
        else {}
    )
    for modality in modalities:
        rows: list[list[float] | None] = [None] * len(smiles)
        if modality in embedded:
            vectors, valid = embedded[modality]
            for i, position in enumerate(prepared.positions):
                if position is not None and valid[position]:
                    rows[i] = vectors[position].tolist()
        columns[modality + EMBEDDING_SUFFIX] = pa.array(rows, pa.list_(pa.float32(), dim))
    columns["status"] = pa.array(prepared.status, pa.string())
    columns["reason"] = pa.array(prepared.reason, pa.string())
    seconds = time.perf_counter() - started
    log.info(
        "embedded %d molecules in %.1f s (%.1f molecules/s)",
        len(smiles),
        seconds,
        len(smiles) / max(seconds, 1e-9),
    )
    return pa.table(columns)


def add_nearest_centers(table: pa.Table, library: CorpusLibrary) -> pa.Table:
    """``table`` (from :func:`embed_smiles`) with each embedded view's nearest corpus center.

    For every ``<modality>_embedding`` column whose modality the library clusters, adds
    ``<modality>_center`` (int64, the center's row in ``{modality}.npy``) and
    ``<modality>_center_cosine`` (float32); null where the embedding is null.

    Raises:
        ValueError: the library clusters none of the embedded views.
    """
    modalities = [
        name.removesuffix(EMBEDDING_SUFFIX)
        for name in table.column_names
        if name.endswith(EMBEDDING_SUFFIX) and name.removesuffix(EMBEDDING_SUFFIX) in library.modalities
    ]
    if not modalities:
        raise ValueError(f"{library.directory}: clusters {library.modalities}, none of the embedded views")
    position = table.column_names.index("status")
    for modality in modalities:
        column = table.column(modality + EMBEDDING_SUFFIX)
        rows = column.to_pylist()
        present = [i for i, vector in enumerate(rows) if vector is not None]
        vectors = np.asarray([rows[i] for i in present], np.float32).reshape(len(present), -1)
        center, cosine = library.nearest(modality, vectors)
        centers: list[int | None] = [None] * len(table)
        cosines: list[float | None] = [None] * len(table)
        for row, nearest, similarity in zip(present, center, cosine):
            centers[row], cosines[row] = int(nearest), float(similarity)
        table = table.add_column(position, modality + "_center", pa.array(centers, pa.int64()))
        table = table.add_column(position + 1, modality + "_center_cosine", pa.array(cosines, pa.float32()))
        position += 2
    return table

"""Embedding a dataset with trained encoders (no gradients, evaluation mode)."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from semmol.data.reader import ShardDataset, make_loader
from semmol.models.multimodal import MultiModalEncoder


@torch.no_grad()
def embed_dataset(
    model: MultiModalEncoder, dataset: ShardDataset, *, modalities: list[str], batch_size: int = 256
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Projected (L2-normalised) embeddings of every molecule, per modality.

    Args:
        model: the encoders.
        dataset: the molecules, in dataset order.
        modalities: which views to embed.
        batch_size: molecules per forward pass; default 256.

    Returns:
        ``{modality: (embeddings [N, proj_dim] float32, valid [N] bool)}``, computed in
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
                parts[modality].append((out.projected, out.valid))
    finally:
        model.train(was_training)  # a caller in the middle of training keeps its dropout
    return {
        m: (
            torch.cat([e for e, _ in p]).cpu().numpy().astype(np.float32),
            torch.cat([v for _, v in p]).cpu().numpy(),
        )
        for m, p in parts.items()
    }

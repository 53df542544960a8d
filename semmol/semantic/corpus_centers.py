"""The center library of a pretrained run, built after training over the whole corpus.

Each modality's corpus embeddings are clustered with FAISS spherical k-means; the stage writes
per modality the centers (``{modality}.npy``), a flat inner-product FAISS index over them
(``{modality}.faiss``) and, in ``library.json``, per-center counts, usage entropy and the
inertia (mean ``1 - cosine`` of each molecule to its center).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)


def spherical_kmeans(points: np.ndarray, *, n_centers: int, seed: int, iterations: int = 25) -> np.ndarray:
    """Unit-norm centers ``[n_centers, d]`` of unit-norm ``points`` (FAISS k-means, spherical)."""
    if len(points) < n_centers:
        raise ValueError(f"{len(points)} embedded molecules, fewer than the {n_centers} centers asked for")
    kmeans = faiss.Kmeans(
        points.shape[1], n_centers, niter=iterations, seed=seed, spherical=True, verbose=False
    )
    kmeans.train(np.ascontiguousarray(points, dtype=np.float32))
    return kmeans.centroids


def library_statistics(points: np.ndarray, centers: np.ndarray) -> tuple[faiss.Index, dict]:
    """A flat inner-product index over ``centers`` and the assignment statistics of ``points``."""
    index = faiss.IndexFlatIP(centers.shape[1])
    index.add(np.ascontiguousarray(centers, dtype=np.float32))
    similarity, assignment = index.search(np.ascontiguousarray(points, dtype=np.float32), 1)
    counts = np.bincount(assignment[:, 0], minlength=len(centers))
    share = counts[counts > 0] / counts.sum()
    return index, {
        "n_centers": len(centers),
        "molecules": int(counts.sum()),
        "counts": counts.tolist(),
        "empty_centers": int((counts == 0).sum()),
        "usage_entropy": float(-(share * np.log(share)).sum()),
        "max_entropy": float(np.log(len(centers))),
        "inertia": float(np.mean(1.0 - similarity[:, 0])),
    }


def build_library(
    embeddings: dict[str, tuple[np.ndarray, np.ndarray]], *, n_centers: int, seed: int, out_dir: Path
) -> dict:
    """Cluster each modality's valid embeddings and write the library files to ``out_dir``.

    Args:
        embeddings: ``{modality: (embeddings [N, d], valid [N])}`` (see :func:`semmol.inference.embed.embed_dataset`).
        n_centers: centers per modality.
        seed: k-means seed.
        out_dir: the run's ``centers/`` directory.

    Returns:
        The content of ``library.json``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    library = {"seed": seed, "modalities": {}}
    for modality, (points, valid) in embeddings.items():
        points = points[valid]
        centers = spherical_kmeans(points, n_centers=n_centers, seed=seed)
        index, stats = library_statistics(points, centers)
        np.save(out_dir / f"{modality}.npy", centers)
        faiss.write_index(index, str(out_dir / f"{modality}.faiss"))
        library["modalities"][modality] = {
            "centers": f"{modality}.npy",
            "index": f"{modality}.faiss",
            **stats,
        }
        log.info(
            "%s: %d centers over %d molecules, inertia %.4f, usage entropy %.2f of %.2f, %d empty",
            modality,
            n_centers,
            stats["molecules"],
            stats["inertia"],
            stats["usage_entropy"],
            stats["max_entropy"],
            stats["empty_centers"],
        )
    (out_dir / "library.json").write_text(json.dumps(library, indent=2) + "\n")
    return library

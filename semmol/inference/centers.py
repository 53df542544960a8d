"""The center library of a pretrained run, built after training over the whole corpus, and its lookup.

Each modality's corpus embeddings are clustered with the spherical k-means the SemMol center
library uses (:func:`semmol.methods.shared.kmeans.spherical_kmeans`); the stage writes per
modality the centers (``{modality}.npy``), a flat inner-product FAISS index over them
(``{modality}.faiss``) and, in ``library.json``, per-center counts, usage entropy and the
inertia (mean ``1 - cosine`` of each molecule to its center). :class:`CorpusLibrary` reads it
back: ``semmol embed --centers`` names each new molecule's nearest corpus center.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import faiss
import numpy as np
import torch

from semmol.methods.shared.kmeans import spherical_kmeans

log = logging.getLogger(__name__)

#: Spherical Lloyd iterations after k-means++ seeding.
KMEANS_ITERATIONS = 25


def cluster_corpus(points: np.ndarray, *, n_centers: int, seed: int) -> np.ndarray:
    """Unit-norm centers ``[n_centers, d]`` float32 of unit-norm ``points``.

    Raises:
        ValueError: fewer points than centers.
    """
    if len(points) < n_centers:
        raise ValueError(f"{len(points)} embedded molecules, fewer than the {n_centers} centers asked for")
    centers = spherical_kmeans(
        torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32)),
        n_centers,
        iters=KMEANS_ITERATIONS,
        seed=seed,
        faiss_min_size=0,  # corpus-sized searches always go through FAISS
    )
    return centers.numpy()


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
        centers = cluster_corpus(points, n_centers=n_centers, seed=seed)
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


class CorpusLibrary:
    """The library a ``centers`` stage wrote (``library.json`` and per modality its FAISS index).

    Args:
        directory: the run's ``centers/`` directory.

    Raises:
        FileNotFoundError: no ``library.json`` in ``directory``.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        manifest = self.directory / "library.json"
        if not manifest.exists():
            raise FileNotFoundError(f"{manifest}: no center library here (the 'centers' stage writes it)")
        self.summary = json.loads(manifest.read_text())
        self.indexes = {
            modality: faiss.read_index(str(self.directory / entry["index"]))
            for modality, entry in self.summary["modalities"].items()
        }

    @property
    def modalities(self) -> list[str]:
        return list(self.indexes)

    def nearest(self, modality: str, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(center [N] int64, cosine [N] float32)``: each embedding's nearest center.

        Args:
            modality: a modality of the library.
            embeddings: ``[N, d]`` L2-normalised embeddings of that modality.

        Raises:
            KeyError: the library has no centers for ``modality``.
        """
        if modality not in self.indexes:
            raise KeyError(f"{self.directory}: no '{modality}' centers; it has {self.modalities}")
        if len(embeddings) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        similarity, center = self.indexes[modality].search(np.ascontiguousarray(embeddings, np.float32), 1)
        return center[:, 0].astype(np.int64), similarity[:, 0]

"""Spherical k-means on unit vectors, and the nearest-center search it and its users share.

One implementation serves the center library of SemMol (initial clustering, online
assignment), the corpus library of the ``centers`` stage and the memory anchors of MMSA.
Nearest-neighbour search goes through FAISS (a flat inner-product index) when
``queries x keys`` reaches ``faiss_min_size`` and through a torch matmul otherwise; both give
the same indices and similarities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def top_k_inner_product(
    queries: torch.Tensor, keys: torch.Tensor, k: int, *, faiss_min_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` rows of ``keys`` with the largest inner product with each query, largest first.

    Args:
        queries: ``[N, dim]``.
        keys: ``[K, dim]``.
        k: neighbours per query, ``1 <= k <= K``.
        faiss_min_size: FAISS is used when ``N * K`` reaches this, a torch matmul otherwise.

    Returns:
        ``(similarities [N, k] float32, indices [N, k] int64)`` on the device of ``queries``;
        no gradient flows through them.
    """
    if not 1 <= k <= keys.shape[0]:
        raise ValueError(f"k must be between 1 and the number of keys ({keys.shape[0]}), got {k}")
    queries, keys = queries.detach().float(), keys.detach().float()
    if queries.shape[0] and queries.shape[0] * keys.shape[0] >= faiss_min_size:
        import faiss  # here, not above: below faiss_min_size nothing needs it (a GPU machine may lack it)

        index = faiss.IndexFlatIP(keys.shape[1])
        index.add(keys.cpu().contiguous().numpy())
        sims, indices = index.search(queries.cpu().contiguous().numpy(), k)
        return torch.from_numpy(sims).to(queries.device), torch.from_numpy(indices).to(queries.device)
    sims, indices = torch.topk(queries @ keys.T, k, dim=1)
    return sims, indices


def cluster_sums(points: torch.Tensor, assignment: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """``[n_clusters, dim + 1]``: per cluster, the sum of its points and (last column) their count."""
    stats = points.new_zeros(n_clusters, points.shape[1] + 1)
    stats[:, :-1].index_add_(0, assignment, points)
    stats[:, -1].index_add_(0, assignment, points.new_ones(points.shape[0]))
    return stats


def kmeans_plus_plus(points: torch.Tensor, k: int, *, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding on unit vectors: each next center drawn with probability ~ squared distance.

    Args:
        points: ``[N, dim]`` L2-normalised, on the CPU, ``N >= k``.
        k: centers to draw.
        generator: the source of randomness (seeded by the caller).

    Returns:
        ``[k, dim]`` rows of ``points``.
    """
    n = points.shape[0]
    chosen = [int(torch.randint(n, (1,), generator=generator))]
    distance = (2 - 2 * points @ points[chosen[0]]).clamp_min(0)  # squared chord length
    for _ in range(1, k):
        if float(distance.sum()) > 0:
            chosen.append(int(torch.multinomial(distance, 1, generator=generator)))
        else:  # every point coincides with a chosen center: duplicates are all that is left
            chosen.append(int(torch.randint(n, (1,), generator=generator)))
        distance = torch.minimum(distance, (2 - 2 * points @ points[chosen[-1]]).clamp_min(0))
    return points[chosen].clone()


def spherical_kmeans(
    points: torch.Tensor, k: int, *, iters: int, seed: int, faiss_min_size: int
) -> torch.Tensor:
    """Seeded k-means++ followed by ``iters`` spherical Lloyd iterations.

    Args:
        points: ``[N, dim]`` L2-normalised, ``N >= k``.
        k: clusters.
        iters: Lloyd iterations (assign by cosine, move each non-empty center to its normalised mean).
        seed: seed of the k-means++ draws.
        faiss_min_size: see :func:`top_k_inner_product`.

    Returns:
        ``[k, dim]`` unit-norm centers on the CPU.
    """
    if points.shape[0] < k:
        raise ValueError(f"k-means needs at least {k} points, got {points.shape[0]}")
    points = points.detach().float().cpu()
    centers = kmeans_plus_plus(points, k, generator=torch.Generator().manual_seed(seed))
    for _ in range(iters):
        _, nearest = top_k_inner_product(points, centers, 1, faiss_min_size=faiss_min_size)
        stats = cluster_sums(points, nearest[:, 0], k)
        filled = stats[:, -1] > 0  # an empty cluster keeps its center
        centers[filled] = F.normalize(stats[filled, :-1], dim=1)
    return centers

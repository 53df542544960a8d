"""Dynamic Center Library (DCL): K semantic centers on the unit sphere for one target modality.

Life of a library:

1. Initialisation by clustering: the valid, L2-normalised target features of the global batch
   are cached (sorted by molecule key, at most ``init_cache`` rows) until at least K are
   there; then rank 0 runs seeded k-means++ plus spherical Lloyd iterations on the cache
   (sorted by key again) and broadcasts the centers.
2. Online EMA mini-batch k-means, once per step: each valid feature is hard-assigned to its
   nearest center (cosine); per-center sums and counts are all-reduced over ranks and every
   non-empty center moves to ``normalize(beta * c + (1 - beta) * mean)``.
3. Re-seeding: a center empty for ``reseed_after`` consecutive updates is replaced by a
   feature of the current global batch, chosen by a generator seeded with (seed, updates).

Nearest-center search goes through FAISS (a flat inner-product index) when
``queries x K >= faiss_min_size`` and through a torch matmul otherwise; both give the same
indices and similarities. Everything the library knows is a buffer, so it lives in the
``state_dict`` and a resumed run continues exactly.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

from semmol.methods.shared.gather import gather_rows_by_key
from semmol.methods.shared.kmeans import cluster_sums, spherical_kmeans, top_k_inner_product
from semmol.runtime.distributed import all_reduce_sum, broadcast_, rank

log = logging.getLogger(__name__)


class CenterLibrary(nn.Module):
    """The centers of one target modality, with their online update (see the module docstring).

    Args:
        n_centers: K.
        dim: feature size.
        beta: EMA momentum of the update (1 keeps the centers fixed).
        init_cache: most features cached for the initial clustering; must be ``>= n_centers``.
        init_min: features cached before clustering, between ``n_centers`` and ``init_cache``;
            ``None`` (default) clusters as soon as ``n_centers`` are cached.
        init_iters: spherical Lloyd iterations after k-means++.
        reseed_after: re-seed a center empty for this many consecutive updates; ``None`` never.
        faiss_min_size: see :func:`top_k_inner_product`.
        seed: seed of the clustering and of the re-seeding draws.
    """

    def __init__(
        self,
        *,
        n_centers: int,
        dim: int,
        beta: float,
        init_cache: int,
        init_iters: int,
        init_min: int | None = None,
        reseed_after: int | None,
        faiss_min_size: int,
        seed: int,
    ):
        super().__init__()
        if init_cache < n_centers:
            raise ValueError(f"init_cache ({init_cache}) must be at least n_centers ({n_centers})")
        init_min = n_centers if init_min is None else init_min
        if not n_centers <= init_min <= init_cache:
            raise ValueError(
                f"init_min ({init_min}) must lie between n_centers ({n_centers}) and init_cache ({init_cache})"
            )
        if reseed_after is not None and reseed_after < 1:
            raise ValueError(f"reseed_after must be >= 1 or null, got {reseed_after}")
        self.n_centers, self.dim, self.beta = n_centers, dim, beta
        self.init_cache, self.init_iters, self.init_min = init_cache, init_iters, init_min
        self.reseed_after, self.faiss_min_size, self.seed = reseed_after, faiss_min_size, seed
        self.register_buffer("centers", torch.zeros(n_centers, dim))
        self.register_buffer("counts", torch.zeros(n_centers, dtype=torch.long))  # since (re)seeding
        self.register_buffer("empty_streak", torch.zeros(n_centers, dtype=torch.long))
        self.register_buffer("initialised", torch.tensor(False))
        self.register_buffer("updates", torch.tensor(0))  # EMA updates since initialisation
        self.register_buffer("cache", torch.zeros(0, dim))  # emptied once initialised
        self.register_buffer("cache_keys", torch.zeros(0, dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The cache changes size as it fills: take the saved size before the copy.
        for name in ("cache", "cache_keys"):
            if prefix + name in state_dict:
                current = getattr(self, name)
                setattr(self, name, current.new_empty(state_dict[prefix + name].shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def ready(self, warmup_updates: int) -> bool:
        """Initialised and updated at least ``warmup_updates`` times since."""
        return bool(self.initialised) and int(self.updates) >= warmup_updates

    def snapshot(self) -> torch.Tensor:
        """A detached copy of the centers, unaffected by later updates."""
        return self.centers.detach().clone()

    def usage_entropy(self) -> float:
        """Entropy of the assignment counts, divided by log K (1 = uniform use, 0 = one center)."""
        total = int(self.counts.sum())
        if total == 0:
            return 0.0
        p = self.counts[self.counts > 0].double() / total
        return float(-(p * p.log()).sum()) / math.log(self.n_centers)

    def dead_centers(self) -> int:
        """Centers assigned no feature since they were (re)seeded (all K before initialisation)."""
        return int((self.counts == 0).sum())

    @torch.no_grad()
    def update(self, features: torch.Tensor, keys: torch.Tensor, valid: torch.Tensor) -> int:
        """Consume one batch: cache it (and cluster when enough), or apply the EMA update.

        A collective: every rank calls it once per step.

        Args:
            features: ``[B, dim]`` this rank's L2-normalised target features.
            keys: ``[B]`` int64 molecule keys.
            valid: ``[B]`` bool; invalid rows are ignored.

        Returns:
            The number of centers re-seeded by this update.
        """
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ValueError(f"expected features [B, {self.dim}], got {tuple(features.shape)}")
        if not bool(self.initialised):
            self._cache_and_cluster(features, keys, valid)
            return 0
        rows = features.detach().float()[valid]
        _, nearest = top_k_inner_product(rows, self.centers, 1, faiss_min_size=self.faiss_min_size)
        stats = all_reduce_sum(cluster_sums(rows, nearest[:, 0], self.n_centers))
        sums, counts = stats[:, :-1], stats[:, -1]
        filled = counts > 0
        means = sums[filled] / counts[filled, None]
        self.centers[filled] = F.normalize(self.beta * self.centers[filled] + (1 - self.beta) * means, dim=1)
        self.counts += counts.round().long()
        self.empty_streak += 1
        self.empty_streak[filled] = 0
        self.updates += 1
        return self._reseed(features, keys, valid)

    def _cache_and_cluster(self, features: torch.Tensor, keys: torch.Tensor, valid: torch.Tensor) -> None:
        rows, row_keys = gather_rows_by_key(features, keys, valid)
        room = self.init_cache - self.cache.shape[0]
        self.cache = torch.cat([self.cache, rows[:room].to(self.cache.device)])
        self.cache_keys = torch.cat([self.cache_keys, row_keys[:room].to(self.cache_keys.device)])
        if self.cache.shape[0] < self.init_min:
            return
        centers = torch.empty_like(self.centers)
        if rank() == 0:
            order = torch.sort(self.cache_keys, stable=True).indices
            points = self.cache[order]
            clustered = spherical_kmeans(
                points,
                self.n_centers,
                iters=self.init_iters,
                seed=self.seed,
                faiss_min_size=self.faiss_min_size,
            )
            centers.copy_(clustered)
        self.centers.copy_(broadcast_(centers))
        log.info("center library initialised: %d centers from %d features", self.n_centers, len(self.cache))
        self.initialised.fill_(True)
        self.cache, self.cache_keys = self.cache[:0].clone(), self.cache_keys[:0].clone()

    def _reseed(self, features: torch.Tensor, keys: torch.Tensor, valid: torch.Tensor) -> int:
        if self.reseed_after is None:
            return 0
        dead = torch.nonzero(self.empty_streak >= self.reseed_after).flatten()
        if dead.numel() == 0:  # the streaks are global, so every rank takes the same branch
            return 0
        pool, _ = gather_rows_by_key(features, keys, valid)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.updates))
        picks = torch.randperm(pool.shape[0], generator=generator)[: dead.numel()].to(pool.device)
        dead = dead[: picks.numel()]
        self.centers[dead] = F.normalize(pool[picks], dim=1).to(self.centers.device)
        self.counts[dead] = 0
        self.empty_streak[dead] = 0
        if dead.numel():
            log.debug("re-seeded %d dead centers at update %d", dead.numel(), int(self.updates))
        return int(dead.numel())

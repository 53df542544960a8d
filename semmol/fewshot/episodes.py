"""Episodes: a task (an assay column), a support set and a query set of its labelled molecules.

An episode of a task is 2-way: the support holds ``k`` positives and ``k`` negatives, the query
``query_size / 2`` of each, disjoint from the support. Episodes are drawn from a generator
seeded by (seed, task name), so every learner of a run set sees the same episodes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np


class EpisodeError(ValueError):
    """A task has too few labelled molecules of a class for an episode."""


@dataclass(frozen=True)
class Episode:
    """One task's support and query sets.

    Attributes:
        task: the task (target column).
        support: ``[2k]`` molecule positions (rows of the label matrix).
        support_labels: ``[2k]`` 0/1.
        query: ``[q]`` molecule positions, none of them in ``support``.
        query_labels: ``[q]`` 0/1, half each.
    """

    task: str
    support: np.ndarray
    support_labels: np.ndarray
    query: np.ndarray
    query_labels: np.ndarray


def task_generator(seed: int, task: str) -> np.random.Generator:
    """The generator of ``task``'s episodes: the same for every learner and every process."""
    return np.random.default_rng([seed, zlib.crc32(task.encode())])


def episode_shortfall(labels: np.ndarray, *, task: str, k_shot: int, query_size: int) -> str | None:
    """Why ``task`` (label column ``labels``) cannot give an episode, or None when it can."""
    half = query_size // 2
    for value in (1.0, 0.0):
        members = int(np.sum(labels == value))
        if members < k_shot + half:
            return (
                f"task '{task}' has {members} molecules labelled {int(value)}, fewer than the "
                f"{k_shot + half} an episode needs (k_shot {k_shot} + query {half})"
            )
    return None


def sample_episode(
    labels: np.ndarray, *, task: str, k_shot: int, query_size: int, rng: np.random.Generator
) -> Episode:
    """One episode of a task from its label column.

    Args:
        labels: ``[n]`` 0/1 labels, NaN where the molecule is not labelled for the task.
        task: its name.
        k_shot: positives and negatives each in the support.
        query_size: query molecules, half of each class; even.
        rng: the source of randomness.

    Raises:
        EpisodeError: fewer than ``k_shot + query_size / 2`` molecules of a class.
    """
    if query_size % 2:
        raise EpisodeError(f"query_size must be even (a balanced query), got {query_size}")
    half = query_size // 2
    shortfall = episode_shortfall(labels, task=task, k_shot=k_shot, query_size=query_size)
    if shortfall is not None:
        raise EpisodeError(shortfall)
    classes = [rng.permutation(np.flatnonzero(labels == value))[: k_shot + half] for value in (1.0, 0.0)]
    positives, negatives = classes
    support = np.concatenate([positives[:k_shot], negatives[:k_shot]])
    query = np.concatenate([positives[k_shot:], negatives[k_shot:]])
    return Episode(
        task=task,
        support=support,
        support_labels=labels[support].astype(np.float32),
        query=query,
        query_labels=labels[query].astype(np.float32),
    )


def draw_episodes(
    label_matrix: np.ndarray,
    tasks: list[str],
    columns: list[str],
    *,
    k_shot: int,
    query_size: int,
    episodes: int,
    seed: int,
) -> list[Episode]:
    """``episodes`` episodes of each task, task by task, drawn once from ``seed``.

    Args:
        label_matrix: ``[n, len(columns)]`` labels (NaN missing).
        tasks: the tasks to draw for (a subset of ``columns``).
        columns: the names of the label matrix's columns.
        k_shot: see :func:`sample_episode`.
        query_size: see :func:`sample_episode`.
        episodes: episodes per task.
        seed: the seed (with each task's name) of the draws.
    """
    drawn = []
    for task in tasks:
        rng = task_generator(seed, task)
        labels = label_matrix[:, columns.index(task)]
        drawn += [
            sample_episode(labels, task=task, k_shot=k_shot, query_size=query_size, rng=rng)
            for _ in range(episodes)
        ]
    return drawn

from __future__ import annotations

import numpy as np
import pytest

from semmol.fewshot.episodes import EpisodeError, draw_episodes, sample_episode, task_generator


def labels(n_pos: int, n_neg: int, n_missing: int = 0, seed: int = 0) -> np.ndarray:
    values = np.array([1.0] * n_pos + [0.0] * n_neg + [np.nan] * n_missing)
    return np.random.default_rng(seed).permutation(values)


def test_support_and_query_are_balanced_disjoint_and_labelled():
    column = labels(30, 50, 20)
    episode = sample_episode(column, task="t", k_shot=10, query_size=16, rng=np.random.default_rng(1))
    assert len(episode.support) == 20 and len(episode.query) == 16
    assert episode.support_labels.tolist() == [1.0] * 10 + [0.0] * 10
    assert sorted(episode.query_labels.tolist()) == [0.0] * 8 + [1.0] * 8
    assert not set(episode.support) & set(episode.query)
    assert not np.isnan(column[np.concatenate([episode.support, episode.query])]).any()
    assert np.array_equal(column[episode.support], episode.support_labels)


def test_episodes_are_drawn_once_from_the_seed_and_the_task():
    matrix = np.stack([labels(30, 50, seed=0), labels(40, 40, seed=1)], axis=1)
    first = draw_episodes(matrix, ["b", "a"], ["a", "b"], k_shot=5, query_size=8, episodes=3, seed=7)
    again = draw_episodes(matrix, ["b", "a"], ["a", "b"], k_shot=5, query_size=8, episodes=3, seed=7)
    alone = draw_episodes(matrix, ["a"], ["a", "b"], k_shot=5, query_size=8, episodes=3, seed=7)
    assert [e.task for e in first] == ["b"] * 3 + ["a"] * 3
    assert all(
        np.array_equal(x.support, y.support) and np.array_equal(x.query, y.query)
        for x, y in zip(first, again)
    )
    # a task's episodes do not depend on which other tasks are drawn with it
    assert all(np.array_equal(x.support, y.support) for x, y in zip(first[3:], alone))
    other = draw_episodes(matrix, ["a"], ["a", "b"], k_shot=5, query_size=8, episodes=3, seed=8)
    assert not all(np.array_equal(x.support, y.support) for x, y in zip(alone, other))
    assert task_generator(7, "a").integers(1 << 30) == task_generator(7, "a").integers(1 << 30)


def test_a_task_too_small_for_an_episode_is_named():
    with pytest.raises(EpisodeError, match=r"task 'SR-p53' has 12 molecules labelled 1, fewer than the 18"):
        sample_episode(labels(12, 100), task="SR-p53", k_shot=10, query_size=16, rng=np.random.default_rng(0))
    with pytest.raises(EpisodeError, match="even"):
        sample_episode(labels(30, 30), task="t", k_shot=2, query_size=5, rng=np.random.default_rng(0))

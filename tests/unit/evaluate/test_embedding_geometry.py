from __future__ import annotations

import numpy as np
import pytest

from semmol.evaluate.embedding_geometry import embedding_geometry, spectrum_effective_rank


def test_rows_on_one_line_have_effective_rank_one_and_cosine_one():
    direction = np.array([1.0, 2.0, 0.0, -1.0])
    features = np.linspace(1.0, 5.0, 50)[:, None] * direction
    geometry = embedding_geometry(features)
    assert geometry["effective_rank"] == pytest.approx(1.0, abs=1e-6)
    assert geometry["mean_cosine"] == pytest.approx(1.0)
    assert geometry["constant_dims"] == 1  # the third column is zero throughout
    assert geometry["dim"] == 4


def test_isotropic_features_use_every_dimension_and_are_uncorrelated_in_direction():
    features = np.random.default_rng(0).normal(size=(4000, 8))
    geometry = embedding_geometry(features)
    assert geometry["effective_rank"] > 7.9
    assert abs(geometry["mean_cosine"]) < 0.01
    assert geometry["constant_dims"] == 0


def test_mean_cosine_is_the_mean_over_pairs_of_different_rows():
    features = np.random.default_rng(1).normal(loc=0.5, size=(30, 5))
    features[3] = 0.0  # a zero row has no direction: left out
    unit = np.delete(features, 3, axis=0)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    cosines = unit @ unit.T
    expected = cosines[~np.eye(len(unit), dtype=bool)].mean()
    assert embedding_geometry(features)["mean_cosine"] == pytest.approx(expected)


def test_a_direction_too_small_to_share_in_the_variance_counts_for_nothing():
    # its share of the power, 1e-310 / 1e40, rounds to zero (the log of which would be NaN)
    assert spectrum_effective_rank(np.array([1e20, 1e-155, 0.0])) == 1.0
    assert spectrum_effective_rank(np.array([2.0, 2.0])) == pytest.approx(2.0)
    assert spectrum_effective_rank(np.zeros(3)) == 0.0


def test_too_few_rows_are_refused():
    with pytest.raises(ValueError, match="n >= 2"):
        embedding_geometry(np.ones((1, 3)))

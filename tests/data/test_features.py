"""The one encoder and standardiser (losslab.data.features) shared by the Regressor and the comparison."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import losslab as ll
from losslab.data.features import MAX_CATEGORIES, FeatureEncoder, feature_scale, floor_std, standardize
from losslab.experiment.runs import feature_scaling


def test_constant_columns_keep_their_scale():
    # std exactly 0 (digits-inpaint's blank pixels) and a constant 1e10 whose mean rounds: both stay as they are
    mean = np.array([0.0, 3.0, 1e10])
    std = np.array([0.0, 0.0, 1e-6])  # 1e-6: the rounding of a float64 mean of 1e10s (one ulp there is 1.9e-6)
    assert floor_std(mean, std).tolist() == [1.0, 1.0, 1.0]
    X = np.array([[3.0, 1.0], [3.0, 2.0], [3.0, 4.0]])
    Z = standardize(X, *feature_scale(X))
    assert Z[:, 0].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_feature_in_tiny_units_is_standardised(dtype):
    # A feature with std ~1e-10 (say farads) is a feature, not a constant: it gets unit spread. The comparison's old
    # absolute floor (1e-8) left it at ~1e-10, which a network all but ignores. Reference: numpy on the column.
    rng = np.random.default_rng(0)
    x = (1e-9 + 1e-10 * rng.normal(size=500)).astype(dtype)
    X = np.stack([x, rng.normal(size=500).astype(dtype)], axis=1)
    mean, std = feature_scale(X)
    assert mean.dtype == std.dtype == dtype
    np.testing.assert_array_equal(std, X.std(axis=0))
    Z = standardize(X, mean, std)
    ref = (x.astype(np.float64) - x.mean(dtype=np.float64)) / x.std(dtype=np.float64)
    np.testing.assert_allclose(Z[:, 0], ref, atol=1e-4 if dtype == np.float32 else 1e-9)
    assert abs(float(Z[:, 0].std()) - 1.0) < 1e-5


def test_the_comparison_and_the_regressor_scale_with_the_same_numbers():
    # The comparison's float32 splits and the Regressor's float64 design both go through feature_scale.
    rng = np.random.default_rng(1)
    X = np.c_[rng.normal(5.0, 2.0, 200), np.full(200, 7.0), 1e-10 * rng.normal(size=200)]
    y = X[:, 0] + rng.normal(size=200)
    rows = np.arange(150)
    plan = SimpleNamespace(config=SimpleNamespace(standardize=True), data=SimpleNamespace(kind="table"))
    X32 = X.astype(np.float32)
    mean, std = feature_scaling(plan, X32, rows)
    assert std.dtype == np.float32
    np.testing.assert_array_equal(std, np.where(X32[rows].std(axis=0) == 0, 1.0, X32[rows].std(axis=0)))
    est = ll.Regressor("gaussian").fit(X, y)
    ref = X.std(axis=0)
    assert ref[1] == 0.0
    ref[1] = 1.0  # the constant column keeps its scale; the 1e-10 one is standardised
    np.testing.assert_array_equal(est.x_scale_, ref)
    np.testing.assert_array_equal(est.x_mean_, X.mean(axis=0))


def test_identifier_columns_are_refused_alike_by_the_reader_and_the_regressor(tmp_path):
    # One rule (MAX_CATEGORIES, or half the rows) for a text column that names rows rather than categories.
    n = 2 * MAX_CATEGORIES + 20
    ids = [f"row{i}" for i in range(n)]
    frame = pd.DataFrame({"x": np.arange(n, dtype=float), "id": ids, "y": np.linspace(0.1, 0.9, n)})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ll.LosslabError, match="like an identifier"):
        ll.data.read_csv(path, target="y")
    with pytest.raises(ll.LosslabError, match="like an identifier"):
        FeatureEncoder().fit_transform(frame[["x", "id"]])
    few = frame.assign(id=[f"c{i % MAX_CATEGORIES}" for i in range(n)])  # MAX_CATEGORIES categories: accepted by both
    few.to_csv(path, index=False)
    assert ll.data.read_csv(path, target="y").X.shape[1] == 1 + MAX_CATEGORIES  # one-hot: every category
    assert FeatureEncoder().fit_transform(few[["x", "id"]]).shape[1] == MAX_CATEGORIES  # treatment: all but the first

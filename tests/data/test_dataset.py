"""Dataset and from_arrays: dtype/shape normalisation, checks, deterministic disjoint splits, subset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from losslab._errors import LosslabError
from losslab.data import Dataset, from_arrays


def _table(n: int = 100) -> Dataset:
    rng = np.random.default_rng(0)
    return from_arrays(rng.standard_normal((n, 3)), rng.random(n))


def test_from_arrays_numpy_and_torch_agree():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((20, 4)), rng.random(20)
    a = from_arrays(X, y)
    b = from_arrays(torch.from_numpy(X), torch.from_numpy(y))
    assert a.kind == b.kind == "table"
    assert a.X.dtype == np.float32 and a.y.dtype == np.float32
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, y.astype(np.float32))


def test_kind_inferred_and_images_scaled_channels_first():
    imgs = np.zeros((5, 6, 7, 3), dtype=np.uint8)  # channels last, as PIL gives them
    imgs[0, 1, 2, 0] = 255
    imgs[0, 1, 2, 2] = 51
    ds = from_arrays(imgs, np.zeros(5))
    assert ds.kind == "image" and ds.X.shape == (5, 3, 6, 7)
    assert ds.X[0, 0, 1, 2] == 1.0 and ds.X[0, 2, 1, 2] == pytest.approx(51 / 255)
    gray = from_arrays(np.zeros((5, 8, 8)), np.zeros(5))  # (N, H, W) -> one channel
    assert gray.kind == "image" and gray.X.shape == (5, 1, 8, 8)
    assert from_arrays(np.zeros(5), np.zeros(5)).X.shape == (5, 1)


def test_y_column_becomes_vector_and_trials_broadcast():
    ds = from_arrays(np.zeros((4, 2)), np.full((4, 1), 0.5), trials=10)
    assert ds.y.shape == (4,) and ds.trials.tolist() == [10.0] * 4
    multi = from_arrays(np.zeros((4, 2)), np.full((4, 3), 0.5), trials=np.array([2, 4, 6, 8]))
    assert multi.trials.shape == (4, 3) and multi.trials[:, 2].tolist() == [2, 4, 6, 8]
    assert multi.n_targets == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(X=np.zeros((4, 2)), y=np.zeros(3)), "3 rows but X has 4"),
        (dict(X=np.zeros((4, 2)), y=np.array([0.1, np.nan, 0.2, np.inf])), r"2 non-finite .*row\(s\) \[1, 3\]"),
        (dict(X=np.array([[0.0], [np.nan], [1.0]]), y=np.zeros(3)), r"X has 1 non-finite .*\[1\]"),
        (dict(X=np.zeros((3, 1)), y=np.array([0.2, 1.5, 0.1]), trials=4), r"outside \[0, 1\].*\[1\]"),
        (dict(X=np.zeros((3, 1)), y=np.zeros(3), trials=np.array([1, 0, 2])), r"<= 0.*\[1\]"),
        (dict(X=np.zeros((0, 2)), y=np.zeros(0)), "no rows"),
        (dict(X=np.full((2, 1, 3, 3), 2.0), y=np.zeros(2)), r"expected \[0, 1\]"),
    ],
)
def test_from_arrays_rejects_bad_input(kwargs, match):
    with pytest.raises(LosslabError, match=match):
        from_arrays(**kwargs)


def test_random_split_deterministic_disjoint_and_covering():
    ds = _table(101)
    a, b = ds.split(3), ds.split(3)
    for k in ("train", "val", "test"):
        np.testing.assert_array_equal(a[k], b[k])
    all_idx = np.concatenate([a["train"], a["val"], a["test"]])
    assert np.array_equal(np.sort(all_idx), np.arange(101))  # disjoint and covering
    assert (len(a["test"]), len(a["val"])) == (round(0.2 * 101), round(0.15 * 101))
    assert not np.array_equal(a["test"], ds.split(4)["test"])


def test_fixed_splits_cycle_by_seed_and_carve_val_from_train():
    ds = _table(50)
    ds.splits = [{"train": np.arange(0, 40), "test": np.arange(40, 50)}, {"train": np.arange(10, 50), "test": np.arange(10)}]
    s0, s2, s1 = ds.split(0), ds.split(2), ds.split(1)
    np.testing.assert_array_equal(s0["test"], np.arange(40, 50))
    np.testing.assert_array_equal(s1["test"], np.arange(10))
    assert len(s0["val"]) == round(0.15 * 40)
    # val is carved from train, disjoint from it; the union is the fixed train part.
    assert not set(s0["val"]) & set(s0["train"])
    assert sorted(set(s0["val"]) | set(s0["train"])) == list(range(40))
    np.testing.assert_array_equal(s0["val"], ds.split(0)["val"])  # same seed -> same carve
    assert not np.array_equal(s0["val"], s2["val"])  # seed 2 picks split 0 again, carves differently


def test_fixed_split_with_val_is_returned_as_given():
    ds = _table(10)
    ds.splits = [{"train": [0, 1, 2, 3, 4, 5], "val": [6, 7], "test": [8, 9]}]
    ds.__post_init__()
    s = ds.split(7)
    assert s["val"].tolist() == [6, 7] and s["test"].tolist() == [8, 9]


@pytest.mark.parametrize("bad", [{"train": [0, 1], "test": [1, 2]}, {"train": [0, 99]}, {"test": [0]}, {"tune": [0]}])
def test_bad_fixed_splits_are_rejected(bad):
    with pytest.raises(LosslabError, match="splits"):
        from_arrays(np.zeros((10, 1)), np.zeros(10), splits=[bad])


@pytest.mark.parametrize("val, test", [(-0.1, 0.2), (0.5, 0.5), (0.2, 1.0)])
def test_split_fractions_checked(val, test):
    with pytest.raises(LosslabError, match="split"):
        _table(10).split(0, val=val, test=test)


def test_subset_follows_rows_in_meta_and_drops_splits():
    ds = from_arrays(np.arange(10.0)[:, None], np.linspace(0, 1, 10), trials=np.arange(1, 11),
                     splits=[{"train": np.arange(8), "test": [8, 9]}],
                     meta={"true_mean": np.arange(10.0) * 2, "params": {"loc": np.arange(10.0)}, "note": "x"})
    sub = ds.subset([7, 2])
    assert sub.X[:, 0].tolist() == [7.0, 2.0] and sub.trials.tolist() == [8.0, 3.0]
    assert sub.meta["true_mean"].tolist() == [14.0, 4.0] and sub.meta["params"]["loc"].tolist() == [7.0, 2.0]
    assert sub.meta["note"] == "x" and sub.splits is None and len(sub) == 2
    mask = np.zeros(10, dtype=bool)
    mask[[1, 3]] = True
    assert ds.subset(mask).X[:, 0].tolist() == [1.0, 3.0]
    with pytest.raises(LosslabError, match="outside"):
        ds.subset([10])

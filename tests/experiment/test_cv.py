"""k-fold comparisons (``cv=k``): run seed s tests on fold s % k; the folds cover every row once."""

from __future__ import annotations

import numpy as np
import pytest

import losslab as ll
from losslab.data.dataset import kfold_splits
from losslab.experiment import compare


def _data(n=90):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 3)).astype("float32")
    return X, (X[:, 0] + 0.3 * rng.normal(size=n)).astype("float32")


def test_kfold_splits_partition_the_rows():
    splits = kfold_splits(11, 4, seed=3)
    tests = [s["test"] for s in splits]
    assert sorted(np.concatenate(tests).tolist()) == list(range(11))  # every row tested exactly once
    assert [len(t) for t in tests] == [3, 3, 3, 2]
    for s in splits:
        assert not set(s["train"]) & set(s["test"]) and len(s["train"]) + len(s["test"]) == 11


def test_each_seed_tests_its_fold_and_the_folds_cover_every_row():
    X, y = _data()
    res = compare((X, y), laws=["gaussian", "laplace"], seeds=3, cv=3, epochs=2)
    assert res.config.cv == 3
    tested = {}
    for r in res.runs:
        tested.setdefault(r["law"], {})[r["seed"]] = r["arrays"]["y_true"]
    folds = kfold_splits(len(y), 3, seed=0)
    for law, by_seed in tested.items():
        for s, y_true in by_seed.items():
            np.testing.assert_array_equal(y_true, y[folds[s % 3]["test"]])  # seed s scored on fold s's rows
        assert sum(len(v) for v in by_seed.values()) == len(y)
    # paired: both laws saw the same fold for each seed
    for s in range(3):
        np.testing.assert_array_equal(tested["gaussian"][s], tested["laplace"][s])


def test_cv_is_part_of_the_comparison_and_survives_the_store(tmp_path):
    X, y = _data()
    path = str(tmp_path / "s.sqlite")
    a = compare((X, y), laws=["gaussian"], seeds=2, cv=2, epochs=2, store=path)
    b = compare((X, y), laws=["gaussian"], seeds=2, epochs=2, store=path)
    assert a.runs[0]["comparison"] != b.runs[0]["comparison"]
    back = ll.experiment.load_result(path, comparison=a.runs[0]["comparison"])
    assert back.config.cv == 2


@pytest.mark.parametrize(
    "kw,message",
    [
        (dict(cv=1), "cv=1 must be an integer >= 2"),
        (dict(cv=2.5), "cv=2.5 must be an integer"),
        (dict(cv=3, seeds=2), "these seeds test the folds [1, 1, 0] times each"),
        (dict(cv=3, seeds=[0, 3, 1]), "these seeds test the folds [2, 1, 0] times each"),
    ],
)
def test_bad_cv_gets_one_line(kw, message):
    with pytest.raises(ll.LosslabError) as err:
        compare(_data(), laws=["gaussian"], epochs=1, **{"seeds": 3, **kw})
    assert message in str(err.value)


def test_cv_refuses_data_with_fixed_splits():
    X, y = _data(40)
    ds = ll.data.from_arrays(X, y, splits=[{"train": np.arange(30), "test": np.arange(30, 40)}, {"train": np.arange(10, 40), "test": np.arange(10)}])
    with pytest.raises(ll.LosslabError, match="comes with 2 fixed split"):
        compare(ds, laws=["gaussian"], seeds=2, cv=2, epochs=1)

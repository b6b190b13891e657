"""What the grid does with runs that train badly (issue 21, items 1, 4 and 5): each is recorded, with its reason,
and the rest of the comparison finishes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import losslab as ll
from losslab.experiment import compare


def test_a_law_without_a_mean_is_scored_on_its_median_and_the_table_says_so():
    # student-t with df=1 is the Cauchy law: it has no mean (its docstring's own example); evaluation used to ask for it.
    res = compare(ll.data.synthetic("student-t", n=200), laws=["student-t:df=1", "gaussian"], seeds=1, epochs=3)
    assert all(r["status"] == "ok" for r in res.runs)
    table = res.table()
    assert table.loc["student-t(df=1)", "point"] == "median" and table.loc["gaussian", "point"] == "mean"
    cauchy = next(r for r in res.runs if r["law"] == "student-t(df=1)")
    law = ll.get_law("student-t", df=1.0)
    median = law.point(law.link(torch.as_tensor(cauchy["arrays"]["raw"])), "median").numpy()
    np.testing.assert_array_equal(cauchy["arrays"]["y_pred"], median)  # the point metrics scored the median
    mse = float(np.mean((cauchy["arrays"]["y_true"].astype(np.float64) - median.astype(np.float64)) ** 2))
    assert cauchy["metrics"]["mean_squared_error"] == pytest.approx(mse, rel=1e-12)


def test_one_laws_non_finite_predictions_are_recorded_as_diverged_and_the_rest_finish():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    y = np.exp(5 * X[:, 0]) * 1e3  # the example: labels spanning 1e-3 to 1e9
    res = compare((X, y), laws=["gaussian", "student-t", "exponential"], seeds=2, epochs=10, lr=10)
    status = {(r["law"], r["seed"]): r["status"] for r in res.runs}
    assert len(status) == 6  # every law trained: the comparison was not aborted
    bad = [r for r in res.runs if r["law"] == "exponential"]
    assert all(r["status"] == "diverged" for r in bad)
    assert all("not finite" in r["metrics"]["reasons"]["all"] and "test rows" in r["metrics"]["reasons"]["all"] for r in bad)
    assert res.table().loc["exponential", "diverged"] == 2
    assert "diverged and are left out" in res.recommend().reason


def test_a_finite_blow_up_is_flagged_in_the_table_and_the_recommendation():
    data = ll.data.synthetic("gaussian", n=400)
    wild = compare(data, laws=["gaussian", "student-t"], seeds=2, epochs=10, lr=10)
    table = wild.table()
    assert (table["unstable"] > 0).all() and (table["diverged"] == 0).all()  # finite, but far worse than untrained
    label_var = float(np.var(data.y))
    assert table["mean_squared_error"].min() > 100 * label_var
    for r in wild.runs:
        assert min(r["history"]["val"]) > r["history"]["initial_val"] + 1.0
    reason = wild.recommend().reason
    assert reason.startswith("Recommended law:") and "training was unstable" in reason
    # The same comparison at the default step size: nothing flagged, no warning.
    calm = compare(data, laws=["gaussian", "student-t"], seeds=2, epochs=10)
    assert (calm.table()["unstable"] == 0).all()
    assert "unstable" not in calm.recommend().reason

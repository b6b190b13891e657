"""The grid benchmark's comparison of two winners' test MSE (``benchmarks.grid.mse_gap``).

References: scipy's Welch test (``scipy.stats.ttest_ind(equal_var=False)``) for the interval,
and a closed form where every seed predicts the same.
"""

import numpy as np
import pytest
from scipy import stats

from benchmarks.grid import mse_gap


def _seeds(rng, y, noise, shift, n):
    """``n`` seeds' predictions: ``y`` plus row noise, each seed shifted by its own N(0, shift) offset."""
    return [y + noise * rng.standard_normal(y.shape) + rng.normal(0.0, shift) for _ in range(n)]


def test_mse_gap_is_welchs_interval_on_the_per_seed_mses():
    rng = np.random.default_rng(0)
    y = rng.uniform(0, 1, size=(120, 3))
    ours, ref = _seeds(rng, y, 0.2, 0.05, 5), _seeds(rng, y, 0.25, 0.08, 4)
    gap = mse_gap(ours, ref, y, level=0.9)
    a = np.array([((p - y) ** 2).mean() for p in ours])
    b = np.array([((p - y) ** 2).mean() for p in ref])
    welch = stats.ttest_ind(a, b, equal_var=False)
    ci = welch.confidence_interval(0.9)
    assert gap["ours"] == pytest.approx(a.mean(), rel=1e-12) and gap["ref"] == pytest.approx(b.mean(), rel=1e-12)
    assert gap["diff"] == pytest.approx(a.mean() - b.mean(), rel=1e-12)
    assert gap["low"] == pytest.approx(ci.low, rel=1e-9) and gap["high"] == pytest.approx(ci.high, rel=1e-9)
    assert gap["df"] == pytest.approx(welch.df, rel=1e-9)


def test_mse_gap_of_identical_seeds_is_a_point():
    # Every seed predicts y + 0.1 on one side and y exactly on the other: the gap is -0.01, no spread.
    y = np.linspace(0, 1, 50)
    gap = mse_gap([y.copy() for _ in range(3)], [y + 0.1 for _ in range(3)], y)
    assert gap["diff"] == pytest.approx(-0.01, abs=1e-12)
    assert gap["low"] == gap["high"] == gap["diff"]


def test_mse_gap_accepts_a_column_of_predictions_for_a_flat_label():
    # losslab keeps (rows,) or (rows, 1) predictions for one target; the naive loop (rows,)
    y = np.linspace(0, 1, 40)
    column = mse_gap([(y + 0.1)[:, None]] * 2, [y + 0.2] * 2, y)
    assert column["diff"] == pytest.approx(0.01 - 0.04, abs=1e-12)


def test_mse_gap_covers_the_true_difference_at_its_level():
    # Simulated seeds: the expected MSE of a side is noise**2 + shift**2, so the true gap is known.
    rng = np.random.default_rng(1)
    truth = (0.2**2 + 0.05**2) - (0.25**2 + 0.05**2)
    hits, trials = 0, 400
    for _ in range(trials):
        y = rng.uniform(0, 1, size=200)
        gap = mse_gap(_seeds(rng, y, 0.2, 0.05, 5), _seeds(rng, y, 0.25, 0.05, 5), y)
        hits += gap["low"] <= truth <= gap["high"]
    # 95% intervals: 400 trials put the coverage within about +-2.2% of 0.95 (one binomial sd 1.1%)
    assert 0.91 <= hits / trials <= 0.99


def test_mse_gap_leaves_out_a_diverged_seed():
    y = np.linspace(0, 1, 30)
    ours = [y + 0.1, y + 0.1, np.full_like(y, np.nan)]
    gap = mse_gap(ours, [y + 0.2, y + 0.2], y)
    assert gap["ours"] == pytest.approx(0.01, abs=1e-12) and gap["diff"] == pytest.approx(-0.03, abs=1e-12)
    assert np.isnan(mse_gap([np.full_like(y, np.nan)], [y], y)["diff"])


def test_mse_gap_with_each_seed_on_its_own_test_rows():
    # Fixed splits: each prediction is scored on its own labels; the reference is the per-seed MSEs' Welch interval.
    rng = np.random.default_rng(2)
    ys = [rng.uniform(0, 1, size=n) for n in (30, 40, 35)]
    ref_ys = [ys[0], ys[1], ys[2]]
    ours = [y + rng.normal(0, 0.1, y.shape) for y in ys]
    ref = [y + rng.normal(0, 0.3, y.shape) for y in ref_ys]
    gap = mse_gap(ours, ref, ys, ref_y=ref_ys)
    a = np.array([((p - y) ** 2).mean() for p, y in zip(ours, ys)])
    b = np.array([((p - y) ** 2).mean() for p, y in zip(ref, ref_ys)])
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert gap["diff"] == pytest.approx(a.mean() - b.mean(), rel=1e-12)
    assert gap["low"] == pytest.approx(ci.low, rel=1e-9) and gap["high"] == pytest.approx(ci.high, rel=1e-9)
    # a diverged seed left out of ours: the remaining predictions keep their own labels
    gap2 = mse_gap(ours[1:], ref, ys[1:], ref_y=ref_ys)
    assert gap2["ours"] == pytest.approx(a[1:].mean(), rel=1e-12)

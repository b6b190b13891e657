"""Soft-label reliability curves and calibration error on hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from losslab import LosslabError
from losslab.metrics import calibration_error, reliability_curve
from losslab.metrics.calibration import _assign, bin_edges

# Hand example, two uniform bins [0, .5) and [.5, 1]:
#   bin 0: p = .1, .3 (mean .2), y = .0, .6 (mean .3), gap .1, weight 2/5
#   bin 1: p = .6, .8, 1. (mean .8), y = .5, .5, .8 (mean .6), gap .2, weight 3/5
Y = np.array([0.0, 0.6, 0.5, 0.5, 0.8])
P = np.array([0.1, 0.3, 0.6, 0.8, 1.0])


def test_soft_ece_on_a_hand_computed_example():
    assert calibration_error(Y, P, n_bins=2) == pytest.approx(0.4 * 0.1 + 0.6 * 0.2, abs=1e-12)
    assert calibration_error(Y, P, n_bins=2, norm="l2") == pytest.approx(np.sqrt(0.4 * 0.01 + 0.6 * 0.04), abs=1e-12)
    assert calibration_error(Y, P, n_bins=2, norm="max") == pytest.approx(0.2, abs=1e-12)
    # weights: the first row counts three times -> bin 0: p mean (.3+.1*3)/4 = .15, y mean .6/4 = .15, gap 0
    w = np.array([3.0, 1, 1, 1, 1])
    assert calibration_error(Y, P, n_bins=2, sample_weight=w) == pytest.approx(3 / 7 * 0.2, abs=1e-12)


def test_debiased_l2_on_a_hand_computed_example():
    # bin 0: s^2 = ((0-.3)^2 + (.6-.3)^2)/1 = .18, var of mean .09; bin 1: s^2 = (.01+.01+.04)/2 = .03, var .01
    want = 0.4 * (0.01 - 0.09) + 0.6 * (0.04 - 0.01)
    got = calibration_error(Y, P, n_bins=2, norm="l2", debiased=True)
    assert got == pytest.approx(np.sqrt(max(want, 0.0)), abs=1e-12)
    with pytest.raises(LosslabError, match="norm='l2'"):
        calibration_error(Y, P, debiased=True)


def test_debiased_estimator_removes_most_of_the_noise_for_calibrated_soft_labels():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.01, 0.99, size=2000)
    y = rng.beta(4 * p, 4 * (1 - p))  # E[y | p] = p exactly: a calibrated predictor with noisy soft labels
    plain = calibration_error(y, p, norm="l2")
    deb = calibration_error(y, p, norm="l2", debiased=True)
    assert plain > 0.01  # the plain estimator sees the noise of the bin means (~0.02 here)
    assert deb < 0.5 * plain


def test_zero_when_predictions_equal_the_bin_label_means():
    rng = np.random.default_rng(2)
    y = rng.uniform(size=300)
    p0 = rng.uniform(size=300)
    for strategy in ("uniform", "quantile"):
        edges = bin_edges(p0, 10, strategy)
        idx = _assign(p0, edges)
        # every prediction becomes its bin's label mean; re-binned on p, a bin collects whole old bins,
        # so its mean prediction still equals its mean label
        p = np.array([y[idx == b].mean() for b in range(len(edges) - 1)])[idx]
        for norm in ("l1", "l2", "max"):
            assert calibration_error(y, p, n_bins=10, norm=norm, strategy=strategy) == pytest.approx(0.0, abs=1e-12)


def test_reliability_curve_hand_example_and_wilson_interval():
    c = reliability_curve(Y, P, n_bins=2)
    np.testing.assert_allclose(c.mean_pred, [0.2, 0.8], atol=1e-12)
    np.testing.assert_allclose(c.mean_label, [0.3, 0.6], atol=1e-12)
    assert c.count.tolist() == [2, 3]
    np.testing.assert_allclose(c.bin_edges, [0, 0.5, 1])
    # Wilson score interval with p = mean label, n = count (written out; Wilson 1927)
    z = stats.norm.ppf(0.975)
    for j, (p, n) in enumerate([(0.3, 2), (0.6, 3)]):
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert c.low[j] == pytest.approx(centre - half, abs=1e-12)
        assert c.high[j] == pytest.approx(centre + half, abs=1e-12)


def test_wilson_interval_holds_the_bin_mean_even_for_bins_of_equal_labels():
    # Found by regenerating the guide: a bin whose labels are all 0 (or all 1) had its Wilson lower (upper) end
    # 3e-17 past the mean label by rounding, and drawing it as an error bar failed on a negative length.
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(500):
        n = int(rng.integers(1, 40))
        y = rng.choice([0.0, 1.0, float(rng.random())], size=n)
        c = reliability_curve(y, rng.random(n), n_bins=5)
        worst = min(worst, float((c.mean_label - c.low).min()), float((c.high - c.mean_label).min()))
    assert worst == 0.0


def test_reliability_figure_draws_intervals_that_miss_the_mean():
    import matplotlib

    matplotlib.use("Agg")
    from losslab.metrics.calibration import ReliabilityCurve
    from losslab.report.figures import plot_reliability

    # A bootstrap percentile interval need not hold the bin's mean: the figure draws it as it is.
    curve = ReliabilityCurve(
        mean_pred=np.array([0.2, 0.7]), mean_label=np.array([0.25, 0.6]), count=np.array([5, 4]), weight=np.array([5.0, 4.0]),
        low=np.array([0.26, 0.5]), high=np.array([0.4, 0.65]), bin_edges=np.array([0, 0.5, 1]), bin_index=np.array([0, 1]),
        level=0.95, interval="bootstrap",
    )
    ax = plot_reliability(curve, "x")
    segs = ax.collections[-1].get_segments()
    np.testing.assert_allclose([s[:, 1] for s in segs], [[0.26, 0.4], [0.5, 0.65]])


def test_reliability_curve_drops_empty_bins_and_bootstrap_brackets_the_mean():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.0, 0.5, size=400)
    y = np.clip(p + rng.normal(scale=0.1, size=400), 0, 1)
    c = reliability_curve(y, p, n_bins=10, interval="bootstrap", n_boot=300)
    assert c.bin_index.tolist() == [0, 1, 2, 3, 4] and len(c.bin_edges) == 11
    assert np.all(c.low <= c.mean_label) and np.all(c.mean_label <= c.high)
    q = reliability_curve(y, p, n_bins=4, strategy="quantile")
    assert np.all(np.abs(q.count - 100) <= 1)  # equal-count bins


def test_calibration_takes_one_output_and_probabilities():
    with pytest.raises(LosslabError, match="y_true"):
        calibration_error(np.c_[Y, Y], np.c_[P, P])
    with pytest.raises(LosslabError, match="y_pred has 1 value"):
        calibration_error(Y, P + 0.05)
    with pytest.raises(LosslabError, match="strategy"):
        calibration_error(Y, P, strategy="equal")
    with pytest.raises(LosslabError, match="n_bins"):
        reliability_curve(Y, P, n_bins=0)

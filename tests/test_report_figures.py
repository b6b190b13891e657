"""The report's figures as a person reads them (issue 23): the data side by pure functions, the drawing by its axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from losslab import metrics  # noqa: E402
from losslab.report import figures as F  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_shared_limits_hold_every_laws_labels_and_predictions():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 17, 500) / 16
    calm = (y, np.clip(y + rng.normal(0, 0.1, 500), 0, 1))
    wide = (y, y + rng.normal(0, 0.3, 500))  # a law whose predictions leave [0, 1], as gaussian-hetero's do
    lo, hi = F.shared_limits([calm, wide], tail=0.0)
    for labels, preds in (calm, wide):
        assert lo < min(labels.min(), preds.min()) and hi > max(labels.max(), preds.max())
    # the same pair whichever law comes first: one set of axes for all panels
    assert F.shared_limits([wide, calm]) == F.shared_limits([calm, wide])


def test_shared_limits_ignore_a_lone_outlying_prediction():
    y = np.linspace(0, 1, 1000)
    p = y.copy()
    p[0] = -50.0  # one diverged prediction must not shrink every panel to a dot
    lo, hi = F.shared_limits([(y, p)])
    assert -0.1 < lo < 0 and 1 < hi < 1.1
    assert F.shared_limits([(np.array([np.nan]), np.array([np.inf]))]) is None


def test_discrete_labels_are_found_and_jittered_within_their_gap_reproducibly():
    y = np.repeat(np.arange(17) / 16, 40)
    values = F.discrete_values(y)
    assert values is not None and values.size == 17
    assert F.discrete_values(np.random.default_rng(0).uniform(size=500)) is None  # continuous labels are left alone
    a, b = F.jitter(y, values, seed=0), F.jitter(y, values, seed=0)
    assert np.array_equal(a, b)  # deterministic: the same report draws the same figure
    gap = 1 / 16
    assert np.all(np.abs(a - y) <= 0.35 * gap) and np.abs(a - y).max() > 0.2 * gap
    # no point reaches the next value's cloud: the nearest label value of each jittered point is its own
    nearest = values[np.abs(a[:, None] - values[None, :]).argmin(axis=1)]
    assert np.array_equal(nearest, y)


def test_scatter_panels_share_axes_and_discrete_labels_are_not_overplotted():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 17, 2000) / 16
    pairs = [(y, np.clip(y + rng.normal(0, 0.1, y.size), 0, 1)), (y, y + rng.normal(0, 0.4, y.size))]
    limits = F.shared_limits(pairs)
    fig, axes = plt.subplots(1, 2)
    for ax, (yy, pp), name in zip(axes, pairs, ["bernoulli", "gaussian-hetero"]):
        F.plot_scatter(yy, pp, name, ax=ax, limits=limits)
    assert axes[0].get_xlim() == axes[1].get_xlim() == limits and axes[0].get_ylim() == axes[1].get_ylim() == limits
    points = axes[0].collections[0]
    xs = points.get_offsets()[:, 0]
    # jittered: far more distinct x positions than the 17 label values, and drawn faint
    assert np.unique(xs).size > 100 and points.get_alpha() < 0.6
    assert axes[0].get_title() == "bernoulli" and "jitter" in axes[0].get_xlabel()


def test_pit_panels_have_a_y_label_and_a_title_and_missing_ones_a_title_too():
    fig, (a, b) = plt.subplots(1, 2)
    F.plot_pit(np.ones(10), "zoib", ax=a)
    F.plot_missing("no PIT for this law", "bernoulli", ax=b)
    assert a.get_ylabel() and a.get_title() == "zoib"
    assert b.get_title() == "bernoulli" and any("no PIT" in t.get_text() for t in b.texts)


def test_reliability_counts_are_a_bar_chart_under_the_curve():
    rng = np.random.default_rng(2)
    p = rng.uniform(size=3000)
    y = np.clip(p + rng.normal(0, 0.1, p.size), 0, 1)
    curve = metrics.reliability_curve(y, p, n_bins=10)
    fig, ax = plt.subplots()
    F.plot_reliability(curve, "beta", ax=ax)
    below = [other for other in fig.axes if other is not ax]
    assert len(below) == 1 and ax.get_title() == "beta"
    heights = sorted(patch.get_height() for patch in below[0].patches)
    assert heights == sorted(np.asarray(curve.count).tolist())  # one bar per bin, its height the bin's rows
    assert below[0].get_ylabel() == "rows" and below[0].get_xlabel() == "mean prediction"
    assert not ax.texts  # no tiny numbers beside the points

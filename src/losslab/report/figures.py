"""Figures of a comparison: data computed by pure functions, drawn by functions that take ``ax=None``.

The ``*_data`` functions return plain numpy/pandas data (testable without a
display); the ``plot_*`` functions draw that data with matplotlib.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..experiment.result import ComparisonResult
from ..experiment.stats import higher_is_better

if TYPE_CHECKING:  # pandas is imported where a frame is built
    import pandas as pd


# ------------------------------------------------------------------------------ data
def metric_dots_data(result: ComparisonResult, metric: str) -> pd.DataFrame:
    """Per law: mean, CI and the per-seed values of ``metric``."""
    import pandas as pd

    table = result.table()
    rows = []
    for law in result.laws:
        vals = list(result.values(law, metric).values())
        rows.append(
            {
                "law": law,
                "mean": table.loc[law, metric] if metric in table.columns else math.nan,
                "low": table.loc[law, f"{metric}_low"] if metric in table.columns else math.nan,
                "high": table.loc[law, f"{metric}_high"] if metric in table.columns else math.nan,
                "values": vals,
            }
        )
    return pd.DataFrame(rows)


def learning_curves_data(result: ComparisonResult) -> dict[str, list[dict[str, list[float]]]]:
    """Per law: the train and validation loss per epoch of each seed."""
    out: dict[str, list[dict[str, list[float]]]] = {law: [] for law in result.laws}
    for r in result.runs:
        out.setdefault(r["law"], []).append({"train": r["history"].get("train", []), "val": r["history"].get("val", [])})
    return out


def pooled_predictions(result: ComparisonResult, law: str) -> tuple[np.ndarray, np.ndarray]:
    """Test labels and point predictions of all finished seeds of ``law``, flattened."""
    ys, ps = [], []
    for r in result.runs:
        arr = r.get("arrays") or {}
        if r["law"] == law and r["status"] == "ok" and "y_pred" in arr and "y_true" in arr:
            if arr["y_pred"].shape == arr["y_true"].shape:
                ys.append(arr["y_true"].ravel())
                ps.append(arr["y_pred"].ravel())
    if not ys:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(ys), np.concatenate(ps)


def reliability_data(result: ComparisonResult, n_bins: int = 10) -> dict[str, Any]:
    """Per law: the soft-label reliability curve of its pooled test predictions (labels in [0, 1] only)."""
    from .. import metrics

    out = {}
    for law in result.laws:
        y, p = pooled_predictions(result, law)
        if y.size == 0 or y.min() < 0 or y.max() > 1:
            continue
        out[law] = metrics.reliability_curve(y, np.clip(p, 0.0, 1.0), n_bins=n_bins)
    return out


def pit_data(result: ComparisonResult, bins: int = 10) -> dict[str, np.ndarray]:
    """Per law: histogram densities of pooled PIT values (laws with a continuous or randomised PIT)."""
    out = {}
    for law in result.laws:
        vals = [r["arrays"]["pit"].ravel() for r in result.runs if r["law"] == law and "pit" in (r.get("arrays") or {})]
        if vals:
            v = np.concatenate(vals)
            v = v[np.isfinite(v)]
            if v.size:
                out[law] = np.histogram(v, bins=bins, range=(0, 1), density=True)[0]
    return out


def shared_limits(pairs: list[tuple[np.ndarray, np.ndarray]], pad: float = 0.04, tail: float = 0.002) -> tuple[float, float] | None:
    """One ``(low, high)`` for the axes of every law's scatter (labels and predictions alike), so that the panels compare.

    The range of all laws' finite labels, widened to hold their predictions but for the ``tail`` fraction
    at each end (one outlying prediction would otherwise squeeze every panel), then by ``pad`` of the span
    on each side. None when there is no finite point.

    >>> shared_limits([(np.array([0.0, 1.0]), np.array([0.2, 0.9])), (np.array([0.0, 1.0]), np.array([-0.5, 1.0]))], tail=0.0)
    (-0.56, 1.06)
    """
    def finite(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=float).ravel()
        return a[np.isfinite(a)]

    labels = [finite(y) for y, _ in pairs]
    preds = [finite(q) for _, q in pairs]
    ends = [float(v.min()) for v in labels if v.size] + [float(v.max()) for v in labels if v.size]
    ends += [float(np.quantile(v, tail)) for v in preds if v.size] + [float(np.quantile(v, 1 - tail)) for v in preds if v.size]
    if not ends:
        return None
    lo, hi = min(ends), max(ends)
    span = hi - lo if hi > lo else 1.0
    return round(lo - pad * span, 12), round(hi + pad * span, 12)


#: at most this many distinct label values make labels discrete in a scatter (k/16 ink fractions: 17)
MAX_DISCRETE_VALUES = 30


def discrete_values(y: np.ndarray, max_values: int = MAX_DISCRETE_VALUES) -> np.ndarray | None:
    """The sorted distinct labels when there are few of them against many points (grades, k/n fractions); else None."""
    y = np.asarray(y, dtype=float).ravel()
    y = y[np.isfinite(y)]
    values = np.unique(y)
    if 1 < values.size <= max_values and y.size >= 3 * values.size:
        return values
    return None


def jitter(y: np.ndarray, values: np.ndarray, *, fraction: float = 0.35, seed: int = 0) -> np.ndarray:
    """Discrete labels ``y`` spread sideways, so that the points of one label value do not cover each other.

    Each point moves by a uniform amount within ``fraction`` of the smallest gap between label values
    (so a value's cloud never reaches its neighbour's), drawn from a generator seeded by ``seed``: the
    same data give the same figure.

    >>> v = np.array([0.0, 0.5, 1.0])
    >>> j = jitter(np.array([0.0, 0.5, 1.0, 1.0]), v)
    >>> bool(np.all(np.abs(j - [0.0, 0.5, 1.0, 1.0]) <= 0.35 * 0.5))
    True
    """
    y = np.asarray(y, dtype=float)
    gap = float(np.min(np.diff(values))) if values.size > 1 else 1.0
    return y + np.random.default_rng(seed).uniform(-fraction * gap, fraction * gap, size=y.shape)


def label_histogram_data(y: np.ndarray, bins: int = 30) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float).ravel()
    return np.histogram(y[np.isfinite(y)], bins=bins)


# ------------------------------------------------------------------------------ drawing
def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4))
    return ax


def plot_metric_dots(data: pd.DataFrame, metric: str, ax=None):
    """Dot plot: each seed's value, the mean and its 95% CI per law; the best law highlighted."""
    ax = _ax(ax)
    finite = data[np.isfinite(data["mean"].astype(float))]
    best = None
    if not finite.empty:
        best = (finite.loc[finite["mean"].idxmax()] if higher_is_better(metric) else finite.loc[finite["mean"].idxmin()])["law"]
    for i, row in data.reset_index(drop=True).iterrows():
        color = "tab:green" if row["law"] == best else "tab:blue"
        ax.scatter(row["values"], [i] * len(row["values"]), s=12, alpha=0.5, color=color)
        if math.isfinite(row["mean"]):
            err = [[row["mean"] - row["low"]], [row["high"] - row["mean"]]] if math.isfinite(row["low"]) else None
            ax.errorbar([row["mean"]], [i], xerr=err, fmt="o", color=color, capsize=3)
    ax.set_yticks(range(len(data)))
    ax.set_yticklabels(data["law"])
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric} ({'higher' if higher_is_better(metric) else 'lower'} is better)")
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_reliability(curve, label: str = "", ax=None):
    """Soft-label reliability: mean prediction vs mean float label per bin, with intervals; the rows per bin as bars underneath."""
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    ax = _ax(ax)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
    x, yv = np.asarray(curve.mean_pred), np.asarray(curve.mean_label)
    lo, hi = np.asarray(curve.low), np.asarray(curve.high)
    count = np.asarray(curve.count)
    ok = count > 0
    # Each interval drawn from its ends (not as errors around the mean: a bootstrap percentile interval need not hold it).
    (line,) = ax.plot(x[ok], yv[ok], "o-", ms=3, label=label)
    ax.vlines(x[ok], lo[ok], hi[ok], color=line.get_color(), lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean float label")
    ax.set_title(label, fontsize=9)
    # The counts tell how much each point is worth; as numbers beside the points they were too small to read.
    below = make_axes_locatable(ax).append_axes("bottom", size="28%", pad=0.08, sharex=ax)
    edges = np.asarray(curve.bin_edges)
    idx = np.asarray(curve.bin_index)
    below.bar(edges[idx], count, width=np.diff(edges)[idx], align="edge", color="grey", alpha=0.5, edgecolor="white")
    below.set_ylabel("rows", fontsize=8)
    below.tick_params(axis="y", labelsize=7)
    below.locator_params(axis="y", nbins=2)
    below.set_xlabel("mean prediction")
    ax.tick_params(axis="x", labelbottom=False)
    return ax


def plot_learning_curves(curves: list[dict[str, list[float]]], label: str = "", ax=None):
    ax = _ax(ax)
    for i, c in enumerate(curves):
        ax.plot(c["train"], color="tab:blue", alpha=0.5, lw=1, label="train" if i == 0 else None)
        ax.plot(c["val"], color="tab:orange", alpha=0.8, lw=1, label="validation" if i == 0 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss / NLL")
    ax.set_title(label, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def plot_pit(density: np.ndarray, label: str = "", ax=None):
    ax = _ax(ax)
    edges = np.linspace(0, 1, len(density) + 1)
    ax.bar(edges[:-1], density, width=np.diff(edges), align="edge", alpha=0.7, edgecolor="white")
    ax.axhline(1.0, color="grey", ls="--", lw=1)
    ax.set_xlabel("PIT")
    ax.set_ylabel("density (1 = calibrated)", fontsize=8)
    ax.set_title(label, fontsize=9)
    return ax


def plot_missing(text: str, label: str = "", ax=None):
    """A panel with nothing to draw for this law: its title, and ``text`` saying why."""
    ax = _ax(ax)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, wrap=True)
    ax.set_title(label, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    return ax


def plot_scatter(y: np.ndarray, p: np.ndarray, label: str = "", ax=None, max_points: int = 3000,
                 limits: tuple[float, float] | None = None):
    """Predicted mean against the true label; ``limits`` (from :func:`shared_limits`) the same for every law's panel.

    Discrete labels (:func:`discrete_values`) are jittered sideways, drawn faint, with each label value's
    median prediction marked, since thousands of points on 17 vertical lines hide where most of them are.
    """
    ax = _ax(ax)
    y, p = np.asarray(y, dtype=float).ravel(), np.asarray(p, dtype=float).ravel()
    values = discrete_values(y)
    if y.size > max_points:
        idx = np.random.default_rng(0).choice(y.size, max_points, replace=False)
        y_shown, p_shown = y[idx], p[idx]
    else:
        y_shown, p_shown = y, p
    if values is not None:
        alpha = float(np.clip(500.0 / max(y_shown.size, 1), 0.12, 0.5))
        ax.scatter(jitter(y_shown, values), p_shown, s=4, alpha=alpha, color="tab:blue", lw=0)
        medians = [float(np.median(p[y == v])) for v in values]
        ax.plot(values, medians, "_", color="black", ms=9, mew=1.5, label="median prediction")
        ax.legend(fontsize=7, loc="upper left")
    else:
        ax.scatter(y_shown, p_shown, s=3, alpha=0.3, lw=0)
    if limits is None and y.size:
        limits = shared_limits([(y, p)])
    if limits is not None:
        ax.plot(limits, limits, color="grey", lw=1, ls="--")
        ax.set_xlim(limits)
        ax.set_ylim(limits)
        ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("true label" + (" (jittered)" if values is not None else ""))
    ax.set_ylabel("predicted mean")
    ax.set_title(label, fontsize=9)
    return ax


def plot_label_histogram(counts: np.ndarray, edges: np.ndarray, title: str = "", ax=None):
    ax = _ax(ax)
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", alpha=0.8, edgecolor="white")
    ax.set_xlabel("label")
    ax.set_ylabel("count")
    ax.set_title(title, fontsize=9)
    return ax

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
    """Soft-label reliability: mean prediction vs mean float label per bin, with intervals and counts."""
    ax = _ax(ax)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
    x, yv = np.asarray(curve.mean_pred), np.asarray(curve.mean_label)
    lo, hi = np.asarray(curve.low), np.asarray(curve.high)
    ok = np.asarray(curve.count) > 0
    # Each interval drawn from its ends (not as errors around the mean: a bootstrap percentile interval need not hold it).
    (line,) = ax.plot(x[ok], yv[ok], "o-", ms=3, label=label)
    ax.vlines(x[ok], lo[ok], hi[ok], color=line.get_color(), lw=1)
    for xi, yi, c in zip(x[ok], yv[ok], np.asarray(curve.count)[ok]):
        ax.annotate(str(int(c)), (xi, yi), textcoords="offset points", xytext=(3, -9), fontsize=6, color="grey")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean prediction")
    ax.set_ylabel("mean float label")
    ax.set_title(label, fontsize=9)
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
    ax.set_title(label, fontsize=9)
    return ax


def plot_scatter(y: np.ndarray, p: np.ndarray, label: str = "", ax=None, max_points: int = 3000):
    ax = _ax(ax)
    if y.size > max_points:
        idx = np.random.default_rng(0).choice(y.size, max_points, replace=False)
        y, p = y[idx], p[idx]
    ax.scatter(y, p, s=3, alpha=0.3)
    if y.size:
        lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--")
    ax.set_xlabel("true label")
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

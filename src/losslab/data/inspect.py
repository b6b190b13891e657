"""Label diagnostics: what the labels look like, and which laws their support admits.

:func:`inspect` (also ``losslab.inspect``) describes float labels: range, mass
exactly at 0 and at 1, modality, dispersion, counts; then it sorts the law
registry's names into suggested (ordered), excluded (with the reason) and the
rest, and writes plain sentences with numbers (the rules: :mod:`losslab.data.law_advice`).
:func:`default_laws` picks about six laws worth comparing by experiment.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .._errors import LosslabError, first_rows
from ..laws import list_laws
from .dataset import to_numpy
from .law_advice import EDGE_ATOM, judge, outside_support, pct


def __getattr__(name: str) -> Any:
    # ALL_LAWS: the registered laws' names, read when asked, so that a law registered later is in it
    if name == "ALL_LAWS":
        return tuple(list_laws())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_MAX_DISCRETE = 12  # at most this many distinct values: read the frequencies, not a density
_ATOM_RADIUS = 0.15  # a density mode this close (fraction of the range) to an atom at 0 or 1 joins it


@dataclass
class LabelReport:
    """What :func:`inspect` found. Fractions are over all label values (rows x targets)."""

    n: int  # rows
    n_targets: int
    min: float
    max: float
    mean: float
    std: float
    n_unique: int
    frac_zero: float  # exactly 0
    frac_one: float  # exactly 1
    frac_interior: float  # strictly between 0 and 1
    in_unit_interval: bool  # every label in [0, 1]
    integer_like: bool  # every label a whole number
    has_counts: bool  # trials (k-of-n counts) were given
    grid: int | None  # d when [0, 1] labels all are multiples of 1/d (d <= 100), else None
    modality: str  # "constant", "unimodal", "bimodal", "bimodal at the edges", "multimodal (k modes)", ...
    n_modes: int
    modes: list[float]  # approximate locations
    dispersion: float | None  # [0,1]: var / (mean (1 - mean)), 1 for hard 0/1 labels; >= 0 labels: var / mean^2
    skewness: float
    excess_kurtosis: float
    support_kind: str  # "unit_interval_closed", "unit_interval", "positive", "nonnegative" or "real"
    suggested_laws: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    trials_range: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        lines = [
            f"{self.n} labels x {self.n_targets} target(s) in [{self.min:.4g}, {self.max:.4g}], "
            f"mean {self.mean:.4g}, std {self.std:.4g}; support {self.support_kind}; {self.modality}",
            f"exactly 0: {pct(self.frac_zero)}, exactly 1: {pct(self.frac_one)}, interior: {pct(self.frac_interior)}",
        ]
        lines += [f"- {m}" for m in self.messages]
        lines.append("suggested: " + ", ".join(self.suggested_laws))
        lines += [f"excluded {k}: {v}" for k, v in self.excluded.items()]
        return "\n".join(lines)


def _moments(v: np.ndarray) -> tuple[float, float, float, float]:
    if v.min() == v.max():  # exactly constant: spare the rounding error of a sum
        return float(v[0]), 0.0, 0.0, 0.0
    mean = float(v.mean())
    d = v - mean
    var = float(np.mean(d * d))
    if var <= 0:
        return mean, 0.0, 0.0, 0.0
    std = math.sqrt(var)
    z = d / std
    return mean, std, float(np.mean(z**3)), float(np.mean(z**4) - 3.0)


def _density_modes(v: np.ndarray, lo: float, hi: float) -> list[float]:
    """Locations of the modes of a Gaussian KDE of ``v`` (Silverman bandwidth, which over- rather than
    under-smooths, so it errs towards fewer modes); peaks need 10% of the maximum's prominence."""
    from scipy.signal import find_peaks
    from scipy.stats import gaussian_kde

    if v.size > 5000:  # a fixed, evenly spread subsample: deterministic and fast
        v = np.sort(v)[np.linspace(0, v.size - 1, 5000).astype(np.int64)]
    if np.ptp(v) <= 0:
        return [float(v[0])]
    kde = gaussian_kde(v, bw_method="silverman")
    grid = np.linspace(lo, hi, 256)
    dens = kde(grid)
    # Zero padding lets a density that is highest at an end of the range count that end as a peak.
    padded = np.concatenate([[0.0], dens, [0.0]])
    peaks, _ = find_peaks(padded, prominence=0.1 * dens.max())
    return [float(grid[p - 1]) for p in peaks]


def _discrete_modes(levels: np.ndarray, counts: np.ndarray) -> list[float]:
    padded = np.concatenate([[-1], counts, [-1]])
    modes = []
    for i in range(1, len(padded) - 1):
        if padded[i] > padded[i - 1] and padded[i] >= padded[i + 1] and padded[i] >= 0.05 * counts.max():
            modes.append(float(levels[i - 1]))
    return modes


def _grid_step(levels: np.ndarray) -> int | None:
    """The smallest d <= 100 with every level a multiple of 1/d (labels k/d)."""
    if levels.size > 101:
        return None
    for d in range(2, 101):
        if levels.size > d + 1:
            continue
        k = levels * d
        if np.all(np.abs(k - np.round(k)) < 1e-4):
            return d
    return None


def inspect(y: Any, *, trials: Any = None) -> LabelReport:
    """Describe float labels and say which laws fit their support.

    Args:
        y: labels ``(N,)`` or ``(N, T)``: numpy, torch or a list.
        trials: counts ``n`` of k-of-n labels: a number, ``(N,)`` or shaped like ``y``.

    Returns:
        A :class:`LabelReport` with statistics, ``support_kind``, ordered ``suggested_laws``,
        ``excluded`` laws with reasons, and ``messages``.

    >>> r = inspect([0.0, 0.0, 1.0, 0.2, 0.4, 0.5, 0.7, 0.9, 0.3, 0.6])
    >>> r.support_kind, r.frac_zero, r.frac_one
    ('unit_interval_closed', 0.2, 0.1)
    >>> r.messages[0]
    '30% of labels are exactly 0 or 1: beta is not defined there (nor logit-normal or mixture-beta); use zoib, bernoulli or continuous-bernoulli'
    >>> "beta" in r.excluded, r.suggested_laws[0]
    (True, 'bernoulli')
    """
    a = to_numpy("y", y)
    if a.dtype.kind not in "biuf":
        raise LosslabError(f"inspect: y has dtype {a.dtype}; expected numbers")
    if a.ndim == 0 or a.size == 0:
        raise LosslabError(f"inspect: y has shape {a.shape}; expected (N,) or (N, T) with N >= 1")
    if a.ndim > 2:
        raise LosslabError(f"inspect: y has shape {a.shape}; expected (N,) or (N, T)")
    a = a.astype(np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        raise LosslabError(
            f"inspect: y has {int(bad.sum())} non-finite value(s) (NaN or inf), first at row(s) {first_rows(bad)}; "
            f"expected finite numbers"
        )
    n, n_targets = a.shape[0], (1 if a.ndim == 1 else a.shape[1])
    v = a.ravel()
    t_range = None
    if trials is not None:
        t = to_numpy("trials", trials).astype(np.float64)
        try:
            t = np.broadcast_to(t if t.ndim != 1 or a.ndim == 1 else t[:, None], a.shape)
        except ValueError:
            raise LosslabError(f"inspect: trials has shape {t.shape}; expected a number, ({n},) or {a.shape}") from None
        if not np.isfinite(t).all() or (t <= 0).any():
            raise LosslabError("inspect: trials holds values <= 0 or non-finite; expected counts n >= 1")
        t_range = (float(t.min()), float(t.max()))

    vmin, vmax = float(v.min()), float(v.max())
    mean, std, skew, kurt = _moments(v)
    levels, level_counts = np.unique(v, return_counts=True)
    n_unique = int(levels.size)
    frac_zero = float(np.mean(v == 0.0))
    frac_one = float(np.mean(v == 1.0))
    frac_interior = float(np.mean((v > 0.0) & (v < 1.0)))
    in_unit = vmin >= 0.0 and vmax <= 1.0
    integer_like = bool(np.all(v == np.round(v)))
    edges = frac_zero + frac_one

    if in_unit and edges > 0:
        support = "unit_interval_closed"
    elif in_unit:
        support = "unit_interval"
    elif vmin > 0:
        support = "positive"
    elif vmin == 0:
        support = "nonnegative"
    else:
        support = "real"

    grid = _grid_step(levels) if in_unit and n_unique > 2 else None

    # ---- modality
    if n_unique == 1:
        modes, modality = [vmin], "constant"
    elif n_unique <= _MAX_DISCRETE:
        modes = _discrete_modes(levels, level_counts)
        shape = "unimodal" if len(modes) == 1 else ("bimodal" if len(modes) == 2 else f"multimodal ({len(modes)} modes)")
        if in_unit and len(modes) == 2 and modes[0] <= 0.1 and modes[1] >= 0.9:
            shape = "bimodal at the edges"
        modality = "binary (0/1)" if set(levels.tolist()) <= {0.0, 1.0} else f"discrete ({n_unique} levels), {shape}"
    else:
        atoms = []
        cont = v
        if in_unit:
            if frac_zero >= EDGE_ATOM:
                atoms.append(0.0)
            if frac_one >= EDGE_ATOM:
                atoms.append(1.0)
            cont = v[(v > 0) & (v < 1)]
        modes = _density_modes(cont, float(cont.min()), float(cont.max())) if cont.size >= 20 else []
        span = vmax - vmin
        # An atom at an edge and the density peak beside it are one mode: kernel smoothing moves a
        # density that rises towards the edge inwards by about a bandwidth, hence the wide radius.
        modes = [m for m in modes if all(abs(m - e) > _ATOM_RADIUS * span for e in atoms)]
        modes = sorted(atoms + modes)
        k = len(modes)
        if k <= 1:
            modality = "unimodal"
        elif in_unit and k == 2 and modes[0] <= vmin + 0.1 * span and modes[1] >= vmax - 0.1 * span:
            modality = "bimodal at the edges"
        elif k == 2:
            modality = "bimodal"
        else:
            modality = f"multimodal ({k} modes)"
    n_modes = max(len(modes), 1)

    var = std * std
    if in_unit and 0 < mean < 1:
        dispersion: float | None = var / (mean * (1 - mean))
    elif vmin >= 0 and mean > 0:
        dispersion = var / (mean * mean)
    else:
        dispersion = None

    suggested, excluded, messages = judge(
        n=v.size,
        n_targets=n_targets,
        vmin=vmin,
        vmax=vmax,
        mean=mean,
        frac_zero=frac_zero,
        frac_one=frac_one,
        frac_interior=frac_interior,
        support=support,
        has_counts=trials is not None,
        t_range=t_range,
        grid=grid,
        n_unique=n_unique,
        integer_like=integer_like,
        n_modes=n_modes,
        modality=modality,
        skew=skew,
        kurt=kurt,
        dispersion=dispersion,
        frac_out=float(np.mean((v < 0) | (v > 1))),
        outside=outside_support(v),
    )
    return LabelReport(
        n=n,
        n_targets=n_targets,
        min=vmin,
        max=vmax,
        mean=mean,
        std=std,
        n_unique=n_unique,
        frac_zero=frac_zero,
        frac_one=frac_one,
        frac_interior=frac_interior,
        in_unit_interval=in_unit,
        integer_like=integer_like,
        has_counts=trials is not None,
        grid=grid,
        modality=modality,
        n_modes=n_modes,
        modes=[float(m) for m in modes],
        dispersion=dispersion,
        skewness=skew,
        excess_kurtosis=kurt,
        support_kind=support,
        suggested_laws=suggested,
        excluded=excluded,
        messages=messages,
        trials_range=t_range,
    )


def default_laws(report: LabelReport) -> list[str]:
    """About six laws worth comparing by experiment for labels described by ``report``.

    [0, 1] labels with exact 0/1: bernoulli, sigmoid-mse, zoib, continuous-bernoulli, binned,
    gaussian-hetero (beta instead of zoib when no label is exactly 0 or 1); binomial first when
    counts are given. Other labels: gaussian, gaussian-hetero, laplace-hetero, student-t, binned
    (bounds from :func:`binned_bounds`), mixture-gaussian; mvn added for several targets.

    >>> default_laws(inspect([0.0, 0.25, 0.5, 1.0]))
    ['bernoulli', 'sigmoid-mse', 'zoib', 'continuous-bernoulli', 'binned', 'gaussian-hetero']
    >>> default_laws(inspect([0.1, 0.25, 0.5, 0.9], trials=4))[:2]
    ['binomial', 'bernoulli']
    """
    if report.in_unit_interval:
        laws = ["binomial"] if report.has_counts else []
        edge = "zoib" if report.support_kind == "unit_interval_closed" else "beta"
        laws += ["bernoulli", "sigmoid-mse", edge, "continuous-bernoulli", "binned", "gaussian-hetero"]
        return laws
    laws = ["gaussian", "gaussian-hetero", "laplace-hetero", "student-t", "binned", "mixture-gaussian"]
    if report.n_targets >= 2:
        laws.append("mvn")
    return laws


def binned_bounds(report: LabelReport, *, margin: float = 0.05) -> tuple[float, float]:
    """``(low, high)`` for the binned law: [0, 1] for unit-interval labels, else the label range
    widened by ``margin`` of its span on each side (so test labels slightly outside still fit).

    >>> binned_bounds(inspect([2.0, 4.0, 12.0]))
    (1.5, 12.5)
    """
    if report.in_unit_interval:
        return 0.0, 1.0
    span = report.max - report.min
    pad = margin * span if span > 0 else max(abs(report.max), 1.0) * margin
    return report.min - pad, report.max + pad

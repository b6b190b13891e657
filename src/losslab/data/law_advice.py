"""Which laws a set of labels admits and which to try: the rules behind :func:`losslab.inspect`.

:func:`outside_support` reads each registered law's :class:`~losslab.laws.Support`, so a law
with a new support needs no edit here; :func:`judge` adds the rules of thumb (counts, edges,
modality, tails) and orders the suggestions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..laws import law_class, list_laws

__all__ = ["EDGE_ATOM", "pct", "join_or", "outside_support", "judge"]

EDGE_ATOM = 0.05  # a point mass at 0 or 1 holding at least this fraction counts as a mode


def pct(p: float) -> str:
    """A fraction as a percentage with sensible precision: 31%, 4.2%, 0.05%."""
    v = 100.0 * p
    if v == 0 or v >= 10 or v == round(v):
        return f"{v:.0f}%"
    if v >= 1:
        return f"{v:.1f}%"
    return f"{v:.2g}%"


def join_or(names: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def outside_support(v: np.ndarray) -> dict[str, str]:
    """``{law: why}`` for each registered law whose support leaves out some of the labels ``v``, in name order.

    Read from each law's :class:`~losslab.laws.Support`, so a new law needs no entry here; laws
    whose bounds are options (``binned``) fit any labels and are never listed.

    >>> outside_support(np.array([0.0, 0.5, 1.0]))["beta"]
    '67% of labels are exactly 0 or 1, where its density is 0 or infinite'
    >>> outside_support(np.array([-1.0, 0.5, 2.0]))["exponential"]
    '33% of labels are negative; exponential needs y >= 0'
    """
    out = {}
    for name in list_laws():
        s = law_class(name).support
        if s.set_by_options:
            continue
        inside = s.check(v)
        if not inside.all():
            out[name] = _why_outside(name, s, v, inside)
    return out


def _why_outside(name: str, s: Any, v: np.ndarray, inside: np.ndarray) -> str:
    """Why the support ``s`` of law ``name`` does not admit the labels ``v`` (``inside``: those it admits)."""
    beyond = ~s.closure.check(v)
    if not beyond.any():  # every label left out sits on an open edge
        edges = [e for e, closed in ((s.low, s.low_closed), (s.high, s.high_closed)) if math.isfinite(e) and not closed]
        frac = sum(float(np.mean(v == e)) for e in edges)
        return f"{pct(frac)} of labels are exactly {' or '.join(f'{e:g}' for e in edges)}, where its density is 0 or infinite"
    frac = pct(float(np.mean(beyond)))
    if math.isfinite(s.low) and math.isfinite(s.high):
        return f"{frac} of labels lie outside {s.closure.text}"
    if math.isfinite(s.low):
        what = "negative" if s.low == 0 else f"below {s.low:g}"
        return f"{frac} of labels are {what}; {name} needs y {'>=' if s.low_closed else '>'} {s.low:g}"
    what = "positive" if s.high == 0 else f"above {s.high:g}"
    return f"{frac} of labels are {what}; {name} needs y {'<=' if s.high_closed else '<'} {s.high:g}"


def judge(**f: Any) -> tuple[list[str], dict[str, str], list[str]]:
    """The rules: suggested laws (best first), excluded laws with reasons, and messages."""
    support, n_modes = f["support"], f["n_modes"]
    unit = support in ("unit_interval_closed", "unit_interval")
    excluded: dict[str, str] = {}
    messages: list[str] = []
    suggested: list[str] = []

    if f["n_unique"] == 1:
        messages.append(
            f"all {f['n']} labels equal {f['vmin']:.6g}: the labels are constant, so every law fits a constant "
            f"and a comparison of laws says nothing"
        )

    # ---- counts
    if not f["has_counts"]:
        for law in ("binomial", "beta-binomial"):
            excluded[law] = "needs trials (the count n behind each k/n label): pass trials="
    elif not unit:
        for law in ("binomial", "beta-binomial"):
            excluded[law] = f"needs labels k/n in [0, 1], but labels range over [{f['vmin']:.4g}, {f['vmax']:.4g}]"
    else:
        lo, hi = f["t_range"]
        span = f"{lo:g}" if lo == hi else f"{lo:g} to {hi:g}"
        messages.append(f"labels come with counts (n = {span} trials): binomial and beta-binomial can use them")
    if f["n_targets"] < 2:
        excluded["mvn"] = "needs several targets (y of shape (N, T) with T >= 2)"
    for law, why in f["outside"].items():  # a reason found above (no trials) comes first
        excluded.setdefault(law, why)

    if unit:
        if support == "unit_interval_closed" and f["outside"]:
            # the laws left out here are those whose support (0, 1) leaves out its edges
            first, *rest = f["outside"]
            nor = f" (nor {join_or(rest)})" if rest else ""
            messages.append(
                f"{pct(f['frac_zero'] + f['frac_one'])} of labels are exactly 0 or 1: {first} is not defined there"
                f"{nor}; use zoib, bernoulli or continuous-bernoulli"
            )
        excluded["exponential"] = "labels are bounded by 1; an exponential law puts mass above 1"
        if f["has_counts"]:
            suggested += ["binomial", "beta-binomial"]
        if f["frac_interior"] == 0:
            messages.append(
                "every label is exactly 0 or 1 (hard labels): bernoulli is the natural law; soft-label laws "
                "(zoib, continuous-bernoulli, beta) add nothing"
            )
            suggested += ["bernoulli", "continuous-bernoulli", "sigmoid-mse", "binned"]
        elif support == "unit_interval_closed":
            edge_heavy = f["frac_zero"] + f["frac_one"] >= EDGE_ATOM
            suggested += ["bernoulli", "zoib", "continuous-bernoulli"] if edge_heavy else [
                "bernoulli", "continuous-bernoulli", "zoib"
            ]
            suggested += ["binned", "sigmoid-mse", "gaussian-hetero"]
            if not edge_heavy:
                messages.append(
                    f"only {pct(f['frac_zero'] + f['frac_one'])} of labels are exactly 0 or 1: zoib spends parameters "
                    f"on rare edges; clipping labels to [eps, 1 - eps] would admit beta"
                )
        else:
            suggested += ["beta", "bernoulli", "logit-normal", "continuous-bernoulli"]
            if n_modes >= 2:
                suggested.append("mixture-beta")
            suggested += ["binned", "sigmoid-mse", "gaussian-hetero"]
            gap = min(f["vmin"], 1 - f["vmax"])
            if gap < 1e-4 and f["n_unique"] > 1:
                messages.append(
                    f"labels come within {gap:.1e} of 0 or 1: beta and logit-normal NLLs are dominated by those "
                    f"points; continuous-bernoulli or bernoulli are steadier"
                )
            messages.append("no label is exactly 0 or 1: beta is defined everywhere; zoib's edge masses would fit to zero")
        if f["grid"] is not None and not f["has_counts"]:
            d = f["grid"]
            messages.append(
                f"labels lie on a grid of step 1/{d} ({f['n_unique']} distinct values): they look like k/{d} fractions; "
                f"pass trials={d} to use binomial, or use binned"
            )
        if f["dispersion"] is not None and f["frac_interior"] > 0 and f["n_unique"] > 1:
            disp = f["dispersion"]
            if disp >= 0.8:
                messages.append(
                    f"dispersion {disp:.2f} of the Bernoulli maximum mean(1 - mean): labels are nearly hard (mostly "
                    f"near 0 or 1)"
                )
            elif disp <= 0.1:
                messages.append(
                    f"dispersion {disp:.2f} of the Bernoulli maximum mean(1 - mean): labels are concentrated around "
                    f"{f['mean']:.3g}; beta-type laws with a learned concentration can express that, bernoulli cannot"
                )
    else:
        excluded["sigmoid-mse"] = f"its mean sigmoid(x) stays in (0, 1) but {pct(f['frac_out'])} of labels lie outside"
        heavy = f["kurt"] > 1.0
        # Exponential has skewness 2 and var / mean^2 = 1; suggest it only for labels of that shape.
        cv2 = f["dispersion"]
        skewed = f["skew"] > 1.0 and support in ("positive", "nonnegative") and cv2 is not None and 0.3 <= cv2 <= 3
        suggested += ["gaussian", "gaussian-hetero"]
        suggested += ["student-t", "laplace-hetero", "laplace"] if heavy else ["laplace-hetero", "student-t", "laplace"]
        if skewed:
            suggested.insert(2, "exponential")
        if n_modes >= 2:
            suggested.insert(1, "mixture-gaussian")
        else:
            suggested.append("mixture-gaussian")
        suggested.append("binned")
        if f["n_targets"] >= 2:
            suggested.append("mvn")
        if heavy:
            messages.append(
                f"excess kurtosis {f['kurt']:.1f}: heavy tails; student-t or laplace are more robust than gaussian"
            )
        if skewed:
            messages.append(
                f"skewness {f['skew']:.1f} and var/mean^2 {cv2:.2f} with labels >= 0: exponential or a heteroscedastic "
                f"law may fit"
            )
        if n_modes >= 2:
            messages.append(f"labels are {f['modality']}: a single gaussian cannot be multimodal; use mixture-gaussian or binned")
        if f["integer_like"] and f["n_unique"] <= 101 and f["vmin"] >= 0 and f["n_unique"] > 1:
            lo, hi = int(f["vmin"]), int(f["vmax"])
            messages.append(
                f"labels are whole numbers {lo}..{hi} ({f['n_unique']} levels): rescale to (y - {lo}) / {hi - lo} in "
                f"[0, 1] with trials = {hi - lo} for binomial, or use binned"
            )
        messages.append(
            f"binned needs bounds: low = {f['vmin']:.4g}, high = {f['vmax']:.4g} (the label range) or a little wider"
        )
    if unit and n_modes >= 2 and f["frac_interior"] > 0 and "bimodal at the edges" not in f["modality"]:
        alt = "binned" if "mixture-beta" in excluded else "mixture-beta or binned"
        messages.append(f"labels are {f['modality']}: a single beta cannot be multimodal; {alt} can")
    if f["modality"] == "bimodal at the edges" and f["frac_interior"] > 0:
        messages.append("labels are bimodal at the edges (mass near 0 and near 1)")

    order = [law for law in dict.fromkeys(suggested) if law not in excluded]
    return order, excluded, messages

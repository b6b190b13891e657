"""Examples for beta.py, continuous_bernoulli.py and logit_normal.py laws (labels in [0, 1]).

References: scipy.stats (beta, norm) and closed forms written here independently of
the laws' code, each named in ``source``.
"""

import mpmath
import numpy as np
import torch
from scipy import special, stats

from ._support import Example, normal_raw


def open_unit(gen: torch.Generator, n: int):
    """Labels strictly inside (0, 1): mostly uniform, one in eight within 5e-6 to 1e-5 of an edge.

    Every label stays inside (0, 1) after rounding to float32 (whose spacing below 1 is 6e-8).
    """
    y = torch.rand(n, generator=gen, dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
    near = torch.rand(n, generator=gen, dtype=torch.float64) < 0.125
    side = torch.rand(n, generator=gen, dtype=torch.float64) < 0.5
    gap = 5e-6 * (1 + y)
    edge = torch.where(side, gap, 1 - gap)
    return torch.where(near, edge, y), None


def with_atoms(gen: torch.Generator, n: int):
    """Labels in [0, 1], about 20% exactly 0 and 20% exactly 1, the rest uniform inside.

    Unlike other laws' examples these are not strictly inside the support: zoib's
    atoms are data, and every check must see them.
    """
    u = torch.rand(n, generator=gen, dtype=torch.float64)
    y = torch.rand(n, generator=gen, dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
    y = torch.where(u < 0.2, torch.zeros_like(y), torch.where(u < 0.4, torch.ones_like(y), y))
    if n >= 2:  # every draw of two or more labels holds both atoms
        y[0], y[1] = 0.0, 1.0
    return y, None


def _beta_logpdf(p, y, trials):
    # Concentrations recomputed from mean and precision in numpy, not taken from the law's link.
    return stats.beta.logpdf(y, p["mean"] * p["precision"], (1 - p["mean"]) * p["precision"])


def _mixture_beta_logpdf(p, y, trials):
    w = special.softmax(p["logits"], axis=-1)
    a, b = p["mean"] * p["precision"], (1 - p["mean"]) * p["precision"]
    return np.log((w * stats.beta.pdf(y[:, None], a, b)).sum(-1))


def _zoib_logpdf(p, y, trials):
    # Masses (pi0, pi1, pi_c) = softmax(r0, r1, 0); the Beta part from scipy.
    z = np.stack([p["zero_logits"], p["one_logits"], np.zeros_like(y)], -1)
    log_pi = np.log(special.softmax(z, axis=-1))
    inside = (y > 0) & (y < 1)
    a, b = p["mean"] * p["precision"], (1 - p["mean"]) * p["precision"]
    dens = log_pi[:, 2] + stats.beta.logpdf(np.where(inside, y, 0.5), a, b)
    return np.where(y == 0, log_pi[:, 0], np.where(y == 1, log_pi[:, 1], dens))


def _cb_logpdf(p, y, trials):
    # Loaiza-Ganem & Cunningham (2019), eq. for C(lambda): C = 2 atanh(1 - 2 lambda) / (1 - 2 lambda), C(1/2) = 2,
    # evaluated with mpmath at 50 digits from lambda = expit(x), then log C + y log lambda + (1 - y) log(1 - lambda).
    mpmath.mp.dps = 50
    out = []
    for x, yy in zip(p["logits"].tolist(), y.tolist()):
        lam = 1 / (1 + mpmath.exp(-mpmath.mpf(x)))
        c = mpmath.mpf(2) if x == 0 else 2 * mpmath.atanh(1 - 2 * lam) / (1 - 2 * lam)
        out.append(float(mpmath.log(c) + yy * mpmath.log(lam) + (1 - yy) * mpmath.log(1 - lam)))
    return np.array(out)


def _logit_normal_logpdf(p, y, trials):
    return stats.norm.logpdf(special.logit(y), p["loc"], p["scale"]) - np.log(y) - np.log1p(-y)


EXAMPLES = {
    "beta": [
        Example(raw=normal_raw(2, 1.5), labels=open_unit, logpdf=_beta_logpdf, source="scipy.stats.beta.logpdf"),
    ],
    "mixture-beta": [
        Example(raw=normal_raw(9, 1.5), labels=open_unit, logpdf=_mixture_beta_logpdf,
                source="log of softmax-weighted scipy.stats.beta.pdf"),
        Example(opts={"n_components": 2}, raw=normal_raw(6, 1.5), labels=open_unit, logpdf=_mixture_beta_logpdf,
                source="log of softmax-weighted scipy.stats.beta.pdf"),
    ],
    "zoib": [
        Example(raw=normal_raw(4, 1.5), labels=with_atoms, logpdf=_zoib_logpdf, edge_labels=(0.0, 1.0),
                source="softmax masses at 0 and 1, scipy.stats.beta.logpdf inside"),
    ],
    "continuous-bernoulli": [
        Example(raw=normal_raw(1, 3.0), labels=open_unit, logpdf=_cb_logpdf, edge_labels=(0.0, 1.0),
                source="C(lambda) = 2 atanh(1 - 2 lambda) / (1 - 2 lambda) with mpmath, Loaiza-Ganem & Cunningham 2019"),
    ],
    "logit-normal": [
        Example(raw=normal_raw(2, 1.0), labels=open_unit, logpdf=_logit_normal_logpdf,
                source="scipy.stats.norm.logpdf(logit y) - log y - log(1 - y)"),
        Example(opts={"min_scale": 0.05}, raw=normal_raw(2, 2.0), labels=open_unit, logpdf=_logit_normal_logpdf,
                source="scipy.stats.norm.logpdf(logit y) - log y - log(1 - y)"),
    ],
}

"""Examples for laplace.py, student_t.py, exponential.py, mvn.py and mixture.py (references: scipy.stats)."""

import numpy as np
import torch
from scipy import special, stats

from ._support import Example, normal_raw, uniform


def _exponential_labels(gen, n):
    # Inverse-cdf draws of 0.05 + Exponential(mean 2): strictly positive, and rates an L-BFGS fit reaches.
    u = torch.rand(n, generator=gen, dtype=torch.float64)
    return 0.05 - 2.0 * torch.log1p(-u), None


def _vector_labels(dim):
    def draw(gen, n):
        mix = torch.randn(dim, dim, generator=gen, dtype=torch.float64)
        return torch.randn(n, dim, generator=gen, dtype=torch.float64) @ mix + 0.5, None

    return draw


def _mvn_logpdf(p, y, n):
    # scipy.stats.multivariate_normal takes one mean and covariance at a time: one call per row.
    out = []
    for loc, tril, yi in zip(p["loc"], p["scale_tril"], y):
        out.append(stats.multivariate_normal.logpdf(yi, mean=loc, cov=tril @ tril.T))
    return np.array(out)


def _mixture_raw(k):
    def draw(gen, n):
        logits = torch.randn(n, k, generator=gen, dtype=torch.float64)
        loc = 1.5 * torch.randn(n, k, generator=gen, dtype=torch.float64)
        # Scales around softplus(0.5) ~ 1: keeps every component's pdf above float underflow
        # at the labels, as the reference sums densities, not log-densities.
        scale = 0.5 + 0.7 * torch.randn(n, k, generator=gen, dtype=torch.float64)
        return torch.cat([logits, loc, scale], dim=1)

    return draw


def _mixture_logpdf(p, y, n):
    # Closed form log sum_k w_k N(y; mu_k, s_k) with scipy's pdf and softmax (densities, not log-space).
    w = special.softmax(p["logits"], axis=-1)
    return np.log(np.sum(w * stats.norm.pdf(y[:, None], p["loc"], p["scale"]), axis=-1))


EXAMPLES = {
    "laplace": [
        Example(
            raw=normal_raw(1, 3.0),
            labels=uniform(-5.0, 5.0),
            logpdf=lambda p, y, n: stats.laplace.logpdf(y, p["loc"], 1.0),
            source="scipy.stats.laplace.logpdf",
        ),
        Example(
            opts={"scale": 0.4},
            raw=normal_raw(1, 3.0),
            labels=uniform(-5.0, 5.0),
            logpdf=lambda p, y, n: stats.laplace.logpdf(y, p["loc"], 0.4),
            source="scipy.stats.laplace.logpdf",
        ),
    ],
    "laplace-hetero": [
        Example(
            raw=normal_raw(2, 2.0),
            labels=uniform(-5.0, 5.0),
            logpdf=lambda p, y, n: stats.laplace.logpdf(y, p["loc"], p["scale"]),
            source="scipy.stats.laplace.logpdf",
        ),
        Example(
            opts={"min_scale": 0.05},
            raw=normal_raw(2, 2.0),
            labels=uniform(-5.0, 5.0),
            logpdf=lambda p, y, n: stats.laplace.logpdf(y, p["loc"], p["scale"]),
            source="scipy.stats.laplace.logpdf",
        ),
    ],
    "student-t": [
        Example(
            raw=normal_raw(3, 2.0),
            labels=uniform(-5.0, 5.0),
            logpdf=lambda p, y, n: stats.t.logpdf(y, p["df"], p["loc"], p["scale"]),
            source="scipy.stats.t.logpdf",
        ),
        Example(
            opts={"df": 3.5},
            raw=normal_raw(2, 2.0),
            labels=uniform(-5.0, 5.0),
            logpdf=lambda p, y, n: stats.t.logpdf(y, 3.5, p["loc"], p["scale"]),
            source="scipy.stats.t.logpdf",
        ),
        Example(
            opts={"df": 1.0, "min_scale": 0.01},
            raw=normal_raw(2, 2.0),
            labels=uniform(-5.0, 5.0),
            logpdf=lambda p, y, n: stats.cauchy.logpdf(y, p["loc"], p["scale"]),
            source="scipy.stats.cauchy.logpdf (Student t with df = 1)",
        ),
        Example(
            opts={"min_df": 1.0},
            raw=normal_raw(3, 2.0),
            labels=uniform(-5.0, 5.0),
            logpdf=lambda p, y, n: stats.t.logpdf(y, p["df"], p["loc"], p["scale"]),
            source="scipy.stats.t.logpdf",
        ),
    ],
    "exponential": [
        Example(
            raw=normal_raw(1, 2.0),
            labels=_exponential_labels,
            logpdf=lambda p, y, n: stats.expon.logpdf(y, scale=1.0 / p["rate"]),
            edge_labels=(0.0,),
            source="scipy.stats.expon.logpdf",
        ),
    ],
    "mvn": [
        Example(
            raw=normal_raw(5, 1.0),
            labels=_vector_labels(2),
            logpdf=_mvn_logpdf,
            source="scipy.stats.multivariate_normal.logpdf, row by row",
        ),
        Example(
            opts={"dim": 1, "min_scale": 0.01},
            raw=normal_raw(2, 1.0),
            labels=_vector_labels(1),
            logpdf=_mvn_logpdf,
            source="scipy.stats.multivariate_normal.logpdf, row by row",
        ),
    ],
    "mixture-gaussian": [
        Example(
            raw=_mixture_raw(3),
            labels=uniform(-3.0, 3.0),
            logpdf=_mixture_logpdf,
            source="closed form log sum_k softmax(w)_k scipy.stats.norm.pdf(y, mu_k, s_k)",
        ),
        Example(
            opts={"n_components": 1},
            raw=_mixture_raw(1),
            labels=uniform(-3.0, 3.0),
            logpdf=_mixture_logpdf,
            source="closed form log sum_k softmax(w)_k scipy.stats.norm.pdf(y, mu_k, s_k)",
        ),
        Example(
            opts={"n_components": 5, "min_scale": 0.01},
            raw=_mixture_raw(5),
            labels=uniform(-3.0, 3.0),
            logpdf=_mixture_logpdf,
            source="closed form log sum_k softmax(w)_k scipy.stats.norm.pdf(y, mu_k, s_k)",
        ),
    ],
}

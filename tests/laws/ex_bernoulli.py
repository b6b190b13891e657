"""Examples for bernoulli.py and gaussian.py laws (references: scipy.stats and closed forms)."""

import numpy as np
from scipy import special, stats

from ._support import Example, fractions, normal_raw, uniform


def _soft_bce_logpdf(params, y, trials):
    # Closed form of the Bernoulli log-likelihood of a soft label: y log p + (1 - y) log(1 - p),
    # written with scipy's expit rather than the law's fused kernel.
    p = special.expit(params["logits"])
    return special.xlogy(y, p) + special.xlogy(1 - y, 1 - p)


EXAMPLES = {
    "bernoulli": [
        Example(
            raw=normal_raw(1, 3.0),
            labels=uniform(0.0, 1.0),
            logpdf=_soft_bce_logpdf,
            edge_labels=(0.0, 1.0),
            source="closed form y log p + (1-y) log(1-p) with scipy.special.expit",
        )
    ],
    "binomial": [
        Example(
            raw=normal_raw(1, 2.0),
            labels=fractions(1, 50),
            logpdf=lambda p, y, n: stats.binom.logpmf(np.round(y * n), n, special.expit(p["logits"])),
            edge_labels=(0.0, 1.0),
            source="scipy.stats.binom.logpmf",
        )
    ],
    "beta-binomial": [
        Example(
            raw=normal_raw(2, 1.5),
            labels=fractions(1, 30),
            logpdf=lambda p, y, n: stats.betabinom.logpmf(
                np.round(y * n), n, p["mean"] * p["precision"], (1 - p["mean"]) * p["precision"]
            ),
            edge_labels=(0.0, 1.0),
            source="scipy.stats.betabinom.logpmf",
        )
    ],
    "sigmoid-mse": [
        Example(
            opts={"sigma": 0.3},
            raw=normal_raw(1, 2.0),
            labels=uniform(0.0, 1.0),
            logpdf=lambda p, y, n: stats.norm.logpdf(y, p["loc"], 0.3),
            edge_labels=(0.0, 1.0),
            source="scipy.stats.norm.logpdf",
        ),
        Example(raw=normal_raw(1, 2.0), labels=uniform(0.0, 1.0), logpdf=lambda p, y, n: stats.norm.logpdf(y, p["loc"], 1.0)),
    ],
    "gaussian": [
        Example(
            raw=normal_raw(1, 3.0),
            labels=uniform(-5.0, 5.0),
            logpdf=lambda p, y, n: stats.norm.logpdf(y, p["loc"], 1.0),
            source="scipy.stats.norm.logpdf",
        ),
        Example(opts={"sigma": 2.5}, raw=normal_raw(1, 3.0), labels=uniform(-5.0, 5.0),
                logpdf=lambda p, y, n: stats.norm.logpdf(y, p["loc"], 2.5)),
    ],
    "gaussian-hetero": [
        Example(
            raw=normal_raw(2, 2.0),
            labels=uniform(-5.0, 5.0),
            logpdf=lambda p, y, n: stats.norm.logpdf(y, p["loc"], p["scale"]),
            source="scipy.stats.norm.logpdf",
        ),
        Example(opts={"beta": 0.5}, raw=normal_raw(2, 2.0), labels=uniform(-5.0, 5.0),
                logpdf=lambda p, y, n: stats.norm.logpdf(y, p["loc"], p["scale"])),
    ],
}

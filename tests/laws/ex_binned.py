"""Examples for binned.py (reference: the histogram density written in numpy/scipy).

The reference log-density of a histogram over ``n`` equal-width bins of ``[low, high]``
is ``log softmax(logits)[bin(y)] - log(width)``, with the bin found by ``np.digitize``
against the interior edges (so ``y == high`` lands in the last bin) and the softmax
from ``scipy.special.softmax``: written independently of ``losslab.distributions.Histogram``.
"""

import numpy as np
from scipy import special

from ._support import Example, normal_raw, uniform


def _histogram_logpdf(n_bins: int, low: float, high: float):
    edges = np.linspace(low, high, n_bins + 1)
    width = (high - low) / n_bins

    def logpdf(params, y, trials):
        probs = special.softmax(params["logits"], axis=-1)
        k = np.digitize(y, edges[1:-1])
        return np.log(probs[np.arange(len(y)), k]) - np.log(width)

    return logpdf


def _example(kind: str, n_bins: int = 51, low: float = 0.0, high: float = 1.0, **extra) -> Example:
    opts = {"kind": kind, **({} if (n_bins, low, high) == (51, 0.0, 1.0) else {"n_bins": n_bins, "low": low, "high": high})}
    opts.update(extra)
    return Example(
        opts=opts,
        raw=normal_raw(n_bins, 2.0),
        labels=uniform(low, high),
        logpdf=_histogram_logpdf(n_bins, low, high),
        edge_labels=(low, high),
        source="numpy: log(scipy.special.softmax(logits)[np.digitize(y, inner edges)]) - log(width)",
    )


EXAMPLES = {
    "binned": [
        _example("hl-gauss"),  # the default options
        _example("onehot"),
        _example("twohot"),
        _example("onehot", n_bins=11, low=-2.0, high=3.0),
        _example("twohot", n_bins=11, low=-2.0, high=3.0),
        _example("hl-gauss", n_bins=11, low=-2.0, high=3.0, sigma_ratio=1.5),
        _example("hl-gauss", n_bins=2, low=-1.0, high=1.0),
    ]
}

r"""Numerical primitives of the Keras losses, written with ``keras.ops`` only.

Each function mirrors a PyTorch primitive of the core package (named in its
docstring) with the same branches and thresholds, so that both give the same
numbers. ``keras.ops`` has no ``lgamma``; :func:`lgamma` is a shifted Stirling
series, accurate to float64 rounding for every positive argument.

>>> round(float(lgamma(ops.convert_to_tensor([0.5], dtype="float32"))[0]), 5)   # log(pi) / 2
0.57236
"""

from __future__ import annotations

import math

import numpy as np

try:
    import keras
    from keras import ops
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "losslab.keras needs Keras 3 and a backend: pip install 'losslab[keras]' (or keras with jax or torch)"
    ) from err

LOG_2 = math.log(2.0)
LOG_2PI = math.log(2.0 * math.pi)
LOG_PI = math.log(math.pi)

# Stirling's series of lgamma(z) - [(z - 1/2) log z - z + log(2 pi)/2], in powers of 1/z:
# B_{2k} / (2k (2k - 1) z^{2k-1}) for k = 1..6 (Abramowitz & Stegun 6.1.40).
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360)
#: arguments below this are shifted up by the recurrence lgamma(x) = lgamma(x + 8) - log(x (x+1) ... (x+7))
_STIRLING_SHIFT = 8


def dtype_of(x) -> str:
    """The standard name of ``x``'s float dtype (``"float32"``, ``"float64"``, ...)."""
    return keras.backend.standardize_dtype(x.dtype)


def filled_like(x, value: float):
    """``x``'s shape and dtype filled with ``value``.

    Used wherever a Python number meets a tensor in a ``keras.ops`` call: on the torch backend (Keras
    3.15) ``ops.where(c, x, 0.3)`` rounds 0.3 to float32 for a float64 ``x``, and ``ops.full_like``
    fails on the "meta" tensors Keras uses to infer shapes.
    """
    return ops.zeros_like(x) + value


def maximum(x, y):
    """Elementwise ``max(x, y)`` of two tensors of one dtype (``ops.maximum`` returns float32 for float64 on torch)."""
    return ops.where(x < y, y, x)


def minimum(x, y):
    """Elementwise ``min(x, y)`` of two tensors of one dtype (``ops.minimum`` returns float32 for float64 on torch)."""
    return ops.where(x > y, y, x)


def lgamma(x):
    r""":math:`\log\Gamma(x)` for ``x > 0`` (``keras.ops`` has none; ``torch.lgamma`` in the core package).

    Stirling's series to :math:`z^{-11}` at :math:`z = x` for ``x >= 8``, else at ``z = x + 8``
    less :math:`\log \prod_{k=0}^{7}(x + k)`. The first omitted term is below
    :math:`1/(156 z^{13}) < 1.2 \cdot 10^{-14}`, so the series is exact to float64 rounding; its
    derivative (the digamma function, which autodiff yields) is as accurate. Arguments from
    ``1e-38`` up to float32's range stay finite.

    References: M. Abramowitz and I. A. Stegun, *Handbook of Mathematical Functions*, 6.1.40 and 6.1.15.

    >>> [round(float(v), 4) for v in lgamma(ops.convert_to_tensor([1.0, 2.0, 10.0, 1e-3], dtype="float32"))]
    [0.0, 0.0, 12.8018, 6.9072]
    """
    small = x < _STIRLING_SHIFT
    # The shift's product overflows for large x; it is unused there, so give it 1 (no inf, no NaN gradient).
    xs = ops.where(small, x, ops.ones_like(x))
    prod = xs
    for k in range(1, _STIRLING_SHIFT):
        prod = prod * (xs + k)
    z = ops.where(small, x + _STIRLING_SHIFT, x)
    r = 1.0 / z
    r2 = r * r
    series = _STIRLING[-1]
    for c in reversed(_STIRLING[:-1]):
        series = c + r2 * series
    lg = (z - 0.5) * ops.log(z) - z + 0.5 * LOG_2PI + r * series
    return lg - ops.where(small, ops.log(prod), ops.zeros_like(x))


def lgamma_half_ratio(h):
    r""":math:`\log\Gamma(h) - \log\Gamma(h + \tfrac12)` for ``h > 0`` (the Student-t normaliser's ``lgamma`` terms).

    For large ``h`` each ``lgamma`` is large (37 590 at ``h = 5000``) and their float32 difference
    keeps only ~3 digits. From ``h = 8`` on, Stirling's forms are subtracted analytically:

    .. math::
        \log\Gamma(h) - \log\Gamma(h + \tfrac12) = -\tfrac12\log h
            + \bigl(\tfrac12 - h\,\mathrm{log1p}(\tfrac1{2h})\bigr) + S(h) - S(h + \tfrac12)

    with :math:`S` the series part of :func:`lgamma`; every term is small, so float32 keeps ~7 digits.

    >>> round(float(lgamma_half_ratio(ops.convert_to_tensor(5000.5, "float32"))), 6)  # math.lgamma: -4.2586216
    -4.258622
    """
    big = h >= _STIRLING_SHIFT
    hb = ops.where(big, h, ops.ones_like(h) * _STIRLING_SHIFT)  # the large-h form never sees small h
    hs = ops.where(big, ops.ones_like(h), h)
    direct = lgamma(hs) - lgamma(hs + 0.5)

    def series(z):
        r = 1.0 / z
        r2 = r * r
        acc = _STIRLING[-1]
        for c in reversed(_STIRLING[:-1]):
            acc = c + r2 * acc
        return r * acc

    asym = -0.5 * ops.log(hb) + (0.5 - hb * ops.log1p(0.5 / hb)) + (series(hb) - series(hb + 0.5))
    return ops.where(big, asym, direct)


def abs0(x):
    """``|x|`` whose gradient at ``x = 0`` is 0, as torch's and TensorFlow's (JAX's ``abs`` has slope 1 there)."""
    zero = ops.equal(x, 0)
    return ops.where(zero, ops.zeros_like(x), ops.abs(x))


def log_beta(a, b):
    """``lgamma(a) + lgamma(b) - lgamma(a + b)``, as :func:`losslab.distributions.beta_log_prob` computes it."""
    return lgamma(a) + lgamma(b) - lgamma(a + b)


def xlogy(x, y):
    """``x * log(y)``, 0 where ``x == 0`` (as ``torch.xlogy``); the log never sees the unused ``y``."""
    zero = ops.equal(x, 0)
    return ops.where(zero, ops.zeros_like(x), x * ops.log(ops.where(zero, ops.ones_like(y), y)))


def binary_entropy(y):
    r""":math:`H(y) = -y\log y - (1-y)\log(1-y)`, 0 at the edges (:func:`losslab.laws.bernoulli.binary_entropy`)."""
    return -(xlogy(y, y) + xlogy(1.0 - y, 1.0 - y))


def bce_with_logits(logits, y):
    r"""Soft-label BCE :math:`-y\log\sigma(x) - (1-y)\log\sigma(-x)` (``F.binary_cross_entropy_with_logits``).

    Written with ``log_sigmoid`` on both sides: no ``log(1 - sigmoid(x))`` that rounds to
    ``log 0``, and the gradient is exactly ``sigmoid(x) - y`` everywhere (a ``relu``/``abs`` form
    has a wrong subgradient at ``x = 0``).
    """
    return -(y * ops.log_sigmoid(logits) + (1.0 - y) * ops.log_sigmoid(-logits))


def log_softplus(raw):
    """``log(softplus(raw))``, ``raw`` itself below -30 where softplus underflows (:func:`losslab.links.log_softplus`)."""
    neg = raw < -30.0
    safe = ops.where(neg, ops.zeros_like(raw), raw)
    return ops.where(neg, raw, ops.log(ops.softplus(safe)))


def positive(raw, floor: float):
    """``softplus(raw) + floor`` (:func:`losslab.links.positive`)."""
    return ops.softplus(raw) + floor


# --------------------------------------------------------------------------- beta family
def mean_precision(raw_mean, raw_precision, max_logit: float, max_log_precision: float):
    """``(mean, precision, concentration1, concentration0)`` as :func:`losslab.laws.beta.mean_precision`.

    ``concentration0 = precision * sigmoid(-r)``, not ``precision * (1 - mean)``, which rounds
    to 0 in float32 once ``mean`` rounds to 1.
    """
    r = ops.clip(raw_mean, -max_logit, max_logit)
    mean = ops.sigmoid(r)
    precision = ops.exp(ops.clip(raw_precision, -max_log_precision, max_log_precision))
    return mean, precision, precision * mean, precision * ops.sigmoid(-r)


def beta_log_prob(a, b, y, clamp: float | None = None):
    r"""Beta log-density :math:`(a-1)\log y + (b-1)\log(1-y) - \log B(a,b)`, as ``distributions.beta_log_prob``.

    With ``clamp=eps`` the label is moved to ``[eps, 1 - eps]``: ``log y`` and ``log(1 - y)`` are taken
    of ``y`` and ``1 - y`` each clipped to ``[eps, 1 - eps]``, which is the same number without
    computing ``1 - (1 - eps)`` in float32 (that rounding alone moves ``log(1 - y)`` at ``y = 1`` by 1%
    for ``eps = 1e-6``).
    """
    if clamp is None:
        log_y, log_1my = ops.log(y), ops.log1p(-y)
    else:
        lo, hi = filled_like(y, clamp), filled_like(y, 1.0 - clamp)
        log_y = ops.log(minimum(maximum(y, lo), hi))
        log_1my = ops.log(minimum(maximum(1.0 - y, lo), hi))
    return (a - 1.0) * log_y + (b - 1.0) * log_1my - log_beta(a, b)


def beta_mode(a, b):
    """Mode of Beta(a, b), an edge when a concentration is at most 1 (:func:`losslab.laws.beta.beta_mode`)."""
    interior = ops.logical_and(a > 1, b > 1)
    denom = ops.where(interior, a + b - 2.0, ops.ones_like(a))  # never 0/0, even where unused
    half = filled_like(a, 0.5)
    edge = ops.where(a < b, ops.zeros_like(a), ops.where(a > b, ops.ones_like(a), half))
    return ops.where(interior, (a - 1.0) / denom, edge)


def zoib_log_prob(zero_logits, one_logits, a, b, y):
    """Log-mass at 0 and 1, log-density inside (:func:`losslab.distributions.zoib_log_prob`)."""
    log_norm = ops.logsumexp(ops.stack([zero_logits, one_logits, ops.zeros_like(zero_logits)], axis=0), axis=0)
    is_zero, is_one = ops.equal(y, 0.0), ops.equal(y, 1.0)
    inside = ops.logical_not(ops.logical_or(is_zero, is_one))
    # The Beta density is evaluated at 0.5 for atoms: -inf * 0 there would poison the gradient through where.
    safe = ops.where(inside, y, filled_like(y, 0.5))
    inner = beta_log_prob(a, b, safe)
    lp = ops.where(is_zero, zero_logits, ops.where(is_one, one_logits, inner))
    return lp - log_norm


# --------------------------------------------------------------------------- continuous Bernoulli
def _cb_taylor_max(dtype: str) -> float:
    """``|x|`` below which Taylor series replace the closed forms: 0.15 in float64, 1.0 otherwise.

    The same thresholds as ``losslab.laws.continuous_bernoulli._taylor_max`` (its docstring derives them).
    """
    return 0.15 if dtype == "float64" else 1.0


def _cb_split(x):
    t = _cb_taylor_max(dtype_of(x))
    a = ops.abs(x)
    small = a <= t
    # The closed forms divide by |x|: give them t where the Taylor branch is selected.
    return small, ops.where(small, filled_like(a, t), a), x * x


def _cb_s_taylor(w):
    # S(x) = x^2/24 - x^4/2880 + x^6/181440 - x^8/9676800 + O(x^10)
    return w * (1 / 24 + w * (-1 / 2880 + w * (1 / 181440 - w / 9676800)))


def cb_nll(logits, y):
    r"""Continuous-Bernoulli NLL :math:`x(\tfrac12 - y) + \log(\sinh(x/2)/(x/2))`, as ``continuous_bernoulli.cb_nll``.

    >>> round(float(cb_nll(ops.convert_to_tensor(2.0, "float32"), ops.convert_to_tensor(0.75, "float32"))), 6)
    -0.338561
    """
    small, a, w = _cb_split(logits)
    na = -a
    closed = ops.log(ops.expm1(na) / na)
    step = ops.where(small, filled_like(logits, 0.5), ops.cast(logits > 0, logits.dtype))
    return logits * (step - y) + ops.where(small, _cb_s_taylor(w), closed)


def cb_mean(logits):
    r"""Mean :math:`1/(1 - e^{-x}) - 1/x` of the continuous Bernoulli, as ``continuous_bernoulli.cb_mean``."""
    small, a, w = _cb_split(logits)
    taylor = 0.5 + logits * (1 / 12 + w * (-1 / 720 + w * (1 / 30240 - w / 1209600)))
    lower = 1.0 / a - ops.exp(-a) / -ops.expm1(-a)
    return ops.where(small, taylor, ops.where(logits > 0, 1.0 - lower, lower))


def cb_median(logits):
    r"""Median :math:`\log((1 + e^x)/2)/x` (:func:`losslab.laws.continuous_bernoulli.cb_median`)."""
    a = ops.abs(logits)
    tiny, mid = a <= 0.1, a <= 1.0
    w = logits * logits
    taylor = 0.5 + logits * (1 / 8 + w * (-1 / 192 + w * (1 / 2880 - w * 17 / 645120)))
    xm = ops.where(ops.logical_or(tiny, ops.logical_not(mid)), ops.ones_like(logits), logits)
    central = ops.log1p(ops.expm1(xm) / 2.0) / xm
    af = ops.where(mid, ops.ones_like(a), a)
    lower = (LOG_2 - ops.softplus(-af)) / af
    far = ops.where(logits > 0, 1.0 - lower, lower)
    return ops.where(tiny, taylor, ops.where(mid, central, far))


# --------------------------------------------------------------------------- binned
def erfc_cap(dtype: str) -> float:
    """``|w|`` beyond which ``erfc(w)`` leaves the normal floats (``losslab.laws.binned._erfc_cap``)."""
    return math.sqrt(-math.log(float(np.finfo(dtype).tiny))) - 0.5


def hl_gauss_targets(y, low: float, width: float, n_bins: int, sigma_ratio: float):
    r"""HL-Gauss target probabilities ``(..., n_bins)`` for labels ``(...)`` (``Binned.to_probs``, kind hl-gauss).

    Bin ``k``'s mass is that of ``Normal(y, sigma_ratio * width)`` between its edges, taken as a
    difference of ``erfc`` tails (not of CDF values near 1, which would lose the far bins), with
    ``|w|`` capped where ``erfc`` leaves the normal floats, then renormalised over ``[low, high]``.
    """
    dtype = dtype_of(y)
    u = (y - low) / width  # the label in bin units: edge k sits at u = k
    a = 1.0 / (sigma_ratio * math.sqrt(2.0))
    edges = ops.cast(ops.arange(n_bins + 1), dtype)
    w = (edges - ops.expand_dims(u, -1)) * a  # (..., n_bins + 1)
    neg = w < 0
    tail = ops.erfc(minimum(ops.abs(w), filled_like(w, erfc_cap(dtype))))
    signed_tail = ops.where(neg, -tail, tail)
    sign = ops.where(neg, -ops.ones_like(w), ops.ones_like(w))
    mass = (sign[..., 1:] - sign[..., :-1]) + (signed_tail[..., :-1] - signed_tail[..., 1:])
    mass = maximum(mass, ops.zeros_like(mass))
    return mass / ops.sum(mass, axis=-1, keepdims=True)


def twohot_targets(y, low: float, width: float, n_bins: int):
    """Two-hot targets ``(..., n_bins)``: ``1 - f`` and ``f`` on the centres around ``y`` (``Binned.to_probs``)."""
    t = ops.clip((y - low) / width - 0.5, 0.0, n_bins - 1.0)
    i0 = minimum(ops.floor(t), filled_like(t, n_bins - 2.0))
    f = t - i0
    i0 = ops.cast(i0, "int32")
    dtype = dtype_of(y)
    lo = ops.one_hot(i0, n_bins, dtype=dtype)
    hi = ops.one_hot(i0 + 1, n_bins, dtype=dtype)
    return lo * ops.expand_dims(1.0 - f, -1) + hi * ops.expand_dims(f, -1)


def histogram_bin(y, low: float, width: float, n_bins: int):
    """Index (int32) of the bin holding ``y``, ``y == high`` in the last (``distributions.histogram_bin``)."""
    return ops.cast(ops.clip(ops.floor((y - low) / width), 0.0, n_bins - 1.0), "int32")


def bin_centers(low: float, width: float, n_bins: int, dtype: str):
    return low + width * (ops.cast(ops.arange(n_bins), dtype) + 0.5)

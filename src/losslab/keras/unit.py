"""Keras losses of laws for labels in [0, 1]: bernoulli (soft BCE), continuous-bernoulli, beta, zoib, binned."""

from __future__ import annotations

import math  # noqa: F401  the doctests use it

import numpy as np  # noqa: F401  the doctests use it

from . import _ops
from ._ops import ops
from ..laws.bernoulli import MAX_LOG_PRECISION, MAX_LOGIT
from ._base import LawLoss, ScalarLoss, register_loss

__all__ = ["BernoulliLoss", "BetaLoss", "BinnedLoss", "ContinuousBernoulliLoss", "ZOIBLoss"]


@register_loss("bernoulli")
class BernoulliLoss(ScalarLoss):
    r"""Soft-label binary cross-entropy from logits (law ``bernoulli``).

    .. math:: \ell(x, y) = -y\log\sigma(x) - (1 - y)\log\sigma(-x)

    Its minimum over ``x`` is the label entropy ``H(y)``, not 0: :class:`BernoulliExcess`
    reports ``BCE - H(y) = KL(y || sigmoid(x))`` as a metric. Raw outputs ``[logits]``.

    >>> loss = BernoulliLoss()
    >>> round(float(loss(np.array([0.75], "float32"), np.zeros((1, 1), "float32"))), 4)
    0.6931
    """

    def params(self, y_pred):
        return {"logits": self._split(self._raw(y_pred))["logits"]}

    def _nll(self, params, y):
        return _ops.bce_with_logits(params["logits"], y)

    def excess(self, y_true, y_pred):
        """Per-label ``BCE - H(y)``, the Kullback-Leibler divergence ``KL(y || p)`` (>= 0, 0 at ``p = y``)."""
        raw, y = self._prepare(y_true, y_pred)
        # Rounding can push a perfect fit a hair below zero; the divergence is >= 0 by definition.
        excess = self._nll(self.params(raw), y) - _ops.binary_entropy(y)
        return _ops.maximum(excess, ops.zeros_like(excess))

    def _mean(self, params):
        return ops.sigmoid(params["logits"])


@register_loss("continuous-bernoulli")
class ContinuousBernoulliLoss(ScalarLoss):
    r"""The continuous Bernoulli density on [0, 1] (law ``continuous-bernoulli``).

    .. math:: -\log p(y \mid x) = x(\tfrac12 - y) + \log\frac{\sinh(x/2)}{x/2}

    with the PyTorch law's Taylor branch near ``x = 0``. Raw outputs ``[logits]``;
    read predictions through :meth:`point` (the mean is not ``sigmoid(x)``).

    Reference: G. Loaiza-Ganem and J. P. Cunningham, NeurIPS 2019.

    >>> loss = ContinuousBernoulliLoss()
    >>> round(float(loss(np.array([0.3], "float32"), np.zeros((1, 1), "float32"))), 4)  # x = 0: uniform density
    0.0
    """

    def params(self, y_pred):
        return {"logits": self._split(self._raw(y_pred))["logits"]}

    def _nll(self, params, y):
        return _ops.cb_nll(params["logits"], y)

    def _mean(self, params):
        return _ops.cb_mean(params["logits"])

    def _median(self, params):
        return _ops.cb_median(params["logits"])


class _BetaParams(ScalarLoss):
    def _beta_params(self, parts):
        mean, precision, c1, c0 = _ops.mean_precision(parts["mean"], parts["precision"], MAX_LOGIT, MAX_LOG_PRECISION)
        return {"mean": mean, "precision": precision, "concentration1": c1, "concentration0": c0}


@register_loss("beta")
class BetaLoss(_BetaParams):
    r"""Beta law in the mean-precision parametrisation (law ``beta``, Ferrari & Cribari-Neto 2004).

    .. math::
        -\log p(y) = \log B(a, b) - (a - 1)\log y - (b - 1)\log(1 - y), \qquad a = \mu\phi,\ b = (1-\mu)\phi

    with ``mu = sigmoid(r0)`` (``r0`` clamped to ±30) and ``phi = exp(r1)`` (``r1`` clamped
    to ±15). Labels exactly 0 or 1 need ``clamp=eps``. Raw outputs ``[mean, precision]``.

    >>> loss = BetaLoss(clamp=1e-3)
    >>> raw = np.array([[0.0, math.log(4.0)]], "float32")   # Beta(2, 2): -log(6 * 1e-3 * 0.999)
    >>> round(float(loss(np.array([0.0], "float32"), raw)), 4)
    5.117
    """

    _clamps_itself = True

    def params(self, y_pred):
        return self._beta_params(self._split(self._raw(y_pred)))

    def _nll(self, params, y):
        clamp = None if self.law.clamp is None else float(self.law.clamp)
        return -_ops.beta_log_prob(params["concentration1"], params["concentration0"], y, clamp)

    def _mean(self, params):
        return params["mean"]

    def _mode(self, params):
        return _ops.beta_mode(params["concentration1"], params["concentration0"])


@register_loss("zoib")
class ZOIBLoss(_BetaParams):
    r"""Zero/one-inflated beta (law ``zoib``, Ospina & Ferrari 2010): labels exactly 0 and 1 are atoms.

    .. math::
        -\log p(y) = -\log\pi_0\ (y = 0);\quad -\log\pi_1\ (y = 1);\quad
        -\log\pi_c - \log\mathrm{Beta}(y; \mu\phi, (1-\mu)\phi)\ \text{else},
        \qquad (\pi_0, \pi_1, \pi_c) = \operatorname{softmax}(r_0, r_1, 0)

    Raw outputs ``[zero_logits, one_logits, mean, precision]``.

    >>> loss = ZOIBLoss()
    >>> raw = np.array([[0.0, 0.0, 0.0, math.log(4.0)]], "float32")
    >>> round(float(loss(np.array([0.0], "float32"), raw)), 4)   # log 3
    1.0986
    """

    def params(self, y_pred):
        parts = self._split(self._raw(y_pred))
        return {"zero_logits": parts["zero_logits"], "one_logits": parts["one_logits"], **self._beta_params(parts)}

    def _nll(self, params, y):
        return -_ops.zoib_log_prob(
            params["zero_logits"], params["one_logits"], params["concentration1"], params["concentration0"], y
        )

    def _mean(self, params):
        z = ops.stack([params["zero_logits"], params["one_logits"], ops.zeros_like(params["mean"])], axis=-1)
        probs = ops.softmax(z, axis=-1)
        return probs[..., 1] + probs[..., 2] * params["mean"]


@register_loss("binned")
class BinnedLoss(LawLoss):
    r"""Regression by classification over ``n_bins`` equal-width bins of ``[low, high]`` (law ``binned``).

    The training objective is the cross-entropy against targets ``t(y)`` plus ``log w``:

    .. math::
        L(\ell, y) = -\sum_k t_k(y)\log\operatorname{softmax}(\ell)_k + \log w,
        \qquad w = (\mathrm{high} - \mathrm{low}) / n

    with ``kind="hl-gauss"`` (Imani & White 2018; default), ``"twohot"`` (MuZero) or
    ``"onehot"``; :meth:`nll` is the histogram density's NLL (the one-hot objective).
    Decode with :meth:`point`: ``"mean"``, ``"median"``, ``"mode"`` or ``"interp"``.
    Raw outputs: ``n_bins`` logits.

    >>> loss = BinnedLoss(kind="twohot", n_bins=4)        # centres 0.125, 0.375, 0.625, 0.875
    >>> raw = np.zeros((1, 4), "float32")
    >>> round(float(loss(np.array([0.5], "float32"), raw)), 4)  # log 4 + log(1/4): the uniform density
    0.0
    >>> round(float(loss.point(np.array([[0.0, 9.0, 9.0, 0.0]], "float32"))[0]), 4)
    0.5
    """

    def params(self, y_pred):
        return {"logits": self._raw(y_pred)}

    def _log_probs(self, params):
        return ops.log_softmax(params["logits"], axis=-1)

    def _nll(self, params, y):
        law = self.law
        onehot = ops.one_hot(_ops.histogram_bin(y, law.low, law.width, law.n_bins), law.n_bins, dtype=self.dtype)
        return -ops.sum(onehot * self._log_probs(params), axis=-1) + law._log_width

    def targets(self, y_true):
        """Target probabilities ``(..., n_bins)`` for labels ``(...)``, as ``law.to_probs`` in PyTorch."""
        y = ops.convert_to_tensor(y_true, dtype=self.dtype)
        law = self.law
        if law.kind == "onehot":
            return ops.one_hot(_ops.histogram_bin(y, law.low, law.width, law.n_bins), law.n_bins, dtype=self.dtype)
        if law.kind == "twohot":
            return _ops.twohot_targets(y, law.low, law.width, law.n_bins)
        return _ops.hl_gauss_targets(y, law.low, law.width, law.n_bins, law.sigma_ratio)

    def _objective(self, params, y):
        if self.law.kind == "onehot":
            return self._nll(params, y)
        # The targets depend on the labels only: no gradient flows through them.
        t = ops.stop_gradient(self.targets(y))
        return -ops.sum(t * self._log_probs(params), axis=-1) + self.law._log_width

    def _centers(self):
        return _ops.bin_centers(self.law.low, self.law.width, self.law.n_bins, self.dtype)

    def _mean(self, params):
        return ops.sum(ops.softmax(params["logits"], axis=-1) * self._centers(), axis=-1)

    def _mode(self, params):
        return ops.take(self._centers(), ops.argmax(params["logits"], axis=-1))

    def _median(self, params):
        # The histogram's quantile at 1/2 (Histogram.icdf): the first bin whose cumulative mass reaches 1/2,
        # then linear inside it.
        n = self.law.n_bins
        probs = ops.softmax(params["logits"], axis=-1)
        cum = ops.cumsum(probs, axis=-1)
        idx = ops.minimum(ops.sum(ops.cast(cum < 0.5, "int32"), axis=-1), n - 1)
        p = ops.take_along_axis(probs, ops.expand_dims(idx, -1), axis=-1)[..., 0]
        below = ops.take_along_axis(cum, ops.expand_dims(idx, -1), axis=-1)[..., 0] - p
        frac = ops.clip((0.5 - below) / ops.where(p > 0, p, ops.ones_like(p)), 0.0, 1.0)
        return self.law.low + self.law.width * (ops.cast(idx, self.dtype) + frac)

    def _interp(self, params):
        # The mode's centre refined by its two neighbours, weighted by probability (WaveNet post-processing).
        n = self.law.n_bins
        logits = params["logits"]
        k = ops.expand_dims(ops.argmax(logits, axis=-1), -1)
        idx = k + ops.convert_to_tensor([-1, 0, 1], dtype=k.dtype)
        valid = ops.logical_and(idx >= 0, idx < n)
        idx = ops.clip(idx, 0, n - 1)
        # exp(l_j - l_k) <= 1: no overflow.
        w = ops.exp(ops.take_along_axis(logits, idx, axis=-1) - ops.take_along_axis(logits, k, axis=-1))
        w = w * ops.cast(valid, self.dtype)
        return ops.sum(w * ops.take(self._centers(), idx), axis=-1) / ops.sum(w, axis=-1)

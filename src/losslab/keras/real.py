"""Keras losses of laws for real, positive and vector labels.

gaussian, sigmoid-mse, gaussian-hetero, laplace, laplace-hetero, student-t, exponential and mvn.
"""

from __future__ import annotations

import math

import numpy as np  # noqa: F401  the doctests use it

from . import _ops
from ._ops import ops
from ._base import LocScaleLoss, ScalarLoss, register_loss

__all__ = [
    "ExponentialLoss", "GaussianHeteroLoss", "GaussianLoss", "LaplaceHeteroLoss", "LaplaceLoss", "MVNLoss", "SigmoidMSELoss", "StudentTLoss",
]


@register_loss("gaussian")
class GaussianLoss(LocScaleLoss):
    r"""Gaussian with a fixed scale ``sigma``: the law behind the mean squared error (law ``gaussian``).

    .. math:: -\log p(y \mid \mu) = \frac{(y - \mu)^2}{2\sigma^2} + \log\sigma + \tfrac12\log 2\pi

    Raw outputs ``[loc]``.

    >>> round(float(GaussianLoss()(np.array([1.5], "float32"), np.array([[0.5]], "float32"))), 4)
    1.4189
    """

    def params(self, y_pred):
        return {"loc": self._split(self._raw(y_pred))["loc"]}

    def _nll(self, params, y):
        s = self.law.sigma
        return (0.5 / s**2) * ops.square(y - params["loc"]) + (math.log(s) + 0.5 * _ops.LOG_2PI)


@register_loss("sigmoid-mse")
class SigmoidMSELoss(GaussianLoss):
    r"""Squared error of ``sigmoid(raw)``, read as a fixed-scale Gaussian (law ``sigmoid-mse``).

    .. math:: -\log p(y \mid x) = \frac{(y - \sigma(x))^2}{2 s^2} + \log s + \tfrac12\log 2\pi

    The MSE/Brier baseline for labels in [0, 1]. Raw outputs ``[loc]`` (logit link).

    >>> round(float(SigmoidMSELoss()(np.array([0.5], "float32"), np.zeros((1, 1), "float32"))), 4)
    0.9189
    """

    def params(self, y_pred):
        return {"loc": ops.sigmoid(self._split(self._raw(y_pred))["loc"])}


def _gaussian_nll(loc, scale, y):
    z = (y - loc) / scale
    return 0.5 * z * z + ops.log(scale) + 0.5 * _ops.LOG_2PI


@register_loss("gaussian-hetero")
class GaussianHeteroLoss(LocScaleLoss):
    r"""Gaussian with a learned mean and scale (law ``gaussian-hetero``), optionally beta-NLL.

    .. math::
        -\log p(y) = \frac{(y - \mu)^2}{2\sigma^2} + \log\sigma + \tfrac12\log 2\pi,
        \qquad \sigma = \operatorname{softplus}(r) + \sigma_{\min}

    With ``beta > 0`` the training objective weights each NLL by ``stop_gradient(sigma)^(2 beta)``
    (Seitzer et al., ICLR 2022); :meth:`nll` stays the plain NLL. Raw outputs ``[loc, scale]``.

    >>> raw = np.array([[0.0, np.log(np.expm1(0.999))]], "float32")   # scale = softplus(raw) + 1e-3 = 1
    >>> round(float(GaussianHeteroLoss()(np.array([1.0], "float32"), raw)), 4)   # 0.5 + log(2 pi) / 2
    1.4189
    """

    def params(self, y_pred):
        parts = self._split(self._raw(y_pred))
        return {"loc": parts["loc"], "scale": _ops.positive(parts["scale"], self.law.min_scale)}

    def _nll(self, params, y):
        return _gaussian_nll(params["loc"], params["scale"], y)

    def _objective(self, params, y):
        nll = self._nll(params, y)
        if self.law.beta == 0.0:
            return nll
        return nll * ops.power(ops.stop_gradient(params["scale"]), 2.0 * self.law.beta)


@register_loss("laplace")
class LaplaceLoss(LocScaleLoss):
    r"""Laplace law with a fixed scale ``b``: the law behind the mean absolute error (law ``laplace``).

    .. math:: -\log p(y \mid \mu) = |y - \mu| / b + \log 2b

    Raw outputs ``[loc]``.

    >>> round(float(LaplaceLoss()(np.array([2.0], "float32"), np.array([[0.5]], "float32"))), 4)
    2.1931
    """

    def params(self, y_pred):
        return {"loc": self._split(self._raw(y_pred))["loc"]}

    def _nll(self, params, y):
        b = self.law.scale
        return _ops.abs0(y - params["loc"]) * (1.0 / b) + math.log(2.0 * b)


@register_loss("laplace-hetero")
class LaplaceHeteroLoss(LocScaleLoss):
    r"""Laplace law with a learned location and scale ``softplus(r) + min_scale`` (law ``laplace-hetero``).

    .. math:: -\log p(y \mid \mu, b) = |y - \mu| / b + \log 2b

    Raw outputs ``[loc, scale]``.

    >>> raw = np.array([[0.0, np.log(np.expm1(0.999))]], "float32")   # b = softplus(raw) + 1e-3 = 1
    >>> round(float(LaplaceHeteroLoss()(np.array([1.0], "float32"), raw)), 4)   # 1 + log 2
    1.6931
    """

    def params(self, y_pred):
        parts = self._split(self._raw(y_pred))
        return {"loc": parts["loc"], "scale": _ops.positive(parts["scale"], self.law.min_scale)}

    def _nll(self, params, y):
        return _ops.abs0(y - params["loc"]) / params["scale"] + ops.log(params["scale"]) + _ops.LOG_2


@register_loss("student-t")
class StudentTLoss(LocScaleLoss):
    r"""Student's t law with learned location, scale and (by default) degrees of freedom (law ``student-t``).

    .. math::
        -\log p(y) = \frac{\nu + 1}{2}\log\Bigl(1 + \frac{z^2}{\nu}\Bigr) + \log\sigma
            + \log\Gamma\bigl(\tfrac{\nu}{2}\bigr) - \log\Gamma\bigl(\tfrac{\nu + 1}{2}\bigr) + \tfrac12\log\nu\pi

    with ``z = (y - mu) / sigma``, ``sigma = softplus(r1) + min_scale``, ``nu = min_df + softplus(r2)``
    (or ``df=`` fixed). The ``log Gamma`` difference is :func:`losslab.keras._ops.lgamma_half_ratio`, which
    keeps float32 precision at large ``nu`` where two ``lgamma`` calls would not. Raw outputs
    ``[loc, scale, df]`` (``[loc, scale]`` with fixed ``df``).

    >>> loss = StudentTLoss(df=1.0)                      # Cauchy: -log p(loc) = log(pi scale)
    >>> raw = np.array([[0.0, np.log(np.expm1(0.999))]], "float32")   # scale 1
    >>> round(float(loss(np.array([0.0], "float32"), raw)), 4)
    1.1447
    """

    def params(self, y_pred):
        parts = self._split(self._raw(y_pred))
        out = {"loc": parts["loc"], "scale": _ops.positive(parts["scale"], self.law.min_scale)}
        if self.law.df is None:
            out["df"] = _ops.positive(parts["df"], self.law.min_df)
        else:  # as in PyTorch: the fixed degrees of freedom as a 0-d tensor
            out["df"] = ops.convert_to_tensor(self.law.df, dtype=self.dtype)
        return out

    def _nll(self, params, y):
        z = (y - params["loc"]) / params["scale"]
        if self.law.df is not None:
            df = self.law.df
            const = math.lgamma(0.5 * df) - math.lgamma(0.5 * (df + 1.0)) + 0.5 * (math.log(df) + _ops.LOG_PI)
            return (0.5 * (df + 1.0)) * ops.log1p(z * z * (1.0 / df)) + ops.log(params["scale"]) + const
        df = params["df"]
        half = 0.5 * df
        return (
            (half + 0.5) * ops.log1p(z * z / df)
            + ops.log(params["scale"])
            + _ops.lgamma_half_ratio(half)
            + 0.5 * (ops.log(df) + _ops.LOG_PI)
        )


@register_loss("exponential")
class ExponentialLoss(ScalarLoss):
    r"""Exponential law of a non-negative label with rate ``softplus(r)`` (law ``exponential``).

    .. math:: -\log p(y \mid \lambda) = \lambda y - \log\lambda

    ``log lambda`` is ``log(softplus(r))``, which is ``r`` itself below -30 where softplus
    underflows, so raw outputs at ±1e4 stay finite. Raw outputs ``[rate]``.

    >>> raw = np.array([[np.log(np.expm1(1.0))]], "float32")   # rate = softplus(raw) = 1
    >>> round(float(ExponentialLoss()(np.array([2.0], "float32"), raw)), 4)   # 2 - log 1
    2.0
    """

    def params(self, y_pred):
        r = self._split(self._raw(y_pred))["rate"]
        return {"rate": ops.softplus(r), "log_rate": _ops.log_softplus(r)}

    def _nll(self, params, y):
        return params["rate"] * y - params["log_rate"]

    def _mean(self, params):
        return ops.exp(-params["log_rate"])

    def _median(self, params):
        return _ops.LOG_2 * ops.exp(-params["log_rate"])

    def _mode(self, params):
        return ops.zeros_like(params["rate"])


@register_loss("mvn")
class MVNLoss(LocScaleLoss):
    r"""Multivariate normal over a label vector of size ``dim``, with a learned Cholesky factor (law ``mvn``).

    .. math::
        -\log p(y) = \tfrac12\lVert L^{-1}(y - \mu)\rVert^2 + \sum_i\log L_{ii} + \tfrac d2\log 2\pi

    ``L``'s diagonal is ``softplus(r) + min_scale``, its off-diagonal entries the raw outputs.
    Labels ``(..., dim)``; raw outputs ``[loc (dim), scale_tril (dim (dim + 1) / 2)]``, the lower
    triangle row by row, as in PyTorch.

    >>> d = np.log(np.expm1(0.999))                             # diagonal softplus(d) + 1e-3 = 1
    >>> raw = np.array([[0.0, 0.0, d, 0.0, d]], "float32")      # loc 0, L = I
    >>> round(float(MVNLoss()(np.array([[1.0, 0.0]], "float32"), raw)), 4)  # 0.5 + log(2 pi)
    2.3379
    """

    def _tril_entries(self, t):
        """``L`` as nested lists ``[i][j]`` (``j <= i``) of ``(...)`` tensors, from the raw triangle ``t``."""
        d, entries, p = self.law.dim, [], 0
        for i in range(d):
            row = []
            for j in range(i + 1):
                v = t[..., p]
                row.append(_ops.positive(v, self.law.min_scale) if i == j else v)
                p += 1
            entries.append(row)
        return entries

    def params(self, y_pred):
        parts = self._split(self._raw(y_pred))
        d, entries = self.law.dim, self._tril_entries(parts["scale_tril"])
        zero = ops.zeros_like(parts["loc"][..., 0])
        rows = [ops.stack([entries[i][j] if j <= i else zero for j in range(d)], axis=-1) for i in range(d)]
        return {"loc": parts["loc"], "scale_tril": ops.stack(rows, axis=-2)}

    def _nll(self, params, y):
        tril, d = params["scale_tril"], self.law.dim
        r = y - params["loc"]
        # L^{-1} r by forward substitution, one column at a time (as the PyTorch law does up to dim 3).
        z, sq, log_det = [], 0.0, 0.0
        for k in range(d):
            acc = r[..., k]
            for j in range(k):
                acc = acc - tril[..., k, j] * z[j]
            z.append(acc / tril[..., k, k])
            sq = sq + z[k] * z[k]
            log_det = log_det + ops.log(tril[..., k, k])
        return 0.5 * sq + log_det + 0.5 * d * _ops.LOG_2PI

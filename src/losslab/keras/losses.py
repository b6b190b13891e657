r"""Keras 3 losses, one per law, written with ``keras.ops`` only (TensorFlow, JAX and PyTorch backends).

Each loss is the negative log-likelihood of the PyTorch law of the same name in
:mod:`losslab.laws`, with the same raw-output layout, the same link functions and
the same bounds (``MAX_LOGIT``, ``MAX_LOG_PRECISION``, ``min_scale``, ``min_df``), so the
same raw network outputs give the same loss and the same gradient in both
frameworks. The options (and their one-line errors) are the laws' own: every loss
holds the PyTorch law as :attr:`LawLoss.law` and reads its layout and support from it.

Called Keras-style, ``loss(y_true, y_pred)``: ``y_pred`` are the raw outputs
``(..., raw_dim)``, ``y_true`` the labels ``(...)`` (``(..., 1)`` is accepted) or, for
``mvn``, ``(..., dim)``. Keras' default reduction, ``"sum_over_batch_size"``, is the mean
over labels, as ``law.loss(raw, y)`` in PyTorch.

>>> loss = get_loss("beta")
>>> raw = np.array([[0.0, math.log(4.0)]], dtype="float32")    # mu = 0.5, phi = 4: Beta(2, 2)
>>> round(float(loss(np.array([0.25], dtype="float32"), raw)), 5)  # -log(6 * 0.25 * 0.75)
-0.11778
>>> loss.raw_dim, list(loss.raw_layout)
(2, ['mean', 'precision'])
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from . import _ops
from ._ops import keras, ops
from .._errors import LosslabError, close_matches
from ..laws import Law, get_law, list_laws
from ..laws.bernoulli import MAX_LOG_PRECISION, MAX_LOGIT

__all__ = [
    "LawLoss",
    "LawParameters",
    "BernoulliExcess",
    "bernoulli_excess",
    "get_loss",
    "list_losses",
]

_LOSSES: dict[str, type["LawLoss"]] = {}


def _register(name: str):
    def deco(cls):
        cls.law_name = name
        _LOSSES[name] = cls
        return keras.saving.register_keras_serializable(package="losslab")(cls)

    return deco


def _shape_str(shape) -> str:
    dims = ["None" if d is None else str(int(d)) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _in_symbolic_scope() -> bool:
    """True while Keras infers output shapes (on the torch backend it may then run the loss on tensors of ones)."""
    try:
        from keras.src.backend.common.symbolic_scope import in_symbolic_scope
    except ImportError:  # a private module of Keras 3: without it, assume eager
        return False
    return bool(in_symbolic_scope())


def _concrete(x) -> np.ndarray | None:
    """``x`` as a numpy array when it holds values (eager execution), ``None`` while a graph is being traced.

    Label checks are data-dependent, so they can only run eagerly: Keras' ``fit`` traces the
    loss under ``tf.function`` or ``jax.jit`` (the torch backend runs eagerly).
    """
    if _in_symbolic_scope():
        return None
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return np.array(x.numpy()) if tf.executing_eagerly() and hasattr(x, "numpy") else None
    if backend == "jax":
        import jax

        return None if isinstance(x, jax.core.Tracer) else np.array(x)  # a writable copy, as torch wants
    if backend == "torch":
        import torch

        # Keras infers output shapes by running the loss on "meta" tensors, which hold no values.
        if torch.compiler.is_compiling() or x.device.type == "meta":
            return None
        return x.detach().cpu().numpy()
    return None


class LawLoss(keras.losses.Loss):
    """A Keras loss that is the NLL of the PyTorch law :attr:`law_name` (see the module docstring).

    Args:
        name: the loss's name in Keras logs (default: the law's name, ``-`` read as ``_``).
        reduction: Keras' reduction; ``"sum_over_batch_size"`` (default) is the mean over labels,
            ``None`` gives the per-label values.
        dtype: computation dtype (default ``keras.backend.floatx()``).
        validate: check the labels against the law's support, with the PyTorch law's one-line
            error, whenever the loss runs eagerly (default True; traced graphs skip it: call
            :meth:`check_labels` once on the training labels).
        **options: the law's options, as for ``losslab.get_law(law_name, **options)``.

    Subclasses implement ``params`` (raw outputs to a dict of parameters), ``_nll`` and one
    ``_<kind>`` method per point kind of the law; ``_objective`` defaults to ``_nll``.
    """

    law_name: ClassVar[str] = ""
    #: the law applies ``clamp`` inside its NLL (a generic clip would round ``1 - eps`` first)
    _clamps_itself: ClassVar[bool] = False

    def __init__(
        self,
        *,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
        validate: bool = True,
        **options: Any,
    ) -> None:
        self.law: Law = get_law(self.law_name, **options)
        self.validate = bool(validate)
        super().__init__(name=name or self.law_name.replace("-", "_"), reduction=reduction, dtype=dtype)

    # ------------------------------------------------------------------ layout and config
    @property
    def raw_layout(self) -> dict[str, int]:
        """Ordered ``{parameter: raw outputs}``, the PyTorch law's layout."""
        return self.law.raw_layout

    @property
    def raw_dim(self) -> int:
        """Raw network outputs per label (the width of the last axis of ``y_pred``)."""
        return self.law.raw_dim

    @property
    def point_kinds(self) -> tuple[str, ...]:
        # The PyTorch law's kinds that have a Keras kernel here: the quantile-based medians of beta, zoib and
        # the mixtures invert CDFs with scipy, so they stay PyTorch-only.
        return tuple(k for k in self.law.point_kinds if hasattr(self, f"_{k}"))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dtype": self.dtype, "validate": self.validate, **self.law.options()}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.law.options().items())
        return f"{type(self).__name__}({opts})"

    # ------------------------------------------------------------------ public API
    def call(self, y_true, y_pred):
        """Per-label training objective, shape of the labels (Keras reduces it)."""
        raw, y = self._prepare(y_true, y_pred)
        return self._objective(self.params(raw), y)

    def nll(self, y_true, y_pred):
        """Per-label negative log-likelihood (for ``binned`` and beta-NLL it differs from the training objective)."""
        raw, y = self._prepare(y_true, y_pred)
        return self._nll(self.params(raw), y)

    def params(self, y_pred) -> dict[str, Any]:
        """Raw outputs ``(..., raw_dim)`` to the law's parameters, as ``law.link(raw)`` in PyTorch."""
        raise NotImplementedError

    def point(self, y_pred, kind: str = "mean"):
        """A point prediction ``(...)`` from raw outputs: one of :attr:`point_kinds`, as ``law.point``."""
        if kind not in self.point_kinds:
            raise LosslabError(
                f"{self.law_name}: point kind {kind!r} is not defined; available: {list(self.point_kinds)}"
            )
        raw = self._raw(y_pred)
        return getattr(self, f"_{kind}")(self.params(raw))

    def check_labels(self, y_true) -> None:
        """Raise the PyTorch law's one-line error if labels (a numpy array) lie outside the support."""
        y = np.asarray(y_true, dtype=np.float64)
        if self.law.event_dim == 0 and y.ndim >= 2 and y.shape[-1] == 1:
            y = y[..., 0]
        self.law.check_labels(y)

    def initial_bias(self, y_true) -> np.ndarray:
        """Raw outputs ``(raw_dim,)`` of a marginal fit to labels ``y_true``: a bias initialiser for the output layer.

        ``law.inverse_link(law.init_params(y))`` of the PyTorch law, so an untrained network
        starts at the labels' marginal law (``keras.initializers.Constant(loss.initial_bias(y))``).
        """
        import torch

        y = torch.as_tensor(np.asarray(y_true, dtype=np.float64))
        if self.law.event_dim == 0:
            y = y.reshape(-1)
        with torch.no_grad():
            raw = self.law.inverse_link(self.law.init_params(y.to(torch.get_default_dtype())))
        return raw.detach().cpu().numpy().astype(np.float32)

    # ------------------------------------------------------------------ subclass API
    def _nll(self, params, y):
        raise NotImplementedError

    def _objective(self, params, y):
        return self._nll(params, y)

    # ------------------------------------------------------------------ input checks
    def _raw(self, y_pred):
        raw = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        shape = tuple(raw.shape)
        if len(shape) == 0 or (shape[-1] is not None and int(shape[-1]) != self.raw_dim):
            layout = ", ".join(f"{k}: {v}" for k, v in self.raw_layout.items())
            raise LosslabError(
                f"{self.law_name}: y_pred (the raw outputs) has shape {_shape_str(shape)}, expected last dimension "
                f"raw_dim={self.raw_dim} ({layout})"
            )
        return raw

    def _split(self, raw) -> dict[str, Any]:
        """Cut ``raw (..., raw_dim)`` into the layout's parts; width-1 parts lose their last axis."""
        out, start = {}, 0
        for key, k in self.raw_layout.items():
            out[key] = raw[..., start] if k == 1 else raw[..., start : start + k]
            start += k
        return out

    def _prepare(self, y_true, y_pred):
        raw = self._raw(y_pred)
        y = ops.convert_to_tensor(y_true, dtype=self.dtype)
        rshape, yshape = tuple(raw.shape), tuple(y.shape)
        event = (getattr(self.law, "dim", None),) if self.law.event_dim else ()
        expected = rshape[:-1] + event
        if not event and len(yshape) == len(expected) + 1 and yshape[-1] == 1:
            y = ops.squeeze(y, axis=-1)  # Keras' (N, 1) label column
            yshape = yshape[:-1]
        same = len(yshape) == len(expected) and all(
            a is None or b is None or int(a) == int(b) for a, b in zip(yshape, expected)
        )
        if not same:
            hint = ""
            if yshape and rshape and yshape[-1] is not None and rshape[-1] is not None and not event:
                if int(yshape[-1]) * self.raw_dim == int(rshape[-1]) and len(yshape) == len(rshape):
                    hint = (f"; give each label its raw outputs on a last axis, e.g. "
                            f"keras.layers.Reshape(({int(yshape[-1])}, {self.raw_dim}))")
            raise LosslabError(
                f"{self.law_name}: y_true has shape {_shape_str(yshape)} but y_pred {_shape_str(rshape)} holds "
                f"raw_dim={self.raw_dim} outputs for labels of shape {_shape_str(expected)}; shapes must match, "
                f"no broadcasting{hint}"
            )
        if self.validate:
            values = _concrete(y)
            if values is not None:
                self.law.check_labels(values)
        if self.law.clamp is not None and not self._clamps_itself:
            y = self._clamp_labels(y)
        return raw, y

    def _clamp_labels(self, y):
        low, high, lc, hc = self.law.support_bounds
        eps = float(self.law.clamp)
        lo = low if lc else low + eps * max(1.0, abs(low))
        hi = high if hc else high - eps * max(1.0, abs(high))
        if math.isfinite(lo):
            y = _ops.maximum(y, _ops.filled_like(y, lo))
        if math.isfinite(hi):
            y = _ops.minimum(y, _ops.filled_like(y, hi))
        return y


class _ScalarLoss(LawLoss):
    """A law whose parameters each take one raw output (``ScalarLaw`` in PyTorch)."""


class _LocScaleLoss(_ScalarLoss):
    def _mean(self, params):
        return params["loc"]

    _median = _mode = _mean


# =========================================================================== [0, 1] labels
@_register("bernoulli")
class BernoulliLoss(_ScalarLoss):
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


@_register("continuous-bernoulli")
class ContinuousBernoulliLoss(_ScalarLoss):
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


class _BetaParams(_ScalarLoss):
    def _beta_params(self, parts):
        mean, precision, c1, c0 = _ops.mean_precision(parts["mean"], parts["precision"], MAX_LOGIT, MAX_LOG_PRECISION)
        return {"mean": mean, "precision": precision, "concentration1": c1, "concentration0": c0}


@_register("beta")
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


@_register("zoib")
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


@_register("binned")
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


# =========================================================================== real labels
@_register("gaussian")
class GaussianLoss(_LocScaleLoss):
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


@_register("sigmoid-mse")
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


@_register("gaussian-hetero")
class GaussianHeteroLoss(_LocScaleLoss):
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


@_register("laplace")
class LaplaceLoss(_LocScaleLoss):
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


@_register("laplace-hetero")
class LaplaceHeteroLoss(_LocScaleLoss):
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


@_register("student-t")
class StudentTLoss(_LocScaleLoss):
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


@_register("exponential")
class ExponentialLoss(_ScalarLoss):
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


@_register("mvn")
class MVNLoss(_LocScaleLoss):
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


# =========================================================================== registry, layer, metric
def list_losses() -> list[str]:
    """Sorted law names that have a Keras loss.

    >>> "beta" in list_losses() and "mvn" in list_losses()
    True
    """
    return sorted(_LOSSES)


def get_loss(name: str, **opts: Any) -> LawLoss:
    """The Keras loss of the law ``name``; options are the law's and Keras' ``name``, ``reduction``, ``dtype``, ``validate``.

    >>> get_loss("binned", kind="twohot", n_bins=11).raw_dim
    11
    """
    if name not in _LOSSES:
        if name in list_laws():
            raise LosslabError(
                f"law {name!r} has no Keras loss yet; Keras losses: {', '.join(list_losses())} "
                f"(use it from PyTorch with losslab.get_law({name!r}))"
            )
        raise LosslabError(
            f"unknown loss {name!r}{close_matches(name, _LOSSES)}; Keras losses: {', '.join(list_losses())}"
        )
    return _LOSSES[name](**opts)


@keras.saving.register_keras_serializable(package="losslab")
class LawParameters(keras.layers.Layer):
    """A layer that maps raw outputs ``(..., raw_dim)`` to the law's parameters (a dict), with the law's links.

    For prediction models: the same links and floors as the loss uses in training.

    Args:
        law: the law's name (see :func:`list_losses`).
        law_options: the law's options, e.g. ``{"min_scale": 1e-2}``.

    >>> layer = LawParameters("gaussian-hetero")
    >>> p = layer(np.array([[0.5, np.log(np.expm1(0.999))]], "float32"))
    >>> sorted(p), round(float(p["scale"][0]), 5)
    (['loc', 'scale'], 1.0)
    """

    def __init__(self, law: str, law_options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.law = law
        self.law_options = dict(law_options or {})
        self._loss = get_loss(law, validate=False, **self.law_options)

    def call(self, inputs):
        return self._loss.params(inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "law": self.law, "law_options": dict(self.law_options)}


_BERNOULLI = None


@keras.saving.register_keras_serializable(package="losslab")
def bernoulli_excess(y_true, y_pred):
    """Per-label ``BCE - H(y) = KL(y || sigmoid(x))`` of raw logits ``y_pred (..., 1)``: 0 at a perfect fit.

    >>> round(float(bernoulli_excess(np.array([0.75], "float32"), np.zeros((1, 1), "float32"))[0]), 4)
    0.1308
    """
    global _BERNOULLI
    if _BERNOULLI is None:
        _BERNOULLI = BernoulliLoss(validate=False)
    return _BERNOULLI.excess(y_true, y_pred)


@keras.saving.register_keras_serializable(package="losslab")
class BernoulliExcess(keras.metrics.MeanMetricWrapper):
    """Mean ``KL(y || sigmoid(x))`` over labels: soft BCE less its floor ``H(y)``, for ``compile(metrics=[...])``.

    Soft BCE never reaches 0 on soft labels; its excess over the label entropy does, at ``sigmoid(x) = y``.
    """

    def __init__(self, name: str = "kl_excess", dtype: Any = None) -> None:
        super().__init__(fn=bernoulli_excess, name=name, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

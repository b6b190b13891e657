"""The Keras loss interface: :class:`LawLoss` (a law's NLL with its layout, links, bounds and label checks) and the registry of losses.

The losses themselves are in :mod:`~losslab.keras.unit` ([0, 1] labels) and
:mod:`~losslab.keras.real` (real, positive and vector labels); :mod:`~losslab.keras.losses`
gathers them with the parameter layer and the excess-BCE metric.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from . import _ops
from ._ops import keras, ops
from .._errors import LosslabError
from ..laws import Law, get_law

__all__ = ["LOSSES", "LawLoss", "LocScaleLoss", "ScalarLoss", "register_loss"]

#: the Keras loss class of each law name (filled by :func:`register_loss`)
LOSSES: dict[str, type["LawLoss"]] = {}


def register_loss(name: str):
    """A class decorator: the Keras loss of law ``name``, registered here and with Keras' serialisation."""

    def deco(cls):
        cls.law_name = name
        LOSSES[name] = cls
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


class ScalarLoss(LawLoss):
    """A law whose parameters each take one raw output (``ScalarLaw`` in PyTorch)."""


class LocScaleLoss(ScalarLoss):
    """A location-scale law: its mean, median and mode are ``loc``."""

    def _mean(self, params):
        return params["loc"]

    _median = _mode = _mean

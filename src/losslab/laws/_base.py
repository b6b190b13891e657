"""The :class:`Law` interface: a named distribution for the target, whose NLL is the loss.

A law owns everything between the network and the number we minimise:

* ``raw_layout`` — how many raw network outputs each parameter takes;
* ``link(raw)`` — raw outputs ``(..., raw_dim)`` to a dict of valid parameters
  with batch shape ``(...)`` (floors and bounds live here, and only here, so
  training and prediction use the same ones);
* ``nll(params, y)`` — the per-element negative log-likelihood, all constants
  included, computed in log space;
* ``loss(raw, y)`` — link + training objective + reduction, torch conventions;
* ``excess(params, y)`` — the objective minus its infimum over parameters;
* ``point(params, kind)`` and ``predictive(params)`` — what a trained network says;
* ``quantile(params, q)`` and ``interval(params, level)`` — its quantiles and central
  prediction intervals, from the predictive's ``icdf``.

Subclasses implement ``link``, ``_nll``, ``predictive``, ``inverse_link`` and
``init_params``; and, where defined, ``_infimum``, ``_mean``, ``_median``, ``_mode``
(``_median`` defaults to the quantile at 1/2) and ``_quantile``. They declare their
``support`` (a :class:`~losslab.laws.Support`) and, where an option fixes the predictive's
spread, ``fixed_spread``.

The label checks live in ``_labels.py``, the quantiles and intervals in ``_quantiles.py``,
the supports in ``_support.py``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch.distributions import Distribution

from .._errors import LosslabError, as_real_tensor, check_choice, check_number, dtype_name, shape_str
from ..links import IDENTITY, Link, positive_link
from ._labels import LabelChecks, validation, validation_enabled
from ._quantiles import Quantiles
from ._support import REAL, SUPPORTS, Support

Params = dict[str, torch.Tensor]

__all__ = [
    "Law",
    "LocScaleLaw",
    "ScalarLaw",
    "Params",
    "REDUCTIONS",
    "HALF_DTYPES",
    "SCALE_RANGE",
    "SUPPORTS",
    "check_scale",
    "validation",
    "validation_enabled",
]

#: the reductions of :meth:`Law.loss`, as in torch.nn losses
REDUCTIONS = ("mean", "sum", "none")

#: half-precision dtypes: laws compute in float32 for them and return float32, as torch's autocast does for
#: losses (float16 overflows at 65504, below the NLL of a residual of 400 at unit scale; bfloat16 keeps 8 bits of
#: mantissa, so 1 - 1e-3 rounds to 1 and log1p(-y) is -inf). Gradients reach half raw outputs in their dtype.
HALF_DTYPES = (torch.float16, torch.bfloat16)

#: the range of scale-like options (``sigma``, ``scale``, ``min_scale``): within it a residual of 2e4 (raw
#: outputs and labels at the house range of ±1e4) keeps the NLL and its gradient (``d^2 / s^3``) finite in float32
SCALE_RANGE = (1e-9, 1e9)


def check_scale(value: Any, name: str, who: str) -> float:
    """A scale-like option: a number in :data:`SCALE_RANGE` (a one-line error otherwise)."""
    low, high = SCALE_RANGE
    return check_number(value, name, who=who, low=low, high=high, what=f"a positive number in [{low:g}, {high:g}]")


def _upcast(params: Params) -> Params:
    """``params`` with half-precision tensors in float32 (see :data:`HALF_DTYPES`)."""
    if not isinstance(params, dict) or not params or not all(torch.is_tensor(v) for v in params.values()):
        raise LosslabError(
            f"params is {type(params).__name__}; expected the dict of tensors that law.link(raw) returns"
        )
    if not any(torch.is_tensor(v) and v.dtype in HALF_DTYPES for v in params.values()):
        return params
    return {k: v.float() if torch.is_tensor(v) and v.dtype in HALF_DTYPES else v for k, v in params.items()}


class Law(LabelChecks, Quantiles):
    """Base class of every law. See the module docstring for the contract.

    The label checks come from :class:`~losslab.laws._labels.LabelChecks`, :meth:`quantile` and
    :meth:`interval` from :class:`~losslab.laws._quantiles.Quantiles`.
    """

    #: registry name, set by :func:`losslab.laws.register_law`
    name: ClassVar[str] = ""
    #: the support, a :class:`~losslab.laws.Support` (one of the constants of ``losslab.laws._support``); a law
    #: whose bounds are options (``binned``) sets its own on the instance
    support: Support = REAL
    #: 0 for scalar targets, 1 for vector targets (``mvn``)
    event_dim: ClassVar[int] = 0
    #: the law needs ``trials=`` (labels are k/n with n known per sample)
    needs_trials: ClassVar[bool] = False
    #: the NLL in one line of plain text, shown by ``losslab laws``
    formula: ClassVar[str] = ""
    #: the point kinds :meth:`point` accepts
    point_kinds: ClassVar[tuple[str, ...]] = ("mean",)
    #: the minimiser of the expected training objective over a label distribution is its mean
    mean_minimiser: ClassVar[bool] = False
    #: what ``nll`` is the negative log of: "density" (w.r.t. Lebesgue measure), "pmf" (of counts k out of n),
    #: "mixed" (masses at atoms, density elsewhere) or "soft-bernoulli" (BCE of a float label; no density over y).
    #: Log scores are comparable only between laws of the same kind.
    likelihood: ClassVar[str] = "density"
    #: the training objective stops some gradients on purpose (beta-NLL), so it is not gradchecked
    stop_gradient: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("support")
        if isinstance(declared, str) and not isinstance(declared, Support):
            # a law written before supports were objects names one: turn the name into the object
            if declared not in SUPPORTS:
                raise LosslabError(f"law class {cls.__name__}: support {declared!r} is unknown; use one of {sorted(SUPPORTS)}")
            cls.support = Support(declared, *SUPPORTS[declared], set_by_options=declared == "interval_closed")

    def __init__(self, *, clamp: float | None = None) -> None:
        if clamp is not None:
            clamp = check_number(
                clamp, "clamp", who=self.name, low=0.0, high=0.5, low_open=True, high_open=True,
                what="a small positive number below 0.5 (e.g. 1e-6)",
            )
            if math.isinf(type(self).support.low) and math.isinf(type(self).support.high):
                raise LosslabError(
                    f"{self.name}: clamp={clamp!r} has nothing to do: the support (-inf, inf) has no edge to move "
                    f"labels away from; drop clamp= (it is for laws with an open edge, such as beta on (0, 1))"
                )
        self.clamp = clamp
        self._clamp_ok: set[torch.dtype] = set()  # dtypes in which clamp was checked to move edge labels

    # ------------------------------------------------------------------ layout
    @property
    def raw_layout(self) -> dict[str, int]:
        """Ordered ``{parameter: number of raw outputs}``; raw outputs are concatenated in this order."""
        raise NotImplementedError

    @property
    def raw_dim(self) -> int:
        """Raw network outputs needed per target."""
        return sum(self.raw_layout.values())

    @property
    def support_bounds(self) -> tuple[float, float, bool, bool]:
        """``(low, high, low_closed, high_closed)`` of :attr:`support`."""
        return self.support.bounds

    @property
    def fixed_spread(self) -> float | None:
        """The predictive standard deviation when an option fixes it, the same for every input; else None.

        ``gaussian`` and ``sigmoid-mse`` (their ``sigma``) and ``laplace`` (``scale * sqrt(2)``)
        have one. Such a law's log score, CRPS, PIT and intervals score a spread chosen by an
        option, not fitted to the data. A law whose spread is fixed overrides this.

        >>> from losslab.laws import get_law
        >>> get_law("laplace", scale=2.0).fixed_spread == 2.0 * math.sqrt(2.0)
        True
        >>> get_law("gaussian-hetero").fixed_spread is None
        True
        """
        return None

    def options(self) -> dict[str, Any]:
        """The options this instance was built with (for configs, hashing and reports)."""
        return {"clamp": self.clamp}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})" if opts else f"{type(self).__name__}()"

    def _as_raw(self, raw: Any) -> torch.Tensor:
        """Raw outputs as a floating tensor (half precision moved to float32), or a one-line error."""
        if not torch.is_tensor(raw):
            if isinstance(raw, np.ndarray) and np.issubdtype(raw.dtype, np.floating):
                raw = torch.from_numpy(raw)
            else:
                what = f"an array of dtype {raw.dtype}" if isinstance(raw, np.ndarray) else f"of type {type(raw).__name__}"
                raise LosslabError(
                    f"{self.name}: raw outputs are {what}; expected a floating-point tensor of shape "
                    f"(..., raw_dim={self.raw_dim}) (the network's outputs)"
                )
        if not raw.is_floating_point():
            raise LosslabError(
                f"{self.name}: raw outputs have dtype {dtype_name(raw.dtype)}; expected a floating-point tensor "
                f"(float32 or float64; float16 and bfloat16 are computed in float32)"
            )
        return raw.float() if raw.dtype in HALF_DTYPES else raw

    def split_raw(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cut ``raw (..., raw_dim)`` into ``{param: (..., k)}`` following :attr:`raw_layout`.

        Half-precision raw outputs are moved to float32 here (see :data:`HALF_DTYPES`), so every
        link, NLL and prediction downstream computes in float32.
        """
        raw = self._as_raw(raw)
        if raw.shape[-1:] != (self.raw_dim,):
            raise LosslabError(
                f"{self.name}: raw outputs have shape {shape_str(raw.shape)}, expected last dimension "
                f"raw_dim={self.raw_dim} ({', '.join(f'{k}: {v}' for k, v in self.raw_layout.items())})"
            )
        out, start = {}, 0
        for key, k in self.raw_layout.items():
            # Contiguous copies: torch's CPU kernels for some ops (softplus, sigmoid) run 6-150x slower on the
            # strided column slices of a multi-output raw tensor (benchmarks/kernels.py; a few % copy cost).
            out[key] = raw[..., start : start + k].contiguous()
            start += k
        return out

    # ---------------------------------------------------------- the subclass API
    def link(self, raw: torch.Tensor) -> Params:
        """Map raw outputs ``(..., raw_dim)`` to valid parameters of batch shape ``(...)``."""
        raise NotImplementedError

    def inverse_link(self, params: dict[str, Any]) -> torch.Tensor:
        """Raw outputs ``(raw_dim,)`` that :meth:`link` maps to the given scalar parameters."""
        raise NotImplementedError

    def init_params(self, y: torch.Tensor, trials: torch.Tensor | None = None) -> dict[str, Any]:
        """Scalar parameters of a marginal (input-free) fit to labels ``y``, for bias initialisation."""
        raise NotImplementedError

    def _nll(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _objective(self, params: Params, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        """The per-element training objective; the NLL unless a law says otherwise."""
        return self._nll(params, y, trials)

    def _infimum(self, y: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        """``inf over params`` of the objective at ``y``; absent where it is -inf or has no closed form."""
        raise NotImplementedError(f"{self.name}: excess is undefined (the NLL has no finite infimum over parameters)")

    def predictive(self, params: Params, trials: torch.Tensor | None = None) -> Distribution:
        """The predictive ``torch.distributions.Distribution`` over ``y``."""
        raise NotImplementedError

    # ------------------------------------------------------------- public API
    def nll(self, params: Params, y: Any, *, trials: Any = None) -> torch.Tensor:
        """Per-element negative log-likelihood, shape of ``y`` (less the event dimension)."""
        params = _upcast(params)
        y, trials = self._prepare(params, y, trials)
        return self._nll(params, y, trials)

    def loss(
        self,
        raw: torch.Tensor,
        y: Any,
        *,
        reduction: str = "mean",
        weight: Any = None,
        trials: Any = None,
    ) -> torch.Tensor:
        """``link`` + training objective + reduction (``"mean"``, ``"sum"`` or ``"none"``).

        ``weight`` (finite, >= 0, one per element) multiplies each element before the reduction, as
        in torch.nn losses. Half-precision raw outputs are computed in float32 and the loss is
        returned in float32 (as under torch's autocast).
        """
        check_choice(reduction, "reduction", REDUCTIONS, who=self.name)
        if weight is None and reduction != "none":
            fused = self._reduced_loss(raw, y, reduction, trials)
            if fused is not None:
                return fused
        params = self.link(raw)
        y, trials = self._prepare(params, y, trials)
        per = self._objective(params, y, trials)
        if weight is not None:
            per = per * self._check_weight(weight, per)
        if reduction == "mean":
            return per.mean()
        if reduction == "sum":
            return per.sum()
        return per

    def _reduced_loss(
        self, raw: torch.Tensor, y: Any, reduction: str, trials: Any
    ) -> torch.Tensor | None:
        """The ``"mean"``/``"sum"`` loss by a fused kernel, or None to take the general path.

        Laws override this (not :meth:`loss`) so that the argument checks of :meth:`loss` apply to
        every law alike; ``reduction`` is already checked and ``weight`` is None here.
        """
        return None


    def excess(self, params: Params, y: Any, *, trials: Any = None) -> torch.Tensor:
        """Training objective minus its infimum over parameters for this ``y``: ``>= 0``, 0 at the best fit.

        For ``bernoulli`` this is ``KL(y || p) = BCE - H(y)``. Raises ``NotImplementedError``
        where the infimum is ``-inf`` (a density that can concentrate on ``y``).
        """
        params = _upcast(params)
        y, trials = self._prepare(params, y, trials)
        inf = self._infimum(y, trials)
        # Rounding can push a perfect fit a hair below zero; the excess is >= 0 by definition.
        return torch.clamp(self._objective(params, y, trials) - inf, min=0.0)

    def point(self, params: Params, kind: str = "mean") -> torch.Tensor:
        """A point prediction: ``"mean"``, ``"median"``, ``"mode"`` (and law-specific kinds)."""
        if not isinstance(kind, str) or kind not in self.point_kinds:
            raise LosslabError(f"{self.name}: point kind {kind!r} is not defined; available: {list(self.point_kinds)}")
        return getattr(self, f"_{kind}")(_upcast(params))

    def _mean(self, params: Params) -> torch.Tensor:
        return self.predictive(params).mean

    def _mean_logits(self, params: Params) -> torch.Tensor | None:
        """``logit`` of the mean for laws whose mean is a probability held in logit form, else None.

        Metrics of a probability (``bernoulli_kl``) read it to stay finite where the mean itself
        rounds to 0 or 1 (``sigmoid(1e4)`` is 1.0, whose KL from a label 0 is inf, not 1e4).
        """
        return None


class ScalarLaw(Law):
    """A law over scalar targets whose parameters each take one raw output through a :class:`Link`.

    Subclasses define :meth:`param_links`; ``raw_layout``, ``link`` and
    ``inverse_link`` follow from it.
    """

    def param_links(self) -> dict[str, Link]:
        """Ordered ``{parameter: link}``."""
        raise NotImplementedError

    @property
    def raw_layout(self) -> dict[str, int]:
        return {k: 1 for k in self.param_links()}

    def link(self, raw: torch.Tensor) -> Params:
        parts = self.split_raw(raw)
        return {k: lk.forward(parts[k]) for k, lk in self.param_links().items()}

    def inverse_link(self, params: dict[str, Any]) -> torch.Tensor:
        links = self.param_links()
        missing = set(links) - set(params)
        if missing:
            raise LosslabError(f"{self.name}: inverse_link needs parameters {sorted(missing)}")
        values = {k: as_real_tensor(params[k], f"inverse_link parameter {k!r}", who=self.name) for k in links}
        bad = [k for k, v in values.items() if v.numel() != 1]
        if bad:
            raise LosslabError(
                f"{self.name}: inverse_link parameter {bad[0]!r} has shape {shape_str(values[bad[0]].shape)}; "
                f"expected one number (the scalar parameter of a marginal fit)"
            )
        return torch.stack([links[k].inverse(v.to(torch.get_default_dtype())).reshape(()) for k, v in values.items()])

    def _batch_shape(self, params: Params) -> torch.Size:
        return next(iter(params.values())).shape

    def split_raw(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:  # squeeze the width-1 parameter axes
        return {k: v.squeeze(-1) if self.raw_layout[k] == 1 else v for k, v in super().split_raw(raw).items()}


class LocScaleLaw(ScalarLaw):
    """A scalar law with a location (identity link) and a learned scale ``softplus(r) + min_scale``.

    The floor ``min_scale`` is an option, used at training and prediction time alike.
    """

    def __init__(self, *, min_scale: float = 1e-3, clamp: float | None = None) -> None:
        super().__init__(clamp=clamp)
        self.min_scale = check_scale(min_scale, "min_scale", self.name)

    def options(self) -> dict[str, Any]:
        return {"min_scale": self.min_scale, **super().options()}

    def param_links(self) -> dict[str, Link]:
        return {"loc": IDENTITY, "scale": positive_link(self.min_scale)}

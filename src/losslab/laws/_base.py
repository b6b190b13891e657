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
* ``point(params, kind)`` and ``predictive(params)`` — what a trained network says.

Subclasses implement ``link``, ``_nll``, ``predictive``, ``inverse_link`` and
``init_params``; and, where defined, ``_infimum``, ``_mean``, ``_median``, ``_mode``.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, ClassVar, Iterator

import torch
from torch.distributions import Distribution

from .._errors import LosslabError, first_rows, shape_str
from ..links import IDENTITY, Link, positive_link

Params = dict[str, torch.Tensor]

_VALIDATE = True


@contextlib.contextmanager
def validation(enabled: bool) -> Iterator[None]:
    """Turn label and shape checks of every law on or off inside a ``with`` block.

    Checks are on by default. The trainer validates the labels once, up front,
    and switches them off for its inner loop, where they would cost one extra
    pass over the labels and a device synchronisation per step.
    """
    global _VALIDATE
    old, _VALIDATE = _VALIDATE, bool(enabled)
    try:
        yield
    finally:
        _VALIDATE = old


def validation_enabled() -> bool:
    return _VALIDATE


# name -> (low, high, low_closed, high_closed)
SUPPORTS: dict[str, tuple[float, float, bool, bool]] = {
    "real": (-math.inf, math.inf, False, False),
    "positive": (0.0, math.inf, False, False),
    "nonnegative": (0.0, math.inf, True, False),
    "unit_interval": (0.0, 1.0, False, False),
    "unit_interval_closed": (0.0, 1.0, True, True),
    "interval_closed": (0.0, 1.0, True, True),  # bounds set per instance (binned laws)
}


def _interval_str(low: float, high: float, lc: bool, hc: bool) -> str:
    return f"{'[' if lc else '('}{low:g}, {high:g}{']' if hc else ')'}"


class Law:
    """Base class of every law. See the module docstring for the contract."""

    #: registry name, set by :func:`losslab.laws.register_law`
    name: ClassVar[str] = ""
    #: support name, one of :data:`SUPPORTS`
    support: ClassVar[str] = "real"
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

    def __init__(self, *, clamp: float | None = None) -> None:
        if clamp is not None and not (0 < clamp < 0.5):
            raise LosslabError(f"{self.name}: clamp={clamp!r} must be a small positive number (e.g. 1e-6)")
        self.clamp = clamp

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
        """``(low, high, low_closed, high_closed)``."""
        return SUPPORTS[self.support]

    def options(self) -> dict[str, Any]:
        """The options this instance was built with (for configs, hashing and reports)."""
        return {"clamp": self.clamp}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})" if opts else f"{type(self).__name__}()"

    def split_raw(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cut ``raw (..., raw_dim)`` into ``{param: (..., k)}`` following :attr:`raw_layout`."""
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

        ``weight`` multiplies each element before the reduction, as in torch.nn losses.
        """
        if reduction not in ("mean", "sum", "none"):
            raise LosslabError(f"reduction={reduction!r}; expected 'mean', 'sum' or 'none'")
        params = self.link(raw)
        y, trials = self._prepare(params, y, trials)
        per = self._objective(params, y, trials)
        if weight is not None:
            weight = torch.as_tensor(weight, dtype=per.dtype, device=per.device)
            if weight.shape != per.shape:
                raise LosslabError(
                    f"{self.name}: weight has shape {shape_str(weight.shape)}, expected {shape_str(per.shape)} "
                    f"(one weight per element of the loss)"
                )
            per = per * weight
        if reduction == "mean":
            return per.mean()
        if reduction == "sum":
            return per.sum()
        return per

    def excess(self, params: Params, y: Any, *, trials: Any = None) -> torch.Tensor:
        """Training objective minus its infimum over parameters for this ``y``: ``>= 0``, 0 at the best fit.

        For ``bernoulli`` this is ``KL(y || p) = BCE - H(y)``. Raises ``NotImplementedError``
        where the infimum is ``-inf`` (a density that can concentrate on ``y``).
        """
        y, trials = self._prepare(params, y, trials)
        inf = self._infimum(y, trials)
        # Rounding can push a perfect fit a hair below zero; the excess is >= 0 by definition.
        return torch.clamp(self._objective(params, y, trials) - inf, min=0.0)

    def point(self, params: Params, kind: str = "mean") -> torch.Tensor:
        """A point prediction: ``"mean"``, ``"median"``, ``"mode"`` (and law-specific kinds)."""
        if kind not in self.point_kinds:
            raise LosslabError(f"{self.name}: point kind {kind!r} is not defined; available: {list(self.point_kinds)}")
        return getattr(self, f"_{kind}")(params)

    def _mean(self, params: Params) -> torch.Tensor:
        return self.predictive(params).mean

    def check_labels(self, y: Any, *, trials: Any = None) -> None:
        """Raise a one-line error if labels (or trials) do not fit this law; used once before training."""
        y = torch.as_tensor(y)
        y = y if y.is_floating_point() else y.double()
        self._check_support(y)
        if self.needs_trials:
            self._check_trials(y, None if trials is None else torch.as_tensor(trials, dtype=y.dtype))

    # ------------------------------------------------------------ input checks
    def _prepare(self, params: Params, y: Any, trials: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        ref = next(iter(params.values()))
        if not torch.is_tensor(y):
            y = torch.as_tensor(y)
        if not y.is_floating_point() or y.dtype != ref.dtype:
            y = y.to(dtype=ref.dtype)
        y = y.to(ref.device)
        if trials is not None:
            trials = torch.as_tensor(trials, dtype=ref.dtype, device=ref.device)
        if _VALIDATE:
            self._check_shapes(params, y)
            if trials is not None and trials.shape != y.shape and trials.ndim != 0:
                raise LosslabError(
                    f"{self.name}: trials has shape {shape_str(trials.shape)}, expected the labels' shape "
                    f"{shape_str(y.shape)} or a single number"
                )
            self._check_support(y)
            if self.needs_trials:
                self._check_trials(y, trials)
        elif self.needs_trials and trials is None:
            raise LosslabError(f"{self.name}: needs trials= (the number of trials n of each k/n label)")
        if self.clamp is not None:
            y = self._clamp_labels(y)
        return y, trials

    def _batch_shape(self, params: Params) -> torch.Size:
        raise NotImplementedError

    def _check_shapes(self, params: Params, y: torch.Tensor) -> None:
        batch = self._batch_shape(params)
        expected = tuple(batch) + tuple(self._event_shape(params))
        if tuple(y.shape) != expected:
            hint = ""
            if y.ndim == len(expected) + 1 and y.shape[-1] == 1 and tuple(y.shape[:-1]) == expected:
                hint = " (drop the trailing axis of size 1, e.g. y.squeeze(-1))"
            elif y.ndim + 1 == len(expected) and expected[-1] == 1:
                hint = " (add a trailing axis, e.g. y.unsqueeze(-1))"
            raise LosslabError(
                f"{self.name}: labels y have shape {shape_str(y.shape)} but the parameters have "
                f"shape {shape_str(expected)}; shapes must match exactly, no broadcasting{hint}"
            )

    def _event_shape(self, params: Params) -> tuple[int, ...]:
        return ()

    def _check_support(self, y: torch.Tensor) -> None:
        if y.numel() == 0:
            raise LosslabError(f"{self.name}: labels y are empty")
        lo, hi = torch.aminmax(y.detach())
        low, high, lc, hc = self.support_bounds
        lo, hi = float(lo), float(hi)
        inside = (lo >= low if lc or self.clamp is not None else lo > low) and (
            hi <= high if hc or self.clamp is not None else hi < high
        )
        if inside and math.isfinite(lo) and math.isfinite(hi):
            return
        if not (math.isfinite(lo) and math.isfinite(hi)):
            bad = ~torch.isfinite(y)
            raise LosslabError(
                f"{self.name}: labels y contain {int(bad.sum())} non-finite value(s), first at row(s) "
                f"{first_rows(bad)}; expected finite numbers"
            )
        below = (y < low) if (lc or self.clamp is not None) else (y <= low)
        above = (y > high) if (hc or self.clamp is not None) else (y >= high)
        bad = below | above
        n = int(bad.sum())
        interval = _interval_str(low, high, lc, hc)
        hint = self._support_hint(y, bad)
        raise LosslabError(
            f"{self.name}: {n} of {y.numel()} labels lie outside the support {interval} "
            f"(first at row(s) {first_rows(bad)}, e.g. {float(y[bad].flatten()[0]):g}){hint}"
        )

    def _support_hint(self, y: torch.Tensor, bad: torch.Tensor) -> str:
        """A suggestion appended to the out-of-support error (laws with open supports override it)."""
        low, high, lc, hc = self.support_bounds
        on_edge = ((y == low) | (y == high)) & bad
        if bool(on_edge.any()) and bool((on_edge == bad).all()):
            return "; pass clamp=1e-6 to move edge labels inside, or choose a law whose support includes the edges"
        return ""

    def _clamp_labels(self, y: torch.Tensor) -> torch.Tensor:
        low, high, lc, hc = self.support_bounds
        eps = float(self.clamp)
        lo = low if lc else low + eps * max(1.0, abs(low))
        hi = high if hc else high - eps * max(1.0, abs(high))
        if math.isinf(lo) and math.isinf(hi):
            return y
        return y.clamp(lo if math.isfinite(lo) else None, hi if math.isfinite(hi) else None)

    def _check_trials(self, y: torch.Tensor, trials: torch.Tensor | None) -> None:
        if trials is None:
            raise LosslabError(f"{self.name}: needs trials= (the number of trials n of each k/n label)")
        if not bool(torch.isfinite(trials).all()) or bool((trials < 1).any()):
            bad = ~torch.isfinite(trials) | (trials < 1)
            raise LosslabError(
                f"{self.name}: trials must be finite counts >= 1; {int(bad.sum())} are not "
                f"(first at row(s) {first_rows(bad) if bad.ndim else [0]})"
            )


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
        return torch.stack([links[k].inverse(params[k]).reshape(()) for k in links])

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
        if not (isinstance(min_scale, (int, float)) and min_scale > 0 and math.isfinite(min_scale)):
            raise LosslabError(f"{self.name}: min_scale={min_scale!r} must be a positive number")
        self.min_scale = float(min_scale)

    def options(self) -> dict[str, Any]:
        return {"min_scale": self.min_scale, **super().options()}

    def param_links(self) -> dict[str, Link]:
        return {"loc": IDENTITY, "scale": positive_link(self.min_scale)}

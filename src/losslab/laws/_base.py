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
(``_median`` defaults to the quantile at 1/2) and ``_quantile``.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from typing import Any, ClassVar, Iterator

import numpy as np
import torch
from torch.distributions import Distribution

from .._errors import (
    LosslabError,
    as_real_tensor,
    check_choice,
    check_number,
    dtype_name,
    first_rows,
    shape_str,
)
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
        if clamp is not None:
            clamp = check_number(
                clamp, "clamp", who=self.name, low=0.0, high=0.5, low_open=True, high_open=True,
                what="a small positive number below 0.5 (e.g. 1e-6)",
            )
            low, high, _, _ = SUPPORTS[type(self).support]
            if math.isinf(low) and math.isinf(high):
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
        """``(low, high, low_closed, high_closed)``."""
        return SUPPORTS[self.support]

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

    def _check_weight(self, weight: Any, per: torch.Tensor) -> torch.Tensor:
        weight = as_real_tensor(weight, "weight", who=self.name).to(dtype=per.dtype, device=per.device)
        if weight.shape != per.shape:
            raise LosslabError(
                f"{self.name}: weight has shape {shape_str(weight.shape)}, expected {shape_str(per.shape)} "
                f"(one weight per element of the loss)"
            )
        if _VALIDATE:
            bad = ~torch.isfinite(weight) | (weight < 0)
            if bool(bad.any()):
                raise LosslabError(
                    f"{self.name}: weight has {int(bad.sum())} negative or non-finite value(s), first at row(s) "
                    f"{first_rows(bad)} (e.g. {float(weight[bad].flatten()[0]):g}); expected finite weights >= 0"
                )
        return weight

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

    def check_labels(self, y: Any, *, trials: Any = None) -> None:
        """Raise a one-line error if labels (or trials) do not fit this law; used once before training."""
        y = as_real_tensor(y, "labels y", who=self.name)
        y = y if y.is_floating_point() else y.double()
        self._check_support(y)
        if self.needs_trials:
            t = None if trials is None else as_real_tensor(trials, "trials", who=self.name).to(dtype=y.dtype)
            self._check_trials(y, t)

    # ------------------------------------------------------------ input checks
    def _prepare(self, params: Params, y: Any, trials: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        ref = next(iter(params.values()))
        y = as_real_tensor(y, "labels y", who=self.name)
        if y.dtype != ref.dtype or y.device != ref.device:
            y = y.to(dtype=ref.dtype, device=ref.device)
        if trials is not None:
            trials = as_real_tensor(trials, "trials", who=self.name).to(dtype=ref.dtype, device=ref.device)
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
        if y.dtype not in self._clamp_ok:
            self._check_clamp_resolution(y.dtype, (low, lo, lc), (high, hi, hc))
        if math.isinf(lo) and math.isinf(hi):
            return y
        return y.clamp(lo if math.isfinite(lo) else None, hi if math.isfinite(hi) else None)

    def _check_clamp_resolution(
        self, dtype: torch.dtype, lower: tuple[float, float, bool], upper: tuple[float, float, bool]
    ) -> None:
        """Raise if ``clamp`` cannot move an open edge's labels inside in ``dtype`` (``1 - 1e-8`` is 1 in float32).

        ``lower`` and ``upper`` are ``(edge, edge moved by clamp, closed)``. Checked when labels of a
        dtype first arrive, since only then is the dtype known.
        """
        for (edge, moved, closed), sign in ((lower, "+"), (upper, "-")):
            if closed or not math.isfinite(edge):
                continue  # clamp leaves a closed edge where it is
            rounded = float(torch.tensor(moved, dtype=dtype))
            if (rounded <= edge) if sign == "+" else (rounded >= edge):
                need = torch.finfo(dtype).eps * max(1.0, abs(edge))
                raise LosslabError(
                    f"{self.name}: clamp={self.clamp:g} does nothing in {dtype_name(dtype)}: {edge:g} {sign} "
                    f"{self.clamp:g} rounds to {edge:g}, so labels on that edge keep zero density; use "
                    f"clamp >= {need:.3g} with {dtype_name(dtype)} labels, or float64 raw outputs and labels"
                )
        self._clamp_ok.add(dtype)

    def _check_trials(self, y: torch.Tensor, trials: torch.Tensor | None) -> None:
        if trials is None:
            raise LosslabError(f"{self.name}: needs trials= (the number of trials n of each k/n label)")
        if not bool(torch.isfinite(trials).all()) or bool((trials < 1).any()):
            bad = ~torch.isfinite(trials) | (trials < 1)
            raise LosslabError(
                f"{self.name}: trials must be finite counts >= 1; {int(bad.sum())} are not "
                f"(first at row(s) {first_rows(bad) if bad.ndim else [0]})"
            )

    # ------------------------------------------------------ quantiles and intervals
    def quantile(self, params: Params, q: Any, *, trials: Any = None) -> torch.Tensor:
        r"""The ``q``-quantile of each label's predictive law: the smallest ``y`` whose CDF reaches ``q``.

        .. math:: F^{-1}(q) = \inf\{y : F(y) \ge q\}

        For a continuous law this solves :math:`F(y) = q`. For the count laws (``binomial``,
        ``beta-binomial``) it is the quantile of the predictive of ``k / n`` given ``trials``, an
        atom ``k / n``; for ``zoib`` it is 0 or 1 where the atoms hold ``q``. ``q = 0`` and
        ``q = 1`` give the ends of the support (``-inf`` and ``inf`` on the real line). For
        ``mvn`` (a vector law) it is the quantile of each coordinate's marginal,
        :math:`\mu_i + \sqrt{\Sigma_{ii}}\,\Phi^{-1}(q)`, not a joint region. ``bernoulli``
        raises: soft BCE is not a density over a float label (see its docstring).

        Computed as ``law.predictive(params, trials).icdf(q)``: closed forms (normal, laplace,
        exponential, continuous Bernoulli, logit-normal, histogram) keep the gradient;
        ``scipy.special`` (beta, student-t, zoib), exact sums over the atoms (count laws) and
        bracketed bisection to float resolution (mixtures) carry none.

        Args:
            params: the law's parameters (``law.link(raw)``), batch shape ``(...)``.
            q: a probability in [0, 1]: a number, or a tensor or array broadcastable to the
                batch shape ``(...)`` (one level per label); it is never broadcast beyond it.
            trials: ``n`` of each k/n label for the count laws: a number or ``(...)``
                integer counts >= 1 (ignored by the other laws).

        Returns:
            the labels' shape: ``(...)``, or ``(..., d)`` for ``mvn``.

        >>> from losslab.laws import get_law
        >>> law = get_law("beta")
        >>> p = law.link(torch.tensor([[0.0, math.log(4.0)]], dtype=torch.float64))   # Beta(2, 2)
        >>> [round(v, 6) for v in law.quantile(p, torch.tensor([0.25])).tolist()]   # scipy.stats.beta.ppf(0.25, 2, 2)
        [0.326352]
        """
        q = self._check_q(params, q)
        return self._quantile(params, q, self._quantile_trials(params, trials))

    def interval(self, params: Params, level: float = 0.9, *, trials: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        r"""The central ``level`` prediction interval ``(low, high)`` of each label.

        .. math:: \Big[F^{-1}\big(\tfrac{1 - l}{2}\big),\ F^{-1}\big(\tfrac{1 + l}{2}\big)\Big]

        with :math:`F^{-1}` as in :meth:`quantile` (marginal intervals for ``mvn``; ``bernoulli``
        raises). A continuous law puts exactly ``level`` of its mass inside; a law with atoms
        (count laws, ``zoib``) puts at least ``level`` inside the closed interval.

        Args:
            params: the law's parameters, batch shape ``(...)``.
            level: the interval's probability, a number in (0, 1).
            trials: as in :meth:`quantile`.

        Returns:
            ``(low, high)``, each of the labels' shape.

        >>> from losslab.laws import get_law
        >>> law = get_law("gaussian", sigma=2.0)
        >>> low, high = law.interval(law.link(torch.tensor([[1.0]], dtype=torch.float64)), 0.9)
        >>> round(float(low), 6), round(float(high), 6)   # scipy.stats.norm.interval(0.9, 1, 2)
        (-2.289707, 4.289707)
        """
        level = self._check_level(level)
        low, high = self._check_q(params, (1 - level) / 2), self._check_q(params, (1 + level) / 2)
        trials = self._quantile_trials(params, trials)
        return self._quantile(params, low, trials), self._quantile(params, high, trials)

    def _quantile(self, params: Params, q: torch.Tensor, trials: torch.Tensor | None) -> torch.Tensor:
        """The quantiles at levels ``q`` (already checked, of the batch shape): the predictive's ``icdf``."""
        return self.predictive(params, trials).icdf(q)

    def _median(self, params: Params) -> torch.Tensor:
        return self.quantile(params, 0.5)

    def _check_level(self, level: Any) -> float:
        if torch.is_tensor(level) and level.numel() == 1 and level.is_floating_point():
            level = float(level)
        if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < float(level) < 1:
            raise LosslabError(
                f"{self.name}: level={level!r}; expected a number in (0, 1), e.g. 0.9 for the central 90% interval"
            )
        return float(level)

    def _check_q(self, params: Params, q: Any) -> torch.Tensor:
        """``q`` as a tensor of the batch shape, after checking it holds probabilities and broadcasts to that shape."""
        batch = torch.Size(self._batch_shape(params))
        ref = next(iter(params.values()))
        expected = f"expected a probability in [0, 1]: a number or one per label, shape {shape_str(batch)}"
        is_bool = isinstance(q, bool) or (torch.is_tensor(q) and q.dtype == torch.bool)
        if is_bool or isinstance(q, (str, bytes)) or getattr(getattr(q, "dtype", None), "kind", "f") not in "fiu":
            raise LosslabError(f"{self.name}: q={q!r} is not a number; {expected}")
        try:
            t = torch.as_tensor(q, dtype=ref.dtype, device=ref.device)
        except (TypeError, ValueError, RuntimeError):
            raise LosslabError(f"{self.name}: q={q!r} is not a number; {expected}") from None
        bad = ~((t >= 0) & (t <= 1))  # NaN fails both comparisons
        if bool(bad.any()):
            if t.ndim == 0:
                raise LosslabError(f"{self.name}: q={float(t)!r} is not in [0, 1]; {expected}")
            raise LosslabError(
                f"{self.name}: q has {int(bad.sum())} value(s) not in [0, 1] (first {float(t[bad].flatten()[0])!r}, "
                f"at row(s) {first_rows(bad)}); {expected}"
            )
        try:
            fits = torch.broadcast_shapes(t.shape, batch) == batch
        except RuntimeError:
            fits = False
        if not fits:
            raise LosslabError(
                f"{self.name}: q has shape {shape_str(t.shape)}, which does not broadcast to the batch shape "
                f"{shape_str(batch)}; {expected}"
            )
        return t.expand(batch)

    def _quantile_trials(self, params: Params, trials: Any) -> torch.Tensor | None:
        """The count laws' ``trials`` as a tensor of the batch shape (checked: integer counts >= 1); else None."""
        if not self.needs_trials:
            return None
        if trials is None:
            raise LosslabError(
                f"{self.name}: quantiles need trials= (the number of trials n of each k/n label; the predictive "
                f"is that of k/n given n)"
            )
        batch = torch.Size(self._batch_shape(params))
        ref = next(iter(params.values()))
        try:
            t = torch.as_tensor(trials, dtype=ref.dtype, device=ref.device)
        except (TypeError, ValueError, RuntimeError):
            raise LosslabError(f"{self.name}: trials={trials!r} are not numbers; expected integer counts >= 1") from None
        if t.ndim != 0 and t.shape != batch:
            raise LosslabError(
                f"{self.name}: trials has shape {shape_str(t.shape)}, expected the labels' shape {shape_str(batch)} "
                f"or a single number"
            )
        bad = ~torch.isfinite(t) | (t < 1) | (t != t.round())
        if bool(bad.any()):
            raise LosslabError(
                f"{self.name}: trials must be integer counts >= 1 for quantiles; {int(bad.sum())} are not "
                f"(first at row(s) {first_rows(bad) if bad.ndim else [0]})"
            )
        return t.expand(batch)


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

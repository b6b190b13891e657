"""Quantiles and central prediction intervals of a law's predictive, with their argument checks.

:class:`Quantiles` is a base of :class:`~losslab.laws.Law`; its methods read the law's
``name``, ``needs_trials``, ``predictive`` and ``_batch_shape``.
"""

from __future__ import annotations

import math  # noqa: F401 - used by the doctests
import numbers
from typing import TYPE_CHECKING, Any

import torch

from .._errors import LosslabError, first_rows, shape_str

if TYPE_CHECKING:
    from ._base import Params

__all__ = ["Quantiles"]


class Quantiles:
    """:meth:`quantile` and :meth:`interval` of :class:`~losslab.laws.Law` (a base class of it, not used alone)."""

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

r"""Which formula scores which distribution class: the closed-form CRPS and the randomised PIT, registered per class.

As torch's ``register_kl``: ``@register_crps(Beta)`` registers ``fn(dist, y) -> per-element CRPS`` for
``Beta`` and its subclasses, and :func:`crps_formula` returns the entry of the nearest class in
``type(dist).__mro__`` (losslab's :class:`~losslab.distributions.Beta`, a subclass of torch's, gets
torch's entry). A formula may return ``NotImplemented`` for an instance it has no closed form for (a
mixture whose components are not Normal); :func:`losslab.metrics.crps` then uses an estimator, as for a
class with no entry. ``@register_pit(cls)`` registers ``fn(dist, y, v) -> u``, the PIT of a law with
atoms or bins randomised by ``v ~ U(0, 1)`` (same shape as ``y``); a class without one gets ``F(y)``.

A distribution class outside losslab registers its own, e.g. for a point mass at ``loc``::

    @register_crps(PointMass)
    def _(d, y):
        return (y - d.loc).abs()  # E|X - y| with X = loc; E|X - X'| = 0

The formulas are in :mod:`losslab.metrics.crps`; every registered class has an example in
``tests/metrics/test_registry.py``, which fails for a class registered without one.

>>> from torch.distributions import Gumbel, Normal
>>> crps_formula(Normal(0.0, 1.0)).__name__, crps_formula(Gumbel(0.0, 1.0))
('_normal', None)
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import torch
from torch.distributions import (
    Beta,
    ContinuousBernoulli,
    Distribution,
    Exponential,
    Laplace,
    MixtureSameFamily,
    Normal,
    StudentT,
    Uniform,
)

from .._errors import LosslabError
from ..distributions import Histogram, ScaledBetaBinomial, ScaledBinomial, ZeroOneInflatedBeta, beta_cdf
from ._checks import label_tensors
from .crps import (
    crps_beta,
    crps_continuous_bernoulli,
    crps_discrete,
    crps_exponential,
    crps_histogram,
    crps_laplace,
    crps_mixnorm,
    crps_normal,
    crps_t,
    crps_uniform,
    crps_zoib,
)

__all__ = ["register_crps", "register_pit", "crps_formula", "pit_formula", "registered_crps", "registered_pit"]

#: a closed-form CRPS: (dist, y) -> per-element CRPS (shape of y), or NotImplemented for an instance it cannot score
CrpsFormula = Callable[[Distribution, torch.Tensor], Any]
#: a randomised PIT: (dist, y, v) -> u, with v ~ U(0, 1) of y's shape
PitFormula = Callable[[Distribution, torch.Tensor, torch.Tensor], torch.Tensor]

_CRPS: dict[type, CrpsFormula] = {}
_PIT: dict[type, PitFormula] = {}


def _register(table: dict[type, Callable], what: str, cls: Any) -> Callable[[Callable], Callable]:
    if not (isinstance(cls, type) and issubclass(cls, Distribution)):
        raise LosslabError(f"register_{what}({cls!r}): expected a torch.distributions.Distribution subclass, e.g. register_{what}(Beta)")

    def decorator(fn: Callable) -> Callable:
        if not callable(fn):
            raise LosslabError(f"register_{what}({cls.__name__}) decorates {fn!r}; expected a function")
        old = table.get(cls)
        if old is not None and old is not fn:
            warnings.warn(f"register_{what}({cls.__name__}) replaces {getattr(old, '__qualname__', old)!r}", UserWarning, stacklevel=2)
        table[cls] = fn
        return fn

    return decorator


def register_crps(cls: type) -> Callable[[CrpsFormula], CrpsFormula]:
    """Decorator: ``fn(dist, y)`` is the closed-form CRPS of ``cls`` and its subclasses (per element, ``y``'s shape).

    Registering a class again replaces its formula, with a warning unless it is the same function.
    """
    return _register(_CRPS, "crps", cls)


def register_pit(cls: type) -> Callable[[PitFormula], PitFormula]:
    """Decorator: ``fn(dist, y, v)`` is the randomised PIT of ``cls`` and its subclasses (``v ~ U(0, 1)``, ``y``'s shape)."""
    return _register(_PIT, "pit", cls)


def _lookup(table: dict[type, Callable], d: Distribution) -> Callable | None:
    for cls in type(d).__mro__:
        fn = table.get(cls)
        if fn is not None:
            return fn
    return None


def crps_formula(d: Distribution) -> CrpsFormula | None:
    """The closed-form CRPS registered for the nearest class of ``d`` in its MRO, or None."""
    return _lookup(_CRPS, d)


def pit_formula(d: Distribution) -> PitFormula | None:
    """The randomised PIT registered for the nearest class of ``d`` in its MRO, or None (the PIT is then ``F(y)``)."""
    return _lookup(_PIT, d)


def registered_crps() -> dict[type, CrpsFormula]:
    """``{class: formula}`` of every registered closed-form CRPS (a copy)."""
    return dict(_CRPS)


def registered_pit() -> dict[type, PitFormula]:
    """``{class: formula}`` of every registered randomised PIT (a copy)."""
    return dict(_PIT)


# ----------------------------------------------------------------------------- closed-form CRPS
@register_crps(Normal)
def _normal(d: Normal, y: torch.Tensor) -> torch.Tensor:
    return crps_normal(y, d.loc, d.scale)


@register_crps(Laplace)
def _laplace(d: Laplace, y: torch.Tensor) -> torch.Tensor:
    return crps_laplace(y, d.loc, d.scale)


@register_crps(Exponential)
def _exponential(d: Exponential, y: torch.Tensor) -> torch.Tensor:
    return crps_exponential(y, d.rate)


@register_crps(Uniform)
def _uniform(d: Uniform, y: torch.Tensor) -> torch.Tensor:
    return crps_uniform(y, d.low, d.high)


@register_crps(Beta)
def _beta(d: Beta, y: torch.Tensor) -> torch.Tensor:
    return crps_beta(y, d.concentration1, d.concentration0)


@register_crps(StudentT)
def _student_t(d: StudentT, y: torch.Tensor) -> torch.Tensor:
    return crps_t(y, d.df, d.loc, d.scale)


@register_crps(MixtureSameFamily)
def _mixture(d: MixtureSameFamily, y: torch.Tensor) -> Any:
    c = d.component_distribution
    if not isinstance(c, Normal):  # only a mixture of Normals has a closed form here (Grimit et al. 2006)
        return NotImplemented
    return crps_mixnorm(y, c.loc, c.scale, d.mixture_distribution.probs)


@register_crps(Histogram)
def _histogram(d: Histogram, y: torch.Tensor) -> torch.Tensor:
    return crps_histogram(y, d.probs, d.edges)


@register_crps(ScaledBinomial)
@register_crps(ScaledBetaBinomial)
def _scaled_counts(d: ScaledBinomial | ScaledBetaBinomial, y: torch.Tensor) -> torch.Tensor:
    atoms, probs = d.atoms()  # (*batch, n_max + 1) each; atoms past n have mass 0
    return crps_discrete(y, atoms, probs)


@register_crps(ZeroOneInflatedBeta)
def _zoib(d: ZeroOneInflatedBeta, y: torch.Tensor) -> torch.Tensor:
    return crps_zoib(y, d.p0, d.p1, d.beta.concentration1, d.beta.concentration0)


@register_crps(ContinuousBernoulli)
def _continuous_bernoulli(d: ContinuousBernoulli, y: torch.Tensor) -> torch.Tensor:
    return crps_continuous_bernoulli(y, d.logits)


# ----------------------------------------------------------------------------- randomised PIT
@register_pit(ScaledBinomial)
@register_pit(ScaledBetaBinomial)
def _scaled_counts_pit(d: ScaledBinomial | ScaledBetaBinomial, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``F(y-) + v P(Y = y)`` over the atoms ``k/n`` (a label within 1e-6/n of an atom is on it)."""
    atoms, probs = d.atoms()
    tol = 1e-6 / d.total_count.unsqueeze(-1)
    below = (probs * (atoms < y.unsqueeze(-1) - tol)).sum(-1)
    at = (probs * ((atoms - y.unsqueeze(-1)).abs() <= tol)).sum(-1)
    return below + v * at


@register_pit(ZeroOneInflatedBeta)
def _zoib_pit(d: ZeroOneInflatedBeta, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``v p0`` at 0, ``1 - p1 + v p1`` at 1, ``p0 + (1 - p0 - p1) I_y(a, b)`` inside."""
    p0, p1 = d.p0.expand(y.shape), d.p1.expand(y.shape)
    interior = p0 + (1 - p0 - p1) * beta_cdf(*label_tensors(y, d.beta.concentration1, d.beta.concentration0))
    return torch.where(y <= 0, v * p0, torch.where(y >= 1, 1 - p1 + v * p1, interior))


@register_pit(Histogram)
def _histogram_pit(d: Histogram, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``F(e_k) + v p_k`` for the label's bin ``k``: the PIT tests the bin probabilities, whatever the spread inside a bin."""
    edges, probs = d.edges, d.probs.expand(tuple(y.shape) + d.probs.shape[-1:])
    k = (torch.searchsorted(edges.contiguous(), y.contiguous(), right=True) - 1).clamp(0, probs.shape[-1] - 1)
    below = torch.cumsum(probs, -1) - probs
    pk = probs.gather(-1, k.unsqueeze(-1)).squeeze(-1)
    bk = below.gather(-1, k.unsqueeze(-1)).squeeze(-1)
    return bk + v * pk

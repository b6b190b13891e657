"""Link functions: maps from unconstrained network outputs to valid parameters.

Each link comes with its inverse, used to initialise a head's bias so that an
untrained network already predicts a sensible marginal law. Every function is
written to stay finite for raw outputs as large as ±1e4 in float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

__all__ = [
    "positive",
    "positive_inv",
    "sigmoid",
    "cut_dead_gradient",
    "log_softplus",
    "logit",
    "softplus_inv",
    "bounded_exp",
    "bounded_exp_inv",
    "Link",
    "IDENTITY",
    "SIGMOID",
    "positive_link",
    "bounded_sigmoid_link",
    "log_link",
]


def softplus_inv(x: torch.Tensor) -> torch.Tensor:
    """Inverse of ``softplus``: ``log(expm1(x))``, stable for large and small ``x``.

    >>> round(float(softplus_inv(F.softplus(torch.tensor(0.3)))), 6)
    0.3
    """
    x = torch.as_tensor(x, dtype=torch.get_default_dtype()) if not torch.is_tensor(x) else x
    # For x > 20, expm1(x) ~ exp(x) and log(expm1(x)) = x + log1p(-exp(-x)).
    big = x > 20
    safe = torch.where(big, torch.ones_like(x), x)
    return torch.where(big, x + torch.log1p(-torch.exp(-x)), torch.log(torch.expm1(safe)))


def _dead_slope(dtype: torch.dtype) -> float:
    """``r`` below which ``exp(r)`` is under the smallest subnormal number of ``dtype`` (-103.3 in float32).

    There the slope of ``softplus`` (``sigmoid(r)``) and of ``sigmoid`` rounds to 0.
    """
    fi = torch.finfo(dtype)
    return math.log(fi.tiny * fi.eps)


def cut_dead_gradient(raw: torch.Tensor, dead: torch.Tensor) -> torch.Tensor:
    """``raw`` with its gradient cut where ``dead`` (the link's slope there rounds to 0 anyway).

    An NLL far outside its useful range can have an infinite derivative in a parameter (``z^2 / scale``
    overflows) while the link's slope underflows to 0: the chain rule would give ``0 * inf = NaN``,
    although the exact gradient is ``inf * e^-1e4``, zero to the dtype's precision. Detaching those
    entries makes it 0 (``torch.where`` selects, it does not multiply). Only when a gradient is wanted.
    """
    if not raw.requires_grad:
        return raw
    return torch.where(dead, raw.detach(), raw)


def positive(raw: torch.Tensor, floor: float = 0.0) -> torch.Tensor:
    """``softplus(raw) + floor``: the GluonTS-style positive link.

    Linear for large ``raw`` (so no overflow at 1e4) and never below ``floor``;
    the same floor applies at training and at prediction time. Where ``softplus``'s
    slope underflows (``raw < -103`` in float32) the gradient is exactly 0, never NaN
    (see :func:`cut_dead_gradient`).
    """
    if raw.requires_grad:
        raw = cut_dead_gradient(raw, raw < _dead_slope(raw.dtype))
    return F.softplus(raw) + floor


def sigmoid(raw: torch.Tensor) -> torch.Tensor:
    """``sigmoid(raw)`` whose gradient is exactly 0 (never NaN) where its slope underflows (``|raw| > 103`` in float32)."""
    if raw.requires_grad:
        raw = cut_dead_gradient(raw, raw.abs() > -_dead_slope(raw.dtype))
    return torch.sigmoid(raw)


def positive_inv(value: torch.Tensor | float, floor: float = 0.0) -> torch.Tensor:
    """Inverse of :func:`positive`; values at or below the floor map to a very negative raw."""
    value = torch.as_tensor(value, dtype=torch.get_default_dtype())
    return softplus_inv(torch.clamp(value - floor, min=1e-12))


def log_softplus(raw: torch.Tensor) -> torch.Tensor:
    """``log(softplus(raw))`` without underflow: for very negative raw, softplus(raw) ~ exp(raw).

    >>> float(log_softplus(torch.tensor(-1e4)))
    -10000.0
    """
    # log(softplus(r)) = r + log1p(-e^r / 2 + ...): below -30 the correction (< 5e-14) is under float64 rounding
    # of r, while softplus itself stays a normal float32 number down to about -87.
    neg = raw < -30.0
    safe = torch.where(neg, torch.zeros_like(raw), raw)
    return torch.where(neg, raw, torch.log(F.softplus(safe)))


def logit(p: torch.Tensor | float, eps: float = 1e-6) -> torch.Tensor:
    """``log(p / (1 - p))`` with ``p`` clipped to ``[eps, 1 - eps]`` (used for bias initialisation)."""
    p = torch.as_tensor(p, dtype=torch.get_default_dtype()).clamp(eps, 1 - eps)
    return torch.log(p) - torch.log1p(-p)


def bounded_exp(raw: torch.Tensor, max_log: float) -> torch.Tensor:
    """``exp(raw)`` with ``raw`` clamped to ``[-max_log, max_log]``.

    A log link whose range is bounded so that ``exp`` can never overflow and
    ``lgamma`` of the result keeps float32 precision; beyond the bounds the
    gradient is zero, which the law's documentation states.
    """
    return torch.exp(raw.clamp(-max_log, max_log))


def bounded_exp_inv(value: torch.Tensor | float, max_log: float) -> torch.Tensor:
    value = torch.as_tensor(value, dtype=torch.get_default_dtype())
    return torch.log(value).clamp(-max_log, max_log)


LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class Link:
    """A named link: ``forward`` maps raw outputs to a parameter, ``inverse`` maps back (bias init)."""

    name: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    inverse: Callable[[Any], torch.Tensor]


IDENTITY = Link("identity", lambda r: r, lambda v: torch.as_tensor(v, dtype=torch.get_default_dtype()))
SIGMOID = Link("sigmoid (logit link)", sigmoid, logit)


def bounded_sigmoid_link(max_logit: float) -> Link:
    """``sigmoid(raw)``, raw clamped to ``[-max_logit, max_logit]`` so that ``p`` and ``1 - p`` stay positive."""
    return Link(
        f"sigmoid (logit link, raw clamped to ±{max_logit:g})",
        lambda r: torch.sigmoid(r.clamp(-max_logit, max_logit)),
        lambda v: logit(v).clamp(-max_logit, max_logit),
    )


def positive_link(floor: float) -> Link:
    """``softplus(raw) + floor``."""
    return Link(f"softplus + {floor:g}", lambda r: positive(r, floor), lambda v: positive_inv(v, floor))


def log_link(max_log: float) -> Link:
    """``exp(raw)``, raw clamped to ``[-max_log, max_log]``."""
    return Link(
        f"exp (log link, raw clamped to ±{max_log:g})",
        lambda r: bounded_exp(r, max_log),
        lambda v: bounded_exp_inv(v, max_log),
    )

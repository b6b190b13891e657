"""The one input check shared by every metric.

:func:`check_array` converts one argument (numpy array, torch tensor, list or
number) and rejects what no metric can use: non-numeric data, NaN or infinity,
an empty array, a shape other than the one expected. Shapes must be equal,
never broadcast: ``(N,)`` against ``(N, 1)`` is an error, because broadcasting
them silently builds an ``(N, N)`` table of every label against every
prediction. :func:`check_pair` applies it to ``(y_true, y_pred, sample_weight)``.
Every error is a one-line :class:`~losslab.LosslabError` that names the argument.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np
import torch

from .._errors import LosslabError, check_finite, check_integer, check_number, shape_str

__all__ = ["check_array", "check_pair", "check_unit_interval", "check_choice", "check_options", "checked_options", "label_tensors"]


def check_array(
    x: Any,
    name: str,
    *,
    shape: tuple[int, ...] | None = None,
    ndims: tuple[int, ...] | None = None,
    like: torch.Tensor | None = None,
) -> np.ndarray | torch.Tensor:
    """Validate one argument and convert it.

    Args:
        x: a numpy array, torch tensor, list or number.
        name: the argument's name, used in error messages.
        shape: the exact shape ``x`` must have (no broadcasting).
        ndims: the numbers of dimensions allowed (checked when ``shape`` is None).
        like: convert to a torch tensor of this tensor's dtype and device; without it,
            convert to a float64 numpy array (tensors are detached first).

    Returns:
        ``x`` as a float64 ``np.ndarray``, or as a tensor like ``like``.

    >>> check_array([0.5, 1.0], "y_true")
    array([0.5, 1. ])
    """
    if torch.is_tensor(x):
        t = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and other unconvertible objects
            raise LosslabError(f"{name} could not be read as an array ({type(exc).__name__}); expected numbers") from None
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise LosslabError(f"{name} has dtype {arr.dtype}; expected numbers")
        if np.iscomplexobj(arr):
            raise LosslabError(f"{name} holds complex numbers; expected real numbers")
        t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64))
    if t.is_complex():
        raise LosslabError(f"{name} holds complex numbers; expected real numbers")
    if like is not None:
        t = t.to(dtype=like.dtype if like.is_floating_point() else torch.get_default_dtype(), device=like.device)
    else:
        t = t.detach().to(device="cpu", dtype=torch.float64)
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise LosslabError(
            f"{name} has shape {shape_str(t.shape)}, expected {shape_str(shape)}; shapes must match exactly, "
            f"no broadcasting{_hint(tuple(t.shape), tuple(shape))}"
        )
    if shape is None and ndims is not None and t.ndim not in ndims:
        want = " or ".join(f"{d}-d" for d in ndims)
        raise LosslabError(f"{name} has shape {shape_str(t.shape)}; expected a {want} array")
    if t.numel() == 0:
        raise LosslabError(f"{name} is empty (shape {shape_str(t.shape)}); expected at least one value")
    check_finite(name, t.detach())
    return t if like is not None else t.numpy()


def _hint(found: tuple[int, ...], expected: tuple[int, ...]) -> str:
    if len(found) == len(expected) + 1 and found[-1] == 1 and found[:-1] == expected:
        return " (drop the trailing axis of size 1, e.g. .squeeze(-1))"
    if len(found) + 1 == len(expected) and expected[-1] == 1 and found == expected[:-1]:
        return " (add a trailing axis of size 1, e.g. [:, None])"
    return ""


def check_pair(
    y_true: Any, y_pred: Any, sample_weight: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check labels, predictions and optional per-row weights of a point metric.

    ``y_true`` is ``(N,)`` or ``(N, T)`` (T outputs); ``y_pred`` must have exactly
    the same shape; ``sample_weight`` is ``(N,)``, non-negative, with a positive sum.

    Returns:
        float64 numpy arrays ``(y_true, y_pred, sample_weight or None)``.
    """
    yt = check_array(y_true, "y_true", ndims=(1, 2))
    yp = check_array(y_pred, "y_pred")
    if yp.shape != yt.shape:
        raise LosslabError(
            f"y_pred has shape {shape_str(yp.shape)} but y_true has shape {shape_str(yt.shape)}; shapes must match "
            f"exactly, no broadcasting{_hint(yp.shape, yt.shape)}"
        )
    w = None
    if sample_weight is not None:
        w = check_array(sample_weight, "sample_weight", shape=yt.shape[:1])
        if (w < 0).any():
            raise LosslabError(f"sample_weight has {int((w < 0).sum())} negative value(s); expected weights >= 0")
        if not w.sum() > 0:
            raise LosslabError("sample_weight sums to 0; expected at least one positive weight")
    return yt, yp, w


def label_tensors(y: Any, *params: Any, last_axis: bool = False) -> tuple[torch.Tensor, ...]:
    """Convert ``y`` and parameters to tensors of one float dtype and check their shapes.

    Parameters may broadcast to ``y``'s shape; ``y`` is never broadcast up (that would
    silently score every label against every prediction). With ``last_axis=True`` the
    parameters carry an extra last axis (mixture components, bins, atoms) that is left
    out of the check. The shape check of every ``crps_<family>`` and of :func:`~losslab.metrics.beta_cdf`.

    >>> [tuple(t.shape) for t in label_tensors(torch.zeros(3), 0.0, torch.ones(3))]
    [(3,), (), (3,)]
    """
    ts = [p if torch.is_tensor(p) else None for p in (y, *params)]
    ref = next((t for t in ts[1:] if t is not None and t.is_floating_point()), None)
    if ref is None:
        ref = ts[0] if ts[0] is not None and ts[0].is_floating_point() else torch.zeros((), dtype=torch.float64)
    out = [torch.as_tensor(v, dtype=ref.dtype, device=ref.device) for v in (y, *params)]
    shapes = [t.shape[:-1] if last_axis else t.shape for t in out[1:]]
    shape = torch.broadcast_shapes(out[0].shape, *shapes)
    if shape != out[0].shape:
        raise LosslabError(
            f"y has shape {shape_str(out[0].shape)} but the parameters broadcast to {shape_str(shape)}; "
            f"parameters may broadcast to the labels' shape, labels are never broadcast"
        )
    return tuple(out)


def check_unit_interval(x: np.ndarray, name: str) -> None:
    """Raise if any value of ``x`` lies outside ``[0, 1]`` (probabilities and soft labels)."""
    bad = (x < 0) | (x > 1)
    if bad.any():
        i = int(np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))[0])
        raise LosslabError(
            f"{name} has {int(bad.sum())} value(s) outside [0, 1] (first at row {i}, e.g. {float(x[bad][0]):g}); "
            f"expected probabilities in [0, 1]"
        )


def check_choice(value: Any, name: str, choices: tuple[Any, ...]) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise LosslabError(f"{name}={value!r}; expected one of {', '.join(repr(c) for c in choices)}")


def check_options(
    *,
    level: Any = None,
    n_bins: Any = None,
    threshold: Any = None,
    n_samples: Any = None,
    seed: Any = None,
) -> dict[str, Any]:
    """Check the numeric options metrics share, each only when given; a one-line error names the first bad one.

    ``level`` is a probability in (0, 1), ``n_bins`` an integer >= 1, ``threshold`` a finite number,
    ``n_samples`` an integer >= 2 (levels or draws of an estimator) and ``seed`` an integer >= 0.
    Called up front, so that a bad option is an error rather than a metric left out with the error
    as its "reason" (``evaluate(level=1.5)`` used to return None for CRPS, PIT and intervals).

    Returns:
        the given options, converted (``np.int64(5)`` and ``5.0`` to ``5``, numbers to ``float``).

    >>> check_options(level=0.9, n_samples=np.int64(1000))
    {'level': 0.9, 'n_samples': 1000}
    >>> check_options(n_samples=0)
    Traceback (most recent call last):
    ...
    losslab._errors.LosslabError: n_samples=0 must be an integer >= 2
    """
    out: dict[str, Any] = {}
    if level is not None:
        out["level"] = check_number(level, "level", low=0.0, high=1.0, low_open=True, high_open=True,
                                    what="a number in (0, 1), e.g. 0.9 for the central 90% interval")
    if n_bins is not None:
        out["n_bins"] = check_integer(n_bins, "n_bins", low=1)
    if threshold is not None:
        out["threshold"] = check_number(threshold, "threshold", what="a finite number")
    if n_samples is not None:
        out["n_samples"] = check_integer(n_samples, "n_samples", low=2)
    if seed is not None:
        out["seed"] = check_integer(seed, "seed", low=0)
    return out


_OPTION_NAMES = ("level", "n_bins", "threshold", "n_samples", "seed")


def checked_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a public metric: its ``level``, ``n_bins``, ``threshold``, ``n_samples`` and ``seed`` arguments,
    when given, pass :func:`check_options` (and arrive converted) before it runs.

    One checker for every metric: ``crps(n_samples=0)`` was NaN and ``n_samples=-5`` 0.0, ``pit(seed=1.5)``
    ran with seed 1, ``auroc_score(threshold="x")`` raised numpy's TypeError.
    """
    sig = inspect.signature(fn)
    names = [n for n in sig.parameters if n in _OPTION_NAMES]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = sig.bind(*args, **kwargs)
        given = {n: bound.arguments[n] for n in names if n in bound.arguments}
        if given:
            bound.arguments.update(check_options(**given))
        return fn(*bound.args, **bound.kwargs)

    return wrapper

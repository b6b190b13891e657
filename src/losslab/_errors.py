"""Input checks shared by laws, metrics and data readers.

Every check raises a one-line error that names the argument, what was found
and what was expected. Nothing here prints.
"""

from __future__ import annotations

import difflib
import math
import numbers
from typing import Any, Iterable

import numpy as np
import torch


class LosslabError(ValueError):
    """Bad input or bad options: the message names the culprit. The CLI maps it to exit code 2.

    A message whose fix names a Python argument (``pass clamp=1e-6``, ``features=[...]``) can carry
    the same message in the command line's syntax as ``cli`` (``--laws beta:clamp=1e-6``,
    ``--features a,b``); the CLI prints :attr:`for_cli`. Code that wraps the error in a new one
    passes both forms on (:meth:`wrap`).

    >>> e = LosslabError("beta: labels 0; pass clamp=1e-6", cli="beta: labels 0; add --laws beta:clamp=1e-6")
    >>> str(e), e.for_cli
    ('beta: labels 0; pass clamp=1e-6', 'beta: labels 0; add --laws beta:clamp=1e-6')
    >>> LosslabError("no fix to translate").for_cli
    'no fix to translate'
    """

    def __init__(self, message: str = "", *, cli: str | None = None) -> None:
        super().__init__(message)
        self.cli = cli

    @property
    def for_cli(self) -> str:
        """The message in the command line's syntax (the message itself when the two agree)."""
        return self.cli if self.cli is not None else str(self)

    def wrap(self, template: str) -> "LosslabError":
        """A new error whose message is ``template`` with ``{}`` replaced by this one's (each form by its own).

        >>> LosslabError("x; pass a=1", cli="x; --a 1").wrap("in run 3: {}").for_cli
        'in run 3: x; --a 1'
        """
        return LosslabError(template.format(str(self)), cli=None if self.cli is None else template.format(self.cli))

    def __reduce__(self) -> Any:
        # keep the CLI form when a worker process sends the error back (the default pickles args only)
        return (_rebuild, (type(self), str(self), self.cli))


def _rebuild(cls: type, message: str, cli: str | None) -> LosslabError:
    err = cls(message)
    err.cli = cli
    return err


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """``" (did you mean 'a' or 'b'?)"`` or an empty string."""
    found = difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)
    if not found:
        return ""
    quoted = [repr(f) for f in found]
    return " (did you mean " + " or ".join(quoted) + "?)"


def first_rows(mask: torch.Tensor | np.ndarray, k: int = 5) -> list[int]:
    """Row indices (first axis) of the first ``k`` True entries of ``mask``."""
    m = mask.detach().cpu().numpy() if torch.is_tensor(mask) else np.asarray(mask)
    if m.ndim > 1:
        m = m.reshape(m.shape[0], -1).any(axis=1)
    return np.flatnonzero(m)[:k].tolist()


def listing(names: Iterable[Any], k: int = 6) -> str:
    """``"['a', 'b', ... (9 in all)]"``: the first ``k`` names, quoted, for a message."""
    names = [str(n) for n in names]
    return "[" + ", ".join(repr(n) for n in names[:k]) + (f", ... ({len(names)} in all)" if len(names) > k else "") + "]"


def check_finite(name: str, x: torch.Tensor) -> None:
    """Raise if ``x`` holds NaN or infinity, naming how many and the first rows."""
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        n = int(bad.sum())
        raise LosslabError(
            f"{name} contains {n} non-finite value(s) (NaN or inf), first at row(s) {first_rows(bad)}; "
            f"expected finite numbers"
        )


def shape_str(shape: Iterable[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(tuple(shape)) == 1 else "") + ")"


# ----------------------------------------------------------------------------- options and arguments
# One checker per kind of argument, used by every law, metric and generator, so that a string where a
# number belongs, a bool where an integer belongs or a NaN anywhere gets the same one-line error everywhere
# (instead of a TypeError from a comparison, or a silent float -> int truncation).


def _prefix(who: str) -> str:
    return f"{who}: " if who else ""


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"a number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a number {'<' if high_open else '<='} {high:g}"
    return "a finite number"


def check_number(
    value: Any,
    name: str,
    *,
    who: str = "",
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    what: str | None = None,
) -> float:
    """``value`` as a float, or a one-line error naming ``name``: a finite real number within the bounds.

    Python and numpy numbers are accepted (``np.float32(0.5)``, ``np.int64(3)``); ``bool``, strings,
    ``None``, complex numbers, NaN and infinity are not. ``what`` replaces the default description
    (``"a number in [0, 1]"``) in the message.

    >>> check_number(np.float32(0.5), "beta", low=0.0, high=1.0)
    0.5
    >>> check_number("0.5", "beta", who="gaussian-hetero", low=0.0, high=1.0)
    Traceback (most recent call last):
    ...
    losslab._errors.LosslabError: gaussian-hetero: beta='0.5' must be a number in [0, 1] (got str)
    """
    desc = what or _interval(low, high, low_open, high_open)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise LosslabError(f"{_prefix(who)}{name}={value!r} must be {desc} (got {_type_name(value)})")
    v = float(value)
    if not math.isfinite(v):
        raise LosslabError(f"{_prefix(who)}{name}={value!r} must be {desc}")
    if low is not None and (v <= low if low_open else v < low):
        raise LosslabError(f"{_prefix(who)}{name}={value!r} must be {desc}")
    if high is not None and (v >= high if high_open else v > high):
        raise LosslabError(f"{_prefix(who)}{name}={value!r} must be {desc}")
    return v


def check_integer(value: Any, name: str, *, who: str = "", low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int, or a one-line error: Python or numpy integers only.

    ``2.7`` is refused rather than truncated to 2 (and ``5.0`` with it: a float where a count belongs
    is a sign of a computed value gone wrong); ``True`` is refused rather than read as 1.

    >>> check_integer(np.int64(5), "n_bins", low=2)
    5
    >>> check_integer(2.7, "n", who="synthetic", low=1)
    Traceback (most recent call last):
    ...
    losslab._errors.LosslabError: synthetic: n=2.7 must be an integer >= 1
    """
    bounds = (f" >= {low}" if low is not None else "") + (f" and <= {high}" if high is not None else "")
    if low is None and high is not None:
        bounds = f" <= {high}"
    desc = f"an integer{bounds}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        got = "" if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) else f" (got {_type_name(value)})"
        raise LosslabError(f"{_prefix(who)}{name}={value!r} must be {desc}{got}")
    out = int(value)
    if (low is not None and out < low) or (high is not None and out > high):
        raise LosslabError(f"{_prefix(who)}{name}={value!r} must be {desc}")
    return out


def check_choice(value: Any, name: str, choices: Iterable[Any], *, who: str = "") -> Any:
    """``value`` if it is one of ``choices``, else a one-line error listing them (and the close ones)."""
    choices = tuple(choices)
    try:
        ok = value in choices
    except Exception:  # an unhashable or incomparable value (a tensor, an array) is simply not a choice
        ok = False
    if ok and type(value) is type(choices[choices.index(value)]):
        return value
    close = close_matches(value, [str(c) for c in choices]) if isinstance(value, str) else ""
    raise LosslabError(
        f"{_prefix(who)}{name}={value!r} is unknown; expected one of {', '.join(repr(c) for c in choices)}{close}"
    )


def as_real_tensor(x: Any, name: str, *, who: str = "") -> torch.Tensor:
    """``x`` (tensor, numpy array, list or number) as a real tensor, or a one-line error naming ``name``.

    Refuses what has no real value: ``None``, strings and other objects, and complex numbers (whose
    imaginary part a cast would drop). Integer and bool data are returned as they are (callers cast).
    """
    if torch.is_tensor(x):
        t = x
    else:
        if x is None or isinstance(x, (str, bytes)):
            raise LosslabError(f"{_prefix(who)}{name} is {x!r}; expected numbers (a tensor or an array)")
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and other unconvertible objects
            raise LosslabError(
                f"{_prefix(who)}{name} could not be read as an array ({type(exc).__name__}); expected numbers"
            ) from None
        if np.iscomplexobj(arr):
            raise LosslabError(f"{_prefix(who)}{name} holds complex numbers; expected real numbers")
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise LosslabError(f"{_prefix(who)}{name} has dtype {arr.dtype} ({_type_name(x)}); expected numbers")
        t = torch.as_tensor(arr)
    if t.is_complex():
        raise LosslabError(f"{_prefix(who)}{name} holds complex numbers ({t.dtype}); expected real numbers")
    return t


def dtype_name(dtype: torch.dtype) -> str:
    """``"float32"`` for ``torch.float32``."""
    return str(dtype).replace("torch.", "")

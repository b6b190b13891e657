"""A law's support: an interval of the real line with open or closed ends, declared once per law.

Each law class names its support with one of the constants here (``support = UNIT_INTERVAL``);
the label checks of :class:`~losslab.laws.Law`, ``clamp=``, and the label diagnosis of
:func:`losslab.inspect` all read it, so a law with a new support needs no edit elsewhere.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "Support",
    "REAL",
    "POSITIVE",
    "NONNEGATIVE",
    "UNIT_INTERVAL",
    "UNIT_INTERVAL_CLOSED",
    "INTERVAL_CLOSED",
    "SUPPORTS",
    "interval_str",
]


def interval_str(low: float, high: float, low_closed: bool, high_closed: bool) -> str:
    """An interval as text: ``(0, 1)``, ``[0, 1]``, ``[0, inf)``.

    >>> interval_str(0.0, math.inf, True, False)
    '[0, inf)'
    """
    return f"{'[' if low_closed else '('}{low:g}, {high:g}{']' if high_closed else ')'}"


class Support(str):
    """The support of a law: the interval ``low .. high``, each end open or closed, under a name.

    It is a ``str`` holding its name (``"unit_interval"``), so code that shows a law's support
    or looks it up by name (``law.support == "unit_interval"``, ``SUPPORTS[law.support]``, a
    table cell) keeps working; the bounds are attributes, as in ``torch.distributions.constraints``.
    Two supports are equal when their names and bounds are; a support equals a plain string
    with its name.

    Args:
        name: the support's name.
        low, high: the ends (``-inf`` and ``inf`` allowed), ``low < high``.
        low_closed, high_closed: whether each end belongs to the support (an infinite end never does).
        set_by_options: the bounds are options of each law instance (``binned``'s ``low`` and
            ``high``); the class's bounds are the defaults.

    >>> s = Support("unit_interval", 0.0, 1.0, False, False)
    >>> s.text, s == "unit_interval", s.contains([0.5, 0.9]), s.contains([0.0, 0.5])
    ('(0, 1)', True, True, False)
    >>> s.check(np.array([0.0, 0.5, 1.0])).tolist()
    [False, True, False]
    """

    low: float
    high: float
    low_closed: bool
    high_closed: bool
    set_by_options: bool

    def __new__(
        cls, name: str, low: float, high: float, low_closed: bool, high_closed: bool, *, set_by_options: bool = False
    ) -> "Support":
        low, high = float(low), float(high)
        if not low < high:
            raise ValueError(f"Support {name!r}: low={low!r} must be below high={high!r}")
        self = super().__new__(cls, name)
        fields = {
            "low": low,
            "high": high,
            "low_closed": bool(low_closed) and math.isfinite(low),
            "high_closed": bool(high_closed) and math.isfinite(high),
            "set_by_options": bool(set_by_options),
        }
        self.__dict__.update(fields)
        return self

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"Support is immutable; use with_bounds() for other bounds (tried to set {key!r})")

    def __getnewargs_ex__(self) -> tuple[tuple, dict]:
        # str's own pickling would call Support(name) alone; the bounds travel as arguments.
        return (str(self), self.low, self.high, self.low_closed, self.high_closed), {"set_by_options": self.set_by_options}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Support):
            return str(self) == str(other) and self.bounds == other.bounds
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__  # equal supports have equal names

    def __repr__(self) -> str:
        return f"Support({str(self)!r}, {self.text})"

    @property
    def name(self) -> str:
        """The support's name, a plain ``str``."""
        return str(self)

    @property
    def bounds(self) -> tuple[float, float, bool, bool]:
        """``(low, high, low_closed, high_closed)``."""
        return self.low, self.high, self.low_closed, self.high_closed

    @property
    def text(self) -> str:
        """The interval as text, ``(0, 1)`` or ``[0, 1]``."""
        return interval_str(*self.bounds)

    @property
    def closure(self) -> "Support":
        """The same interval with its finite ends closed."""
        return Support(str(self), self.low, self.high, True, True, set_by_options=self.set_by_options)

    def with_bounds(self, low: float, high: float) -> "Support":
        """This support with other ends (a law whose bounds are options)."""
        return Support(str(self), low, high, self.low_closed, self.high_closed, set_by_options=self.set_by_options)

    def check(self, value: Any) -> Any:
        """Elementwise: whether each value lies in the support (a bool tensor or array of ``value``'s shape)."""
        if not hasattr(value, "shape"):
            value = np.asarray(value, dtype=np.float64)
        above = (value >= self.low) if self.low_closed else (value > self.low)
        below = (value <= self.high) if self.high_closed else (value < self.high)
        return above & below

    def contains(self, value: Any) -> bool:
        """Whether every value (a number, array or tensor) lies in the support."""
        return bool(self.check(value).all())

    def within(self, other: "Support") -> bool:
        """Whether this support is a subset of ``other``."""
        low_ok = self.low > other.low or (self.low == other.low and (other.low_closed or not self.low_closed))
        high_ok = self.high < other.high or (self.high == other.high and (other.high_closed or not self.high_closed))
        return low_ok and high_ok


REAL = Support("real", -math.inf, math.inf, False, False)
POSITIVE = Support("positive", 0.0, math.inf, False, False)
NONNEGATIVE = Support("nonnegative", 0.0, math.inf, True, False)
UNIT_INTERVAL = Support("unit_interval", 0.0, 1.0, False, False)
UNIT_INTERVAL_CLOSED = Support("unit_interval_closed", 0.0, 1.0, True, True)
#: a closed interval whose ends are options of each instance (the binned laws); [0, 1] by default
INTERVAL_CLOSED = Support("interval_closed", 0.0, 1.0, True, True, set_by_options=True)

#: name -> ``(low, high, low_closed, high_closed)`` of the supports above
SUPPORTS: dict[str, tuple[float, float, bool, bool]] = {
    str(s): s.bounds for s in (REAL, POSITIVE, NONNEGATIVE, UNIT_INTERVAL, UNIT_INTERVAL_CLOSED, INTERVAL_CLOSED)
}

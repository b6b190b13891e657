"""Numbers as a report shows them: a value to the precision its interval supports, a p-value a person can read.

Pure functions of floats, used by the report's tables (:mod:`~losslab.report.sections`,
:mod:`~losslab.report.ranking`); they round for display only and change no number the
library computes (``table.csv`` and ``results.json`` keep every digit).
"""

from __future__ import annotations

import math

__all__ = ["DASH", "fmt_interval", "fmt_p", "interval_decimals"]

#: what a table shows for a missing number (NaN or inf): an en dash
DASH = "–"

#: a value and half-width both below this, or either at or above :data:`_LARGE`, share a power of ten: ``(1.200 ± 0.034)e-07``
_SMALL = 1e-3
_LARGE = 1e6


def interval_decimals(half_width: float, digits: int = 2) -> int:
    """The decimal place that shows ``half_width`` to ``digits`` significant digits (negative: tens, hundreds).

    The half-width is rounded to ``digits`` significant digits first, so 0.0996 (0.10) gets
    2 decimals, not 3.

    >>> interval_decimals(0.0003316), interval_decimals(0.1819), interval_decimals(0.0996), interval_decimals(456.0)
    (5, 2, 2, -1)
    """
    if not (math.isfinite(half_width) and half_width > 0):
        raise ValueError(f"half_width must be a positive finite number, got {half_width!r}")
    rounded = float(f"{half_width:.{digits}g}")
    return digits - 1 - math.floor(math.log10(rounded))


def _fixed(x: float, decimals: int) -> str:
    """``x`` rounded to ``decimals`` places (negative: to tens, hundreds), without a minus sign on zero."""
    if decimals >= 0:
        s = f"{x:.{decimals}f}"
    else:
        s = f"{round(x, decimals):.0f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def fmt_interval(value: float, half_width: float, digits: int = 2) -> str:
    """``value ± half_width`` with the half-width to ``digits`` significant digits and the value to the same decimal place.

    A reader cannot use digits of the value finer than its interval, so they are not shown.
    Without a usable half-width (NaN, inf or 0: one seed, or a constant) the value gets 4
    significant digits and no ``±``; a NaN value is a dash.

    >>> fmt_interval(0.03547, 0.0003316)
    '0.03547 ± 0.00033'
    >>> fmt_interval(0.0765, 0.1819)
    '0.08 ± 0.18'
    >>> fmt_interval(-2.379, 0.3122), fmt_interval(1234.5, 456.0), fmt_interval(1.0, 0.0)
    ('-2.38 ± 0.31', '1230 ± 460', '1')
    >>> fmt_interval(1.2e-7, 3.4e-9), fmt_interval(0.83075, 4.2e-6)
    ('(1.200 ± 0.034)e-07', '0.8307500 ± 0.0000042')
    """
    if not math.isfinite(value):
        return DASH
    if not (math.isfinite(half_width) and half_width > 0):
        return f"{value:.4g}"
    decimals = interval_decimals(half_width, digits)
    size = max(abs(value), half_width)
    if size < _SMALL or size >= _LARGE:
        # Scale both by the value's (or the width's) power of ten so that the digits stay readable.
        exp = math.floor(math.log10(max(abs(value), half_width)))
        scale = 10.0**exp
        inner = fmt_interval(value / scale, half_width / scale, digits)
        return f"({inner})e{exp:+03d}"
    return f"{_fixed(value, decimals)} ± {_fixed(float(f'{half_width:.{digits}g}'), decimals)}"


def fmt_p(p: float, floor: float | None = None) -> str:
    """A p-value as a person reads it: ``< 0.001``, ``0.0023``, ``0.012``, ``0.31``; a dash for NaN.

    Two significant digits below 0.1, two decimals above. ``floor`` is the smallest p-value the
    test can give (a bootstrap of ``n`` draws cannot go below ``2 / (n + 1)``): a p-value at the
    floor reads ``< floor`` rounded up, e.g. ``< 0.001`` for 2000 draws.

    >>> [fmt_p(p) for p in (8.475e-05, 0.00234, 0.0123, 0.3149, 1.0, float("nan"))]
    ['< 0.001', '0.0023', '0.012', '0.31', '1.00', '–']
    >>> fmt_p(2 / 2001, floor=2 / 2001), fmt_p(2 / 201, floor=2 / 201)
    ('< 0.001', '< 0.01')
    """
    if not math.isfinite(p):
        return DASH
    if floor is not None and p <= floor * (1 + 1e-9):
        bound = 10.0 ** math.ceil(math.log10(floor))
        return f"< {bound:g}"
    if p < 0.001:
        return "< 0.001"
    if p < 0.1:
        return f"{p:#.2g}"  # '#' keeps a trailing zero: 0.0995 reads 0.10, not 0.1
    return f"{p:.2f}"

"""Law specs: a law named with its options (``"binned:kind=twohot"``), its display label, and the law for a data set.

A spec is what a user writes (on the command line, in ``compare(laws=[...])``); a label
is how a law with its options is shown in tables and stored; :func:`law_for_data` fills
the options that depend on the labels (a binned law's range, an mvn's dimension).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .._errors import LosslabError
from ._base import Law
from ._registry import get_law

LawSpec = str | tuple[str, dict] | Law


def parse_law_spec(spec: LawSpec) -> tuple[str, dict[str, Any]]:
    """``"binned:kind=twohot,n_bins=21"`` -> ``("binned", {"kind": "twohot", "n_bins": 21})``.

    >>> parse_law_spec("binned:kind=twohot,n_bins=21")
    ('binned', {'kind': 'twohot', 'n_bins': 21})
    """
    if isinstance(spec, Law):
        return spec.name, {k: v for k, v in spec.options().items() if v is not None}
    if isinstance(spec, tuple):
        return spec[0], dict(spec[1])
    name, _, rest = str(spec).strip().partition(":")
    opts: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise LosslabError(f"law option {item!r} in {spec!r} is not of the form key=value")
        try:
            opts[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            opts[key.strip()] = value.strip()
    return name.strip(), opts


def law_label(name: str, opts: dict[str, Any]) -> str:
    """The display name of a law with options: ``binned(kind=twohot)``.

    >>> law_label("binned", {"kind": "twohot", "n_bins": 21})
    'binned(kind=twohot, n_bins=21)'
    """
    return name if not opts else f"{name}({', '.join(f'{k}={v}' for k, v in sorted(opts.items()))})"


def law_for_data(name: str, opts: dict[str, Any], y: np.ndarray) -> Law:
    """Instantiate a law, filling data-dependent defaults (a binned law's range, an mvn's dim).

    >>> law_for_data("binned", {}, np.array([-2.0, 3.0])).options()["low"]
    -2.25
    """
    opts = dict(opts)
    if name == "binned" and "low" not in opts and "high" not in opts:
        lo, hi = float(np.min(y)), float(np.max(y))
        if lo < 0.0 or hi > 1.0:
            pad = 0.05 * (hi - lo if hi > lo else 1.0)
            opts.update(low=lo - pad, high=hi + pad)
    if name == "mvn" and "dim" not in opts and y.ndim == 2:
        opts["dim"] = int(y.shape[1])
    return get_law(name, **opts)


def n_targets(law: Law, y: np.ndarray) -> int:
    """Targets the law's head predicts side by side for labels ``y``: 1 for a vector law or one column."""
    if law.event_dim:
        return 1
    return 1 if y.ndim == 1 else int(np.prod(y.shape[1:]))


def fixed_spread(law: Law) -> float | None:
    """``law.fixed_spread`` (:attr:`Law.fixed_spread`): the predictive standard deviation an option fixes, else None."""
    return law.fixed_spread

"""The law registry: register by name with a decorator, list by pattern, get by name."""

from __future__ import annotations

import fnmatch
import inspect
import warnings
from typing import Any, Callable, TypeVar

from .._errors import LosslabError, close_matches
from ._base import Law

_LAWS: dict[str, type[Law]] = {}

L = TypeVar("L", bound=type[Law])


def register_law(name: str) -> Callable[[L], L]:
    """Class decorator: register a :class:`Law` subclass under ``name`` (warns when overwriting)."""

    def deco(cls: L) -> L:
        if name in _LAWS and _LAWS[name] is not cls:
            warnings.warn(f"law {name!r} is already registered ({_LAWS[name].__name__}); overwriting", stacklevel=2)
        cls.name = name
        _LAWS[name] = cls
        return cls

    return deco


def list_laws(pattern: str = "*") -> list[str]:
    """Sorted names of the registered laws matching a shell-style ``pattern``.

    >>> list_laws("gauss*")[:2]
    ['gaussian', 'gaussian-hetero']
    """
    return sorted(n for n in _LAWS if fnmatch.fnmatchcase(n, pattern))


def law_class(name: str) -> type[Law]:
    """The class registered as ``name``; unknown names raise an error listing the close matches."""
    if not isinstance(name, str):
        raise LosslabError(
            f"law name {name!r} is a {type(name).__name__}; expected a string, one of: {', '.join(sorted(_LAWS))}"
        )
    if name not in _LAWS:
        raise LosslabError(f"unknown law {name!r}{close_matches(name, _LAWS)}; known laws: {', '.join(sorted(_LAWS))}")
    return _LAWS[name]


def get_law(name: str, **opts: Any) -> Law:
    """An instance of the law registered as ``name`` with options ``opts``.

    >>> get_law("beta").raw_dim
    2
    """
    cls = law_class(name)
    accepted = [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    for key in opts:
        if key not in accepted:
            raise LosslabError(
                f"law {name!r} has no option {key!r}{close_matches(key, accepted)}; its options: {', '.join(accepted) or 'none'}"
            )
    return cls(**opts)

"""Every law's examples, gathered from ``tests/laws/ex_<family>.py`` (see ``_support.py``).

The common suite (``test_laws_common.py``) runs every check on every example;
its completeness test fails when a registered law has no example.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._support import Example

def _collect() -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {}
    pkg = importlib.import_module("tests.laws")
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("ex_"):
            mod = importlib.import_module(f"tests.laws.{info.name}")
            for name, examples in mod.EXAMPLES.items():
                if name in out:
                    raise RuntimeError(f"law {name!r} has examples in two modules")
                out[name] = list(examples)
    return out


EXAMPLES: dict[str, list[Example]] = _collect()

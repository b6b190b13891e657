"""The ``losslab`` command: a thin Typer layer over the library.

Exit codes: 0 success, 2 bad usage or bad input (one line naming the culprit;
``--debug`` shows the traceback), 1 internal error.

One module per command group, each registering its commands on the one :data:`app`
(:mod:`~losslab.cli.app`, with the consoles and the error guard): ``compare`` and ``demo``
(:mod:`~losslab.cli.compare`, with the progress bars of :mod:`~losslab.cli.progress`),
``predict`` (:mod:`~losslab.cli.predict`), ``inspect``, ``laws`` and ``datasets``
(:mod:`~losslab.cli.info`) and ``report`` (:mod:`~losslab.cli.report`); the options they share
are read by :mod:`~losslab.cli.options`. Each command parses its options, calls one library
function and prints what it returns.
"""

from __future__ import annotations

from .._errors import LosslabError
from .app import app

# Importing the command modules registers their commands, in the order `losslab --help` lists them.
from . import compare, predict, info, report  # noqa: E402,F401  isort: skip
from .options import parse_workers as _parse_workers  # noqa: F401  the names tests/ import from losslab.cli
from .progress import GridProgress as _GridProgress  # noqa: F401
from .report import pick as _pick  # noqa: F401

__all__ = ["LosslabError", "app", "main"]


def main() -> None:
    """The console script ``losslab``."""
    app()

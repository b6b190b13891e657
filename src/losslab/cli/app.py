"""The Typer app of the ``losslab`` command, its consoles and the guard that turns errors into one line and an exit code.

Exit codes: 0 success, 2 bad usage or bad input (one line naming the culprit;
``--debug`` shows the traceback), 1 internal error, 130 interrupted.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any, Callable

import typer
from rich.console import Console
from rich.markup import escape

from .._errors import LosslabError

__all__ = ["app", "command_line", "console", "datasets_app", "err", "guard"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Which loss suits your float labels? Compare laws by likelihood and by experiment.")
datasets_app = typer.Typer(no_args_is_help=False, help="The data-set registry: list entries, fetch one into the cache.")
app.add_typer(datasets_app, name="datasets")

console = Console(stderr=False)
err = Console(stderr=True)
_state = {"debug": False}


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    _state["debug"] = debug


def guard(fn: Callable[[], Any]) -> Any:
    """Run ``fn``; map bad input to exit 2 and internal errors to exit 1, each with one line."""
    try:
        return fn()
    except (LosslabError, FileNotFoundError) as e:
        if _state["debug"]:
            raise
        msg = str(e) if isinstance(e, LosslabError) else f"file not found: {e.filename or e}"
        # escape: user strings (column names, paths) in the message must not be read as rich markup
        err.print(f"[red]error:[/red] {escape(msg)}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("interrupted: finished runs are in the store; run the same command again to resume")
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as e:  # noqa: BLE001 - the CLI's last line of defence
        if _state["debug"]:
            raise
        err.print(f"[red]internal error:[/red] {type(e).__name__}: {escape(str(e))} (run with --debug for the traceback)", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def command_line() -> str:
    """The command as the user typed it, for the report."""
    return "losslab " + " ".join(shlex.quote(a) for a in sys.argv[1:])

"""The Typer app of the ``losslab`` command, its consoles and the guard that turns errors into one line and an exit code.

Exit codes: 0 success, 2 bad usage or bad input (one line naming the culprit;
``--debug`` shows the traceback), 1 internal error, 130 interrupted.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any, Callable

import typer
from typer.core import TyperCommand, TyperGroup
from rich.console import Console
from rich.markup import escape

from .._errors import LosslabError

__all__ = ["app", "command_line", "console", "datasets_app", "debug_option", "err", "guard", "quiet_option"]

class _FlagHelp:
    """``--help`` shown as the flag it is: typer shows a flag's type as ``<bool>``, which reads as ``--help <bool>``."""

    def get_help_option(self, ctx: Any) -> Any:
        opt = super().get_help_option(ctx)  # type: ignore[misc]
        if opt is not None:
            opt.metavar = ""
        return opt


class _Command(_FlagHelp, TyperCommand):
    pass


class _Group(_FlagHelp, TyperGroup):
    pass


class _Typer(typer.Typer):
    """A Typer app whose commands show their flags (``--help``, ``--quiet``, ``--debug``) without a value."""

    def command(self, *args: Any, cls: Any = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or _Command, **kwargs)


app = _Typer(cls=_Group, add_completion=False, no_args_is_help=True, help="Which loss suits your float labels? Compare laws by likelihood and by experiment.")
datasets_app = _Typer(cls=_Group, no_args_is_help=False, help="The data-set registry: list entries, fetch one into the cache.")
app.add_typer(datasets_app, name="datasets")

console = Console(stderr=False)
err = Console(stderr=True)
_state = {"debug": False}


DEBUG_HELP = "Show full tracebacks on errors (before or after the command's name)."


def _set_debug(value: bool) -> bool:
    # a callback, so that `losslab --debug compare ...` and `losslab compare ... --debug` set the same state;
    # only ever switched on here: the subcommand's default (off) must not undo the group's --debug
    if value:
        _state["debug"] = True
    return value


def debug_option() -> Any:
    """The ``--debug`` flag every command takes, as the group does."""
    return typer.Option(False, "--debug", help=DEBUG_HELP, metavar="", callback=_set_debug, is_eager=True)


def quiet_option(help: str = "No progress bars.") -> Any:
    """The ``--quiet/-q`` flag: a flag, shown without a value (typer shows a bare bool as ``<bool>``)."""
    return typer.Option(False, "--quiet", "-q", help=help, metavar="")


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP, metavar="")) -> None:
    _state["debug"] = debug


def guard(fn: Callable[[], Any]) -> Any:
    """Run ``fn``; map bad input to exit 2 and internal errors to exit 1, each with one line."""
    try:
        return fn()
    except (LosslabError, FileNotFoundError) as e:
        if _state["debug"]:
            raise
        # the library's fix in the command line's syntax (--laws beta:clamp=1e-6, not clamp=1e-6) where it has one
        msg = e.for_cli if isinstance(e, LosslabError) else f"file not found: {e.filename or e}"
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

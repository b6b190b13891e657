"""The ``losslab`` command: a thin Typer layer over the library.

Exit codes: 0 success, 2 bad usage or bad input (one line naming the culprit;
``--debug`` shows the traceback), 1 internal error.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ._errors import LosslabError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Which loss suits your float labels? Compare laws by likelihood and by experiment.")
datasets_app = typer.Typer(no_args_is_help=False, help="The data-set registry: list entries, fetch one into the cache.")
app.add_typer(datasets_app, name="datasets")

console = Console(stderr=False)
err = Console(stderr=True)
_state = {"debug": False}


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    _state["debug"] = debug


def _guard(fn: Callable[[], Any]) -> Any:
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


class _GridProgress:
    """Rich progress bars fed by the library's progress events: one for the grid, one for the run's epochs."""

    def __init__(self, enabled: bool) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not enabled,
            transient=False,
        )
        self.grid = None
        #: the epoch bar of each run in training, with its seeds to go: keyed by law for seeds batched together, else by
        #: (law, seed) (several at once when runs train side by side in workers, two seeds of one law among them)
        self.bars: dict[Any, list] = {}
        #: runs of this grid that are in the store (finished now or earlier), for the Ctrl-C message
        self.saved = 0
        #: the grid's (law, seed) cells
        self.cells: set[tuple[str, int]] = set()

    def __enter__(self) -> "_GridProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, ev: dict[str, Any]) -> None:
        kind = ev["event"]
        if kind == "grid":
            self.cells = {(law, int(seed)) for law in ev.get("laws", []) for seed in ev.get("seeds", [])}
            self.grid = self.progress.add_task("runs (laws x seeds)", total=ev["total"])
        elif kind == "run_start":
            law, batch = ev["law"], int(ev.get("replicas", 1))
            key = law if batch > 1 else (law, ev.get("seed"))
            if key in self.bars:
                if batch > 1:
                    return  # the seeds of one law train together as replicas: one bar for all of them
                self.progress.remove_task(self.bars.pop(key)[0])
            what = f"{batch} seeds together" if batch > 1 else f"seed {ev['seed']}"
            self.bars[key] = [self.progress.add_task(f"  {law} {what}: epochs", total=None), batch, f"  {law} {what}"]
        elif kind == "epoch":
            key = self._key(ev)
            bar = self.bars[key] if key is not None else (next(reversed(self.bars.values())) if self.bars else None)
            if bar is not None:
                self.progress.update(bar[0], total=ev["epochs"], completed=ev["epoch"], description=f"{bar[2]}: epochs (val NLL {ev['val']:.4g})")
        elif kind == "run_end":
            self.saved = max(self.saved, int(ev.get("done", self.saved + 1)))
            if self.grid is not None:
                self.progress.update(self.grid, completed=ev["done"])
            key = self._key(ev)
            if key is not None and not ev.get("cached"):
                bar = self.bars[key]
                bar[1] -= 1
                if bar[1] <= 0:
                    self.progress.remove_task(self.bars.pop(key)[0])

    def _key(self, ev: dict[str, Any]) -> Any:
        """The bar an event of a run belongs to: its own (law, seed), else its law's batched bar, else None."""
        law = ev.get("law", "")
        for key in ((law, ev.get("seed")), law):
            if key in self.bars:
                return key
        return None


def _split_list(s: Optional[str]) -> Optional[list[str]]:
    if s is None:
        return None
    # Commas separate laws, except inside a law's own option list after ':' (e.g. "binned:kind=twohot;n_bins=21").
    return [part.strip().replace(";", ",") for part in s.split(",") if part.strip()]


def _saved_runs(store_path: Path, since: float, prog: _GridProgress) -> int:
    """Runs of the interrupted grid that are in the store.

    The progress count can lag the store: the seeds of a law trained together are written
    one by one before their ``run_end`` events, and Ctrl-C can fall in between. So count the
    store's rows of the comparison this command wrote to (the one of the newest row written
    since it started), restricted to the grid's cells.
    """
    from .experiment.store import Store

    try:
        with Store(store_path) as st:
            rows = list(st.runs())
    except Exception:  # noqa: BLE001 - the message must not fail; the progress count is the fallback
        return prog.saved
    recent = [r for r in rows if r["finished"] >= since]
    if not recent:
        return prog.saved
    comparison = recent[-1]["comparison"]
    mine = {(r["law"], int(r["seed"])) for r in rows if r["comparison"] == comparison}
    if prog.cells:
        mine &= prog.cells
    return max(prog.saved, len(mine))


def _run_compare(data: str, out: Path, store: Optional[Path], laws: Optional[str], seeds: int, model: str, epochs: int,
                 target: Optional[str], features: Optional[str], trials: Optional[str], metric: str, quiet: bool, command: str,
                 workers: str = "auto") -> None:
    from .experiment import compare
    from .report import write_report

    if seeds < 1:
        raise LosslabError(f"--seeds {seeds}; expected a positive number of seeds (1 or more)")
    n_workers = _parse_workers(workers)
    read_kwargs: dict[str, Any] = {}
    if target is not None:
        read_kwargs["target"] = _split_list(target) if "," in target else target
    if features is not None:
        read_kwargs["features"] = _split_list(features)
    if trials is not None:
        read_kwargs["trials"] = trials
    # Pre-flight: an unwritable or full --out/--store folder fails here, in a second, not after hours of training.
    from .experiment.preflight import check_store_path, check_writable

    check_writable(out, what="--out folder")
    store_path = store if store is not None else out / "runs.sqlite"
    check_store_path(store_path)
    prog = _GridProgress(enabled=not quiet)
    started = time.time()
    try:
        with prog:
            result = compare(
                data, laws=_split_list(laws), seeds=seeds, model=model, epochs=epochs, store=str(store_path),
                primary_metric=metric, progress=prog, workers=n_workers, **read_kwargs,
            )
    except KeyboardInterrupt:
        # compare() writes each run to the store the moment it ends, so stopping here loses only the run in progress.
        n = _saved_runs(store_path, started, prog)
        err.print(f"stopped; {n} run{'' if n == 1 else 's'} saved in {store_path}, re-run to resume", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(130) from None
    paths = write_report(result, out, command=command)
    rec = result.recommend()
    console.print(f"[bold green]Recommended law: {rec.law}[/bold green]", highlight=False)
    console.print(rec.reason, highlight=False, soft_wrap=True)
    console.print(f"report: {paths['html']}  (also {paths['md'].name}, results.csv, results.json; store: {store_path})", highlight=False, soft_wrap=True)


def _parse_workers(workers: str) -> int | str:
    if workers == "auto":
        return workers
    try:
        n = int(workers)
    except ValueError:
        n = 0
    if n < 1:
        raise LosslabError(f"--workers {workers}; expected a positive whole number or 'auto'")
    return n


WORKERS_HELP = "Processes training runs side by side on the CPU: a number, or auto (one per physical core for CNNs, whose seeds train one at a time, in grids big enough to repay the workers' start; one per two logical CPUs for MLPs)."


def _command_line() -> str:
    return "losslab " + " ".join(shlex.quote(a) for a in sys.argv[1:])


@app.command()
def demo(
    out: Path = typer.Option(Path("losslab-out"), "--out", help="Folder for the report and the run store."),
    seeds: int = typer.Option(3, "--seeds", help="Seeds per law."),
    epochs: int = typer.Option(60, "--epochs", help="Maximum epochs per run (early stopping ends most runs sooner)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    workers: str = typer.Option("auto", "--workers", help=WORKERS_HELP),
) -> None:
    """Compare the default laws on the embedded data set (digits-inpaint) and write the report."""
    _guard(lambda: _run_compare("digits-inpaint", out, None, None, seeds, "auto", epochs, None, None, None, "mean_squared_error", quiet,
                                _command_line(), workers))


@app.command("compare")
def compare_cmd(
    data: str = typer.Argument(..., help="A path (CSV, Parquet, npz, image folder with labels.csv) or a registry name."),
    target: Optional[str] = typer.Option(None, "--target", help="Label column(s) of a table, comma-separated."),
    features: Optional[str] = typer.Option(None, "--features", help="Feature columns, comma-separated (default: all others)."),
    trials: Optional[str] = typer.Option(None, "--trials", help="Column with the number of trials n of k/n labels."),
    laws: Optional[str] = typer.Option(None, "--laws", help="Laws, comma-separated (default: suggested from the labels); options as name:key=value;key=value."),
    seeds: int = typer.Option(5, "--seeds", help="Seeds per law."),
    model: str = typer.Option("auto", "--model", help="auto, mlp, cnn, cnn-small or linear."),
    epochs: int = typer.Option(200, "--epochs", help="Maximum epochs per run."),
    metric: str = typer.Option("mean_squared_error", "--metric", help="The metric the recommendation ranks by."),
    out: Path = typer.Option(Path("losslab-out"), "--out", help="Folder for the report."),
    store: Optional[Path] = typer.Option(None, "--store", help="SQLite run store (default OUT/runs.sqlite); re-running resumes from it."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    workers: str = typer.Option("auto", "--workers", help=WORKERS_HELP),
) -> None:
    """Train the same model under each law and seed on DATA, then recommend a loss with evidence."""
    _guard(lambda: _run_compare(data, out, store, laws, seeds, model, epochs, target, features, trials, metric, quiet, _command_line(), workers))


@app.command()
def inspect(
    data: str = typer.Argument(..., help="A path or a registry name."),
    target: Optional[str] = typer.Option(None, "--target", help="Label column(s) of a table."),
    trials: Optional[str] = typer.Option(None, "--trials", help="Column with the number of trials."),
) -> None:
    """Label diagnostics and the laws whose support fits, with a histogram of the labels."""

    def run() -> None:
        import numpy as np

        from . import data as lldata

        kw: dict[str, Any] = {}
        if target is not None:
            kw["target"] = _split_list(target) if "," in target else target
        if trials is not None:
            kw["trials"] = trials
        ds = lldata.load(data, **kw)
        rep = lldata.inspect(ds.y, trials=ds.trials)
        t = Table(title=f"labels of {ds.name}", show_header=False)
        for k in ("n", "n_targets", "min", "max", "mean", "std", "frac_zero", "frac_one", "support_kind", "modality"):
            if hasattr(rep, k):
                v = getattr(rep, k)
                t.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
        console.print(t)
        counts, edges = np.histogram(np.asarray(ds.y, dtype=float).ravel(), bins=20)
        top = max(int(counts.max()), 1)
        for c, lo, hi in zip(counts, edges[:-1], edges[1:]):
            console.print(f"{lo:9.3g} – {hi:<9.3g} {'█' * int(round(40 * c / top)):<40s} {c}", highlight=False)
        for m in rep.messages:
            console.print(f"• {m}", highlight=False, soft_wrap=True)
        console.print("suggested laws: " + ", ".join(rep.suggested_laws), highlight=False)
        for law, why in rep.excluded.items():
            console.print(f"  not {law}: {why}", highlight=False, soft_wrap=True)

    _guard(run)


@app.command()
def laws(name: Optional[str] = typer.Argument(None, help="A law's name for its details; all laws when omitted.")) -> None:
    """The law registry: support, parameters, link functions and the NLL formula of each law."""

    def run() -> None:
        from .laws import get_law, list_laws

        names = [name] if name else list_laws()
        t = Table(title="laws (each loss is the NLL of a law)")
        t.add_column("name", no_wrap=True)
        t.add_column("support", no_wrap=True)
        for col in ("raw", "links", "NLL"):
            t.add_column(col, overflow="fold")
        for n in names:
            law = get_law(n)
            links = law.param_links() if hasattr(law, "param_links") else {}
            link_text = ", ".join(f"{k}: {v.name}" for k, v in links.items()) if links else ", ".join(f"{k}: {v}" for k, v in law.raw_layout.items())
            t.add_row(n, law.support, str(law.raw_dim), link_text, law.formula)
        console.print(t)
        if name:
            doc = (type(get_law(name)).__doc__ or "").strip()
            console.print(doc, highlight=False, markup=False)

    _guard(run)


@app.command()
def report(
    store: Path = typer.Argument(..., help="A run store written by `losslab compare`."),
    out: Path = typer.Option(Path("losslab-out"), "--out", help="Folder for the report."),
) -> None:
    """Rebuild a report from a run store (the latest comparison in it)."""

    def run() -> None:
        from .experiment import load_result
        from .report import write_report

        if not store.exists():
            raise LosslabError(f"store {str(store)!r} does not exist")
        result = load_result(store)
        paths = write_report(result, out)
        console.print(f"report: {paths['html']}", highlight=False)

    _guard(run)


def _list_datasets() -> None:
    from . import data as lldata

    t = Table(title=f"data sets (cache: {lldata.cache_dir()})")
    for col in ("name", "description", "licence"):
        t.add_column(col, overflow="fold")
    for n in lldata.list_datasets():
        info = lldata.dataset_info(n)
        t.add_row(n, str(info.get("description", "")), str(info.get("licence", info.get("license", ""))))
    console.print(t)


@datasets_app.callback(invoke_without_command=True)
def datasets_default(ctx: typer.Context) -> None:
    """List the registry's data sets, the cache location and licences."""
    if ctx.invoked_subcommand is None:
        _guard(_list_datasets)


@datasets_app.command("list")
def datasets_list() -> None:
    """List the registry's data sets, the cache location and licences."""
    _guard(_list_datasets)


@datasets_app.command("fetch")
def datasets_fetch(name: str = typer.Argument(..., help="A registry name.")) -> None:
    """Download a data set into the cache (checksum verified)."""

    def run() -> None:
        from . import data as lldata

        path = lldata.fetch(name)
        console.print(f"{name}: {path}", highlight=False)

    _guard(run)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

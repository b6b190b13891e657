"""The ``losslab`` command: a thin Typer layer over the library.

Exit codes: 0 success, 2 bad usage or bad input (one line naming the culprit;
``--debug`` shows the traceback), 1 internal error.
"""

from __future__ import annotations

import math
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


def _run_compare(data: str, out: Path, store: Optional[Path], laws: Optional[str], seeds: str, model: str, epochs: str,
                 target: Optional[str], features: Optional[str], trials: Optional[str], metric: str, quiet: bool, command: str,
                 workers: str = "auto", *, device: str = "auto", lr: Optional[str] = None, batch_size: Optional[str] = None,
                 test: Optional[str] = None, val: Optional[str] = None, keep: str = "best", stream: bool = False,
                 loader_workers: str = "auto") -> None:
    from .experiment import compare
    from .experiment.model_file import KEEP, keep_models
    from .report import write_report

    # Every option is checked here, in the command's own syntax, before any data is read or any run trains.
    n_seeds = _whole("--seeds", seeds, "a whole number of seeds, 1 or more")
    train_kwargs: dict[str, Any] = {"epochs": _whole("--epochs", epochs, "a whole number of epochs, 1 or more")}
    if lr is not None:
        train_kwargs["lr"] = _positive("--lr", lr, "a positive step size, e.g. --lr 3e-3")
    if batch_size is not None:
        train_kwargs["batch_size"] = _whole("--batch-size", batch_size, "a whole number of rows per minibatch, 1 or more")
    for option, text, key in (("--test", test, "test"), ("--val", val, "val")):
        if text is not None:
            train_kwargs[key] = _fraction(option, text)
    if train_kwargs.get("val", 0.0) + train_kwargs.get("test", 0.0) >= 1:
        raise LosslabError(
            f"--val {val} and --test {test} leave no rows for training; expected --val + --test below 1, e.g. --val 0.15 --test 0.2"
        )
    train_kwargs["device"] = _check_device(device)
    n_workers = _parse_workers(workers)
    if keep not in KEEP:
        raise LosslabError(f"--keep {_shown(keep)}; expected {', '.join(KEEP)} (the best model, every run's and each law's ensemble, or none)")
    read_kwargs: dict[str, Any] = {}
    if target is not None:
        read_kwargs["target"] = _split_list(target) if "," in target else target
    if features is not None:
        read_kwargs["features"] = _split_list(features)
    if trials is not None:
        read_kwargs["trials"] = trials
    data_arg = _streamed_data(data, stream, loader_workers, read_kwargs)
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
                data_arg, laws=_split_list(laws), seeds=n_seeds, model=model, store=str(store_path),
                primary_metric=metric, progress=prog, workers=n_workers, **train_kwargs, **read_kwargs,
            )
    except KeyboardInterrupt:
        # compare() writes each run to the store the moment it ends, so stopping here loses only the run in progress.
        n = _saved_runs(store_path, started, prog)
        err.print(f"stopped; {n} run{'' if n == 1 else 's'} saved in {store_path}, re-run to resume", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(130) from None
    models, notes = keep_models(result, out / "models", keep)
    for note in notes:
        err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    paths = write_report(result, out, command=command, models=models)
    rec = result.recommend()
    console.print(f"[bold green]Recommended law: {rec.law}[/bold green]", highlight=False)
    console.print(rec.reason, highlight=False, soft_wrap=True)
    key = next((r["comparison"] for r in result.runs if r.get("comparison")), None)
    which = f", comparison {key[:_ID]}" if key else ""
    console.print(f"report: {paths['html']}  (also {paths['md'].name}, results.csv, results.json; store: {store_path}{which})", highlight=False, soft_wrap=True)
    if models:
        first = next(iter(models.values()))
        more = f" and {len(models) - 1} more in {first.parent}" if len(models) > 1 else ""
        console.print(f"model: {first}{more}  (losslab predict {_shown(str(first))} DATA --out predictions.csv)", highlight=False, soft_wrap=True)


def _streamed_data(data: str, stream: bool, loader_workers: str, read_kwargs: dict[str, Any]) -> Any:
    """DATA as compare takes it: a torch Dataset for ``module:name`` (always streamed), else the text; ``--stream`` added to ``read_kwargs``."""
    from .data.streaming import dataset_from_spec

    if loader_workers != "auto":
        try:
            n = int(loader_workers)
        except ValueError:
            n = -1
        if n < 0:
            raise LosslabError(f"--loader-workers {_shown(loader_workers)}; expected a whole number of DataLoader workers, 0 or more, or auto")
        read_kwargs["loader_workers"] = n
    found = dataset_from_spec(data)  # path/to/file.py:name or package.module:name
    if found is not None:
        return found
    if stream:
        if not Path(data).expanduser().is_dir():
            raise LosslabError(
                f"--stream applies to an image folder, and {_shown(data)} is not a folder; a torch Dataset (DATA as file.py:name or "
                f"module:name) is always streamed, and tables are read into memory"
            )
        read_kwargs["stream"] = True
    elif "loader_workers" in read_kwargs:
        raise LosslabError("--loader-workers applies to streamed data: add --stream (an image folder) or name a torch Dataset as DATA")
    return data


def _shown(text: str) -> str:
    """An option's value as the user would type it (quoted if it holds spaces or is empty)."""
    return shlex.quote(text)


def _whole(option: str, text: str, expected: str) -> int:
    """``text`` as a whole number of 1 or more, else a one-line error naming ``option``."""
    try:
        n = int(text.strip())
    except ValueError:
        n = 0
    if n < 1:
        raise LosslabError(f"{option} {_shown(text)}; expected {expected}")
    return n


def _positive(option: str, text: str, expected: str) -> float:
    """``text`` as a finite number above 0, else a one-line error naming ``option``."""
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not (math.isfinite(x) and x > 0):
        raise LosslabError(f"{option} {_shown(text)}; expected {expected}")
    return x


def _fraction(option: str, text: str, *, example: str | None = None) -> float:
    """``text`` as a fraction strictly between 0 and 1, else a one-line error naming ``option``."""
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not 0 < x < 1:
        if example is not None:  # not a fraction of the rows: a probability (--level)
            raise LosslabError(f"{option} {_shown(text)}; expected a number between 0 and 1, e.g. {option} {example}")
        example = "0.2" if option == "--test" else "0.15"
        raise LosslabError(f"{option} {_shown(text)}; expected a fraction of the rows between 0 and 1, e.g. {option} {example}")
    return x


def _check_device(device: str) -> str:
    """``device`` if this machine has it; else the library's one-line message, in the command's syntax."""
    from .experiment import resolve_device

    try:
        resolve_device(device)
    except LosslabError as e:
        msg, prefix = str(e), f"device={device!r}"
        raise LosslabError(f"--device {_shown(device)}{msg[len(prefix):]}" if msg.startswith(prefix) else msg) from None
    return device


def _parse_workers(workers: str) -> int | str:
    if workers == "auto":
        return workers
    if workers == "ray" or workers.startswith("ray:"):  # Ray tasks: "ray" or "ray:N", N CPUs per task
        from .experiment.workers import ray_cpus

        try:
            ray_cpus(workers)
        except LosslabError:
            raise LosslabError(f"--workers {workers}; expected ray, or ray:N with N, the CPUs of each Ray task, a positive whole number") from None
        return workers
    try:
        n = int(workers)
    except ValueError:
        n = 0
    if n < 1:
        raise LosslabError(f"--workers {workers}; expected a positive whole number or 'auto'")
    return n


#: the training options' help, shared by demo and compare; their defaults are the library's (tests/test_cli.py checks)
SEEDS_HELP = "Seeds per law: a whole number, 1 or more."
EPOCHS_HELP = "Maximum epochs per run (early stopping on the validation NLL ends most runs sooner)."
DEVICE_HELP = "Where to train: auto (a CUDA GPU, then Apple MPS, then the CPU), cpu, cuda, cuda:1, mps."
LR_HELP = "Adam's step size."
BATCH_HELP = "Rows per minibatch."
TEST_HELP = "Fraction of the rows held out for the test metrics (data sets with their own splits keep them)."
VAL_HELP = "Fraction of the rows held out for early stopping (data sets with their own splits keep them)."
KEEP_HELP = "Models to write into OUT/models: best (the recommended law's best seed on validation), all (every run's, and each law's ensemble) or none."
WORKERS_HELP = "Processes training runs side by side on the CPU: a number, or auto (one per physical core for CNNs, whose seeds train one at a time, in grids big enough to repay the workers' start; one per two logical CPUs for MLPs), or ray (ray:N: N CPUs per task) for Ray tasks on the cluster at RAY_ADDRESS, else a local one."


def _command_line() -> str:
    return "losslab " + " ".join(shlex.quote(a) for a in sys.argv[1:])


@app.command()
def demo(
    out: Path = typer.Option(Path("losslab-out"), "--out", help="Folder for the report and the run store."),
    seeds: str = typer.Option("3", "--seeds", metavar="INTEGER", help=SEEDS_HELP),
    epochs: str = typer.Option("60", "--epochs", metavar="INTEGER", help=EPOCHS_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    workers: str = typer.Option("auto", "--workers", help=WORKERS_HELP),
) -> None:
    """Compare the default laws on the embedded data set (digits-inpaint) and write the report.

    For the other training options (--lr, --batch-size, --test, --val, --laws, --model) run
    `losslab compare digits-inpaint`.
    """
    _guard(lambda: _run_compare("digits-inpaint", out, None, None, seeds, "auto", epochs, None, None, None, "mean_squared_error", quiet,
                                _command_line(), workers, device=device))


@app.command("compare")
def compare_cmd(
    data: str = typer.Argument(
        ..., help="A path (CSV, Parquet, npz, image folder with labels.csv), a registry name, or a torch Dataset as file.py:name or module:name (streamed)."
    ),
    target: Optional[str] = typer.Option(None, "--target", help="Label column(s) of a table, comma-separated."),
    features: Optional[str] = typer.Option(None, "--features", help="Feature columns, comma-separated (default: all others)."),
    trials: Optional[str] = typer.Option(None, "--trials", help="Column with the number of trials n of k/n labels."),
    laws: Optional[str] = typer.Option(None, "--laws", help="Laws, comma-separated (default: suggested from the labels); options as name:key=value;key=value."),
    seeds: str = typer.Option("5", "--seeds", metavar="INTEGER", help=SEEDS_HELP),
    model: str = typer.Option("auto", "--model", help="auto, mlp, cnn, cnn-small or linear."),
    epochs: str = typer.Option("200", "--epochs", metavar="INTEGER", help=EPOCHS_HELP),
    lr: str = typer.Option("3e-3", "--lr", metavar="FLOAT", help=LR_HELP),
    batch_size: str = typer.Option("128", "--batch-size", metavar="INTEGER", help=BATCH_HELP),
    test: str = typer.Option("0.2", "--test", metavar="FLOAT", help=TEST_HELP),
    val: str = typer.Option("0.15", "--val", metavar="FLOAT", help=VAL_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    metric: str = typer.Option("mean_squared_error", "--metric", help="The metric the recommendation ranks by."),
    out: Path = typer.Option(Path("losslab-out"), "--out", help="Folder for the report."),
    store: Optional[Path] = typer.Option(
        None, "--store", help="SQLite run store (default OUT/runs.sqlite); re-running resumes from it; `losslab report STORE` rebuilds the report."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    workers: str = typer.Option("auto", "--workers", help=WORKERS_HELP),
    keep: str = typer.Option("best", "--keep", help=KEEP_HELP),
    stream: bool = typer.Option(
        False, "--stream", help="Decode an image folder in batches as training reads them, instead of all at once into memory (same numbers, one model at a time)."
    ),
    loader_workers: str = typer.Option("auto", "--loader-workers", help="DataLoader processes that read streamed data: a number (0: in this process) or auto."),
) -> None:
    """Train the same model under each law and seed on DATA, then recommend a loss with evidence."""
    _guard(lambda: _run_compare(data, out, store, laws, seeds, model, epochs, target, features, trials, metric, quiet, _command_line(), workers,
                                device=device, lr=lr, batch_size=batch_size, test=test, val=val, keep=keep, stream=stream,
                                loader_workers=loader_workers))


@app.command()
def predict(
    model_file: Path = typer.Argument(..., metavar="MODEL", help="A model file (.losslab) written by `losslab compare --keep` or Predictor.save."),
    data: str = typer.Argument(..., help="Rows to predict: CSV, Parquet, npz, an image folder or a registry name; the target column may be absent."),
    out: Path = typer.Option(Path("predictions.csv"), "--out", help="The CSV to write: one row per input row."),
    level: str = typer.Option("0.9", "--level", metavar="FLOAT", help="Probability of the central prediction interval (columns <target>_low, <target>_high)."),
    quantiles: Optional[str] = typer.Option(None, "--quantiles", help="Quantile levels, comma-separated, e.g. 0.1,0.5,0.9 (columns <target>_q<level>)."),
    trials: Optional[str] = typer.Option(None, "--trials", help="For k/n laws (binomial, beta-binomial): the number of trials n, or the column holding it."),
    id_column: Optional[str] = typer.Option(None, "--id", help="A column naming the rows, written first (default: a table's first column when the model does not use it)."),
) -> None:
    """Predict with a kept model: point, interval and (optionally) quantile columns for each row of DATA."""

    def run() -> None:
        from .experiment.predict_io import predict_frame, read_inputs
        from .experiment.predictor import load_model
        from .experiment.preflight import check_writable

        lvl = _fraction("--level", level, example="0.9")
        qs = [_probability("--quantiles", q) for q in _split_list(quantiles)] if quantiles else []
        check_writable(out.parent if str(out.parent) else Path("."), what="--out folder")
        predictor = load_model(model_file)
        inputs = read_inputs(data, predictor, trials=trials, id_column=id_column)
        frame = predict_frame(predictor, inputs, level=lvl, quantiles=qs)
        for note in frame.attrs.get("notes", []):
            err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
        try:
            frame.to_csv(out, index=False)
        except OSError as e:
            raise LosslabError(f"--out {_shown(str(out))} cannot be written ({e.strerror or e})") from None
        console.print(f"predictions: {out}  ({len(frame)} rows; {predictor.label}, {'ensemble of ' if predictor.ensemble else ''}seed{'s' if predictor.ensemble else ''} "
                      f"{', '.join(map(str, predictor.seeds))})", highlight=False, soft_wrap=True)

    _guard(run)


def _probability(option: str, text: str) -> float:
    """``text`` as a probability in [0, 1], else a one-line error naming ``option``."""
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not 0 <= x <= 1:
        raise LosslabError(f"{option}: {_shown(text)} is not a probability; expected numbers in [0, 1], comma-separated, e.g. {option} 0.1,0.5,0.9")
    return x


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


_ID = 12  # hex digits of a comparison's key shown as its id (any unique prefix selects it)


def _comparisons(st: Any) -> list[dict[str, Any]]:
    """The store's comparisons, oldest first, each with its id, date, data, recorded grid and the runs the store holds."""
    from .experiment import law_label

    rows = []
    for c in st.comparisons():
        cfg, data = c["config"], c["config"].get("data") or {}
        labels = [law_label(n, o) for n, o in cfg.get("laws", [])]
        seeds = [int(s) for s in cfg.get("seeds", [])]
        held = sorted({(r["law"], int(r["seed"])) for r in st.runs(c["key"])})
        rows.append({
            "key": c["key"], "id": c["key"][:_ID], "date": time.strftime("%Y-%m-%d %H:%M", time.localtime(c["created"])),
            "data": str(data.get("name", "?")), "n": data.get("n"), "laws": labels, "seeds": seeds, "held": held,
            "outside": [(law, s) for law, s in held if law not in labels or s not in seeds], "settings": _settings(cfg),
        })
    return rows


def _settings(cfg: dict[str, Any]) -> str:
    """The settings that tell two comparisons of one data set apart, in the command's words."""
    train = cfg.get("train") or {}
    parts = [f"--model {cfg.get('model', '?')}"]
    for key, option in (("epochs", "--epochs"), ("lr", "--lr"), ("batch_size", "--batch-size")):
        if key in train:
            parts.append(f"{option} {train[key]:g}")
    for key in ("val", "test"):
        if key in cfg:
            parts.append(f"--{key} {cfg[key]:g}")
    return " ".join(parts)


def _describe(c: dict[str, Any]) -> str:
    rows = f" ({c['n']} rows)" if c["n"] is not None else ""
    return f"{c['id']}  {c['date']}  {c['data']}{rows}  laws {', '.join(c['laws'])}  seeds {_seed_text(c['seeds'])}  {c['settings']}"


def _seed_text(seeds: list[int]) -> str:
    """``0-4`` for consecutive seeds, else the list."""
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _pick(comps: list[dict[str, Any]], wanted: str, store: Path) -> dict[str, Any]:
    """The comparison whose key starts with ``wanted``; a one-line error when none or several do."""
    prefix = wanted.strip().lower()
    found = [c for c in comps if prefix and c["key"].startswith(prefix)]
    if len(found) == 1:
        return found[0]
    ids = ", ".join(c["id"] for c in (found or comps))
    if not found:
        raise LosslabError(f"--comparison {_shown(wanted)}: store {str(store)!r} has no comparison with that id; its ids: {ids} (losslab report STORE --list)")
    raise LosslabError(f"--comparison {_shown(wanted)} matches {len(found)} comparisons ({ids}); give more of the id")


def _outside_note(c: dict[str, Any]) -> str:
    """A line on the runs of a comparison that its recorded grid leaves out (and so the report does)."""
    by_law: dict[str, list[int]] = {}
    for law, seed in c["outside"]:
        by_law.setdefault(law, []).append(seed)
    listing = "; ".join(f"{law} seed{'s' if len(s) > 1 else ''} {_seed_text(s)}" for law, s in by_law.items())
    return (
        f"note: the report covers comparison {c['id']}'s recorded laws ({', '.join(c['laws'])}) and seeds ({_seed_text(c['seeds'])}); "
        f"the store also holds runs of it outside them, from a `losslab compare` on the same data and settings with other "
        f"--laws or --seeds: {listing}"
    )


@app.command()
def report(
    store: Path = typer.Argument(..., help="A run store written by `losslab compare`."),
    out: Path = typer.Option(Path("losslab-out"), "--out", help="Folder for the report."),
    comparison: Optional[str] = typer.Option(
        None, "--comparison", metavar="ID", help="The comparison to report, by its id or a unique prefix of it (default: the latest; --list shows them)."
    ),
    list_: bool = typer.Option(False, "--list", help="List the store's comparisons (id, date, data, laws, seeds) and write no report."),
) -> None:
    """Rebuild a report from a run store: the latest comparison in it, or the one --comparison names."""

    def run() -> None:
        from .experiment import Store, load_result
        from .report import write_report

        if not store.exists():
            raise LosslabError(f"store {str(store)!r} does not exist")
        with Store(store) as st:
            comps = _comparisons(st)
            if not comps:
                raise LosslabError(f"store {str(store)!r} holds no comparison yet; `losslab compare DATA --store {_shown(str(store))}` writes one")
            if list_:
                # Plain lines, one per comparison, never wrapped: ids stay whole and the output greps.
                console.print(f"comparisons in {store}, oldest first (report one with --comparison ID):", highlight=False, markup=False, soft_wrap=True)
                for c in comps:
                    extra = f", {len(c['outside'])} outside its laws and seeds" if c["outside"] else ""
                    console.print(f"  {_describe(c)}  ({len(c['held'])} runs{extra})", highlight=False, markup=False, soft_wrap=True)
                return
            chosen = comps[-1] if comparison is None else _pick(comps, comparison, store)
            if comparison is None and len(comps) > 1:
                others = "\n".join(f"  {_describe(c)}" for c in comps[:-1])
                err.print(
                    f"store {store} holds {len(comps)} comparisons; reporting the latest:\n  {_describe(chosen)}\nthe others:\n{others}\n"
                    f"pick one with --comparison ID",
                    highlight=False, markup=False, soft_wrap=True,
                )
            if chosen["outside"]:
                err.print(_outside_note(chosen), highlight=False, markup=False, soft_wrap=True)
            result = load_result(st, comparison=chosen["key"])
            paths = write_report(result, out)
        console.print(f"report: {paths['html']}  (comparison {chosen['id']})", highlight=False, soft_wrap=True)

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

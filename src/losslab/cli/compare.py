"""``losslab compare`` and ``losslab demo``: check every option, run the comparison, keep its models, write the report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer

from .._errors import LosslabError
from .app import app, command_line, console, debug_option, err, guard, quiet_option
from .options import (
    BATCH_HELP,
    DEVICE_HELP,
    EPOCHS_HELP,
    ID_DIGITS,
    KEEP_HELP,
    LR_HELP,
    SEEDS_HELP,
    TEST_HELP,
    VAL_HELP,
    WORKERS_HELP,
    check_device,
    fraction,
    parse_workers,
    positive,
    shown,
    split_list,
    whole,
)
from .progress import GridProgress


@app.command()
def demo(
    out: Path = typer.Option(Path("losslab-out"), "--out", help="Folder for the report and the run store."),
    seeds: str = typer.Option("3", "--seeds", metavar="INTEGER", help=SEEDS_HELP),
    epochs: str = typer.Option("60", "--epochs", metavar="INTEGER", help=EPOCHS_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    quiet: bool = quiet_option(),
    workers: str = typer.Option("auto", "--workers", help=WORKERS_HELP),
    debug: bool = debug_option(),
) -> None:
    """Compare the default laws on the embedded data set (digits-inpaint) and write the report.

    For the other training options (--lr, --batch-size, --test, --val, --laws, --model) run
    `losslab compare digits-inpaint`.
    """
    guard(lambda: run_compare("digits-inpaint", out, None, None, seeds, "auto", epochs, None, None, None, "mean_squared_error", quiet,
                               command_line(), workers, device=device))


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
    quiet: bool = quiet_option(),
    workers: str = typer.Option("auto", "--workers", help=WORKERS_HELP),
    keep: str = typer.Option("best", "--keep", help=KEEP_HELP),
    stream: bool = typer.Option(
        False, "--stream", metavar="", help="Decode an image folder in batches as training reads them, instead of all at once into memory (same numbers, one model at a time)."
    ),
    loader_workers: str = typer.Option("auto", "--loader-workers", help="DataLoader processes that read streamed data: a number (0: in this process) or auto."),
    halving: Optional[str] = typer.Option(
        None, "--halving", metavar="EPOCHS",
        help="Stop the laws significantly behind the leader after these epochs (comma-separated, e.g. 5,10; a paired test over seeds at level 0.01). Off by default: a law behind early can overtake later.",
    ),
    debug: bool = debug_option(),
) -> None:
    """Train the same model under each law and seed on DATA, then recommend a loss with evidence."""
    guard(lambda: run_compare(data, out, store, laws, seeds, model, epochs, target, features, trials, metric, quiet, command_line(), workers,
                               device=device, lr=lr, batch_size=batch_size, test=test, val=val, keep=keep, stream=stream,
                               loader_workers=loader_workers, halving=halving))


def run_compare(data: str, out: Path, store: Optional[Path], laws: Optional[str], seeds: str, model: str, epochs: str,
                 target: Optional[str], features: Optional[str], trials: Optional[str], metric: str, quiet: bool, command: str,
                 workers: str = "auto", *, device: str = "auto", lr: Optional[str] = None, batch_size: Optional[str] = None,
                 test: Optional[str] = None, val: Optional[str] = None, keep: str = "best", stream: bool = False,
                 loader_workers: str = "auto", halving: Optional[str] = None) -> None:
    from ..experiment import compare
    from ..experiment.model_file import KEEP, keep_models
    from ..report import write_report

    # Every option is checked here, in the command's own syntax, before any data is read or any run trains.
    n_seeds = whole("--seeds", seeds, "a whole number of seeds, 1 or more")
    train_kwargs: dict[str, Any] = {"epochs": whole("--epochs", epochs, "a whole number of epochs, 1 or more")}
    if lr is not None:
        train_kwargs["lr"] = positive("--lr", lr, "a positive step size, e.g. --lr 3e-3")
    if batch_size is not None:
        train_kwargs["batch_size"] = whole("--batch-size", batch_size, "a whole number of rows per minibatch, 1 or more")
    for option, text, key in (("--test", test, "test"), ("--val", val, "val")):
        if text is not None:
            train_kwargs[key] = fraction(option, text)
    if train_kwargs.get("val", 0.0) + train_kwargs.get("test", 0.0) >= 1:
        raise LosslabError(
            f"--val {val} and --test {test} leave no rows for training; expected --val + --test below 1, e.g. --val 0.15 --test 0.2"
        )
    train_kwargs["device"] = check_device(device)
    n_workers = parse_workers(workers)
    rungs = None
    if halving is not None:
        rungs = tuple(whole("--halving", part, "epochs after which laws behind stop, e.g. --halving 5 or --halving 5,10") for part in split_list(halving) or [""])
        if list(rungs) != sorted(set(rungs)):
            raise LosslabError(f"--halving {shown(halving)}; expected increasing epochs, e.g. --halving 5,10")
        if rungs[-1] >= train_kwargs["epochs"]:
            raise LosslabError(
                f"--halving {shown(halving)} is not before --epochs {train_kwargs['epochs']}: a rung at or after the cap trains every run to the end; "
                f"expected rungs of a few epochs, e.g. --halving {max(1, train_kwargs['epochs'] // 10)}"
            )
    if keep not in KEEP:
        raise LosslabError(f"--keep {shown(keep)}; expected {', '.join(KEEP)} (the best model, every run's and each law's ensemble, or none)")
    read_kwargs: dict[str, Any] = {}
    if target is not None:
        read_kwargs["target"] = split_list(target) if "," in target else target
    if features is not None:
        read_kwargs["features"] = split_list(features)
    if trials is not None:
        read_kwargs["trials"] = trials
    data_arg = _streamed_data(data, stream, loader_workers, read_kwargs)
    # Pre-flight: an unwritable or full --out/--store folder fails here, in a second, not after hours of training.
    from ..experiment.preflight import check_store_path, check_writable

    check_writable(out, what="--out folder")
    store_path = store if store is not None else out / "runs.sqlite"
    check_store_path(store_path)
    prog = GridProgress(enabled=not quiet)
    started = time.time()
    try:
        with prog:
            result = compare(
                data_arg, laws=split_list(laws), seeds=n_seeds, model=model, store=str(store_path),
                primary_metric=metric, progress=prog, workers=n_workers, halving=rungs, **train_kwargs, **read_kwargs,
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
    headline = f"Recommended law: {rec.law}"
    console.print(headline, style="bold green", highlight=False, markup=False)
    # markup off: the reason holds law labels and intervals in brackets ("binned(kind=twohot)", "[0, 1]")
    console.print(reason_after(headline, rec.reason), highlight=False, markup=False, soft_wrap=True)
    key = next((r["comparison"] for r in result.runs if r.get("comparison")), None)
    which = f", comparison {key[:ID_DIGITS]}" if key else ""
    console.print(f"report: {paths['html']}  (also {paths['md'].name}, results.csv, results.json; store: {store_path}{which})", highlight=False, soft_wrap=True)
    if models:
        first = next(iter(models.values()))
        more = f" and {len(models) - 1} more in {first.parent}" if len(models) > 1 else ""
        console.print(f"model: {first}{more}  (losslab predict {shown(str(first))} DATA --out predictions.csv)", highlight=False, soft_wrap=True)


def reason_after(headline: str, reason: str) -> str:
    """``reason`` less its first sentence where that repeats ``headline`` (the recommendation's text opens with it).

    >>> reason_after("Recommended law: beta", "Recommended law: beta. It has the lowest error.")
    'It has the lowest error.'
    >>> reason_after("Recommended law: beta", "It has the lowest error.")
    'It has the lowest error.'
    """
    if reason.startswith(headline):
        rest = reason[len(headline):]
        if rest[:1] in (".", ""):
            return rest[1:].lstrip()
    return reason


def _streamed_data(data: str, stream: bool, loader_workers: str, read_kwargs: dict[str, Any]) -> Any:
    """DATA as compare takes it: a torch Dataset for ``module:name`` (always streamed), else the text; ``--stream`` added to ``read_kwargs``."""
    from ..data.streaming import dataset_from_spec

    if loader_workers != "auto":
        try:
            n = int(loader_workers)
        except ValueError:
            n = -1
        if n < 0:
            raise LosslabError(f"--loader-workers {shown(loader_workers)}; expected a whole number of DataLoader workers, 0 or more, or auto")
        read_kwargs["loader_workers"] = n
    found = dataset_from_spec(data)  # path/to/file.py:name or package.module:name
    if found is not None:
        return found
    if stream:
        if not Path(data).expanduser().is_dir():
            raise LosslabError(
                f"--stream applies to an image folder, and {shown(data)} is not a folder; a torch Dataset (DATA as file.py:name or "
                f"module:name) is always streamed, and tables are read into memory"
            )
        read_kwargs["stream"] = True
    elif "loader_workers" in read_kwargs:
        raise LosslabError("--loader-workers applies to streamed data: add --stream (an image folder) or name a torch Dataset as DATA")
    return data


def _saved_runs(store_path: Path, since: float, prog: GridProgress) -> int:
    """Runs of the interrupted grid that are in the store.

    The progress count can lag the store: the seeds of a law trained together are written
    one by one before their ``run_end`` events, and Ctrl-C can fall in between. So count the
    store's rows of the comparison this command wrote to (the one of the newest row written
    since it started), restricted to the grid's cells.
    """
    from ..experiment.store import Store

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

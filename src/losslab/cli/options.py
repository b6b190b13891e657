"""The options the commands share, read in the command's own syntax: a bad value is a one-line error naming the option."""

from __future__ import annotations

import math
import shlex
from typing import Optional

from .._errors import LosslabError

__all__ = [
    "BATCH_HELP", "DEVICE_HELP", "EPOCHS_HELP", "ID_DIGITS", "KEEP_HELP", "LR_HELP", "SEEDS_HELP", "TEST_HELP", "VAL_HELP", "WORKERS_HELP",
    "check_device", "fraction", "parse_workers", "positive", "shown", "split_list", "whole",
]

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

#: hex digits of a comparison's key shown as its id (any unique prefix selects it)
ID_DIGITS = 12


def split_list(s: Optional[str]) -> Optional[list[str]]:
    """A comma-separated option as a list (None stays None)."""
    if s is None:
        return None
    # Commas separate laws, except inside a law's own option list after ':' (e.g. "binned:kind=twohot;n_bins=21").
    return [part.strip().replace(";", ",") for part in s.split(",") if part.strip()]


def shown(text: str) -> str:
    """An option's value as the user would type it (quoted if it holds spaces or is empty)."""
    return shlex.quote(text)


def whole(option: str, text: str, expected: str) -> int:
    """``text`` as a whole number of 1 or more, else a one-line error naming ``option``."""
    try:
        n = int(text.strip())
    except ValueError:
        n = 0
    if n < 1:
        raise LosslabError(f"{option} {shown(text)}; expected {expected}")
    return n


def positive(option: str, text: str, expected: str) -> float:
    """``text`` as a finite number above 0, else a one-line error naming ``option``."""
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not (math.isfinite(x) and x > 0):
        raise LosslabError(f"{option} {shown(text)}; expected {expected}")
    return x


def fraction(option: str, text: str, *, example: str | None = None) -> float:
    """``text`` as a fraction strictly between 0 and 1, else a one-line error naming ``option``."""
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not 0 < x < 1:
        if example is not None:  # not a fraction of the rows: a probability (--level)
            raise LosslabError(f"{option} {shown(text)}; expected a number between 0 and 1, e.g. {option} {example}")
        example = "0.2" if option == "--test" else "0.15"
        raise LosslabError(f"{option} {shown(text)}; expected a fraction of the rows between 0 and 1, e.g. {option} {example}")
    return x


def check_device(device: str) -> str:
    """``device`` if this machine has it; else the library's one-line message, in the command's syntax."""
    from ..experiment import resolve_device

    try:
        resolve_device(device)
    except LosslabError as e:
        msg, prefix = str(e), f"device={device!r}"
        raise LosslabError(f"--device {shown(device)}{msg[len(prefix):]}" if msg.startswith(prefix) else msg) from None
    return device


def parse_workers(workers: str) -> int | str:
    """``--workers``: auto, ray, ray:N or a positive whole number."""
    if workers == "auto":
        return workers
    if workers == "ray" or workers.startswith("ray:"):  # Ray tasks: "ray" or "ray:N", N CPUs per task
        from ..experiment.workers import ray_cpus

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

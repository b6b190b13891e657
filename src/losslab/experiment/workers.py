"""Worker processes for the comparison grid: the laws train side by side, one law per worker at a time.

The grid's models are small, and one of them keeps one CPU core busy at best; a laptop has
several. :func:`run_jobs` hands each law's pending seeds (a *job*) to a pool of spawned
processes, each with its share of the cores as torch threads. A worker trains and evaluates,
and returns the run records; the parent alone writes them to the store, the moment each job
returns, so a crash or Ctrl-C loses only the jobs still training. Progress events travel back
through a queue.

Processes are spawned, not forked (a forked child of a process whose OpenMP pool has run can
hang), so a script that calls ``compare(..., workers=2)`` must guard its top level with
``if __name__ == "__main__":``, as for any ``multiprocessing`` code; the ``losslab`` command does.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue as queue_mod
from typing import Any, Callable, Iterator

import torch

from .plan import RunPlan
from .runs import make_split, train_law

#: what a worker process holds for every job (the plan, the event queue, its split): set once by :func:`_init_worker`
_CONTEXT: dict[str, Any] = {}

#: where Linux describes each CPU's core (``cpuN/topology/core_id``)
_SYS_CPU = "/sys/devices/system/cpu"


def cpu_count() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def physical_cores() -> int:
    """The physical cores under the CPUs this process may run on (hyper-threads of one core count once).

    Read from Linux's ``/sys/devices/system/cpu/cpuN/topology``; where that cannot be read, half
    the logical CPUs (at least 1), as if every core had two hyper-threads.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return max(1, cpu_count() // 2)
    cores = set()
    for n in cpus:
        base = f"{_SYS_CPU}/cpu{n}/topology/"
        try:
            with open(base + "physical_package_id") as f_pkg, open(base + "core_id") as f_core:
                cores.add((f_pkg.read().strip(), f_core.read().strip()))
        except OSError:
            return max(1, len(cpus) // 2)
    return max(1, len(cores))


#: the least work (the data set's rows x input values per row x epoch cap x runs) for which ``workers="auto"``
#: spreads CNN runs over one worker per core: each worker first spends seconds importing torch and
#: losslab. On the project's 2-core machine two workers cost 9 s more than one process for a
#: retinamnist grid of 4.5e7 (4 runs of 3 epochs) and saved 17 s for one of 5.6e9 (30 runs, cap 50)
MIN_CNN_WORK = 2e9


def spread_cnn_runs(kind: str, input_shape: Any, rows: int, epochs: int, runs: int) -> bool:
    """Whether CNN runs trained one at a time are work enough for a worker per core (see :data:`MIN_CNN_WORK`)."""
    return kind in ("cnn", "cnn-small") and rows * math.prod(int(d) for d in input_shape) * epochs * runs >= MIN_CNN_WORK


def ray_cpus(workers: Any) -> int | None:
    """The CPUs of each Ray task for ``workers="ray"`` (1) or ``"ray:N"`` (N); ``None`` for any other value.

    >>> ray_cpus("ray"), ray_cpus("ray:4"), ray_cpus(2), ray_cpus("auto")
    (1, 4, None, None)
    """
    from .._errors import LosslabError

    if not isinstance(workers, str) or not (workers == "ray" or workers.startswith("ray:")):
        return None
    n = workers[4:] if workers != "ray" else "1"
    if not (n.isascii() and n.isdigit()) or int(n) < 1:
        raise LosslabError(f"workers={workers!r}; expected 'ray', or 'ray:N' with N, the CPUs of each Ray task, a positive whole number")
    return int(n)


def resolve_workers(workers: int | str, *, n_jobs: int, device: torch.device, model: Any, cnn_runs: bool = False) -> int | str:
    """The number of worker processes (``"auto"``: see below), never more than ``n_jobs``; or ``"ray:N"`` for Ray tasks.

    ``"ray"`` or ``"ray:N"`` (:mod:`.ray_executor`) sends the jobs to a Ray cluster as tasks of N
    CPUs each (1 for ``"ray"``), whatever their number; it needs Ray installed and the CPU, and takes
    a factory function too (Ray pickles it with cloudpickle).

    Worker processes train on the CPU only (one GPU is better fed by replica batching in one
    process), and need a model given by name (a factory function may not survive pickling).

    ``"auto"``, when there are several jobs: one worker per physical core for ``cnn_runs``, CNN runs
    trained one at a time on the CPU (:func:`spread_cnn_runs`), whose small convolutions gain little
    from a second thread: on this project's 2-core machine the retinamnist grid took 89 s in two
    one-thread workers against 106 s in one two-thread process (``docs/performance.md``). Else one
    per two logical CPUs, which is 1 on a 2-CPU machine: batched MLP replicas use the threads well
    (the digits-inpaint grid took 29 s in two workers against 21 s in one process), and small
    MLPs one at a time are over before the workers have started (uci-concrete, 12 runs: 15 s against 4 s).
    """
    from .._errors import LosslabError

    cpus = ray_cpus(workers)
    if cpus is not None:
        if device.type != "cpu":
            raise LosslabError(
                f"workers={workers!r} trains on the Ray cluster's CPUs, and this comparison trains on {device}; pass device='cpu'",
                cli=f"--workers {workers} trains on the Ray cluster's CPUs, and this comparison trains on {device}; add --device cpu",
            )
        from .ray_executor import import_ray

        import_ray()  # the missing-Ray line now, before any run is trained
        return f"ray:{cpus}"
    if workers == "auto":
        if device.type != "cpu" or callable(model) or n_jobs < 2:
            return 1
        return max(1, min(physical_cores() if cnn_runs else cpu_count() // 2, n_jobs))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise LosslabError(f"workers={workers!r}; expected a positive whole number or 'auto' (or 'ray' for Ray tasks)")
    if workers > 1 and device.type != "cpu":
        raise LosslabError(f"workers={workers} needs device='cpu' (this comparison trains on {device}); use workers=1")
    if workers > 1 and callable(model):
        raise LosslabError(f"workers={workers} needs a model given by name ('mlp', 'cnn', ...), not a factory function; use workers=1")
    return min(workers, max(1, n_jobs))


def _init_worker(plan: RunPlan, events: Any, threads: int) -> None:
    torch.set_num_threads(threads)
    _CONTEXT.clear()
    _CONTEXT.update(plan=plan, events=events)


def _job(job: dict[str, Any]) -> list[dict]:
    """One law's pending seeds, trained in this worker; the records come back unsaved."""
    c = _CONTEXT
    plan: RunPlan = c["plan"]
    seeds = job["seeds"]
    split_seed = plan.split_seed(seeds[0])
    if c.get("split_seed") != split_seed:  # a shared split is built once per worker, not once per job
        c["tensors"], c["split_seed"] = make_split(plan, seeds[0]), split_seed
    return list(train_law(plan, c["tensors"], job["label"], seeds, c["events"].put, job["batched"], keep=job.get("keep")))


def run_jobs(jobs: list[dict[str, Any]], plan: RunPlan, workers: int, progress: Callable[[dict], None] | None) -> Iterator[dict]:
    """Run ``jobs`` (``{"label", "seeds", "batched"}``) of ``plan`` in ``workers`` processes; yield each run record as its job returns.

    Any failure (a worker's error, re-raised here, or Ctrl-C) terminates the pool at once.
    """
    workers = max(1, min(workers, len(jobs)))
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    threads = max(1, cpu_count() // workers)
    pool = ctx.Pool(processes=workers, initializer=_init_worker, initargs=(plan.for_worker(), events, threads))

    def drain() -> None:
        while True:
            try:
                ev = events.get_nowait()
            except queue_mod.Empty:
                return
            if progress:
                progress(ev)

    try:
        results = pool.imap_unordered(_job, jobs)
        remaining = len(jobs)
        while remaining:
            try:
                records = results.next(timeout=0.2)
            except mp.TimeoutError:
                drain()
                continue
            remaining -= 1
            drain()
            yield from records
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        events.close()

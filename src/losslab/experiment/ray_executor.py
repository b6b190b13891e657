"""Ray tasks for the comparison grid (``compare(..., workers="ray")``): the runs train on a Ray cluster, the driver keeps the store.

The jobs are those the grid hands to local worker processes (:func:`.workers.run_jobs`): a
law's pending seeds, or one seed. Each job is one Ray task; the :class:`~.plan.RunPlan`
(its data set included) is put in Ray's object store once, and every task reads it from
there. A task trains and evaluates, and returns its run records; the driver (the process that
called :func:`losslab.compare`) alone writes them to the SQLite store, the moment each task
returns, so killing the driver loses only the runs still training, and running the same
comparison again trains only those.

Progress: ``run_start`` and ``epoch`` events travel from the tasks through a small Ray actor
(``num_cpus=0``) that the driver drains while it waits, so they arrive as with local workers;
``run_end`` comes from the driver as it stores each run. Without a ``progress`` callback there
is no actor.

Ray is imported here only, and this module only when ``workers`` names Ray; ``ray.init()`` is
called only if Ray is not initialised yet, so a driver that ran ``ray.init(address=...)``
keeps its cluster, and ``ray.init()`` itself honours ``RAY_ADDRESS`` (``docs/scaling.md``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from .._errors import LosslabError
from .plan import RunPlan

#: the one line for ``workers="ray"`` where Ray is not installed
MISSING = "workers='ray' needs Ray: pip install \"losslab[ray]\""

#: what a Ray worker process keeps between the tasks it runs: the last split it built, by (comparison, split seed)
_SPLIT: dict[str, Any] = {}


def import_ray():
    """The ``ray`` module, or the one-line :data:`MISSING` error."""
    try:
        import ray
    except ImportError:
        raise LosslabError(MISSING) from None
    return ray


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect(cpus: int):
    """Ray, initialised (``ray.init()`` only where the driver has not called it), with a node of ``cpus`` CPUs."""
    ray = import_ray()
    if not ray.is_initialized():
        try:
            # No dashboard for a cluster started here: it costs seconds of start-up per comparison. A cluster
            # started with `ray start --head` (RAY_ADDRESS) has its own, and then this argument is ignored.
            ray.init(include_dashboard=False)
        except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError...: one line either way
            raise LosslabError(
                f"workers='ray': ray.init() failed ({_first_line(exc)}); start a cluster with `ray start --head` and set "
                f"RAY_ADDRESS to it, or unset RAY_ADDRESS to start a local one"
            ) from None
    # A task asking more CPUs than any node has would wait for ever, without a word.
    largest = max((n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")), default=0.0)
    if largest < cpus:
        raise LosslabError(
            f"workers='ray:{cpus}' asks {cpus} CPUs per task and the largest node of the Ray cluster has {largest:g}; "
            f"ask for at most {int(largest)} (workers='ray:{max(1, int(largest))}') or add a bigger node"
        )
    return ray


def _task(plan: RunPlan, job: dict[str, Any], events: Any, cpus: int) -> list[dict]:
    """One job of the grid in a Ray worker: its runs trained and evaluated; the records come back unsaved."""
    import ray
    import torch

    from .runs import make_split, train_law

    # Torch threads = the CPUs Ray gave this task (Ray also sets OMP_NUM_THREADS, but a reused worker's torch is already set up).
    assigned = ray.get_runtime_context().get_assigned_resources().get("CPU", cpus)
    torch.set_num_threads(max(1, int(assigned)))
    seeds = job["seeds"]
    where = f"{plan.comparison}/{plan.split_seed(seeds[0])}"
    if _SPLIT.get("where") != where:  # a worker that ran a job of this split before keeps its tensors
        _SPLIT.clear()
        _SPLIT.update(where=where, tensors=make_split(plan, seeds[0]))
    put = (lambda ev: events.put.remote(ev)) if events is not None else None  # fire and forget: training does not wait
    records = list(train_law(plan, _SPLIT["tensors"], job["label"], seeds, put, job["batched"], keep=job.get("keep")))
    if events is not None:
        # An actor runs one caller's calls in order: once this returns, every event above is in the actor,
        # so the driver drains them before it announces the runs' end.
        ray.get(events.flush.remote())
    return records


class _Events:
    """Progress events of the tasks, held until the driver takes them."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def put(self, ev: dict) -> None:
        self.events.append(ev)

    def flush(self) -> None:
        pass

    def take(self) -> list[dict]:
        out, self.events = self.events, []
        return out


def run_jobs(jobs: list[dict[str, Any]], plan: RunPlan, workers: str, progress: Callable[[dict], None] | None) -> Iterator[dict]:
    """Run ``jobs`` (``{"label", "seeds", "batched"}``) of ``plan`` as Ray tasks of ``workers`` (``"ray:N"``: N CPUs each);
    yield each run record as its task returns.

    A task's :class:`~losslab.LosslabError` is raised here as its one line; any failure, or the
    consumer stopping early (Ctrl-C, a store that cannot be written), cancels the tasks still pending.
    """
    from .workers import ray_cpus

    cpus = ray_cpus(workers) or 1
    ray = connect(cpus)
    task = ray.remote(num_cpus=cpus)(_task)
    events = ray.remote(num_cpus=0)(_Events).remote() if progress else None
    plan_ref = ray.put(plan.for_worker())  # the data set goes into the object store once, not once per task
    pending = {task.remote(plan_ref, job, events, cpus): job for job in jobs}

    def drain() -> None:
        if events is not None:
            for ev in ray.get(events.take.remote()):
                progress(ev)

    try:
        while pending:
            # With events to forward, wake up now and then to pass them on while tasks train.
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2 if events is not None else None)
            drain()
            for ref in ready:
                job = pending.pop(ref)
                try:
                    records = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    if isinstance(exc.cause, LosslabError):
                        raise exc.cause from None
                    raise
                except ray.exceptions.RayError as exc:  # the task's worker died (out of memory, a node lost, ...)
                    raise LosslabError(
                        f"workers='ray': the task training {job['label']!r} seed(s) {job['seeds']} failed: {_first_line(exc)}; "
                        f"the runs finished before are in the store, and running the comparison again trains the rest"
                    ) from None
                yield from records
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if events is not None:
            ray.kill(events)

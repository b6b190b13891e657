"""The progress display of ``losslab compare``: rich progress bars fed by the library's progress events."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .app import err

__all__ = ["GridProgress"]


class GridProgress:
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

    def __enter__(self) -> "GridProgress":
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

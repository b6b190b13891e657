"""What a comparison will run, decided once: its configuration and its :class:`RunPlan`.

:func:`losslab.compare` checks its arguments and the data, then builds one frozen
``RunPlan``; the grid, the in-process runner (:mod:`.runs`) and the worker processes
(:mod:`.workers`) all read it, so the model is resolved, the run keys are computed and the
data's description is built once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .._version import __version__
from ..laws import Law
from .store import Store
from .trainer import TrainConfig


@dataclass
class CompareConfig:
    laws: list[tuple[str, dict[str, Any]]]  # (name, options) of each law, in the grid's order
    seeds: list[int]  # the seeds every law trains with
    model: str = "auto"  # the model's name ("auto" resolved), or the factory's name
    primary_metric: str = "mean_squared_error"  # the metric the recommendation ranks by
    train: TrainConfig = field(default_factory=TrainConfig)  # optimiser, epochs, early stopping
    split_seed: int = 0  # the seed of the split shared by every run (data without fixed splits)
    val: float = 0.15  # validation fraction (early stopping)
    test: float = 0.2  # test fraction (the metrics)
    device: str = "cpu"  # the torch device the runs trained on
    standardize: bool = True  # standardise table features with the training rows' mean and std
    cv: int | None = None  # k-fold cross-validation: run seed s tests on fold s % cv (None: one shared test split)
    halving: dict[str, Any] | None = None  # successive halving across laws (experiment/halving.py); None: every law trains its runs

    def as_dict(self) -> dict[str, Any]:
        out = {
            "laws": [list(x) for x in self.laws],
            "seeds": list(self.seeds),
            "model": self.model,
            "primary_metric": self.primary_metric,
            "train": self.train.as_dict(),
            "split_seed": self.split_seed,
            "val": self.val,
            "test": self.test,
            "device": self.device,
            "standardize": self.standardize,
            "cv": self.cv,
        }
        if self.halving is not None:  # only when set: a comparison without it keeps the key it had before the option existed
            out["halving"] = self.halving
        return out

    @classmethod
    def from_dict(cls, c: dict[str, Any]) -> "CompareConfig":
        """The configuration as :meth:`as_dict` wrote it (into a store)."""
        return cls(
            laws=[(n, o) for n, o in c["laws"]],
            seeds=c["seeds"],
            model=c["model"],
            primary_metric=c["primary_metric"],
            train=TrainConfig(**c["train"]),
            split_seed=c["split_seed"],
            val=c["val"],
            test=c["test"],
            device=c["device"],
            standardize=c["standardize"],
            cv=c.get("cv"),  # absent from stores written before k-fold comparisons
            halving=c.get("halving"),
        )


@dataclass(frozen=True)
class RunPlan:
    """Everything a run of the grid needs, decided once per comparison.

    Sent to worker processes without its store (:meth:`for_worker`): they return run records,
    and the parent alone writes them.
    """

    data: Any  # the losslab.data.Dataset the runs split, train and test on
    config: CompareConfig
    comparison: str  # the comparison's key in the store
    model: str | Callable  # the resolved model name ("mlp", "cnn", ...) or the user's factory
    input_shape: tuple[int, ...]  # one sample's shape: (F,) for a table, (C, H, W) for images
    laws: dict[str, Law]  # label -> law, built for the data (a binned law's range filled in), in grid order
    specs: dict[str, tuple[str, dict[str, Any]]]  # label -> (name, options) as given
    keys: dict[tuple[str, int], str]  # (label, seed) -> the run's key in the store
    device: torch.device
    fixed_split: bool  # each seed has its own fixed split (the UCI sets): runs go one at a time
    replicas: bool | str  # the seeds of a law train as one batched model (True), with other laws' ("laws"), or not
    store: Store | None = None
    halving: Any = None  # a halving.Halving: laws significantly behind at one of its rungs are stopped
    rungs: dict[tuple[str, int], list[dict]] = field(default_factory=dict)  # (label, seed) -> the survivor's rungs, which its record keeps

    def for_worker(self) -> "RunPlan":
        """This plan without the store (an SQLite connection does not cross processes)."""
        return dataclasses.replace(self, store=None)

    def split_seed(self, seed: int) -> int:
        """The seed of the split that run ``seed`` trains on."""
        return seed if self.fixed_split else self.config.split_seed


# ---------------------------------------------------------------------------- keys and records
def fingerprint(*arrays: np.ndarray | None) -> str:
    """A short hash of arrays' shapes, dtypes and bytes: the data part of a comparison's key."""
    h = hashlib.sha1()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def key(obj: Any) -> str:
    """A short hash of a JSON-able object: the key of a comparison or a run."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars as Python numbers, arrays dropped and anything else unknown as a string."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items() if not isinstance(v, np.ndarray)}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def data_record(ds: Any, data_key: str) -> dict[str, Any]:
    """What a store keeps of the data set: name, fingerprint, size, kind, names and description."""
    return {
        "name": ds.name,
        "fingerprint": data_key,
        "n": len(ds),
        "kind": ds.kind,
        "target_names": jsonable(list(ds.target_names or [])),
        "feature_names": jsonable(list(ds.feature_names or [])),
        "meta": jsonable(ds.meta),
    }


def data_meta(record: dict[str, Any]) -> dict[str, Any]:
    """A result's ``data_meta`` from a :func:`data_record` (fresh or read back from a store)."""
    meta = {"name": record.get("name"), "n": record.get("n"), "kind": record.get("kind"), **record.get("meta", {})}
    for name in ("target_names", "feature_names"):
        if record.get(name):
            meta[name] = record[name]
    return meta


def versions() -> dict[str, str]:
    """The versions of losslab, torch, numpy, scipy and Python that train the runs."""
    import scipy

    return {
        "losslab": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }

"""The :class:`Dataset` container every reader returns, and :func:`from_arrays`.

A data set is a feature array ``X`` (a table ``(N, F)`` or images ``(N, C, H, W)``
scaled to [0, 1]), float labels ``y`` (``(N,)`` or ``(N, T)``), optional trial
counts for k-of-n labels, and optional fixed splits. Everything is float32 numpy;
the trainer converts to torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._errors import LosslabError, first_rows

_SPLIT_KEYS = ("train", "val", "test")


def to_numpy(name: str, a: Any) -> np.ndarray:
    """A numpy view of a numpy array, torch tensor or nested list (torch is not imported unless given)."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor, without importing torch here
        a = a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise LosslabError(f"{name} could not be read as an array ({exc}); expected a numpy array or torch tensor") from None


def in_columns(bad: np.ndarray, names: list[str] | None = None, k: int = 5) -> str:
    """`` in column(s) 'a', 'b'`` for a 2-D mask (a table's columns, by name when known); else empty."""
    if bad.ndim != 2:
        return ""
    cols = np.flatnonzero(bad.any(axis=0))
    shown = [repr(names[c]) if names is not None and c < len(names) else str(c) for c in cols[:k].tolist()]
    return f" in column(s) {', '.join(shown)}" + (" ..." if cols.size > k else "")


def _check_finite(name: str, a: np.ndarray, where: str = "", names: list[str] | None = None) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        raise LosslabError(
            f"{name}{where} has {int(bad.sum())} non-finite value(s) (NaN or inf){in_columns(bad, names)}, first at "
            f"row(s) {first_rows(bad)}; expected finite numbers"
        )


@dataclass
class Dataset:
    """Features, float labels, optional trial counts and optional fixed splits.

    Attributes:
        name: a short name (the registry name, the file name, or ``"arrays"``).
        X: float32 features, ``(N, F)`` for a table or ``(N, C, H, W)`` images in [0, 1].
        y: float32 labels, ``(N,)`` for one target or ``(N, T)``.
        trials: float32 counts ``n`` of k-of-n labels (``y = k / n``), shaped like ``y`` or ``(N,)``; else None.
        kind: ``"table"`` or ``"image"``.
        splits: fixed splits ``[{"train": idx, "val": idx, "test": idx}, ...]`` ("val" may be absent), or None.
        feature_names: names of the ``F`` table columns (None for images).
        target_names: names of the ``T`` targets.
        meta: description, licence, citation, source, url; for synthetic data ``law``, ``true_mean``
            ``(N,)`` and ``params``. Arrays in ``meta`` with one entry per row follow :meth:`subset`.

    >>> ds = from_arrays(np.arange(20.0).reshape(10, 2), np.linspace(0, 1, 10))
    >>> len(ds), ds.kind, ds.X.dtype, ds.y.shape
    (10, 'table', dtype('float32'), (10,))
    >>> s = ds.split(0, val=0.2, test=0.2)
    >>> [len(s[k]) for k in ("train", "val", "test")]
    [6, 2, 2]
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    trials: np.ndarray | None
    kind: str
    splits: list[dict[str, np.ndarray]] | None = None
    feature_names: list[str] | None = None
    target_names: list[str] | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("table", "image"):
            raise LosslabError(f"Dataset kind is {self.kind!r}; expected 'table' or 'image'")
        self.X = np.ascontiguousarray(self.X, dtype=np.float32)
        self.y = np.ascontiguousarray(self.y, dtype=np.float32)
        n = self.X.shape[0] if self.X.ndim else 0
        want = 2 if self.kind == "table" else 4
        if self.X.ndim != want:
            raise LosslabError(f"Dataset X has shape {self.X.shape}; expected {want} dimensions for kind {self.kind!r}")
        if self.y.ndim not in (1, 2) or self.y.shape[0] != n:
            raise LosslabError(f"Dataset y has shape {self.y.shape}; expected ({n},) or ({n}, T) to match X's {n} rows")
        if n == 0:
            raise LosslabError(f"Dataset {self.name!r} has no rows; expected at least one")
        _check_finite(f"{self.name}: X", self.X, names=self.feature_names if self.kind == "table" else None)
        _check_finite(f"{self.name}: y", self.y, names=self.target_names)
        if self.trials is not None:
            t = np.asarray(self.trials, dtype=np.float32)
            if t.shape != self.y.shape and t.shape != (n,):
                raise LosslabError(f"Dataset trials has shape {t.shape}; expected {self.y.shape} (like y) or ({n},)")
            _check_finite(f"{self.name}: trials", t)
            if (t <= 0).any():
                raise LosslabError(
                    f"{self.name}: trials has {int((t <= 0).sum())} value(s) <= 0, first at row(s) "
                    f"{first_rows(t <= 0)}; expected counts n >= 1"
                )
            # Counts are whole numbers; a fractional n (an "effective sample size") is not a binomial count.
            frac = np.abs(t - np.rint(t)) > 1e-6 * np.maximum(t, 1.0)
            if frac.any():
                raise LosslabError(
                    f"{self.name}: trials has {int(frac.sum())} non-integer value(s) such as {float(t[frac][0]):g}, "
                    f"first at row(s) {first_rows(frac)}; expected whole-number counts n >= 1"
                )
            yy = self.y if self.y.ndim == 1 else self.y.reshape(n, -1)
            out = (yy < 0) | (yy > 1)
            if out.any():
                raise LosslabError(
                    f"{self.name}: y has {int(out.sum())} value(s) outside [0, 1] although trials are given, first at "
                    f"row(s) {first_rows(out)}; expected fractions k/n"
                )
            self.trials = np.ascontiguousarray(t)
        if self.feature_names is not None and self.kind == "table" and len(self.feature_names) != self.X.shape[1]:
            raise LosslabError(
                f"Dataset feature_names has {len(self.feature_names)} names; expected {self.X.shape[1]} (X's columns)"
            )
        n_targets = 1 if self.y.ndim == 1 else self.y.shape[1]
        if self.target_names is not None and len(self.target_names) != n_targets:
            raise LosslabError(f"Dataset target_names has {len(self.target_names)} names; expected {n_targets}")
        if self.splits is not None:
            self.splits = [self._check_split(i, s) for i, s in enumerate(self.splits)]
            if not self.splits:
                self.splits = None

    def _check_split(self, i: int, s: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(self)
        out: dict[str, np.ndarray] = {}
        for key, idx in s.items():
            if key not in _SPLIT_KEYS:
                raise LosslabError(f"Dataset splits[{i}] has key {key!r}; expected 'train', 'val' or 'test'")
            a = np.asarray(idx)
            if a.dtype == bool:
                a = np.flatnonzero(a)
            a = a.astype(np.int64).ravel()
            if a.size and (a.min() < 0 or a.max() >= n):
                raise LosslabError(f"Dataset splits[{i}][{key!r}] holds indices outside [0, {n}); expected row indices")
            out[key] = a
        if "train" not in out:
            raise LosslabError(f"Dataset splits[{i}] has no 'train' indices; expected keys 'train', 'val', 'test'")
        seen = np.concatenate(list(out.values()))
        if np.unique(seen).size != seen.size:
            raise LosslabError(f"Dataset splits[{i}] repeats row indices across or within its parts; expected disjoint parts")
        return out

    # ------------------------------------------------------------------ helpers
    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_targets(self) -> int:
        """Number of targets ``T`` (1 for ``y`` of shape ``(N,)``)."""
        return 1 if self.y.ndim == 1 else int(self.y.shape[1])

    def __repr__(self) -> str:
        trials = "" if self.trials is None else ", trials"
        splits = "" if self.splits is None else f", {len(self.splits)} fixed split(s)"
        return f"Dataset({self.name!r}, {self.kind}, X{tuple(self.X.shape)}, y{tuple(self.y.shape)}{trials}{splits})"

    def split(self, seed: int, *, val: float = 0.15, test: float = 0.2) -> dict[str, np.ndarray]:
        """Sorted int64 row indices ``{"train", "val", "test"}``: deterministic in ``seed``, disjoint.

        With fixed splits the result is ``splits[seed % len(splits)]``; when that split has
        no "val", a fraction ``val`` of its training rows is carved out at random by ``seed``
        (``test`` is then ignored). Without fixed splits a seeded permutation gives
        ``round(test * N)`` test rows, ``round(val * N)`` validation rows and the rest for training.
        """
        for label, v in (("val", val), ("test", test)):
            if not 0.0 <= v < 1.0:
                raise LosslabError(f"split {label}={v}; expected a fraction in [0, 1)")
        if val + test >= 1.0:
            raise LosslabError(f"split val + test = {val + test:g}; expected less than 1 so that rows remain for training")
        rng = np.random.default_rng(int(seed))
        if self.splits:
            fixed = self.splits[int(seed) % len(self.splits)]
            out = {k: np.sort(v) for k, v in fixed.items()}
            out.setdefault("test", np.zeros(0, dtype=np.int64))
            if "val" not in fixed:
                train = out["train"]
                n_val = int(round(val * train.size))
                if n_val >= train.size:
                    n_val = max(train.size - 1, 0)
                perm = rng.permutation(train.size)
                out["val"] = np.sort(train[perm[:n_val]])
                out["train"] = np.sort(train[perm[n_val:]])
            return {k: out[k] for k in _SPLIT_KEYS}
        n = len(self)
        n_test = int(round(test * n))
        n_val = int(round(val * n))
        if n - n_test - n_val < 1:
            raise LosslabError(f"split of {n} rows with val={val:g}, test={test:g} leaves no training row")
        perm = rng.permutation(n)
        return {
            "train": np.sort(perm[n_test + n_val :]),
            "val": np.sort(perm[n_test : n_test + n_val]),
            "test": np.sort(perm[:n_test]),
        }

    def subset(self, idx: Any) -> "Dataset":
        """The rows ``idx`` (indices or a boolean mask) as a new Dataset without fixed splits.

        Arrays in ``meta`` with one entry per row (``true_mean``, ``params``) are subset too.
        """
        a = to_numpy("subset idx", idx)
        if a.dtype == bool:
            if a.shape != (len(self),):
                raise LosslabError(f"subset mask has shape {a.shape}; expected ({len(self)},)")
            a = np.flatnonzero(a)
        a = a.astype(np.int64).ravel()
        n = len(self)
        if a.size and (a.min() < -n or a.max() >= n):
            raise LosslabError(f"subset idx holds indices outside [0, {n}); expected row indices of this data set")

        def cut(v: Any) -> Any:
            if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n:
                return v[a]
            if isinstance(v, dict):
                return {k: cut(w) for k, w in v.items()}
            return v

        meta = {k: cut(v) for k, v in self.meta.items()}
        return replace(
            self,
            X=self.X[a],
            y=self.y[a],
            trials=None if self.trials is None else self.trials[a],
            splits=None,
            feature_names=None if self.feature_names is None else list(self.feature_names),
            target_names=None if self.target_names is None else list(self.target_names),
            meta=meta,
        )


def images_to_nchw(name: str, X: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) or (N, C, H, W) images to float32 (N, C, H, W) in [0, 1]."""
    if X.ndim == 3:
        X = X[:, None]
    elif X.ndim == 4 and X.shape[-1] in (1, 3, 4) and X.shape[1] not in (1, 3, 4):
        X = np.moveaxis(X, -1, 1)  # channels-last input (PIL, matplotlib, MedMNIST)
    if X.ndim != 4:
        raise LosslabError(f"{name} has shape {X.shape}; expected images (N, C, H, W), (N, H, W, C) or (N, H, W)")
    if X.dtype == bool:
        return X.astype(np.float32)
    if np.issubdtype(X.dtype, np.integer):
        top = 65535 if X.dtype == np.uint16 else 255
        if X.size and (X.min() < 0 or X.max() > top):
            raise LosslabError(f"{name} holds integer pixels in [{X.min()}, {X.max()}]; expected 0..{top}")
        return X.astype(np.float32) / np.float32(top)
    X = X.astype(np.float32)
    if X.size and np.isfinite(X).all() and (X.min() < 0 or X.max() > 1):
        raise LosslabError(
            f"{name} holds float images in [{X.min():g}, {X.max():g}]; expected [0, 1] (or integer pixels 0..255)"
        )
    return X


def from_arrays(
    X: Any,
    y: Any,
    *,
    trials: Any = None,
    name: str = "arrays",
    kind: str | None = None,
    splits: list[dict[str, np.ndarray]] | None = None,
    feature_names: list[str] | None = None,
    target_names: list[str] | None = None,
    meta: dict | None = None,
) -> Dataset:
    """A :class:`Dataset` from numpy arrays or torch tensors.

    Args:
        X: features ``(N,)``, ``(N, F)``, or images ``(N, C, H, W)`` / ``(N, H, W, C)`` / ``(N, H, W)``;
            integer images are divided by 255.
        y: labels ``(N,)`` or ``(N, T)``; ``(N, 1)`` becomes ``(N,)``.
        trials: counts ``n`` for k-of-n labels: a number, ``(N,)`` or shaped like ``y``.
        name: the data set's name.
        kind: ``"table"`` or ``"image"``; inferred when None (3-D or 4-D ``X`` are images).

    Returns:
        A :class:`Dataset` with float32 arrays.

    >>> import torch
    >>> ds = from_arrays(torch.zeros(4, 1, 8, 8), torch.tensor([0.0, 0.5, 1.0, 0.25]), trials=4)
    >>> ds.kind, ds.X.shape, ds.trials.tolist()
    ('image', (4, 1, 8, 8), [4.0, 4.0, 4.0, 4.0])
    """
    Xa = to_numpy("X", X)
    ya = to_numpy("y", y)
    if Xa.dtype.kind in "OUSM" or ya.dtype.kind in "OUSM":
        which = "X" if Xa.dtype.kind in "OUSM" else "y"
        raise LosslabError(f"{which} has dtype {(Xa if which == 'X' else ya).dtype}; expected numbers")
    if kind is None:
        kind = "image" if Xa.ndim in (3, 4) else "table"
    if kind == "image":
        Xa = images_to_nchw("X", Xa)
    elif kind == "table":
        if Xa.ndim == 1:
            Xa = Xa[:, None]
        if Xa.ndim != 2:
            raise LosslabError(f"X has shape {Xa.shape}; expected a table (N, F) for kind='table'")
    else:
        raise LosslabError(f"kind={kind!r}; expected 'table', 'image' or None")
    if ya.ndim == 2 and ya.shape[1] == 1:
        ya = ya[:, 0]
    if ya.ndim not in (1, 2):
        raise LosslabError(f"y has shape {ya.shape}; expected (N,) or (N, T)")
    if ya.shape[0] != Xa.shape[0]:
        raise LosslabError(f"y has {ya.shape[0]} rows but X has {Xa.shape[0]}; expected one label row per X row")
    ta = None
    if trials is not None:
        ta = to_numpy("trials", trials).astype(np.float32)
        if ta.ndim == 0:
            ta = np.full(ya.shape, float(ta), dtype=np.float32)
        elif ta.ndim == 2 and ta.shape[1] == 1 and ya.ndim == 1:
            ta = ta[:, 0]
        if ta.shape == (ya.shape[0],) and ya.ndim == 2:
            ta = np.repeat(ta[:, None], ya.shape[1], axis=1)
    return Dataset(
        name=name,
        X=Xa,
        y=ya,
        trials=ta,
        kind=kind,
        splits=splits,
        feature_names=feature_names,
        target_names=target_names,
        meta=dict(meta or {}),
    )


def kfold_splits(n: int, k: int, *, seed: int) -> list[dict[str, np.ndarray]]:
    """``k`` disjoint test folds covering all ``n`` rows once, from a permutation seeded by ``seed``.

    Split ``f`` tests on fold ``f`` and trains on the others; it has no ``"val"``, so
    :meth:`Dataset.split` carves the validation rows out of its training rows (by the run's seed).
    Folds differ in size by at most one row.

    >>> [len(s["test"]) for s in kfold_splits(10, 3, seed=0)]
    [4, 3, 3]
    >>> np.sort(np.concatenate([s["test"] for s in kfold_splits(10, 3, seed=0)])).tolist() == list(range(10))
    True
    """
    if not 2 <= k <= n:
        raise LosslabError(f"cv={k}: k-fold cross-validation needs 2 <= k <= the number of rows ({n})")
    folds = np.array_split(np.random.default_rng(int(seed)).permutation(n), k)
    return [
        {"train": np.sort(np.concatenate([folds[g] for g in range(k) if g != f])), "test": np.sort(folds[f])}
        for f in range(k)
    ]

"""Comparisons on streamed data: splits whose features are read on demand, one batch at a time.

A :class:`StreamSplit` is the :class:`~.trainer.Split` interface the trainer uses (``len``,
``device``, ``y``, ``trials``, ``batches``, ``chunks``, ``outputs``, ``rows``) over a
:class:`~losslab.data.streaming.StreamingDataset`: the labels are tensors on the device, as in
memory, and the features of the rows asked for are read through the data set's DataLoader.

The numbers are those of the same data in memory, trained one model at a time
(``replicas=False``), because every step sees what the in-memory path sees:

* the split is :meth:`~losslab.data.Dataset.split` of the same number of rows;
* table features are standardised with the training rows' mean and standard deviation, summed
  in a streaming pass in the order numpy sums ``X[train].mean(axis=0)`` (row after row, float32),
  so the two agree to the bit;
* each epoch's minibatches are the rows of the trainer's ``torch.randperm(n, generator)``, read in
  that order;
* validation sums each row's NLL in the trainer's chunks of 4096 rows (``mean_nll``), so the
  sums add the same numbers in the same order.

Validation and test rows go through the model in forward passes of :func:`eval_rows` rows
(a power of two, about :data:`EVAL_BYTES` of decoded input; in memory: a pass per 4096 validation
rows, one pass over all test rows), because a pass over thousands of rows holds their
activations, which outweigh the decoded data many times (a 4000-row test pass of cnn-small on
28x28 images: about 200 MiB of convolution outputs). The CPU's matrix kernels work on blocks of
rows and treat a last, partial block (and a single row) their own way, so a row's outputs can
change with its place in the pass: passes of 167 rows moved cnn-small's outputs by up to 2e-7.
Passes whose length is a power of two of at least 64 rows, the last one taking the remainder,
put every row at the same place within its kernel block as the one big pass does: then every
row's outputs were equal to the bit for the mlp, linear, cnn-small and cnn models in a one-off
check on this 2-CPU x86 machine (5 data shapes, 8 row counts, passes of 64 to 1024 rows);
``tests/data/test_streaming.py`` checks mlp and cnn-small comparisons end to end, and a pass
split this way against one pass. A GPU's kernels may round the last bits differently (untested).
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch

from .._errors import LosslabError
from ..data.features import floor_std, standardize
from ..data.streaming import StreamingDataset
from ..models import channels_last
from .trainer import Split

#: rows per forward pass of validation and test at most (the trainer's chunk, ``mean_nll``) and at least
EVAL_ROWS, MIN_EVAL_ROWS = 4096, 64
#: decoded bytes of one validation or test pass, about: 512 KiB, 128 28x28 images (benchmarks/streaming.py: with
#: 4096-row passes the streamed side's peak RSS was the in-memory side's, about 1000 MiB; with these, about 550 MiB)
EVAL_BYTES = 2**19
#: rows per read of the streaming pass that standardises table features
SCALE_ROWS = 4096


def check_options(*, replicas: Any, workers: Any, optimizer: str) -> None:
    """Streamed data train one model at a time, in this process, with Adam: one line for any other choice."""
    if not (replicas is False or replicas == "auto"):
        raise LosslabError(
            f"replicas={replicas!r} cannot apply to streamed data, which train one model at a time; use replicas=False or 'auto' "
            f"(or load the data into memory for batched replicas)"
        )
    if not (workers == 1 or workers == "auto") or isinstance(workers, bool):
        raise LosslabError(
            f"workers={workers!r} cannot apply to streamed data, which train in this process (the DataLoader's workers read the "
            f"data: loader_workers=); use workers=1 or 'auto'"
        )
    if optimizer != "adam":
        raise LosslabError(f"optimizer={optimizer!r} trains full batch, which needs the data in memory; streamed data train with optimizer='adam'")


def eval_rows(data: StreamingDataset) -> int:
    """Rows per validation or test forward pass: the power of two nearest below :data:`EVAL_BYTES` of samples, in [64, 4096].

    >>> from types import SimpleNamespace
    >>> [eval_rows(SimpleNamespace(sample_bytes=b)) for b in (4 * 28 * 28, 4 * 3 * 224 * 224, 4 * 8)]
    [128, 64, 4096]
    """
    fit = max(EVAL_BYTES // max(data.sample_bytes, 1), 1)
    return int(min(EVAL_ROWS, max(MIN_EVAL_ROWS, 1 << (int(fit).bit_length() - 1))))


class StreamSplit:
    """One part of a split over streamed data: labels on the device, features read when asked for.

    Args:
        data: the streamed data set.
        index: the part's row indices in ``data`` (int64, in the order the in-memory split holds them).
        y, trials: the part's labels (and counts) as tensors on the training device.
        device: the training device.
        scale: ``(mean, std)`` float32 arrays that standardise table features, or None.
        eval_rows: rows per forward pass in :meth:`outputs`.
    """

    def __init__(self, data: StreamingDataset, index: np.ndarray, y: torch.Tensor, trials: torch.Tensor | None, device: torch.device,
                 scale: tuple[np.ndarray, np.ndarray] | None, eval_rows: int) -> None:
        self.data, self.index, self.y, self.trials = data, index, y, trials
        self._device, self.scale, self.eval_rows = device, scale, eval_rows

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def device(self) -> torch.device:
        return self._device

    def _features(self, arr: np.ndarray) -> torch.Tensor:
        """A read batch as the in-memory split holds it: standardised with the same float32 operations, on the device."""
        if self.scale is not None:
            mu, sd = self.scale
            arr = standardize(arr, mu, sd)
        return channels_last(torch.as_tensor(arr, device=self._device))

    def _part(self, pos: Any) -> "StreamSplit":
        return StreamSplit(self.data, self.index[pos], self.y[pos], None if self.trials is None else self.trials[pos],
                           self._device, self.scale, self.eval_rows)

    def rows(self, idx: Any) -> Split:
        """The rows at positions ``idx`` (a tensor, array or slice), read now."""
        pos = np.arange(len(self))[idx.cpu().numpy() if torch.is_tensor(idx) else idx]
        part = self._part(pos)
        return Split(self._features(self.data.read(part.index)), part.y, part.trials)

    def batches(self, perm: torch.Tensor, batch_size: int) -> Iterator[Split]:
        """The minibatches ``perm[i:i + batch_size]`` of an epoch (the last partial one dropped), read in that order."""
        order = perm.cpu().numpy()
        starts = range(0, len(self) - batch_size + 1, batch_size)
        wanted = [self.index[order[a : a + batch_size]] for a in starts]
        for xb, a in zip(self.data.batches(wanted), starts):
            sel = perm[a : a + batch_size]
            yield Split(self._features(xb), self.y[sel], None if self.trials is None else self.trials[sel])

    def chunks(self, size: int) -> Iterator["StreamSplit"]:
        """Consecutive parts of ``size`` rows (the last may be shorter), still unread."""
        for a in range(0, len(self), size):
            yield self._part(slice(a, a + size))

    def outputs(self, model: torch.nn.Module) -> torch.Tensor:
        """``model``'s raw outputs on every row, in forward passes of :attr:`eval_rows` rows, the last taking the remainder.

        A short last pass of its own (one row, say) would run other kernels than the one big pass
        of the in-memory path (module docstring).
        """
        n, r = len(self), self.eval_rows
        bounds = list(range(0, n, r))[: max(n // r, 1)] + [n]
        passes = [self.index[a:b] for a, b in zip(bounds, bounds[1:])]
        parts = [model(self._features(xb)) for xb in self.data.batches(passes)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def train_scale(data: StreamingDataset, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the features of ``rows`` (sorted), equal to the bit to numpy's on the rows in memory.

    With two or more columns, ``X[rows].mean(axis=0)`` and ``.std(axis=0)`` in float32 add the
    rows one after the other (numpy's reduction over a C-ordered array's first axis, whose inner
    loop runs along the columns); each read batch continues that sum, with the running total as its
    first row, and the deviations need the mean: a second pass. One column is one contiguous vector,
    which numpy sums pairwise: it is kept (4 bytes a row, as the labels) and given to numpy itself.
    """
    n = len(rows)
    parts = [rows[a : a + SCALE_ROWS] for a in range(0, n, SCALE_ROWS)]
    if data.sample_shape == (1,):
        column = np.concatenate(list(data.batches(parts)))
        mu, sd = column.mean(axis=0), column.std(axis=0)
        return mu, floor_std(mu, sd)

    def running(batches: Iterator[np.ndarray], term) -> np.ndarray:
        acc = None
        for xb in batches:
            t = term(xb)
            acc = np.add.reduce(t, axis=0) if acc is None else np.add.reduce(np.concatenate([acc[None], t]), axis=0)
        return acc

    # numpy divides a float32 sum by the integer count through float64 (a correctly rounded float32 result either way).
    mu = (running(data.batches(parts), lambda x: x).astype(np.float64) / n).astype(np.float32)

    def squared(x: np.ndarray) -> np.ndarray:
        d = x - mu
        return d * d

    sd = np.sqrt((running(data.batches(parts), squared).astype(np.float64) / n).astype(np.float32))
    sd = floor_std(mu, sd)
    return mu, sd


def stream_splits(plan: Any, idx: dict[str, np.ndarray]) -> dict[str, StreamSplit]:
    """The parts ``idx`` of a plan's streamed data, as :func:`.runs.split_tensors` makes them of data in memory."""
    ds: StreamingDataset = plan.data
    scale = train_scale(ds, idx["train"]) if plan.config.standardize and ds.kind == "table" else None
    rows = eval_rows(ds)
    out = {}
    for part, r in idx.items():
        out[part] = StreamSplit(
            ds,
            np.asarray(r, dtype=np.int64),
            torch.as_tensor(ds.y[r], dtype=torch.float32, device=plan.device),
            None if ds.trials is None else torch.as_tensor(ds.trials[r], dtype=torch.float32, device=plan.device),
            plan.device,
            scale,
            rows,
        )
    return out

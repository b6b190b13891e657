"""Side-by-side timing: alternate A/B repetitions in one run, report medians and ranges."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def time_pair(a: Callable[[], object], b: Callable[[], object], *, reps: int = 7, warmup: int = 2) -> dict:
    """Time ``a`` and ``b`` alternately ``reps`` times each; return medians, ranges and the ratio a/b."""
    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for _ in range(reps):
        for fn, out in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    ratios = [x / y for x, y in zip(ta, tb)]
    return {
        "a": statistics.median(ta),
        "b": statistics.median(tb),
        "a_range": (min(ta), max(ta)),
        "b_range": (min(tb), max(tb)),
        "ratio": statistics.median(ta) / statistics.median(tb),
        "ratio_range": (min(ratios), max(ratios)),
    }


def time_one(fn: Callable[[], object], *, reps: int = 7, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def copy_bandwidth(n_bytes: int = 64 * 2**20) -> float:
    """Bytes per second of an in-place tensor copy (read + write counted), the memory-bandwidth yardstick."""
    src = torch.ones(n_bytes // 4)
    dst = torch.empty_like(src)
    dst.copy_(src)
    t = time_one(lambda: dst.copy_(src), reps=9)
    return 2 * n_bytes / t

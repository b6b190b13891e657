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
    """Median of ``reps`` timings of ``fn``, after ``warmup`` untimed calls."""
    return time_stats(fn, reps=reps, warmup=warmup)["median"]


def synced(fn: Callable[[], object], device: torch.device | str = "cpu") -> Callable[[], object]:
    """``fn`` followed by a wait for the device's queued work, so that a host clock times the work itself.

    On the CPU it is ``fn`` unchanged. On CUDA the launches return before the kernels finish, so the
    timed call waits for them (``torch.cuda.synchronize``); the time then includes launch overhead,
    which dominates at small sizes.
    """
    dev = torch.device(device)
    if dev.type != "cuda":
        return fn

    def run() -> object:
        out = fn()
        torch.cuda.synchronize(dev)
        return out

    return run


def copy_bandwidth(n_bytes: int = 64 * 2**20, device: torch.device | str = "cpu") -> float:
    """Bytes per second of an in-place tensor copy (read + write counted), the memory-bandwidth yardstick."""
    src = torch.ones(n_bytes // 4, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    t = time_one(synced(lambda: dst.copy_(src), device), reps=9)
    return 2 * n_bytes / t


def time_stats(fn: Callable[[], object], *, reps: int = 7, warmup: int = 2) -> dict:
    """Median and min-max of ``reps`` timings of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return {"median": statistics.median(ts), "range": (min(ts), max(ts))}


def tune_malloc() -> bool:
    """Tell glibc's allocator to keep freed memory (no ``mmap``/``munmap`` per large tensor): True if it took.

    The same as starting Python with ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` and
    ``MALLOC_TOP_PAD_`` set: large temporaries then reuse pages that are already mapped instead of
    faulting fresh ones in on every call (4-8x faster losses at 1e7 elements here). The process keeps
    the memory it freed (up to 2 GB above its peak use). Linux with glibc only; elsewhere a no-op.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # from glibc's malloc.h
    big = ctypes.c_int(2**31 - 1)
    return all(mallopt(opt, val) == 1 for opt, val in ((m_mmap_threshold, big), (m_trim_threshold, big), (m_top_pad, ctypes.c_int(2**30))))


def setup_process(threads: int | None, tune: bool) -> None:
    """The benchmarks' common ``--threads`` and ``--tune-malloc`` options."""
    if threads:
        torch.set_num_threads(threads)
    if tune and not tune_malloc():
        print("--tune-malloc: glibc's mallopt is not available here; the default allocator stays")

"""Streaming benchmark: an image folder compared streamed and in memory, each in its own process; speed and peak memory.

Run ``python -m benchmarks.streaming`` (``--quick`` for a smoke run of 300 images). It writes
``--images`` (20,000) generated 28x28 greyscale PNGs and a ``labels.csv`` into a temporary folder,
then runs the same short comparison (``--laws``, one seed, ``--epochs`` epochs with early stopping
off, ``model="cnn-small"``) on it twice per repetition, alternating:

* memory: ``ll.data.load(folder)`` decodes every image into one array, then ``ll.compare(ds, replicas=False)``;
* stream: ``ll.data.load(folder, stream=True)`` reads labels.csv and the headers, then ``ll.compare(ds)``
  decodes the images in batches through a DataLoader with ``--loader-workers`` processes.

Each side runs in a fresh Python process (``--child``). Measured per side:

* samples/s: training samples (epochs x training rows in whole minibatches, summed over the runs)
  per second of ``ll.compare`` (validation, test and, streamed, the decoding included);
  end to end adds the time to read the folder;
* peak RSS: the process's ``ru_maxrss`` from ``os.wait4`` (the largest of it and its waited-for
  DataLoader workers), and the peak, sampled every 20 ms, of the summed PSS (proportional set size:
  shared pages split between the processes sharing them) of the process and all its descendants;
* baseline: the same for a process that imports losslab and torch and exits, the floor under both.

It also checks that the two sides' metrics are equal (the streaming path's promise).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


# ---------------------------------------------------------------------------- the folder
def write_folder(root: Path, n: int, size: int = 28, seed: int = 0) -> float:
    """``n`` greyscale PNGs of a bright blob on noise; label = the blob's brightness in [0, 1]. Returns seconds taken."""
    from PIL import Image

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:size, :size]
    lines = ["filename,label"]
    for i in range(n):
        level = rng.random()
        cy, cx = rng.uniform(6, size - 6, size=2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)
        img = np.clip(0.6 * level * blob + 0.25 * rng.random((size, size)), 0, 1)
        name = f"{i:05d}.png"
        Image.fromarray((img * 255).astype(np.uint8)).save(root / name)
        lines.append(f"{name},{level:.4f}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------- one side, in a child process
def child(args: argparse.Namespace) -> dict:
    import torch

    import losslab as ll

    if args.threads:
        torch.set_num_threads(args.threads)
    out: dict = {"mode": args.mode, "threads": torch.get_num_threads()}
    if args.mode == "baseline":
        return out
    stream = args.mode == "stream"
    t0 = time.perf_counter()
    workers = args.loader_workers if args.loader_workers == "auto" else int(args.loader_workers)
    ds = ll.data.load(args.folder, stream=True, loader_workers=workers) if stream else ll.data.load(args.folder)
    out["read_s"] = time.perf_counter() - t0
    out["loader_workers"] = ds.loader_workers if stream else 0
    t0 = time.perf_counter()
    res = ll.compare(ds, laws=args.laws.split(","), seeds=1, model="cnn-small", epochs=args.epochs, patience=args.epochs,
                     batch_size=args.batch_size, replicas=False, workers=1)
    out["compare_s"] = time.perf_counter() - t0
    n_train = len(ds.split(0, val=0.15, test=0.2)["train"])
    per_epoch = (n_train // args.batch_size) * args.batch_size  # the trainer drops the last partial minibatch
    out["samples"] = sum(r["history"]["epochs_run"] * per_epoch for r in res.runs)
    out["metrics"] = {r["law"]: {k: v for k, v in r["metrics"].items() if isinstance(v, float)} for r in res.runs}
    return out


# ---------------------------------------------------------------------------- memory of a process tree
def _children_of() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_kib(root: int) -> int:
    """The summed PSS of ``root`` and its descendants, in KiB."""
    kids = _children_of()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += _pss_kib(pid)
        todo += kids.get(pid, [])
    return total


def run_child(argv: list[str]) -> dict:
    """Run this module as a child with ``argv``; its JSON, peak ru_maxrss and peak sampled tree PSS (MiB)."""
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.streaming", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_pss = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak_pss = max(peak_pss, tree_pss_kib(proc.pid))
        time.sleep(0.02)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(argv)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    out = json.loads(stdout.strip().splitlines()[-1])
    out["maxrss_mib"] = usage.ru_maxrss / 1024  # KiB on Linux
    out["peak_pss_mib"] = peak_pss / 1024
    return out


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--laws", default="bernoulli")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--reps", type=int, default=1, help="repetitions of each side, alternating")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads in each child")
    parser.add_argument("--loader-workers", default="auto", help="DataLoader workers of the streamed side")
    parser.add_argument("--folder", default=None, help="use this image folder instead of writing one (kept)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 300 images, 1 epoch, 1 repetition")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="memory", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return {}
    if args.quick:
        args.images, args.epochs, args.reps = 300, 1, 1
    tmp = None
    if args.folder is None:
        tmp = tempfile.mkdtemp(prefix="losslab-streaming-")
        args.folder = str(Path(tmp) / "images")
        seconds = write_folder(Path(args.folder), args.images)
        print(f"wrote {args.images} PNGs of 28x28 into {args.folder} in {seconds:.1f} s")
    try:
        common = ["--child", "--folder", args.folder, "--epochs", str(args.epochs), "--laws", args.laws, "--batch-size", str(args.batch_size),
                  "--loader-workers", str(args.loader_workers)] + (["--threads", str(args.threads)] if args.threads else [])
        sides: dict[str, list[dict]] = {"baseline": [], "memory": [], "stream": []}
        load = os.getloadavg()
        for _ in range(args.reps):
            for mode in sides:
                sides[mode].append(run_child([*common, "--mode", mode]))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; torch threads per child: "
          f"{sides['memory'][0]['threads']}; {args.reps} repetition(s), medians; {args.images} images, laws {args.laws}, 1 seed, "
          f"cnn-small, {args.epochs} epoch(s), batch {args.batch_size}; streamed with {sides['stream'][0]['loader_workers']} DataLoader worker(s)")
    print(f"  load average (1 min) before and after: {load[0]:.1f}, {os.getloadavg()[0]:.1f}; every repetition, then the medians:")
    print(f"  {'side':15s} {'read s':>7s} {'compare s':>9s} {'samples/s':>10s} {'end to end/s':>13s} {'peak RSS MiB':>13s} {'peak tree PSS MiB':>18s}")
    summary: dict = {}

    def line(label: str, row: dict) -> None:
        if "compare_s" in row:
            print(f"  {label:15s} {row['read_s']:7.1f} {row['compare_s']:9.1f} {row['samples_per_s']:10.0f} {row['end_to_end_per_s']:13.0f} "
                  f"{row['maxrss_mib']:13.0f} {row['peak_pss_mib']:18.0f}")
        else:
            print(f"  {label:15s} {'':7s} {'':9s} {'':10s} {'':13s} {row['maxrss_mib']:13.0f} {row['peak_pss_mib']:18.0f}")

    for mode, runs in sides.items():
        for run in runs:
            if mode != "baseline":
                run["samples_per_s"] = run["samples"] / run["compare_s"]
                run["end_to_end_per_s"] = run["samples"] / (run["compare_s"] + run["read_s"])
        keys = ["maxrss_mib", "peak_pss_mib"] + (["read_s", "compare_s", "samples_per_s", "end_to_end_per_s"] if mode != "baseline" else [])
        row = {k: statistics.median(run[k] for run in runs) for k in keys}
        row["runs"] = runs
        if len(runs) > 1:
            for i, run in enumerate(runs):
                line(f"{mode} #{i + 1}", run)
        line(f"{mode} median", row)
        summary[mode] = row
    same = all(r["metrics"] == sides["memory"][0]["metrics"] for r in sides["stream"] + sides["memory"])
    summary["same_numbers"] = same
    print(f"  the two sides' metrics are {'equal' if same else 'NOT equal'} (every repetition, == on floats)")
    decoded = args.images * 28 * 28 * 4 / 2**20
    print(f"  (the decoded folder is {decoded:.0f} MiB of float32)")
    return summary


if __name__ == "__main__":
    main()

"""Two versions of losslab side by side: is a change (a refactor, say) slower on the grid?

Run ``python -m benchmarks.commits --old REV`` (``--quick`` for a smoke run). It checks the
revision ``REV`` out into a temporary git worktree and times the same ``ll.compare`` call
(the grid's data set, laws, model and epoch cap; ``--seeds`` seeds) under each source tree, each
timing in a fresh process (so neither version's imports or caches help the other), alternating
old, new, new, old, ... so that load drifting on a shared machine falls on both sides. A process
times only the call, after an untimed warm-up comparison of two laws on 64 rows (with its recommendation and table, so
that modules imported on first use load untimed on both sides); the printed
ratio is new over old per repetition pair (median and min-max), and each side's mean test MSE
of the recommended law, which a refactor must leave unchanged.

Both trees must accept ``ll.compare(ds, laws=..., seeds=..., model=..., epochs=...)``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .grid import DEFAULT_LAWS

ROOT = Path(__file__).resolve().parents[1]

#: the child process: import losslab from the tree on sys.path, warm up, time one comparison, print JSON
CHILD = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads({threads})
import losslab as ll
ds = ll.data.load({data!r})
if {quick}:
    ds = ds.subset(np.sort(np.random.default_rng(0).permutation(len(ds))[:160]))
warm = ll.compare(ds.subset(np.arange(64)), laws={laws}[:2], seeds=2, model={model!r}, epochs=1)
warm.recommend(), warm.table()  # lazily imported modules (pandas, scipy.stats) load here, untimed on both sides
t0 = time.perf_counter()
res = ll.compare(ds, laws={laws}, seeds={seeds}, model={model!r}, epochs={epochs})
rec = res.recommend()
seconds = time.perf_counter() - t0
mse = float(res.table().loc[rec.law, "mean_squared_error"]) if "mean_squared_error" in res.table().columns else float("nan")
print(json.dumps({{"seconds": seconds, "law": rec.law, "mse": mse}}))
"""


def time_tree(src: Path, code: str) -> dict:
    """Run ``code`` in a fresh interpreter importing losslab from ``src``; its last stdout line as JSON."""
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the comparison under {src} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old", required=True, help="the git revision to compare the working tree against")
    p.add_argument("--data", default="digits-inpaint")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--model", default="mlp")
    p.add_argument("--reps", type=int, default=4, help="pairs of (old, new) timings, alternating which goes first")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="smoke mode: 160 rows, 2 laws, 1 seed, 2 epochs, 1 pair")
    args = p.parse_args(argv)
    laws = list(DEFAULT_LAWS[:2] if args.quick else DEFAULT_LAWS)
    seeds, epochs, reps = (1, 2, 1) if args.quick else (args.seeds, args.epochs, args.reps)
    code = CHILD.format(threads=args.threads, data=args.data, quick=args.quick, laws=laws, seeds=seeds, model=args.model, epochs=epochs)
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), args.old], check=True)
        try:
            olds, news = [], []
            for i in range(reps):
                order = [("old", old / "src"), ("new", ROOT / "src")]
                for side, src in order if i % 2 == 0 else order[::-1]:
                    (olds if side == "old" else news).append(time_tree(src, code))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)
    ratios = [n["seconds"] / o["seconds"] for o, n in zip(olds, news)]
    out = {
        "old": args.old,
        "old_seconds": [o["seconds"] for o in olds],
        "new_seconds": [n["seconds"] for n in news],
        "ratio": statistics.median(ratios),
        "ratio_range": (min(ratios), max(ratios)),
        "old_winner": (olds[0]["law"], olds[0]["mse"]),
        "new_winner": (news[0]["law"], news[0]["mse"]),
    }
    print(
        f"{args.data}, {len(laws)} laws x {seeds} seeds, {args.model}, cap {epochs} epochs, {args.threads} thread(s), {reps} pair(s):\n"
        f"  old ({args.old}): median {statistics.median(out['old_seconds']):.1f} s {['%.1f' % s for s in out['old_seconds']]}\n"
        f"  new (working tree): median {statistics.median(out['new_seconds']):.1f} s {['%.1f' % s for s in out['new_seconds']]}\n"
        f"  new / old: {out['ratio']:.3f} (pairs {out['ratio_range'][0]:.3f}-{out['ratio_range'][1]:.3f})\n"
        f"  winner: old {out['old_winner'][0]} (test MSE {out['old_winner'][1]:.6f}), new {out['new_winner'][0]} (test MSE {out['new_winner'][1]:.6f})"
    )
    return out


if __name__ == "__main__":
    main()

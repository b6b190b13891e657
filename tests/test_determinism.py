"""The same command twice gives bit-identical metrics, and what produced them is on record.

``losslab compare`` runs twice as separate processes on one small CSV (2 laws x 2 seeds,
3 epochs), into two output folders with two stores. Every metric in results.csv,
results.json and the stores must be equal to the last bit; only timings and the output
paths may differ. Seeds, package versions and the configuration must be written to the
store and to every report file.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

LAWS = "bernoulli,gaussian-hetero"
SEEDS = 2


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("determinism")
    rng = np.random.default_rng(7)
    X = rng.normal(size=(160, 3))
    y = np.round(1 / (1 + np.exp(-(X[:, 0] - X[:, 2]))) * 10) / 10
    data = tmp / "labels.csv"
    pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "x2": X[:, 2], "score": y}).to_csv(data, index=False)
    outs = []
    for name in ("first", "second"):
        out = tmp / name
        cmd = [sys.executable, "-m", "losslab.cli", "compare", str(data), "--target", "score", "--laws", LAWS,
               "--seeds", str(SEEDS), "--epochs", "3", "--quiet", "--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        outs.append(out)
    return outs


def _csv_without(path, drop=("seconds",)):
    rows = list(csv.reader(io.StringIO(path.read_text())))
    keep = [i for i, h in enumerate(rows[0]) if h not in drop]
    return [[r[i] for i in keep] for r in rows]


def test_results_csv_is_bit_identical_but_for_timings(two_runs):
    a, b = (_csv_without(out / "results.csv") for out in two_runs)
    assert len(a) == 1 + 2 * SEEDS
    metric_cols = [h for h in a[0] if h not in ("law", "seed", "status", "epochs")]
    assert "mean_squared_error" in metric_cols and "log_score" in metric_cols
    assert a == b  # the exact decimal text: every float printed with repr's 17 significant digits


def _strip_timings(obj):
    """results.json without what may differ between two runs: timings and the command line (its --out path)."""
    if isinstance(obj, dict):
        return {k: _strip_timings(v) for k, v in obj.items()
                if k not in ("command",) and not k.startswith("seconds")}
    if isinstance(obj, list):
        return [_strip_timings(v) for v in obj]
    return obj


def test_results_json_is_bit_identical_but_for_timings(two_runs):
    a, b = (json.loads((out / "results.json").read_text()) for out in two_runs)
    assert _strip_timings(a) == _strip_timings(b)
    assert a["recommendation"] == b["recommendation"]
    assert [r["law"] for r in a["runs"]] == [r["law"] for r in b["runs"]] and len(a["runs"]) == 2 * SEEDS


def _store_rows(out):
    con = sqlite3.connect(out / "runs.sqlite")
    runs = con.execute("SELECT key, law, seed, status, config, metrics, history, arrays FROM runs ORDER BY key").fetchall()
    comps = con.execute("SELECT key, config FROM comparisons").fetchall()
    con.close()
    return runs, comps


def test_stores_hold_identical_runs(two_runs):
    (runs_a, comps_a), (runs_b, comps_b) = (_store_rows(out) for out in two_runs)
    assert len(runs_a) == 2 * SEEDS
    # Keys, configs, metrics, learning curves and the stored arrays (predictions, raw outputs), byte for byte.
    assert runs_a == runs_b
    assert comps_a == comps_b


def test_seeds_versions_and_config_are_recorded(two_runs):
    import scipy
    import torch

    import losslab

    out = two_runs[0]
    runs, comps = _store_rows(out)
    (_, comp_config), = comps
    cfg = json.loads(comp_config)
    versions = {"losslab": losslab.__version__, "torch": torch.__version__, "numpy": np.__version__,
                "scipy": scipy.__version__}
    # The store: the comparison's seeds, laws, training options, data fingerprint and package versions ...
    assert cfg["seeds"] == list(range(SEEDS)) and [law for law, _ in cfg["laws"]] == LAWS.split(",")
    assert {"epochs", "lr", "batch_size", "patience", "optimizer"} <= set(cfg["train"]) and cfg["train"]["epochs"] == 3
    assert cfg["data"]["fingerprint"] and cfg["split_seed"] == 0
    assert {k: cfg["versions"][k] for k in versions} == versions and "python" in cfg["versions"]
    # ... and each run's own seed and configuration.
    assert sorted(r[2] for r in runs) == sorted(list(range(SEEDS)) * 2)
    for _, _, seed, _, run_config, *_ in runs:
        run_config = json.loads(run_config)
        assert run_config["seed"] == seed and run_config["train"]["epochs"] == 3
    # The report: results.json, report.md and report.html carry the same.
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["seeds"] == list(range(SEEDS)) and res["config"]["train"] == cfg["train"]
    assert {k: res["versions"][k] for k in versions} == versions
    assert "losslab compare" in res["command"] and "--seeds 2" in res["command"]
    for name in ("report.md", "report.html"):
        text = (out / name).read_text()
        assert f'"torch": "{torch.__version__}"' in text.replace("&quot;", '"'), name
        assert '"seeds": [' in text.replace("&quot;", '"'), name
        assert "--seeds 2" in text, name

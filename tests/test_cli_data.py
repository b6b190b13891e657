"""`losslab compare` on data a user would bring: a CSV, an image folder, a registry entry; and Ctrl-C.

Each data source is written by the test itself (the image folder by a PNG encoder
written here from the PNG specification, independent of the Pillow reader the
package uses), except RetinaMNIST, read from the shared real-data folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from losslab.cli import app

runner = CliRunner()
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not (SHARED / "retinamnist" / "retinamnist.npz").is_file(),
    reason=f"the shared real-data folder {SHARED} (../shared/data beside the repository) has no retinamnist/; "
    "set it up as its README says to run the CLI on RetinaMNIST",
)


def _png_gray(path: Path, pixels: np.ndarray) -> None:
    """Write an 8-bit grayscale PNG (PNG spec, ISO/IEC 15948: signature, IHDR, one IDAT of filter-0 rows, IEND)."""
    h, w = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(row) for row in pixels.astype(np.uint8))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # bit depth 8, colour type 0 (gray), no interlace
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _results(out: Path) -> tuple[dict, pd.DataFrame]:
    return json.loads((out / "results.json").read_text()), pd.read_csv(out / "results.csv")


def _check_recommendation(payload: dict, frame: pd.DataFrame, laws: list[str], seeds: int) -> None:
    """The report's files agree with each other: every run is there, and the recommended law has the lowest mean MSE."""
    assert sorted(frame["law"].unique()) == sorted(laws)
    assert frame.groupby("law")["seed"].nunique().to_dict() == {law: seeds for law in laws}
    # Recomputed from results.csv by pandas: the default ranking metric is mean_squared_error, lower is better.
    best = frame[frame["status"] == "ok"].groupby("law")["mean_squared_error"].mean().idxmin()
    assert payload["recommendation"]["law"] == best


def test_compare_on_a_csv_with_trials_and_features(tmp_path):
    rng = np.random.default_rng(3)
    n = 240
    X = rng.normal(size=(n, 3))
    trials = rng.integers(4, 20, size=n)
    k = rng.binomial(trials, 1 / (1 + np.exp(-1.5 * X[:, 0])))
    csv = tmp_path / "counts.csv"
    pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "noise": X[:, 2], "n": trials, "frac": k / trials}).to_csv(csv, index=False)
    out = tmp_path / "out"
    laws = ["binomial", "bernoulli"]
    res = runner.invoke(
        app,
        ["compare", str(csv), "--target", "frac", "--trials", "n", "--features", "x0,x1", "--laws", ",".join(laws),
         "--seeds", "2", "--epochs", "3", "--model", "linear", "--quiet", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    payload, frame = _results(out)
    _check_recommendation(payload, frame, laws, seeds=2)
    assert payload["data"]["n"] == n
    assert f"Recommended law: {payload['recommendation']['law']}" in res.output


def test_compare_on_an_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "my images"  # a space in the path, as users have
    folder.mkdir()
    rows = []
    for i in range(48):
        img = np.zeros((8, 8), dtype=np.uint8)
        lit = rng.integers(0, 65)
        img.flat[rng.permutation(64)[:lit]] = 255
        _png_gray(folder / f"img_{i:02d}.png", img)
        rows.append({"filename": f"img_{i:02d}.png", "label": lit / 64})
    labels = pd.DataFrame(rows)
    labels.to_csv(folder / "labels.csv", index=False)

    # inspect reads the same folder: its label mean is the mean of the labels we wrote.
    res = runner.invoke(app, ["inspect", str(folder)])
    assert res.exit_code == 0, res.output
    mean = float(re.search(r"mean\s*│?\s*([-0-9.e]+)", res.output).group(1))
    assert mean == pytest.approx(labels["label"].mean(), rel=1e-3)

    out = tmp_path / "out"
    laws = ["bernoulli", "sigmoid-mse"]
    res = runner.invoke(
        app,
        ["compare", str(folder), "--laws", ",".join(laws), "--seeds", "2", "--epochs", "2", "--model", "cnn-small",
         "--quiet", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    payload, frame = _results(out)
    _check_recommendation(payload, frame, laws, seeds=2)
    assert payload["data"]["kind"] == "image" and payload["data"]["n"] == 48
    assert payload["config"]["model"] == "cnn-small"
    assert (out / "report.html").is_file()


@needs_shared
def test_compare_on_retinamnist(tmp_path, monkeypatch):
    from losslab.experiment.compare import load_result

    monkeypatch.setenv("LOSSLAB_DATA", str(SHARED))
    out = tmp_path / "out"
    laws = ["bernoulli", "sigmoid-mse"]
    res = runner.invoke(
        app,
        ["compare", "retinamnist", "--laws", ",".join(laws), "--seeds", "2", "--epochs", "2", "--model", "linear",
         "--quiet", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    payload, frame = _results(out)
    _check_recommendation(payload, frame, laws, seeds=2)
    # MedMNIST v2's official split of RetinaMNIST is 1080/120/400 (Yang et al. 2023; ../shared/data/README.md).
    assert payload["data"]["n"] == 1600
    runs = load_result(out / "runs.sqlite").runs
    assert {r["arrays"]["y_true"].shape[0] for r in runs} == {400}
    # Labels are grade/4 for grades 0..4.
    y = runs[0]["arrays"]["y_true"]
    assert set(np.unique(np.round(y * 4, 6))) <= {0.0, 1.0, 2.0, 3.0, 4.0}


# ------------------------------------------------------------------------------------------ Ctrl-C
def _store_rows(path: Path) -> dict[tuple[str, int], float]:
    """``{(law, seed): finished}`` read straight from the SQLite file (WAL mode allows a reader beside the writer)."""
    if not path.exists():
        return {}
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return {(law, int(seed)): t for law, seed, t in con.execute("SELECT law, seed, finished FROM runs")}
        finally:
            con.close()
    except sqlite3.Error:  # the schema may not exist yet
        return {}


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(tmp_path):
    """SIGINT after the first run is stored: exit 130 with one line; the re-run trains only what is missing."""
    rng = np.random.default_rng(1)
    n = 600
    X = rng.normal(size=(n, 4))
    p = 1 / (1 + np.exp(-(X[:, 0] - 0.5 * X[:, 1])))
    csv = tmp_path / "data.csv"
    pd.DataFrame({**{f"x{i}": X[:, i] for i in range(4)}, "score": np.round(p * 16) / 16}).to_csv(csv, index=False)
    out, store = tmp_path / "out", tmp_path / "out" / "runs.sqlite"
    laws = ["bernoulli", "sigmoid-mse", "continuous-bernoulli"]
    script = Path(sys.executable).with_name("losslab")  # the console script pip installs
    cmd = [str(script) if script.exists() else sys.executable, *([] if script.exists() else ["-m", "losslab.cli"]),
           "compare", str(csv), "--target", "score", "--laws", ",".join(laws), "--seeds", "2", "--epochs", "20",
           "--model", "mlp", "--quiet", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and not _store_rows(store) and time.monotonic() < deadline:
            time.sleep(0.05)
        at_signal = _store_rows(store)
        if proc.poll() is not None:
            pytest.fail(f"the comparison ended (exit {proc.returncode}) before SIGINT could be sent: {proc.stderr.read()[-500:]}")
        assert at_signal, "no run was stored within 300 s"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (proc.returncode, stderr[-800:])
    saved = _store_rows(store)
    assert len(saved) < len(laws) * 2, "the whole grid finished: SIGINT came too late to test a stop"
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    m = re.fullmatch(r"stopped; (\d+) runs? saved in (.+), re-run to resume", lines[0])
    assert m, lines[0]
    assert int(m.group(1)) == len(saved) and Path(m.group(2)) == store
    assert not (out / "report.html").exists()

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-800:]
    final = _store_rows(store)
    assert set(final) == {(law, s) for law in laws for s in (0, 1)}
    # Stored runs are not recomputed: a recomputed run would be written again with a new finish time.
    assert {k: final[k] for k in saved} == saved
    assert "Recommended law:" in rerun.stdout and (out / "report.html").is_file()

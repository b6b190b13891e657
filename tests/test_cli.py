"""The command line through Typer's runner and as a subprocess; bad input exits 2 with one line."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from losslab.cli import app

runner = CliRunner()
FAST = ["--seeds", "2", "--epochs", "3", "--quiet"]


@pytest.fixture
def csv_path(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    p = 1 / (1 + np.exp(-X[:, 0]))
    df = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "<b>weird</b>": X[:, 2], "score": np.round(p * 8) / 8})
    path = tmp_path / "labels.csv"
    df.to_csv(path, index=False)
    return path


def test_compare_on_a_csv_writes_the_report(csv_path, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(app, ["compare", str(csv_path), "--target", "score", "--laws", "bernoulli,sigmoid-mse", "--out", str(out), *FAST])
    assert res.exit_code == 0, res.output
    assert "Recommended law:" in res.output
    for name in ("report.html", "report.md", "results.csv", "results.json", "metric.png", "runs.sqlite"):
        assert (out / name).exists(), name
    html = (out / "report.html").read_text()
    assert "Recommended:" in html and "<b>weird</b>" not in html
    rebuilt = runner.invoke(app, ["report", str(out / "runs.sqlite"), "--out", str(tmp_path / "again")])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert (tmp_path / "again" / "report.html").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["compare", "no-such-file.csv", "--target", "score"], "no-such-file"),
        (["compare", "{csv}", "--target", "scor"], "score"),
        (["compare", "{csv}", "--target", "score", "--laws", "bernouli"], "did you mean 'bernoulli'"),
        (["compare", "{csv}", "--target", "score", "--laws", "beta"], "outside the support"),
        (["laws", "no-such-law"], "unknown law"),
    ],
)
def test_bad_input_exits_2_with_one_line(csv_path, tmp_path, args, message):
    args = [a.replace("{csv}", str(csv_path)) for a in args] + ["--out", str(tmp_path / "o")] * (args[0] == "compare")
    res = runner.invoke(app, args + (FAST if args[0] == "compare" else []))
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.strip().splitlines() if line.strip()]
    assert message in res.output.replace("\n", " "), res.output
    assert "Traceback" not in res.output and len(lines) <= 3


def test_laws_and_inspect(csv_path):
    res = runner.invoke(app, ["laws"])
    assert res.exit_code == 0 and "continuous-bernoulli" in res.output
    res = runner.invoke(app, ["laws", "beta"])
    assert res.exit_code == 0 and "betareg" in res.output.lower()
    res = runner.invoke(app, ["inspect", str(csv_path), "--target", "score"])
    assert res.exit_code == 0, res.output
    assert "suggested laws" in res.output


def test_subprocess_entry_point():
    proc = subprocess.run([sys.executable, "-m", "losslab.cli", "laws", "gaussian"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "gaussian" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "losslab.cli", "laws", "nope"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown law" in proc.stderr and "Traceback" not in proc.stderr

"""The command line through Typer's runner and as a subprocess; bad input exits 2 with one line."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

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
    # A file name with markup in it: the report shows it (title, data name, source) as escaped text.
    hostile = tmp_path / "<img src=x onerror=alert(1)>&labels.csv"
    hostile.write_bytes(csv_path.read_bytes())
    res = runner.invoke(app, ["compare", str(hostile), "--target", "score", "--laws", "bernoulli,sigmoid-mse", "--out", str(out), *FAST])
    assert res.exit_code == 0, res.output
    assert "Recommended law:" in res.output
    for name in ("report.html", "report.md", "results.csv", "results.json", "metric.png", "runs.sqlite"):
        assert (out / name).exists(), name
    html = (out / "report.html").read_text()
    law = json.loads((out / "results.json").read_text())["recommendation"]["law"]
    assert f"Recommended law: {law}" in html and "<b>weird</b>" not in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;&amp;labels" in html
    rebuilt = runner.invoke(app, ["report", str(out / "runs.sqlite"), "--out", str(tmp_path / "again")])
    assert rebuilt.exit_code == 0, rebuilt.output
    # The store holds the same runs, so the rebuilt report recommends the same law.
    assert json.loads((tmp_path / "again" / "results.json").read_text())["recommendation"]["law"] == law
    assert f"Recommended law: {law}" in (tmp_path / "again" / "report.html").read_text()


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


# ------------------------------------------------------------------------------ every command in-process
def test_demo_writes_the_report(tmp_path):
    out = tmp_path / "demo"
    res = runner.invoke(app, ["demo", "--out", str(out), "--seeds", "2", "--epochs", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    payload = json.loads((out / "results.json").read_text())
    assert payload["data"]["name"] == "digits-inpaint"
    assert f"Recommended law: {payload['recommendation']['law']}" in res.output
    assert (out / "report.html").is_file() and (out / "runs.sqlite").is_file()


def test_datasets_list_and_fetch(monkeypatch):
    import losslab as ll

    for args in (["datasets"], ["datasets", "list"]):
        res = runner.invoke(app, args, terminal_width=200)
        assert res.exit_code == 0, res.output
        for name in ll.data.list_datasets():
            assert name in res.output, name
    res = runner.invoke(app, ["datasets", "fetch", "no-such-set"])
    assert res.exit_code == 2 and "no-such-set" in res.output
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if (shared / "retinamnist").is_dir():
        monkeypatch.setenv("LOSSLAB_DATA", str(shared))
        res = runner.invoke(app, ["datasets", "fetch", "retinamnist"], terminal_width=200)
        assert res.exit_code == 0, res.output
        assert str(shared / "retinamnist") in res.output


# ------------------------------------------------------------------------------ the report's content
def _hand_made_result():
    """A ComparisonResult built from made-up runs, so which law wins which column is known in advance."""
    from losslab.experiment.compare import CompareConfig, ComparisonResult

    laws = [("beta", {}), ("gaussian-hetero", {}), ("sigmoid-mse", {}), ("gaussian", {"sigma": 0.5}), ("laplace", {})]
    labels = ["beta", "gaussian-hetero", "sigmoid-mse", "gaussian(sigma=0.5)", "laplace"]
    # Per law: (mean_squared_error, crps); sigmoid-mse is best on both, gaussian-hetero second on crps.
    values = {"beta": (0.050, 0.200), "gaussian-hetero": (0.060, 0.150), "sigmoid-mse": (0.040, 0.100),
              "gaussian(sigma=0.5)": (0.045, 0.120), "laplace": (0.070, 0.110)}
    runs = []
    for label in labels:
        mse, crps = values[label]
        for seed in range(3):
            d = 0.001 * seed
            runs.append({
                "law": label, "seed": seed, "status": "ok", "seconds": 1.0, "arrays": {},
                "history": {"train": [1.0, 0.5], "val": [1.1, 0.6], "epochs_run": 2},
                "metrics": {"mean_squared_error": mse + d, "crps": crps + d, "log_score": -1.0 + d,
                            "interval_coverage": 0.9, "pit_calibration_error": 0.05 + d},
            })
    cfg = CompareConfig(laws=laws, seeds=[0, 1, 2], model="mlp")
    return ComparisonResult(runs, cfg, data_meta={"name": "made-up", "n": 100, "kind": "table"})


def test_fixed_spread_laws_are_found_with_their_standard_deviation():
    from losslab.report.write import fixed_spread_laws

    found = fixed_spread_laws(_hand_made_result())
    # References: a Normal's standard deviation is its sigma; a Laplace law of scale b has variance 2 b^2.
    assert set(found) == {"sigmoid-mse", "gaussian(sigma=0.5)", "laplace"}
    assert found["sigmoid-mse"] == pytest.approx(1.0)
    assert found["gaussian(sigma=0.5)"] == pytest.approx(0.5)
    assert found["laplace"] == pytest.approx(math.sqrt(2.0))


def test_report_flags_distributional_scores_of_fixed_spread_laws(tmp_path):
    from losslab.report import summary_table, write_report

    result = _hand_made_result()
    table = summary_table(result)
    fixed = {"sigmoid-mse", "gaussian(sigma=0.5)", "laplace"}
    for law in table.index:
        for metric in ("crps", "log_score", "pit_calibration_error", "interval_coverage"):
            assert table.loc[law, metric].endswith("†") == (law in fixed), (law, metric, table.loc[law, metric])
        assert "†" not in table.loc[law, "mean_squared_error"]
    # sigmoid-mse has the lowest crps, but a fixed spread cannot win a spread metric: the star goes to
    # gaussian-hetero, the best law with a learned spread. On the point metric sigmoid-mse keeps its star.
    assert table.loc["gaussian-hetero", "crps"].startswith("★")
    assert not any(table.loc[law, "crps"].startswith("★") for law in table.index if law != "gaussian-hetero")
    assert table.loc["sigmoid-mse", "mean_squared_error"].startswith("★")

    paths = write_report(result, tmp_path, figures=False)
    page = paths["html"].read_text()
    # The caveat sits right after the metric table, before the next section.
    after_table = page[page.index("</table>"):]
    note = after_table[: after_table.index("<h2>")]
    assert "fixed spread" in note and "not meaningful distributional scores" in note
    for law in fixed:
        assert law in note
    # The winner has a fixed spread, so the answer box itself says what its scores do not mean.
    answer = page[page.index("id='recommendation'"):]
    answer = answer[: answer.index("</div>")]
    assert "Recommended law: sigmoid-mse" in answer and "fixed spread" in answer
    md = paths["md"].read_text()
    assert "fixed spread" in md and "| ★ 0.151 ± 0.002484 |" in md and "| 0.101 ± 0.002484 † |" in md
    assert json.loads(paths["json"].read_text())["fixed_spread"]["laplace"] == pytest.approx(math.sqrt(2.0))


def test_report_states_the_recommendation_first(tmp_path):
    from losslab.report import write_report

    result = _hand_made_result()
    paths = write_report(result, tmp_path, figures=False)
    page = paths["html"].read_text()
    body = page[page.index("<body>"):]
    # Nothing but the title comes before the answer; the answer holds the law, the data and the grid.
    assert body.index("id='recommendation'") < min(body.index("<h2>"), body.index("<table"))
    assert body.index("<h1>") < body.index("id='recommendation'")
    answer = body[body.index("id='recommendation'"): body.index("</div>")]
    assert "Recommended law: sigmoid-mse" in answer
    assert "Compared on made-up (100 rows, table): model mlp, 5 laws" in answer and "3 seeds" in answer
    md_lines = [line for line in paths["md"].read_text().splitlines() if line.strip()]
    assert md_lines[0].startswith("# ") and md_lines[1] == "**Recommended law: sigmoid-mse**"


# ------------------------------------------------------------------------------ as a subprocess
def _losslab() -> list[str]:
    """The `losslab` console script pip installed beside this Python (``python -m losslab.cli`` without it)."""
    script = Path(sys.executable).with_name("losslab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "losslab.cli"]


def test_subprocess_inspect_datasets_and_report(csv_path, tmp_path):
    import losslab as ll

    proc = subprocess.run([*_losslab(), "inspect", str(csv_path), "--target", "score"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "suggested laws" in proc.stdout
    proc = subprocess.run([*_losslab(), "datasets", "list"], capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert all(name in proc.stdout for name in ll.data.list_datasets())
    # report: rebuild from a store written in-process by the library.
    store = tmp_path / "runs.sqlite"
    ll.compare(str(csv_path), target="score", laws=["bernoulli", "sigmoid-mse"], model="linear", seeds=2, epochs=2, store=str(store))
    proc = subprocess.run([*_losslab(), "report", str(store), "--out", str(tmp_path / "rep")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Recommended law:" in (tmp_path / "rep" / "report.html").read_text()


@pytest.mark.slow
def test_subprocess_demo_with_defaults(tmp_path):
    """The README's main job, `losslab demo`, with its default settings, to completion (minutes on 2 cores)."""
    proc = subprocess.run([*_losslab(), "demo", "--out", str(tmp_path / "demo"), "--quiet"], capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    payload = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert f"Recommended law: {payload['recommendation']['law']}" in (tmp_path / "demo" / "report.html").read_text()
    assert len(payload["config"]["seeds"]) == 3


def test_progress_keeps_a_bar_per_run_when_two_seeds_of_a_law_train_at_once():
    # In worker processes two seeds of one law can train side by side; their epoch events name the seed.
    from losslab.cli import _GridProgress

    prog = _GridProgress(enabled=False)
    prog({"event": "grid", "total": 5, "laws": ["bernoulli", "zoib"], "seeds": [0, 1, 2]})
    for seed in (0, 1):
        prog({"event": "run_start", "law": "bernoulli", "seed": seed, "replicas": 1})
    assert set(prog.bars) == {("bernoulli", 0), ("bernoulli", 1)}
    prog({"event": "epoch", "law": "bernoulli", "seed": 1, "epoch": 3, "epochs": 10, "train": 0.7, "val": 0.6})
    tasks = {t.id: t for t in prog.progress.tasks}
    assert tasks[prog.bars[("bernoulli", 1)][0]].completed == 3 and tasks[prog.bars[("bernoulli", 0)][0]].completed == 0
    prog({"event": "run_end", "law": "bernoulli", "seed": 0, "status": "ok", "cached": False, "done": 1, "total": 5})
    assert set(prog.bars) == {("bernoulli", 1)}  # the other seed's bar stays
    # Seeds batched together share one bar, which goes when the last of them ends.
    for seed in (0, 1, 2):
        prog({"event": "run_start", "law": "zoib", "seed": seed, "replicas": 3})
    assert set(prog.bars) == {("bernoulli", 1), "zoib"}
    prog({"event": "epoch", "law": "zoib", "seed": 2, "epoch": 4, "epochs": 10, "train": 0.7, "val": 0.6})
    assert {t.id: t for t in prog.progress.tasks}[prog.bars["zoib"][0]].completed == 4
    for done, seed in enumerate((0, 1, 2), start=2):
        prog({"event": "run_end", "law": "zoib", "seed": seed, "status": "ok", "cached": False, "done": done, "total": 5})
    assert set(prog.bars) == {("bernoulli", 1)}

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
    # once: the headline, then the reason without its opening "Recommended law: X." (issue 23)
    assert res.output.count("Recommended law:") == 1, res.output
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


def ll_formula(name):
    from losslab.laws import get_law

    return " ".join(get_law(name).formula.split())


def test_laws_and_inspect(csv_path):
    res = runner.invoke(app, ["laws"])
    assert res.exit_code == 0 and "continuous-bernoulli" in res.output
    res = runner.invoke(app, ["laws", "beta"])
    # a summary built from the law's metadata (tests/test_cli_readability.py checks it in full), not the docstring
    assert res.exit_code == 0 and "beta regression" in res.output and ll_formula("beta") in " ".join(res.output.split())
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
    assert res.output.count("Recommended law:") == 1, res.output
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
    # The long caveat sits with the full table (collapsed), right after it; the first screen says it once, shorter.
    full = page[page.index("id='all-metrics'"):]
    after_table = full[full.index("</table>"):]
    note = after_table[: after_table.index("</details>")]
    assert "fixed spread" in note and "not meaningful distributional scores" in note
    for law in fixed:
        assert law in note
    assert page[: page.index("id='all-metrics'")].count("fixed spread") == 1
    # The winner has a fixed spread, so the answer box itself says what its scores do not mean.
    answer = page[page.index("id='recommendation'"):]
    answer = answer[: answer.index("</div>")]
    assert "Recommended law: sigmoid-mse" in answer and "fixed spread" in answer
    md = paths["md"].read_text()
    # Seeds 0.150, 0.151, 0.152: half-width t(0.975, 2) * 0.001 / sqrt(3) = 4.303 * 0.000577 = 0.002484, shown to 2 digits
    assert "fixed spread" in md and "| ★ 0.1510 ± 0.0025 |" in md and "| 0.1010 ± 0.0025 † |" in md
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


# ------------------------------------------------------------------------------ training options
def test_compare_passes_the_training_options_to_the_library(csv_path, tmp_path):
    out = tmp_path / "opts"
    res = runner.invoke(app, ["compare", str(csv_path), "--target", "score", "--laws", "bernoulli", "--out", str(out), "--quiet",
                              "--seeds", "2", "--epochs", "2", "--lr", "0.01", "--batch-size", "16", "--test", "0.3", "--val", "0.25",
                              "--device", "cpu", "--workers", "1"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "results.json").read_text())["config"]
    assert cfg["train"]["lr"] == 0.01 and cfg["train"]["batch_size"] == 16 and cfg["train"]["epochs"] == 2
    assert cfg["test"] == 0.3 and cfg["val"] == 0.25 and cfg["device"] == "cpu" and cfg["seeds"] == [0, 1]


def test_halving_stops_a_law_that_is_far_behind(tmp_path):
    # Labels that are a clean sigmoid of one feature: after 3 epochs binned (51 bins from a flat start) is far behind the
    # laws with one output, over 3 seeds; the stop is in the store with its epoch and p-value.
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 4))
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "d": X[:, 3], "y": 1 / (1 + np.exp(-3 * X[:, 0]))}).to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "h"
    res = runner.invoke(app, ["compare", str(tmp_path / "t.csv"), "--target", "y", "--laws", "bernoulli,sigmoid-mse,binned", "--seeds", "3",
                              "--epochs", "12", "--halving", "3", "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    from losslab.experiment.halving import stops_of
    from losslab.experiment.result import load_result

    stops = stops_of(load_result(str(out / "runs.sqlite")).runs)
    assert "binned" in stops and "bernoulli" not in stops
    assert all(stop["epoch"] == 3 and stop["p_value"] < 0.01 / 2 for stop in stops.values())
    assert "stopped early" in res.output


def test_cli_defaults_are_the_librarys():
    # The command's defaults must not drift from ll.compare's (demo keeps its own, shorter seeds and epochs).
    import inspect

    import typer.main

    import losslab as ll

    lib = inspect.signature(ll.compare).parameters
    params = {p.name: p.default for p in typer.main.get_command(app).commands["compare"].params}
    for name in ("seeds", "epochs", "lr", "batch_size", "test", "val"):
        assert float(params[name]) == lib[name].default, name
    assert params["device"] == lib["device"].default


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--lr", "0"], "--lr 0; expected a positive step size"),
        (["--lr", "abc"], "--lr abc; expected a positive step size"),
        (["--lr", "nan"], "--lr nan; expected a positive step size"),
        (["--lr", "inf"], "--lr inf; expected a positive step size"),
        (["--batch-size", "0"], "--batch-size 0; expected a whole number"),
        (["--batch-size", "1.5"], "--batch-size 1.5; expected a whole number"),
        (["--epochs", "0"], "--epochs 0; expected a whole number of epochs"),
        (["--epochs", "2.5"], "--epochs 2.5; expected a whole number of epochs"),
        (["--seeds", "-1"], "--seeds -1; expected a whole number of seeds"),
        (["--test", "0"], "--test 0; expected a fraction of the rows between 0 and 1"),
        (["--test", "1"], "--test 1; expected a fraction"),
        (["--val", "-0.1"], "--val -0.1; expected a fraction"),
        (["--val", "0.5", "--test", "0.5"], "--val 0.5 and --test 0.5 leave no rows for training"),
        (["--workers", "0"], "--workers 0; expected a positive whole number"),
        (["--device", "bogus"], "--device bogus is not a device name; available here: auto, cpu"),
        (["--device", "cuda:99"], "--device cuda:99, but"),
        (["--halving", "0"], "--halving 0; expected epochs after which laws behind stop"),
        (["--halving", "10,5"], "--halving 10,5; expected increasing epochs"),
        (["--halving", "200"], "--halving 200 is not before --epochs 200"),
    ],
)
def test_bad_option_values_exit_2_with_one_line_in_the_commands_syntax(csv_path, tmp_path, extra, message):
    res = runner.invoke(app, ["compare", str(csv_path), "--target", "score", "--out", str(tmp_path / "o"), "--quiet", *extra])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], res.output
    assert "Traceback" not in res.output and "lr=" not in res.output and "device=" not in res.output
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_demo_takes_the_device_and_checks_it(tmp_path):
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--device", "bogus", "--quiet"])
    assert res.exit_code == 2 and "--device bogus is not a device name" in res.output, res.output
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--epochs", "x", "--quiet"])
    assert res.exit_code == 2 and "--epochs x; expected" in res.output, res.output


def test_library_device_errors_name_the_device_and_what_is_available():
    import torch

    import losslab as ll
    from losslab.experiment import resolve_device

    here = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    missing = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
    for device in ("bogus", missing, 3):
        with pytest.raises(ll.LosslabError) as info:
            resolve_device(device)
        msg = str(info.value)
        assert "\n" not in msg and f"device={device!r}" in msg and all(name in msg for name in here), msg
    # and through ll.compare, before any training
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ll.LosslabError, match=r"device='bogus' is not a device name; available here: auto, cpu"):
        ll.compare((X, 1 / (1 + np.exp(-X[:, 0]))), laws=["bernoulli"], seeds=1, epochs=1, device="bogus")
    assert resolve_device("cpu") == torch.device("cpu")


# ------------------------------------------------------------------------------ report: which comparison
def _compare(csv_path, store, tmp_path, *extra):
    res = runner.invoke(app, ["compare", str(csv_path), "--target", "score", "--store", str(store), "--out", str(tmp_path / "o"),
                              "--quiet", "--model", "linear", *extra])
    assert res.exit_code == 0, res.output
    return res.output.split("comparison ")[-1].split(")")[0]  # the id the command prints


def test_report_picks_among_the_comparisons_of_a_store(csv_path, tmp_path):
    store = tmp_path / "s.sqlite"
    # Two comparisons: the same data, other settings (--epochs), so the store keys them apart.
    first = _compare(csv_path, store, tmp_path, "--laws", "bernoulli,sigmoid-mse", "--seeds", "2", "--epochs", "2")
    second = _compare(csv_path, store, tmp_path, "--laws", "bernoulli", "--seeds", "3", "--epochs", "3")
    assert len(first) == len(second) == 12 and first != second

    listing = runner.invoke(app, ["report", str(store), "--list", "--out", str(tmp_path / "none")])
    assert listing.exit_code == 0, listing.output
    assert first in listing.stdout and second in listing.stdout and "--epochs 2" in listing.stdout and "--epochs 3" in listing.stdout
    assert not (tmp_path / "none").exists()  # --list writes no report

    # Without --comparison: the latest, said on stderr with the other one to pick.
    res = runner.invoke(app, ["report", str(store), "--out", str(tmp_path / "latest")])
    assert res.exit_code == 0, res.output
    payload = json.loads((tmp_path / "latest" / "results.json").read_text())
    assert payload["config"]["train"]["epochs"] == 3 and payload["config"]["seeds"] == [0, 1, 2]
    assert "holds 2 comparisons; reporting the latest" in res.stderr and first in res.stderr and second in res.stderr
    assert "--comparison ID" in res.stderr

    # --comparison with a prefix of the older one's id.
    res = runner.invoke(app, ["report", str(store), "--comparison", first[:6], "--out", str(tmp_path / "older")])
    assert res.exit_code == 0, res.output
    payload = json.loads((tmp_path / "older" / "results.json").read_text())
    assert payload["config"]["train"]["epochs"] == 2 and payload["config"]["seeds"] == [0, 1]
    assert sorted(payload["config"]["laws"]) == [["bernoulli", {}], ["sigmoid-mse", {}]]
    assert "reporting the latest" not in res.stderr

    res = runner.invoke(app, ["report", str(store), "--comparison", "zz", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "--comparison zz" in res.output and first in res.output and second in res.output, res.output


def test_an_ambiguous_comparison_prefix_is_refused():
    from losslab.cli import LosslabError, _pick

    comps = [{"key": k, "id": k[:12]} for k in ("ab12" + "0" * 60, "ab34" + "0" * 60)]
    assert _pick(comps, "AB3", Path("s.sqlite"))["key"].startswith("ab34")  # a prefix, any case
    with pytest.raises(LosslabError, match=r"--comparison ab matches 2 comparisons \(ab1200000000, ab3400000000\)"):
        _pick(comps, "ab", Path("s.sqlite"))


def test_report_says_which_runs_of_the_store_it_leaves_out(csv_path, tmp_path):
    # The example: the same data and settings, other laws and seeds, one store. The second command's runs
    # join the first's comparison; the report must not pass over them in silence.
    store = tmp_path / "s.sqlite"
    first = _compare(csv_path, store, tmp_path, "--laws", "bernoulli,sigmoid-mse", "--seeds", "2", "--epochs", "2")
    second = _compare(csv_path, store, tmp_path, "--laws", "bernoulli,continuous-bernoulli", "--seeds", "3", "--epochs", "2")
    assert first == second
    res = runner.invoke(app, ["report", str(store), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    reported = json.loads((tmp_path / "r" / "results.json").read_text())["config"]
    recorded = {law for law, _ in reported["laws"]}
    stored = {("bernoulli", s) for s in range(3)} | {("sigmoid-mse", s) for s in range(2)} | {("continuous-bernoulli", s) for s in range(3)}
    left_out = sorted((law, s) for law, s in stored if law not in recorded or s not in reported["seeds"])
    assert left_out, "the store's recorded grid now covers every run: this test's premise changed"
    note = " ".join(res.stderr.split())
    assert "the store also holds runs of it outside them" in note, res.stderr
    for law in {law for law, _ in left_out}:
        assert law in note.split("outside them")[1], (law, note)

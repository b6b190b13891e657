"""The command line as a person reads it (issue 23): the law listing at 80 columns, `laws NAME`, flags shown as flags,
`--debug` on either side of the command's name, and library messages in the command line's syntax."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import losslab as ll
from losslab.cli import app
from losslab.cli.compare import reason_after
from losslab.cli.info import law_details, law_listing

runner = CliRunner()
COLS = {"COLUMNS": "80"}


def _flat(text: str) -> str:
    """``text`` with every run of whitespace (line breaks included) as one space: a wrapped formula reads as one line."""
    return " ".join(text.split())


# ----------------------------------------------------------------------------- losslab laws
def test_laws_listing_fits_80_columns_in_one_or_two_lines_per_law():
    res = runner.invoke(app, ["laws"], env=COLS)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    too_wide = [line for line in lines if len(line) > 80]
    assert not too_wide, too_wide
    # The listing was 139 lines of a bordered table; now a header and at most two lines per law.
    assert len(lines) <= 5 + 2 * len(ll.list_laws()), len(lines)
    for name in ll.list_laws():
        law = ll.get_law(name)
        row = next((line for line in lines if line.startswith(name + " ")), None)
        assert row is not None and law.support.text in row, (name, row)


@pytest.mark.parametrize("name", ll.list_laws())
def test_laws_name_shows_the_formula_intact_and_no_rst(name):
    law = ll.get_law(name)
    res = runner.invoke(app, ["laws", name], env=COLS)
    assert res.exit_code == 0, res.output
    out = res.output
    # rich markup ate "[log w_k + ...]" of mixture-beta and "[bin(y)]" of binned: the formula must be all there
    assert _flat(law.formula) in _flat(out), (law.formula, out)
    assert all(len(line) <= 80 for line in out.splitlines()), out
    for rst in (":math:", ".. math::", ">>>", "``", ":class:", ":meth:"):
        assert rst not in out, (rst, out)
    assert law.support.text in out
    for param in law.raw_layout:
        assert f"{param}: " in out, param
    for option, default in _defaults(law).items():
        assert f"{option}=" in out, option
    assert f'law = losslab.get_law("{name}")' in out and f"--laws {name}" in out


def _defaults(law) -> dict:
    import inspect

    params = inspect.signature(type(law).__init__).parameters
    out = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
    if not (np.isfinite(law.support.low) or np.isfinite(law.support.high)):
        out.pop("clamp")  # refused by laws on the real line, so not shown as an option
    return out


@pytest.mark.parametrize("name", ll.list_laws())
def test_laws_name_example_runs(name):
    # The two Python lines `laws NAME` prints are code a user will paste: run them with raw outputs of the
    # shape they state and labels inside the support, and the loss must be a finite number.
    law = ll.get_law(name)
    lines = law_details(law)
    at = lines.index(next(line for line in lines if line.startswith("example (Python")))
    code = "\n".join(line.strip() for line in lines[at + 1: at + 3])
    n = 6
    y = torch.full((n, law.options()["dim"]) if law.event_dim else (n,), 0.5)
    scope = {"losslab": ll, "raw": torch.randn(n, law.raw_dim), "y": y, "n": torch.full((n,), 4.0)}
    exec(code, scope)  # noqa: S102 - our own printed example
    assert scope["loss"].shape == () and torch.isfinite(scope["loss"])
    shape = re.search(r"raw \(N, (\d+)\)", code)
    assert shape and int(shape.group(1)) == law.raw_dim


def test_laws_listing_and_details_follow_the_width():
    assert all(len(line) <= 60 for line in law_listing(60))
    # the two lines of example code are never wrapped (they would not run); the rest follows the width
    text = [line for line in law_details(ll.get_law("student-t"), 60) if not line.startswith(("  law =", "  loss ="))]
    assert all(len(line) <= 60 for line in text), text


# ----------------------------------------------------------------------------- flags and --debug
COMMANDS = [["compare"], ["demo"], ["predict"], ["report"], ["inspect"], ["laws"], ["datasets"], ["datasets", "list"],
            ["datasets", "fetch"], []]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "losslab")
def test_help_shows_flags_without_a_value(cmd):
    res = runner.invoke(app, [*cmd, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    # typer shows a bool option as `--quiet <bool>`, which reads as if it took a value (`--quiet true` fails)
    assert "<bool>" not in res.output, res.output
    assert "--debug" in res.output


def test_quiet_has_a_short_form_and_takes_no_value(tmp_path):
    res = runner.invoke(app, ["compare", "--help"], env={"COLUMNS": "200"})
    assert re.search(r"--quiet\s+-q\s", res.output), res.output
    # a flag: "true" after it is read as a second DATA argument, not as its value
    res = runner.invoke(app, ["compare", str(tmp_path / "x.csv"), "--quiet", "true"])
    assert res.exit_code == 2 and "true" in res.output


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_debug_before_or_after_the_command_shows_the_traceback(tmp_path, before):
    args = ["compare", str(tmp_path / "nope.csv"), "--target", "y", "--out", str(tmp_path), "-q"]
    res = runner.invoke(app, ["--debug", *args] if before else [*args, "--debug"])
    assert isinstance(res.exception, ll.LosslabError), res.output
    # and without it, the one line (the state does not leak from the run before)
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and not isinstance(res.exception, ll.LosslabError) and "does not exist" in res.output


# ----------------------------------------------------------------------------- the recommendation, once
def test_reason_after_drops_only_the_repeated_headline():
    assert reason_after("Recommended law: beta", "Recommended law: beta. It wins [0, 1].") == "It wins [0, 1]."
    # a law whose name starts with the recommended one's is a different law: nothing is dropped
    text = "Recommended law: beta-binomial. It wins."
    assert reason_after("Recommended law: beta", text) == text


# ----------------------------------------------------------------------------- messages in the CLI's syntax
@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    n = 60  # above MAX_CATEGORIES (50): an 'id' column of distinct names is refused as a category
    x = rng.normal(size=n)
    y = np.abs(x) * 3 + 0.1  # above 1 from row 1 on: not labels for beta
    y[0] = 0.5
    edge = rng.uniform(0.1, 0.9, n)
    edge[[3, 7]] = [0.0, 1.0]
    ident = [f"r{i}" for i in range(n)]
    path = tmp_path / "d.csv"
    pd.DataFrame({"a": x, "b": rng.normal(size=n), "id": ident, "big": y, "edge": edge}).to_csv(path, index=False)
    return path


def _error_line(args, tmp_path):
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "o"), "-q", "--seeds", "1", "--epochs", "1"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    return _flat(res.output)


def test_labels_above_one_for_beta_name_row_value_support_and_fix(table, tmp_path):
    y = pd.read_csv(table)["big"].to_numpy()
    first = int(np.flatnonzero(y >= 1)[0])
    line = _error_line(["compare", str(table), "--target", "big", "--features", "a,b", "--laws", "beta"], tmp_path)
    assert f"row {first} holds {y[first]:g}" in line, line
    assert "(0, 1)" in line and "rescale" in line and "--laws gaussian-hetero" in line, line
    assert "get_law(" not in line


def test_edge_labels_for_beta_suggest_the_cli_option(table, tmp_path):
    line = _error_line(["compare", str(table), "--target", "edge", "--features", "a,b", "--laws", "beta"], tmp_path)
    assert "--laws beta:clamp=1e-6" in line and "pass clamp" not in line, line
    # the library keeps its own syntax
    with pytest.raises(ll.LosslabError, match="pass clamp=1e-6") as info:
        ll.get_law("beta").check_labels(torch.tensor([0.5, 1.0]))
    assert "--laws beta:clamp=1e-6" in info.value.for_cli


def test_an_identifier_column_says_which_features_to_keep(table, tmp_path):
    line = _error_line(["compare", str(table), "--target", "edge"], tmp_path)
    assert "'id'" in line and "--features a,b,big" in line and "features=[" not in line, line
    with pytest.raises(ll.LosslabError, match=r"features=\['a', 'b', 'big'\]"):
        ll.data.load(str(table), target="edge")


def test_missing_labels_csv_shows_the_expected_format(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "cat.png").write_bytes(b"")
    res = runner.invoke(app, ["compare", str(folder), "--out", str(tmp_path / "o"), "-q"])
    assert res.exit_code == 2
    line = _flat(res.output)
    assert "labels.csv" in line and "does not exist" in line and "'filename,label'" in line and "'cat.png,0.75'" in line, line


def test_the_cli_form_survives_a_worker_process():
    import pickle

    from losslab.experiment.runs import NonFinitePredictions

    e = pickle.loads(pickle.dumps(NonFinitePredictions("x; pass a=1", cli="x; --a 1")))
    assert type(e) is NonFinitePredictions and str(e) == "x; pass a=1" and e.for_cli == "x; --a 1"

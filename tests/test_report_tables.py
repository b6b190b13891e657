"""The report's tables as a reviewer reads them: rounding, p-values, ranking, ties, one column order, one caveat, CommonMark.

Hand-made comparisons (runs with known values and no per-row arrays, so the paired test is the
t-test over seeds that scipy gives independently) pin the ranking and the ties; a tiny real
comparison with a store checks that a fresh result, one read back and `losslab report` list the
same columns, and that report.md is CommonMark a renderer reads as intended.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import losslab as ll
from losslab.report.numbers import fmt_interval, fmt_p, interval_decimals

markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py is in the test extra")


# ------------------------------------------------------------------------------ numbers
@pytest.mark.parametrize(
    "value, half, shown",
    [
        (0.03547, 0.0003316, "0.03547 ± 0.00033"),  # the example: 2 digits of 0.0003316 are 5 decimals
        (0.0765, 0.1819, "0.08 ± 0.18"),  # the example: 0.18 has 2 decimals, so the value gets 2
        (0.09132, 0.0277, "0.091 ± 0.028"),
        (0.5, 0.0996, "0.50 ± 0.10"),  # 0.0996 rounds up to 0.10: 2 decimals, not 3
        (-2.379, 0.3122, "-2.38 ± 0.31"),
        (-0.0004, 0.03, "0.000 ± 0.030"),  # no "-0.000"
        (1234.5, 456.0, "1230 ± 460"),  # tens: 2 significant digits of 456
        (3.16, 0.1278, "3.16 ± 0.13"),
        (1.0, 0.0, "1"),  # a constant (coverage of a fixed spread): no "1 ± 0"
        (0.9456342, math.nan, "0.9456"),  # one seed: no interval, 4 significant digits
        (math.nan, 0.1, "–"),
        (1.2e-7, 3.4e-9, "(1.200 ± 0.034)e-07"),
        (0.83075, 4.2e-6, "0.8307500 ± 0.0000042"),  # a value far above its width keeps fixed decimals
        (2.5e7, 1.2e5, "(2.500 ± 0.012)e+07"),
    ],
)
def test_fmt_interval_shows_the_precision_the_interval_supports(value, half, shown):
    assert fmt_interval(value, half) == shown


def test_fmt_interval_keeps_two_significant_digits_of_any_half_width():
    rng = np.random.default_rng(0)
    for value, half in zip(rng.normal(0, 10.0 ** rng.integers(-2, 4, 500)), 10.0 ** rng.uniform(-5.5, 3.5, 500)):
        shown = fmt_interval(float(value), float(half))
        if "e" in shown:  # both below 1e-3: the shared power of ten (tested by example above)
            assert max(abs(value), half) < 1e-3, shown
            continue
        v_text, h_text = shown.split(" ± ")
        d = interval_decimals(half)
        # The half-width: 2 significant digits, within half a unit of the last one shown.
        assert len(h_text.replace(".", "").lstrip("0")) == 2 or h_text.endswith("0"), shown
        assert abs(float(h_text) - half) <= 0.5 * 10.0**-d * (1 + 1e-9) + abs(half) * 0.05, shown
        # The value: the same decimal place as the half-width, rounded (never truncated).
        assert (len(v_text.split(".")[1]) if "." in v_text else 0) == max(d, 0), shown
        assert abs(float(v_text) - value) <= 0.5 * 10.0**-d * (1 + 1e-9), shown


@pytest.mark.parametrize(
    "p, floor, shown",
    [
        (8.475e-05, None, "< 0.001"),  # the example: no 8.475e-05
        (0.0009995, 2 / 2001, "< 0.001"),  # the floor of a 2000-draw bootstrap
        (2 / 201, 2 / 201, "< 0.01"),  # the floor of a 200-draw bootstrap reads as what it is
        (0.00234, None, "0.0023"),
        (0.0123, None, "0.012"),
        (0.0995, None, "0.10"),
        (0.3149, None, "0.31"),
        (1.0, None, "1.00"),
        (math.nan, None, "–"),
    ],
)
def test_fmt_p_is_readable(p, floor, shown):
    assert fmt_p(p, floor) == shown
    assert "e-" not in fmt_p(p, floor)


def test_interval_decimals_rejects_a_half_width_that_is_not_positive():
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            interval_decimals(bad)


# ------------------------------------------------------------------------------ ranking and ties
def _made_up(values: dict[str, list[float]], laws=None, *, brier_differs: bool = False):
    """A ComparisonResult of made-up runs: ``values[law]`` are its seeds' mean_squared_error; crps and calibration follow."""
    from losslab.experiment.compare import CompareConfig, ComparisonResult

    laws = laws or [(label, {}) for label in values]
    runs = []
    for (name, opts), (label, mses) in zip(laws, values.items()):
        for seed, mse in enumerate(mses):
            metrics = {"mean_squared_error": mse, "crps": 2 * mse, "calibration_error": 0.01 + mse / 10,
                       "brier_loss": mse + (1e-3 if brier_differs else 0.0)}
            runs.append({"law": label, "seed": seed, "status": "ok", "seconds": 1.0 + seed, "arrays": {},
                         "history": {"train": [1.0], "val": [1.0], "epochs_run": 5 + seed}, "metrics": metrics})
    cfg = CompareConfig(laws=laws, seeds=list(range(len(next(iter(values.values()))))), model="mlp")
    return ComparisonResult(runs, cfg, data_meta={"name": "made-up", "n": 100, "kind": "table"})


#: in grid order worst first, so a table that kept the grid's order would fail
TIED = {"continuous-bernoulli": [0.060, 0.061, 0.062], "beta": [0.041, 0.040, 0.043], "zoib": [0.040, 0.042, 0.041]}


def test_ranked_table_is_best_first_with_the_tie_group_sharing_rank_one():
    from scipy import stats

    from losslab.report.ranking import ranked_table

    result = _made_up(TIED)
    rec = result.recommend()
    table = ranked_table(result, rec)
    assert list(table.index) == ["zoib", "beta", "continuous-bernoulli"]
    assert list(table.columns) == ["rank", "mean_squared_error", "crps", "calibration_error", "p vs best"]
    # beta vs zoib over seeds: scipy's paired t-test, p well above 0.05; continuous-bernoulli's far below.
    p_beta = stats.ttest_rel(TIED["beta"], TIED["zoib"]).pvalue
    p_cb = stats.ttest_rel(TIED["continuous-bernoulli"], TIED["zoib"]).pvalue
    assert p_beta > 0.05 > p_cb
    assert list(table["rank"]) == ["=1", "=1", "3"]
    assert list(table["p vs best"]) == ["best", f"{fmt_p(p_beta)}, tied", fmt_p(p_cb)]
    # zoib's mean 0.041 with the t half-width over 3 seeds: t(0.975, 2) * sd / sqrt(3)
    half = stats.t.ppf(0.975, 2) * np.std(TIED["zoib"], ddof=1) / math.sqrt(3)
    assert table.loc["zoib", "mean_squared_error"] == fmt_interval(0.041, half) == "0.0410 ± 0.0025"


def test_why_sentence_names_the_ties_or_the_closest_law():
    from losslab.report.ranking import why_sentence

    result = _made_up(TIED)
    text = why_sentence(result, result.recommend())
    assert text.startswith("zoib has the lowest mean_squared_error on held-out data (0.0410 ± 0.0025)")
    assert "beta is statistically tied with it" in text
    assert text.endswith(".") and not re.search(r"\.\s+[A-Z]", text), text  # one sentence
    clear = _made_up({"beta": [0.060, 0.061, 0.063], "zoib": [0.040, 0.042, 0.041]})
    text = why_sentence(clear, clear.recommend())
    assert text.startswith("zoib has the lowest") and "every other law is worse" in text and "the closest, beta, p = " in text


def test_a_fixed_spread_winner_is_flagged_once_on_the_first_screen(tmp_path):
    from losslab.report import write_report

    laws = [("sigmoid-mse", {}), ("gaussian", {"sigma": 0.5}), ("beta", {})]
    result = _made_up({"sigmoid-mse": [0.040, 0.042, 0.041], "gaussian(sigma=0.5)": [0.05, 0.052, 0.051], "beta": [0.06, 0.061, 0.063]}, laws)
    assert result.recommend().law == "sigmoid-mse"
    paths = write_report(result, tmp_path, figures=False)
    md = paths["md"].read_text()
    first = md[: md.index("## The evidence")]
    assert first.count("fixed spread") == 1, first
    html = paths["html"].read_text()
    assert html[: html.index("id='all-metrics'")].count("fixed spread") == 1
    # The one note names every fixed-spread law, and the recommendation's own sentence on it is not repeated.
    assert "sigmoid-mse (standard deviation 1)" in first and "gaussian(sigma=0.5) (standard deviation 0.5)" in first
    assert "predicts a fixed spread" not in md[: md.index("## All metrics")]


def test_a_fixed_spread_law_that_did_not_win_is_flagged_once_under_the_ranked_table(tmp_path):
    from losslab.report import write_report

    laws = [("beta", {}), ("sigmoid-mse", {})]
    result = _made_up({"beta": [0.040, 0.042, 0.041], "sigmoid-mse": [0.06, 0.061, 0.063]}, laws)
    paths = write_report(result, tmp_path, figures=False)
    md = paths["md"].read_text()
    first = md[: md.index("## The evidence")]
    assert first.count("fixed spread") == 1
    assert first.index("## Laws ranked") < first.index("fixed spread")  # under the table, not in the answer


# ------------------------------------------------------------------------------ columns
def test_seconds_and_epochs_are_filled_from_the_runs_not_nan():
    result = _made_up(TIED)
    table = result.table()
    assert not table.isna().all().any(), table.columns[table.isna().all()].tolist()
    # Each law has seeds 0, 1, 2 with seconds 1 + seed and epochs 5 + seed: means 2 and 6.
    assert table["seconds"].tolist() == pytest.approx([2.0] * 3)
    assert table["epochs"].tolist() == pytest.approx([6.0] * 3)
    assert list(table.columns[-6:]) == ["seconds", "seconds_low", "seconds_high", "epochs", "epochs_low", "epochs_high"]


def test_brier_loss_is_shown_once_where_it_equals_mean_squared_error(tmp_path):
    from losslab.report import summary_table, write_report
    from losslab.report.ranking import duplicate_metrics, numeric_table

    same = _made_up(TIED)
    assert duplicate_metrics(same) == {"brier_loss": "mean_squared_error"}
    assert "brier_loss" in same.table().columns  # the library's table keeps it
    assert "brier_loss" not in summary_table(same).columns
    assert not any(c.startswith("brier_loss") for c in numeric_table(same, same.recommend()).columns)
    paths = write_report(same, tmp_path, figures=False)
    assert "brier_loss" not in (tmp_path / "table.csv").read_text().splitlines()[0]
    assert "brier_loss equals mean_squared_error" in paths["md"].read_text()  # and the report says why it is not shown
    # Where it differs it is another number, and stays.
    other = _made_up(TIED, brier_differs=True)
    assert duplicate_metrics(other) == {} and "brier_loss" in summary_table(other).columns


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A tiny real comparison with a store, its report, and the report `losslab report` rebuilt from the store."""
    from losslab.cli import app
    from losslab.report import write_report

    tmp = tmp_path_factory.mktemp("stored")
    store = tmp / "runs.sqlite"
    result = ll.compare(ll.data.synthetic("beta", 200, seed=0), laws=["beta", "sigmoid-mse", "zoib"], model="linear", seeds=2,
                        epochs=3, store=str(store))
    paths = write_report(result, tmp / "fresh", command="losslab compare synthetic")
    res = CliRunner().invoke(app, ["report", str(store), "--out", str(tmp / "rebuilt")])
    assert res.exit_code == 0, res.output
    return result, paths, tmp / "rebuilt", store


def test_one_column_order_fresh_loaded_and_rebuilt(stored):
    from losslab.experiment import load_result
    from losslab.experiment.result import METRIC_ORDER
    from losslab.report import summary_table

    result, paths, rebuilt, store = stored
    loaded = load_result(str(store))
    fresh_cols, loaded_cols = list(result.table().columns), list(loaded.table().columns)
    assert fresh_cols == loaded_cols
    assert list(result.frame().columns) == list(loaded.frame().columns)
    assert list(summary_table(result).columns) == list(summary_table(loaded).columns)
    # The store returns each run's metrics alphabetically; the table follows METRIC_ORDER instead.
    metrics = [c for c in fresh_cols if c in METRIC_ORDER]
    assert metrics == sorted(metrics, key=METRIC_ORDER.index) and metrics != sorted(metrics)
    header = lambda path: path.read_text().splitlines()[0]  # noqa: E731
    assert header(paths["table_csv"]) == header(rebuilt / "table.csv")
    assert header(paths["csv"]) == header(rebuilt / "results.csv")
    # The rebuilt report's full table has the fresh one's columns, in order.
    def md_header(path):
        return next(line for line in path.read_text().splitlines() if line.startswith("| law | "))
    assert md_header(paths["md"]) == md_header(rebuilt / "report.md")


def _outside_code(md: str) -> str:
    """report.md without its fenced code blocks and code spans (where an ``&lt;`` would be shown as written)."""
    md = re.sub(r"^(`{3,})[^\n]*\n.*?\n\1\s*$", "", md, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", md)


def test_report_md_is_commonmark_without_entities_with_one_heading_each(stored):
    _, paths, _, _ = stored
    source = paths["md"].read_text()
    text = _outside_code(source)
    for entity in ("&gt;", "&lt;", "&amp;"):
        assert entity not in text, entity
    md = markdown_it.MarkdownIt("commonmark").enable("table")
    tokens = md.parse(source)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"]
    assert len(headings) == len(set(headings)), headings
    assert headings.count("Labels") == 1
    # The ranked table is the first table, and parses as one: a header row and one row per law.
    start = next(i for i, t in enumerate(tokens) if t.type == "table_open")
    end = next(i for i in range(start, len(tokens)) if tokens[i].type == "table_close")
    cells = [t.content for t in tokens[start:end] if t.type == "inline"]
    header = cells[:6]
    assert header == ["rank", "law", "mean_squared_error", "crps", "calibration_error", "p vs best"], header
    assert len(cells) == 6 * 4  # header + 3 laws
    # What the source writes as "p < 0.05" or "< 0.001" renders as text (the renderer escapes it), never as a tag.
    html = md.render(source)
    assert "&lt; 0.001" in html or "p &lt; 0.05" in html or "p ≥ 0.05" in html or "p &gt;= 0.05" in html


def test_configuration_is_collapsed_and_compact(stored):
    _, paths, _, _ = stored
    source = paths["md"].read_text()
    tokens = markdown_it.MarkdownIt("commonmark").parse(source)
    config = next(i for i, t in enumerate(tokens) if t.type == "fence" and t.info == "json")
    opened = [t for t in tokens[:config] if t.type == "html_block" and "<details>" in t.content]
    closed = [t for t in tokens[config:] if t.type == "html_block" and "</details>" in t.content]
    assert opened and closed
    cfg = json.loads(tokens[config].content)
    assert [law for law, _ in cfg["laws"]] == ["beta", "sigmoid-mse", "zoib"]
    # One line per top-level key, not one per list item (it was 60+ lines).
    assert tokens[config].content.count("\n") <= len(cfg) + 2
    page = paths["html"].read_text()
    m = re.search(r"<h2>Configuration</h2><details><summary>[^<]*</summary><pre>(.*?)</pre></details>", page, flags=re.S)
    assert m, "the configuration is not inside <details> in report.html"
    assert m.group(1).count("\n") <= 20


def test_table_csv_is_the_full_table_as_numbers_best_first(stored):
    result, paths, _, _ = stored
    csv = pd.read_csv(paths["table_csv"], index_col="law")
    rec = result.recommend()
    assert csv.index[0] == rec.law
    mse = csv["mean_squared_error"]
    assert list(mse) == sorted(mse)
    table = result.table()
    assert mse.to_dict() == pytest.approx(table["mean_squared_error"].to_dict(), rel=1e-12)  # every digit kept
    assert not csv.isna().all().any()
    assert "[table.csv](table.csv)" in paths["md"].read_text() and "href='table.csv'" in paths["html"].read_text()

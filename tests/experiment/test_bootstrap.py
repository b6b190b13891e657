"""The bootstrap over test rows (and seeds): statistics against exact enumerations and scipy, and its use by compare.

Reference values: the exact bootstrap distribution of a mean is the average over all n**n
equally likely resamples (Efron & Tibshirani 1993, ch. 6), enumerated here with itertools
for a few rows; scipy.stats.bootstrap gives an independent percentile interval of one mean.
"""

import itertools
import math
import re

import numpy as np
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

import losslab as ll
from losslab.cli import app
from losslab.data import Dataset
from losslab.experiment import Store, compare
from losslab.experiment.compare import load_result
from losslab.experiment.result import SMALL_TEST_LABELS
from losslab.experiment.stats import (
    bootstrap_diff,
    bootstrap_draws,
    bootstrap_mean,
    bootstrap_p_value,
    percentile_interval,
)
from losslab.metrics.evaluate import ROW_METRICS as EVALUATE_ROW_METRICS

FAST = dict(epochs=3, batch_size=32, patience=2)
NAN = re.compile(r"\bnan\b", re.IGNORECASE)


def _exact(stat_of_resample, choices) -> np.ndarray:
    """The statistic on every equally likely resample (the exact bootstrap distribution)."""
    return np.array([stat_of_resample(c) for c in choices])


def _assert_same_distribution(draws, exact, *, tol_cdf=0.012):
    """Monte Carlo draws against an exact discrete bootstrap distribution: mean, variance and the CDF at its atoms."""
    B = draws.size
    assert abs(draws.mean() - exact.mean()) < 5 * exact.std() / math.sqrt(B)
    assert draws.var() == pytest.approx(exact.var(), rel=0.05)
    for t in np.unique(exact):
        assert abs((draws <= t + 1e-12).mean() - (exact <= t + 1e-12).mean()) < tol_cdf, t


# ---------------------------------------------------------------------------- the statistics
def test_row_draws_match_the_exact_bootstrap_of_four_rows():
    other = np.array([0.3, 1.15, 0.21, 0.9])
    reference = np.array([0.61, 0.43, 0.64, 0.01])
    d = other - reference  # -0.31, 0.72, -0.43, 0.89: both signs, so the p-value is not at its floor
    exact = _exact(lambda idx: d[list(idx)].mean(), itertools.product(range(4), repeat=4))  # 256 resamples
    assert np.abs(exact).min() > 1e-3  # no resample's mean is 0, where rounding would decide its side
    draws = bootstrap_draws(other, n_boot=40_000, seed=3) - bootstrap_draws(reference, n_boot=40_000, seed=3)
    _assert_same_distribution(draws, exact)
    # The two-sided p-value of the exact distribution, from the same definition (percentile inversion).
    exact_p = min(1.0, 2 * min((exact <= 0).mean(), (exact >= 0).mean()))
    res = bootstrap_diff(other, reference, n_boot=40_000, seed=3)
    assert res.p_value == pytest.approx(exact_p, abs=0.01)
    assert res.estimate == pytest.approx(d.mean())
    # The percentile interval lies on the exact distribution's quantiles (a discrete law: compare CDF levels).
    assert (exact <= res.low + 1e-12).mean() >= 0.025 - 0.01 and (exact < res.high - 1e-12).mean() <= 0.975 + 0.01


def test_two_level_draws_match_the_exact_bootstrap_of_seeds_and_rows():
    x = np.array([[0.0, 1.0, 5.0], [2.0, 2.5, 9.0]])  # 2 seeds x 3 shared rows
    # Every draw resamples the 2 seeds and, independently, the 3 rows: 4 x 27 equally likely outcomes.
    choices = itertools.product(itertools.product(range(2), repeat=2), itertools.product(range(3), repeat=3))
    exact = _exact(lambda c: x[np.ix_(list(c[0]), list(c[1]))].mean(), choices)
    _assert_same_distribution(bootstrap_draws(x, n_boot=40_000, seed=5), exact)
    # Seeds held fixed: only the 27 row resamples.
    fixed = _exact(lambda idx: x[:, list(idx)].mean(), itertools.product(range(3), repeat=3))
    _assert_same_distribution(bootstrap_draws(x, n_boot=40_000, seed=5, resample_seeds=False), fixed)


def test_folds_are_resampled_within_themselves():
    # k-fold: rows of two folds, each resampled within its fold, so every draw keeps both folds' sizes.
    x = np.array([0.0, 1.0, 10.0, 14.0])
    folds = np.array([0, 0, 1, 1])
    exact = _exact(lambda c: (x[[c[0], c[1]]].sum() + x[[2 + c[2], 2 + c[3]]].sum()) / 4, itertools.product(range(2), repeat=4))
    _assert_same_distribution(bootstrap_draws(x, groups=folds, n_boot=40_000, seed=1), exact)
    # A fold of zeros and a fold of tens: the mean stays 5 in every draw (an ungrouped resample would not).
    draws = bootstrap_draws(np.r_[np.zeros(5), np.full(5, 10.0)], groups=np.repeat([0, 1], 5), n_boot=500)
    assert np.allclose(draws, 5.0)
    assert bootstrap_draws(np.r_[np.zeros(5), np.full(5, 10.0)], n_boot=500).std() > 1.0


def test_per_seed_test_sets_are_resampled_apart():
    # Each seed has its own two test rows (fixed per-seed splits), seeds held fixed: 4 x 4 outcomes.
    a, b = np.array([0.0, 4.0]), np.array([1.0, 3.0, 8.0])  # sizes may differ
    choices = itertools.product(itertools.product(range(2), repeat=2), itertools.product(range(3), repeat=3))
    exact = _exact(lambda c: (a[list(c[0])].mean() + b[list(c[1])].mean()) / 2, choices)
    _assert_same_distribution(bootstrap_draws([a, b], shared_rows=False, resample_seeds=False, n_boot=40_000), exact)


def test_one_mean_agrees_with_scipy_bootstrap():
    x = np.random.default_rng(7).gamma(2.0, size=40)
    ours = bootstrap_mean(x, n_boot=20_000, seed=0)
    ref = sps.bootstrap((x,), np.mean, method="percentile", n_resamples=20_000, confidence_level=0.95, random_state=1).confidence_interval
    width = ref.high - ref.low
    # Two Monte Carlo estimates of the same percentiles: their error is about 0.5% of the width each.
    assert ours.low == pytest.approx(ref.low, abs=0.03 * width)
    assert ours.high == pytest.approx(ref.high, abs=0.03 * width)
    assert ours.estimate == pytest.approx(x.mean()) and math.isnan(ours.p_value)


def test_paired_interval_is_much_narrower_when_rows_share_an_effect():
    rng = np.random.default_rng(0)
    hard = rng.exponential(2.0, size=300)  # a row effect every law shares (some rows are hard for everyone)
    seeds = rng.normal(0, 0.01, size=(4, 1))
    reference = hard + seeds + 0.05 * rng.normal(size=(4, 300))
    other = hard + seeds + 0.1 + 0.05 * rng.normal(size=(4, 300))
    paired = bootstrap_diff(other, reference)
    unpaired = bootstrap_diff(other, reference, paired=False)
    assert paired.estimate == pytest.approx(unpaired.estimate)
    assert paired.high - paired.low < (unpaired.high - unpaired.low) / 10
    assert paired.low > 0 and paired.p_value < 0.01  # the shift is found
    assert unpaired.low < 0 < unpaired.high  # and lost in the row effect without pairing


def test_identical_laws_tie_with_p_one():
    x = np.random.default_rng(1).normal(size=(3, 20))
    res = bootstrap_diff(x, x.copy())
    assert (res.estimate, res.low, res.high, res.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_p_value_agrees_with_the_interval_away_from_the_boundary():
    rng = np.random.default_rng(2)
    checked = 0
    for shift in np.linspace(0, 0.6, 13):
        a, b = rng.normal(size=(2, 30)) + shift, rng.normal(size=(2, 30))
        res = bootstrap_diff(a, b, n_boot=1000)
        if 0.04 < res.p_value < 0.06:
            continue
        assert (res.p_value < 0.05) == (not res.low <= 0 <= res.high), res
        checked += 1
    assert checked >= 10


def test_p_value_definition_on_small_draw_sets():
    # 2 of 9 draws at or below 0: p = 2 * (1 + 2) / 10.
    assert bootstrap_p_value(np.array([-1.0, 0.0, 1, 2, 3, 4, 5, 6, 7])) == pytest.approx(0.6)
    assert bootstrap_p_value(np.ones(1999)) == pytest.approx(2 / 2000)
    assert percentile_interval(np.arange(11.0), 0.8) == pytest.approx((1.0, 9.0))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: bootstrap_mean([1.0, np.nan, 2.0]), "non-finite"),
        (lambda: bootstrap_diff(np.ones((2, 5)), np.ones((2, 6))), "same seeds and test rows"),
        (lambda: bootstrap_mean(np.ones(5), n_boot=0), "n_boot=0"),
        (lambda: bootstrap_mean(np.ones(5), level=1.5), "level=1.5"),
        (lambda: bootstrap_mean(np.ones(5), groups=[0, 1]), r"groups has shape \(2,\); expected \(5,\)"),
        (lambda: bootstrap_draws(np.ones((2, 3, 4, 5))), "expected \\(n_rows,\\)"),
        (lambda: bootstrap_draws([np.ones(3), np.ones(4)]), "shared_rows"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ll.LosslabError, match=match):
        call()


@pytest.mark.slow
def test_bootstrap_interval_covers_the_population_difference():
    """Two fixed predictors with seed effects, so the population difference is known in closed form.

    y = x + e with x, e ~ N(0, 1); seed s of law A predicts (1 + d_s) x, of law B (0.8 + h_s) x,
    d_s, h_s ~ N(0, 0.05^2). Squared errors: E[(x d - e)^2] = E[d^2] + 1 and
    E[(x (h - 0.2) - e)^2] = E[(h - 0.2)^2] + 1, so E[L_B - L_A] = 0.2^2 = 0.04 exactly.
    With 5 seeds and 200 rows the paired bootstrap covered 94.5% in 1000 repetitions, where the
    t-interval over seeds covered 59% (it leaves out the test rows' noise).
    """
    hits = 0
    for r in range(100):
        rng = np.random.default_rng(r)
        x, e = rng.normal(size=(2, 200))
        d, h = rng.normal(0, 0.05, size=(2, 5, 1))
        loss_a, loss_b = (x * d - e) ** 2, (x * (h - 0.2) - e) ** 2
        ci = bootstrap_diff(loss_b, loss_a, seed=r)
        hits += ci.low <= 0.04 <= ci.high
    assert hits >= 90, hits


# ---------------------------------------------------------------------------- through compare
def _data(n=60, outputs=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    p = 1 / (1 + np.exp(-X[:, :1] * np.arange(1, outputs + 1)))
    y = np.clip(p + 0.05 * rng.normal(size=(n, outputs)), 0.01, 0.99).astype(np.float32)
    return X, (y[:, 0] if outputs == 1 else y)


@pytest.mark.parametrize("laws", [["bernoulli", "beta", "gaussian-hetero"], ["zoib", "binned:n_bins=9", "mixture-gaussian:n_components=2"]])
def test_runs_store_per_row_values_whose_mean_is_the_metric(laws):
    res = compare(_data(outputs=2), laws=laws, seeds=1, **FAST)
    for r in res.runs:
        have = {k[len("row_"):] for k in r["arrays"] if k.startswith("row_")}
        want = {m for m in EVALUATE_ROW_METRICS if r["metrics"].get(m) is not None}
        assert have == want, (r["law"], have ^ want)
        for m in have:
            rows = r["arrays"][f"row_{m}"]
            assert rows.shape == (12,)  # one value per test row, averaged over the 2 outputs
            assert rows.mean() == pytest.approx(r["metrics"][m], rel=1e-9, abs=1e-12), (r["law"], m)


def test_one_seed_gives_a_bootstrap_interval_and_warnings_not_nan():
    res = compare(_data(outputs=2), laws=["bernoulli", "sigmoid-mse"], seeds=1, **FAST)
    rec = res.recommend()
    assert not NAN.search(rec.reason), rec.reason
    ci = re.search(r"95% CI (\S+) to (\S+) by a bootstrap over the 12 test rows; 1 seed", rec.reason)
    assert ci and float(ci.group(1)) < rec.value < float(ci.group(2)), rec.reason
    assert rec.method == "bootstrap"
    # 12 test rows x 2 outputs = 24 labels, and one seed: both cautions, in the list and in the text.
    assert any("24 test labels (12 rows x 2 outputs)" in w for w in rec.warnings), rec.warnings
    assert any("1 seed" in w for w in rec.warnings), rec.warnings
    assert all(w in rec.reason for w in rec.warnings)
    paired = res.paired()
    assert (paired["method"] == "bootstrap").all() and (paired["rows"] == 12).all() and paired["p_value"].notna().all()
    table = res.table()
    assert np.isfinite(table[["mean_squared_error_low", "mean_squared_error_high"]].to_numpy()).all()
    assert table.attrs["interval_method"]["mean_squared_error"] == "bootstrap"
    assert table.attrs["interval_method"]["spearman_score"] == "seeds"  # a rank statistic: seeds only


def test_paired_bootstrap_of_compare_is_the_shared_resample_of_the_row_values():
    res = compare(_data(), laws=["bernoulli", "sigmoid-mse", "gaussian"], seeds=3, **FAST)
    paired = res.paired()
    ref = paired["reference"].iloc[0]
    for law in res.laws:
        rows = res.row_values(law, "mean_squared_error")
        refs = res.row_values(ref, "mean_squared_error")
        want = bootstrap_diff(np.stack([rows[s] for s in (0, 1, 2)]), np.stack([refs[s] for s in (0, 1, 2)]))
        got = paired.loc[law]
        assert (got["diff_low"], got["diff_high"], got["p_value"]) == pytest.approx((want.low, want.high, want.p_value), abs=1e-12)
        assert got["diff"] == pytest.approx(want.estimate)
    # The seeds' t-test is still there, on request.
    seeds = res.paired(method="seeds")
    assert (seeds["method"] == "seeds").all() and (seeds["rows"] == 0).all()
    assert "paired bootstrap over 12 test rows and 3 seeds" in res.recommend().reason


def test_no_warnings_with_a_large_test_set_and_three_seeds():
    X, y = _data(n=420)
    res = compare((X, y), laws=["bernoulli", "sigmoid-mse"], seeds=3, test=0.5, **FAST)
    assert res.test_size() == (210, 1) and 210 >= SMALL_TEST_LABELS
    assert res.recommend().warnings == []
    two = compare((X, y), laws=["bernoulli", "sigmoid-mse"], seeds=2, test=0.5, **FAST).recommend()
    assert [w for w in two.warnings if "2 seeds" in w] and not [w for w in two.warnings if "small test set" in w]


def _strip_row_values(path):
    """Rewrite every run of a store without its per-row arrays, as an older losslab wrote them."""
    with Store(str(path)) as st:
        for r in list(st.runs(arrays=True)):
            arrays = {k: v for k, v in r["arrays"].items() if not k.startswith("row_")}
            st.put_run(r["key"], **{k: r[k] for k in ("comparison", "law", "seed", "status", "config", "metrics", "history", "seconds")}, arrays=arrays)


def test_an_old_store_without_row_values_falls_back_to_seeds_and_says_so(tmp_path):
    path = tmp_path / "old.sqlite"
    compare(_data(), laws=["bernoulli", "sigmoid-mse"], seeds=3, store=str(path), **FAST)
    _strip_row_values(path)
    res = load_result(str(path))
    paired, table, rec = res.paired(), res.table(), res.recommend()
    assert (paired["method"] == "seeds").all()
    assert rec.method == "seeds" and "a t-interval, without test-set noise" in rec.reason
    assert "paired t-test over seeds" in rec.reason
    assert any("older losslab" in w for w in rec.warnings), rec.warnings
    # The intervals are then scipy's t-interval over the seeds' values.
    for law in res.laws:
        v = np.array(list(res.values(law, "mean_squared_error").values()))
        lo, hi = sps.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=sps.sem(v))
        assert (table.loc[law, "mean_squared_error_low"], table.loc[law, "mean_squared_error_high"]) == pytest.approx((lo, hi))
    assert not NAN.search(rec.reason)


def test_an_old_store_with_one_seed_says_why_there_is_no_interval(tmp_path):
    path = tmp_path / "old1.sqlite"
    compare(_data(), laws=["bernoulli", "sigmoid-mse"], seeds=1, store=str(path), **FAST)
    _strip_row_values(path)
    rec = load_result(str(path)).recommend()
    assert not NAN.search(rec.reason), rec.reason
    assert "no interval: one seed gives no spread over seeds" in rec.reason and "older losslab" in rec.reason
    assert "cannot be tested against it" in rec.reason


def test_seeds_with_their_own_test_sets_are_bootstrapped_apart():
    X, y = _data(n=90)
    rng = np.random.default_rng(0)
    splits = []
    for _ in range(2):
        perm = rng.permutation(90)
        splits.append({"train": perm[:50], "val": perm[50:65], "test": perm[65:90] if not splits else perm[66:90]})
    ds = Dataset("splits", X, y, None, "table", splits=splits)
    res = compare(ds, laws=["bernoulli", "sigmoid-mse"], seeds=2, **FAST)
    assert not res._shared_rows()
    paired = res.paired()
    assert (paired["method"] == "bootstrap").all()
    law = [x for x in res.laws if x != paired["reference"].iloc[0]][0]
    a, r = res.row_values(law, "mean_squared_error"), res.row_values(paired["reference"].iloc[0], "mean_squared_error")
    want = bootstrap_diff([a[0], a[1]], [r[0], r[1]], shared_rows=False)  # 25 and 24 test rows
    assert paired.loc[law, "diff_low"] == pytest.approx(want.low) and paired.loc[law, "p_value"] == pytest.approx(want.p_value)


def test_cli_with_one_seed_prints_and_reports_no_nan(tmp_path):
    import pandas as pd

    X, y = _data()
    csv = tmp_path / "tiny.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}).to_csv(csv, index=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["compare", str(csv), "--target", "y", "--laws", "bernoulli,sigmoid-mse", "--seeds", "1", "--epochs", "3",
                                   "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert not NAN.search(res.output), res.output
    assert "95% CI" in res.output and "bootstrap over the 12 test rows" in res.output
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert not NAN.search(md) and not NAN.search(text)
    # The cautions stand apart, near the recommendation, before the metrics table.
    assert md.index("⚠ Caution, small test set: 12 test labels") < md.index("## Laws ranked by")
    assert text.index("⚠ Caution, 1 seed") < text.index("<h2 id='ranking'>")
    assert "percentile bootstraps over the 12 test rows" in md

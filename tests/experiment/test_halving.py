"""Successive halving across laws (``compare(halving=...)``, ``losslab.experiment.halving``).

The test statistics are checked against scipy (``scipy.stats.ttest_rel`` with
``alternative="greater"``); the comparison-level tests check what a stop means: the rung's
values are those of the same runs trained for that many epochs, the survivors' runs are those of
the comparison without halving (the paired design kept), every stop is in the store with its
reason, and a comparison killed after any store write resumes to the same numbers.
"""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest
from scipy import stats

import losslab as ll
from losslab import LosslabError
from losslab.experiment import compare, load_result
from losslab.experiment.halving import Halving, decide, one_sided_p, resolve_halving


# ---------------------------------------------------------------------------- the test
def test_one_sided_p_is_scipys_paired_t_test():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.normal(size=5), rng.normal(size=5)
        want = stats.ttest_rel(a, b, alternative="greater").pvalue
        assert one_sided_p(a - b) == pytest.approx(want, rel=1e-12)
        want_less = stats.ttest_rel(a, b, alternative="less").pvalue
        assert one_sided_p(a - b, worse_if_positive=False) == pytest.approx(want_less, rel=1e-12)


def test_one_sided_p_edge_cases():
    assert math.isnan(one_sided_p(np.array([0.3])))  # one pair: no test
    assert one_sided_p(np.array([0.2, 0.2, 0.2])) == 0.0  # behind by the same amount on every seed
    assert one_sided_p(np.array([-0.2, -0.2])) == 1.0
    assert one_sided_p(np.array([0.0, 0.0])) == 1.0


def _values(rng, means, n=5, noise=0.01):
    shared = rng.normal(0, 0.05, size=n)  # the seed's own difficulty, common to every law: what pairing removes
    return {law: {s: m + shared[s] + noise * rng.normal() for s in range(n)} for law, m in means.items()}


def test_decide_stops_exactly_the_laws_whose_p_is_below_alpha_over_the_other_laws():
    rng = np.random.default_rng(1)
    values = _values(rng, {"a": 1.0, "b": 1.002, "c": 1.05, "d": 1.2})
    stops = decide(values, "mean_squared_error", alpha=0.01, epoch=3)
    leader = min(values, key=lambda law: np.mean(list(values[law].values())))
    assert leader in "ab" and leader not in stops  # a and b are 0.002 apart, within the noise: either may lead
    for law in set("abcd") - {leader}:
        d = np.array([values[law][s] - values[leader][s] for s in range(5)])
        p = stats.ttest_rel(d, np.zeros(5), alternative="greater").pvalue
        assert (law in stops) == (p < 0.01 / 3), (law, p)
        if law in stops:
            st = stops[law]
            assert st.behind == leader and st.epoch == 3 and st.n == 5 and st.threshold == pytest.approx(0.01 / 3)
            assert st.p_value == pytest.approx(p, rel=1e-12) and st.diff == pytest.approx(d.mean(), rel=1e-12)
            assert st.reason() == f"stopped early: behind {leader} at epoch 3, p = {p:.2g}"
    assert set(stops) == {"c", "d"}  # 0.05 and 0.2 behind, with 0.01 noise over 5 seeds


def test_decide_follows_the_metrics_direction():
    # a score where higher is better: the leader has the highest mean, and the laws below it stop
    rng = np.random.default_rng(2)
    values = _values(rng, {"a": 0.9, "b": 0.7})
    assert set(decide(values, "r2_score", alpha=0.05, epoch=10)) == {"b"}
    assert set(decide(values, "mean_squared_error", alpha=0.05, epoch=10)) == {"a"}


def test_decide_leaves_out_what_it_cannot_test():
    h = dict(alpha=0.5, epoch=10)
    # one seed: no paired test, nothing stops
    assert decide({"a": {0: 1.0}, "b": {0: 5.0}}, "mean_squared_error", **h) == {}
    # a law whose every seed diverged before the rung is not stopped (its runs diverge and say so)
    assert decide({"a": {0: 1.0, 1: 1.1}, "b": {0: math.nan, 1: None}}, "mean_squared_error", **h) == {}
    # a diverged seed is left out of the pairs: 2 of the 3 seeds are paired
    stops = decide({"a": {0: 1.0, 1: 1.1, 2: 0.9}, "b": {0: 2.0, 1: 2.2, 2: math.nan}}, "mean_squared_error", **h)
    assert stops["b"].n == 2


def test_resolve_halving_forms_and_errors():
    assert resolve_halving(None) is None and resolve_halving(False) is None
    assert resolve_halving(True) == Halving() == Halving(rungs=(10,), alpha=0.01)
    assert resolve_halving(7) == Halving(rungs=(7,)) == resolve_halving({"rungs": 7})
    assert resolve_halving([5, 10]) == Halving(rungs=(5, 10)) == resolve_halving({"rungs": [5, 10]})
    assert resolve_halving({"alpha": 0.05}) == Halving(alpha=0.05)
    for bad, words in (("ten", "halving='ten'"), ({"rung": 3}, "unknown option(s) ['rung']"), (0, "halving rung"),
                       ((10, 5), "increasing order"), ((5, 5), "increasing order"), ((), "one or more epochs"),
                       ({"alpha": 1.5}, "halving alpha"), (2.5, "halving=2.5")):  # fmt: skip
        with pytest.raises(LosslabError) as exc:
            resolve_halving(bad)
        assert words in str(exc.value) and "\n" not in str(exc.value)


# ---------------------------------------------------------------------------- in a comparison
def _data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(160, 4)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.standard_t(3, size=160)).astype(np.float32)
    return X, y


LAWS = ["gaussian", "gaussian-hetero", "student-t", "laplace-hetero"]
KW = dict(laws=LAWS, seeds=3, model="mlp", epochs=6, batch_size=32, patience=3)
#: alpha 0.2 over 3 laws stops gaussian-hetero and student-t on this data at epoch 2 (p = 0.016 and 0.022 < 0.067)
HALVING = {"rungs": [2], "alpha": 0.2}
#: two rungs; alpha 0.5 stops gaussian-hetero and student-t at epoch 1, laplace-hetero at epoch 3
TWO = {"rungs": [1, 3], "alpha": 0.5}


def _copy(src, dst) -> None:
    """A consistent copy of a WAL-mode store (its last writes may sit in the -wal file)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def _numbers(result) -> dict:
    return {(r["law"], r["seed"]): (r["status"], {k: v for k, v in r["metrics"].items() if isinstance(v, float)}, r["history"].get("rungs"),
                                    r["history"].get("stopped"))
            for r in result.runs}  # fmt: skip


@pytest.fixture(scope="module")
def halved(tmp_path_factory):
    path = tmp_path_factory.mktemp("halving") / "halved.sqlite"
    return path, compare(_data(), store=str(path), halving=HALVING, **KW)


def test_stopped_laws_are_recorded_with_their_reason(halved):
    path, res = halved
    stopped = {r["law"] for r in res.runs if r["status"] == "stopped"}
    assert stopped == {"gaussian-hetero", "student-t"}
    back = load_result(str(path))
    assert _numbers(back) == _numbers(res)
    assert back.config.halving == HALVING
    for r in back.runs:
        h = r["history"]
        assert [(e["epoch"], e["metric"]) for e in h["rungs"]] == [(2, "mean_squared_error")] and math.isfinite(h["rungs"][0]["value"])
        if r["status"] == "stopped":
            st = h["stopped"]
            assert st["behind"] == "gaussian" and st["epoch"] == 2 and st["p_value"] < st["threshold"] == pytest.approx(0.2 / 3)
            assert r["metrics"]["reasons"]["all"] == st["reason"] == f"stopped early: behind gaussian at epoch 2, p = {st['p_value']:.2g}"
            assert h["epochs_run"] <= 2 and not r["arrays"]  # no test numbers, no weights
            assert not any(isinstance(v, float) for v in r["metrics"].values())
        else:
            assert "stopped" not in h


def test_the_rung_is_each_run_trained_for_that_many_epochs(halved):
    # The same laws with epochs=2 and no halving: the validation metric of each run's kept weights
    # (history["val_metric"], what best_model ranks seeds by) is the rung's value, bit for bit.
    _, res = halved
    short = compare(_data(), **{**KW, "epochs": 2})
    want = {(r["law"], r["seed"]): r["history"]["val_metric"]["value"] for r in short.runs}
    assert {(r["law"], r["seed"]): r["history"]["rungs"][0]["value"] for r in res.runs} == want


def test_the_survivors_runs_are_those_of_the_comparison_without_halving(halved):
    _, res = halved
    plain = compare(_data(), **KW)
    want = {k: v[1] for k, v in _numbers(plain).items()}
    for (law, seed), (status, metrics, *_) in _numbers(res).items():
        if status == "ok":
            assert metrics == want[(law, seed)]  # bit for bit: the same split, initial weights, batches and steps
    assert plain.table().index.tolist() == res.table().index.tolist() == LAWS


def test_halving_is_a_comparison_of_its_own(halved, tmp_path):
    path, res = halved
    copy = tmp_path / "copy.sqlite"
    _copy(path, copy)  # the fixture's store stays as the halved comparison wrote it
    with sqlite3.connect(copy) as con:
        assert con.execute("SELECT COUNT(*) FROM comparisons").fetchone()[0] == 1
    # the same store without halving trains everything again: no stopped run is read back as a finished one
    events = []
    plain = compare(_data(), store=str(copy), progress=events.append, **KW)
    assert all(r["status"] == "ok" for r in plain.runs) and sum(e["event"] == "run_start" for e in events) == 12


def test_the_recommendation_ranks_the_survivors_and_names_the_stops(halved):
    _, res = halved
    rec = res.recommend()
    assert rec.law in {"gaussian", "laplace-hetero"}
    st = {r["law"]: r["history"]["stopped"]["reason"] for r in res.runs if r["status"] == "stopped"}
    want = f"Successive halving stopped 2 laws early, so they have no test numbers: gaussian-hetero ({st['gaussian-hetero']}); student-t ({st['student-t']})."
    assert want in rec.reason
    assert "among 4 laws (2 stopped early)." in rec.reason
    table = res.table()
    assert table["stopped"].to_dict() == {"gaussian": 0, "gaussian-hetero": 3, "student-t": 3, "laplace-hetero": 0}
    assert table.loc[["gaussian-hetero", "student-t"], "mean_squared_error"].isna().all()


def test_the_report_shows_the_stops(halved, tmp_path):
    from losslab.report import sections
    from losslab.report.write import write_report

    _, res = halved
    summary = sections.summary_table(res)
    p = summary.columns[-1]
    assert p.startswith("p vs best") and summary.loc["gaussian-hetero", p] == summary.loc["student-t", p] == "stopped at epoch 2"
    assert any(note.startswith("Successive halving stopped 2 laws early") for note in sections.caveats(res))
    write_report(res, tmp_path / "report", figures=False)
    text = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "stopped early: behind gaussian at epoch 2" in text and "stopped at epoch 2" in text


# Cut after: nothing; inside and after the stopped laws' writes (the rung's); inside the survivors'; all but the last.
# Cut after: nothing; inside and after the stopped laws' writes (the rung's); inside the survivors'; all but the last.
@pytest.mark.parametrize("kept", [0, 2, 3, 6, 7, 11])
def test_resume_after_a_kill_after_any_write_gives_identical_decisions_and_numbers(halved, tmp_path, kept):
    path, res = halved
    cut = tmp_path / "cut.sqlite"
    _copy(path, cut)
    with sqlite3.connect(cut) as con:  # the store as a kill right after write number `kept` leaves it
        rows = con.execute("SELECT key, law, seed FROM runs ORDER BY finished").fetchall()
        con.executemany("DELETE FROM runs WHERE key=?", [(k,) for k, *_ in rows[kept:]])
    events = []
    got = compare(_data(), store=str(cut), progress=events.append, halving=HALVING, **KW)
    assert _numbers(got) == _numbers(res)  # bit for bit, the stops included
    # the laws with a seed left to train are probed at the rung again, the others read their rung from the store
    left = {(law, seed) for _, law, seed in rows[kept:]}
    assert {e["law"] for e in events if e["event"] == "halving"} == {law for law, _ in left}
    assert sum(e["event"] == "run_start" for e in events) == sum(law not in ("gaussian-hetero", "student-t") for law, _ in left)


def test_halving_in_worker_processes_takes_the_same_decisions(halved):
    _, res = halved
    spread = compare(_data(), halving=HALVING, workers=2, **KW)
    assert {k: v[0] for k, v in _numbers(spread).items()} == {k: v[0] for k, v in _numbers(res).items()}
    for k, (status, metrics, rung, stopped) in _numbers(spread).items():
        want = _numbers(res)[k]
        assert rung == want[2] and stopped == want[3]
        if status == "ok":  # a worker's products may round otherwise: the numbers agree to rounding
            for m, v in metrics.items():
                assert v == pytest.approx(want[1][m], rel=1e-5, abs=1e-7), (k, m)


def test_halving_with_fixed_splits_probes_seed_by_seed():
    # Data with a split per seed (as the UCI sets): the seeds train one at a time, each on its own split.
    import dataclasses

    X, y = _data()
    rng = np.random.default_rng(0)
    splits = []
    for _ in range(3):
        p = rng.permutation(len(y))
        splits.append({"train": np.sort(p[:100]), "val": np.sort(p[100:130]), "test": np.sort(p[130:])})
    ds = dataclasses.replace(ll.data.from_arrays(X, y), splits=splits)
    res = compare(ds, halving=HALVING, **KW)
    short = compare(ds, **{**KW, "epochs": 2})
    want = {(r["law"], r["seed"]): r["history"]["val_metric"]["value"] for r in short.runs}
    assert {(r["law"], r["seed"]): r["history"]["rungs"][0]["value"] for r in res.runs} == want
    assert all(r["config"]["replicas"] == 1 for r in res.runs if r["status"] == "ok")


def test_halving_arguments_are_checked_before_training():
    with pytest.raises(LosslabError, match=r"halving rung 6 is not before the epoch cap epochs=6") as exc:
        compare(_data(), halving=(2, 6), **KW)
    assert "\n" not in str(exc.value)
    with pytest.raises(LosslabError, match="halving='soon'"):
        compare(_data(), halving="soon", **KW)


def test_one_law_or_one_seed_skips_the_rung():
    events = []
    res = compare(_data(), **{**KW, "laws": ["gaussian"]}, halving=HALVING, progress=events.append)
    assert not any(e["event"] == "halving" for e in events) and all(r["status"] == "ok" for r in res.runs)
    events = []
    res = compare(_data(), **{**KW, "seeds": 1}, halving=HALVING, progress=events.append)
    assert not any(e["event"] == "halving" for e in events) and all(r["status"] == "ok" for r in res.runs)


def test_two_rungs_stop_at_the_second_what_the_first_let_through():
    # alpha 0.5 on this data: gaussian-hetero and student-t stop at epoch 1, laplace-hetero at epoch 3
    res = compare(_data(), halving=TWO, **KW)
    first = compare(_data(), halving={"rungs": [1], "alpha": 0.5}, **KW)
    at3 = compare(_data(), **{**KW, "epochs": 3})
    at1 = compare(_data(), **{**KW, "epochs": 1})
    value = {n: {(r["law"], r["seed"]): r["history"]["val_metric"]["value"] for r in c.runs} for n, c in ((1, at1), (3, at3))}
    out_first = {r["law"] for r in first.runs if r["status"] == "stopped"}
    for r in res.runs:
        h, key = r["history"], (r["law"], r["seed"])
        met = [e["epoch"] for e in h["rungs"]]
        assert all(e["value"] == value[e["epoch"]][key] for e in h["rungs"])  # each rung's value: the run trained that far
        if r["law"] in out_first:  # stopped at the first rung, as with that rung alone
            assert r["status"] == "stopped" and met == [1] and h["stopped"]["epoch"] == 1
        elif r["status"] == "stopped":
            assert met == [1, 3] and h["stopped"]["epoch"] == 3 and h["epochs_run"] <= 3
        else:
            assert met == [1, 3]
    assert out_first == {"gaussian-hetero", "student-t"}
    assert {r["law"] for r in res.runs if r["status"] == "stopped" and r["history"]["stopped"]["epoch"] == 3} == {"laplace-hetero"}
    rec = [r for r in res.runs if r["law"] == "laplace-hetero"][0]["history"]["stopped"]
    assert rec["behind"] == "gaussian" and rec["threshold"] == pytest.approx(0.5 / 1)  # two laws left at the second rung


@pytest.mark.parametrize("kept", [3, 7, 9])
def test_two_rungs_resume_after_a_kill_to_the_same_stops(tmp_path, kept):
    # Writes: 6 stops at rung 1, 3 at rung 2, then gaussian's 3 runs. Cut inside each group.
    path = tmp_path / "two.sqlite"
    res = compare(_data(), store=str(path), halving=TWO, **KW)
    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT key FROM runs ORDER BY finished").fetchall()
        con.executemany("DELETE FROM runs WHERE key=?", rows[kept:])
    assert _numbers(compare(_data(), store=str(path), halving=TWO, **KW)) == _numbers(res)

"""The comparison grid: store, resume after SIGKILL, determinism, recommendation, ensembles."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import losslab as ll
from losslab.experiment import Store, compare
from losslab.experiment.compare import load_result

FAST = dict(epochs=4, batch_size=64, patience=2)


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    p = 1 / (1 + np.exp(-(X[:, 0] - 0.5 * X[:, 1])))
    y = (rng.binomial(10, p) / 10).astype(np.float32)
    return X, y


def _metrics(result):
    return {f'{r["law"]}/{r["seed"]}': r["metrics"] for r in result.runs}


def test_compare_tables_recommendation_and_resume(tmp_path):
    store = tmp_path / "runs.sqlite"
    events = []
    res = compare(_data(), laws=["bernoulli", "sigmoid-mse", "binned:n_bins=11"], seeds=2, store=str(store), progress=events.append, **FAST)
    table = res.table()
    assert list(table.index) == ["bernoulli", "sigmoid-mse", "binned(n_bins=11)"]
    assert {"mean_squared_error", "mean_squared_error_low", "mean_squared_error_high"} <= set(table.columns)
    rec = res.recommend()
    assert rec.law in table.index and rec.metric == "mean_squared_error" and rec.law in rec.reason
    best = table["mean_squared_error"].idxmin()
    assert rec.law == best
    paired = res.paired()
    assert paired.loc[best, "diff"] == 0
    assert sum(e["event"] == "run_start" for e in events) == 6
    # The same call again trains nothing and reads identical numbers from the store.
    again_events = []
    again = compare(_data(), laws=["bernoulli", "sigmoid-mse", "binned:n_bins=11"], seeds=2, store=str(store), progress=again_events.append, **FAST)
    assert not any(e["event"] == "run_start" for e in again_events)
    assert all(e["cached"] for e in again_events if e["event"] == "run_end")
    assert _metrics(again) == _metrics(res)
    # A report can be rebuilt from the store alone.
    loaded = load_result(str(store))
    assert loaded.recommend().law == rec.law


def test_same_command_twice_gives_bit_identical_metrics(tmp_path):
    a = compare(_data(), laws=["bernoulli", "gaussian-hetero"], seeds=2, store=str(tmp_path / "a.sqlite"), **FAST)
    b = compare(_data(), laws=["bernoulli", "gaussian-hetero"], seeds=2, store=str(tmp_path / "b.sqlite"), **FAST)
    assert json.dumps(_metrics(a), sort_keys=True) == json.dumps(_metrics(b), sort_keys=True)


def test_bad_inputs_fail_before_training(tmp_path):
    X, y = _data()
    with pytest.raises(ll.LosslabError, match="unknown law 'betaa'.*did you mean 'beta'"):
        compare((X, y), laws=["betaa"], seeds=1, **FAST)
    y0 = y.copy()
    y0[3] = 0.0
    with pytest.raises(ll.LosslabError, match=r"beta: \d+ of \d+ labels lie outside the support"):
        compare((X, y0), laws=["beta"], seeds=1, **FAST)
    with pytest.raises(ll.LosslabError, match="needs trials"):
        compare((X, y), laws=["binomial"], seeds=1, **FAST)
    with pytest.raises(ll.LosslabError, match="twice"):
        compare((X, y), laws=["bernoulli", "bernoulli"], seeds=1, **FAST)


def test_ensemble_scores_from_stored_runs(tmp_path):
    res = compare(_data(), laws=["bernoulli", "gaussian-hetero"], seeds=3, store=str(tmp_path / "s.sqlite"), **FAST)
    ens = res.ensemble()
    assert (ens["members"] == 3).all()
    # A mixture's log score is at most the mean of its members' log scores (Jensen), here checked per law.
    single = res.table()["log_score"]
    for law in ens.index:
        assert ens.loc[law, "log_score"] <= single[law] + 1e-6


SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from losslab.experiment import compare
    sys.path.insert(0, {tests!r})
    from test_compare import _data, FAST
    done = []
    def progress(ev):
        if ev["event"] == "run_end":
            done.append(ev)
            if len(done) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
    compare(_data(), laws=["bernoulli", "sigmoid-mse"], seeds=3, store=sys.argv[1], progress=progress, **FAST)
    """
)


def test_sigkill_loses_no_finished_run_and_resume_matches(tmp_path):
    store = tmp_path / "killed.sqlite"
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent)))
    proc = subprocess.run([sys.executable, str(script), str(store)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with Store(store) as st:
        assert len(list(st.runs())) == 3
    events = []
    resumed = compare(_data(), laws=["bernoulli", "sigmoid-mse"], seeds=3, store=str(store), progress=events.append, **FAST)
    assert sum(e["event"] == "run_start" for e in events) == 3  # only the three unfinished runs
    fresh = compare(_data(), laws=["bernoulli", "sigmoid-mse"], seeds=3, store=str(tmp_path / "fresh.sqlite"), **FAST)
    assert json.dumps(_metrics(resumed), sort_keys=True) == json.dumps(_metrics(fresh), sort_keys=True)


def test_store_rejects_other_files_and_versions(tmp_path):
    bad = tmp_path / "not.sqlite"
    bad.write_text("this is not a database")
    with pytest.raises(ll.LosslabError, match="not a losslab store"):
        Store(bad)
    path = tmp_path / "old.sqlite"
    with Store(path) as st:
        st._con.execute("UPDATE meta SET value='0' WHERE key='schema_version'")
    with pytest.raises(ll.LosslabError, match="schema version 0"):
        Store(path)


def test_a_result_rebuilt_from_the_store_keeps_diagnostics_model_and_columns(tmp_path):
    import pandas as pd

    X, y = _data()
    path = tmp_path / "d.csv"
    pd.DataFrame({"height": X[:, 0], "width": X[:, 1], "score": y}).to_csv(path, index=False)
    res = compare(str(path), target="score", laws=["bernoulli"], seeds=2, store=str(tmp_path / "s.sqlite"), **FAST)
    loaded = load_result(str(tmp_path / "s.sqlite"))
    assert res.config.model == loaded.config.model == "mlp"  # "auto" resolved for a table
    assert loaded.labels is not None and loaded.labels.to_dict() == res.labels.to_dict()
    assert loaded.data_meta["target_names"] == ["score"] and loaded.data_meta["feature_names"] == ["height", "width"]


def test_log_scores_of_different_likelihood_kinds_are_not_ranked(tmp_path):
    # bernoulli's soft BCE and beta-binomial's pmf of counts are not on one scale: ranking them must fail,
    # before training when asked up front, and in recommend() for a result that holds both.
    X, y = _data()
    with pytest.raises(ll.LosslabError, match=r"soft-bernoulli: bernoulli; pmf: binomial"):
        compare((X, y, np.full(len(y), 10.0)), laws=["bernoulli", "binomial"], seeds=2, primary_metric="log_score", **FAST)
    res = compare((X, y, np.full(len(y), 10.0)), laws=["bernoulli", "binomial"], seeds=2, **FAST)
    with pytest.raises(ll.LosslabError, match="not comparable"):
        res.recommend("log_score")
    assert res.recommend("mean_squared_error").law in ("bernoulli", "binomial")


def test_the_latest_grid_on_a_store_is_the_one_read_back(tmp_path):
    # Issue 21, item 3: two grids of one comparison (same data and settings, other laws and seeds) on one store;
    # the store used to keep the first grid's laws and seeds, so the report silently showed the older grid.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.standard_t(4, size=80)).astype(np.float32)
    path = str(tmp_path / "s.sqlite")
    compare((X, y), laws=["gaussian", "laplace"], seeds=2, epochs=2, store=path)
    second = compare((X, y), laws=["gaussian", "student-t"], seeds=3, epochs=2, store=path)
    back = load_result(path)
    assert back.laws == ["gaussian", "student-t"] and back.config.seeds == [0, 1, 2]
    assert {(r["law"], r["seed"]) for r in back.runs} == {(r["law"], r["seed"]) for r in second.runs}

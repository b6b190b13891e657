"""Laws trained side by side in worker processes give the runs of one process, and lose nothing.

The reference is ``compare(..., workers=1)``: the same grid trained in this process, through
the code path that has no pool, queue or pickling.
"""

import numpy as np
import pytest
import torch

import losslab as ll
from losslab._errors import LosslabError
from losslab.experiment import Store, compare
from losslab.experiment._pool import resolve_workers

LAWS = ["bernoulli", "sigmoid-mse", "zoib"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(160, 4)).astype(np.float32)
    p = 1 / (1 + np.exp(-(X[:, 0] - X[:, 1])))
    y = np.round(p * 10) / 10  # fractions k/10, with exact 0 and 1
    return ll.data.from_arrays(X, y.astype(np.float32), name="workers-test")


def _kw(**extra):
    return dict(laws=LAWS, seeds=2, epochs=4, batch_size=32, model="mlp", **extra)


@pytest.fixture(scope="module")
def serial(data):
    return compare(data, workers=1, **_kw())


def test_two_workers_give_the_runs_of_one_process_and_a_rerun_trains_nothing(data, serial, tmp_path):
    path = str(tmp_path / "runs.sqlite")
    events = []
    par = compare(data, workers=2, store=path, progress=events.append, **_kw())
    grid = next(e for e in events if e["event"] == "grid")
    assert grid["workers"] == 2
    # Runs come back in the serial order (law, then seed), whatever order the workers finished in.
    assert [(r["law"], r["seed"]) for r in par.runs] == [(r["law"], r["seed"]) for r in serial.runs]
    for a, b in zip(serial.runs, par.runs):
        for m in ("mean_squared_error", "log_score", "val_nll"):
            np.testing.assert_allclose(b["metrics"][m], a["metrics"][m], rtol=1e-5, atol=1e-7, err_msg=f"{a['law']} seed {a['seed']} {m}")
    assert par.recommend().law == serial.recommend().law
    # Epoch events from the workers name their law, so a progress display can tell concurrent runs apart.
    epochs = [e for e in events if e["event"] == "epoch"]
    assert epochs and {e["law"] for e in epochs} == set(LAWS)
    ends = [e for e in events if e["event"] == "run_end"]
    assert [e["done"] for e in ends] == list(range(1, len(LAWS) * 2 + 1))

    # The parent wrote every run; the same call again trains nothing.
    with Store(path) as st:
        stored = {(r["law"], int(r["seed"])) for r in st.runs()}
    assert stored == {(law, s) for law in LAWS for s in (0, 1)}
    events = []
    again = compare(data, workers=2, store=path, progress=events.append, **_kw())
    ends = [e for e in events if e["event"] == "run_end"]
    assert len(ends) == 6 and all(e["cached"] for e in ends)
    assert not [e for e in events if e["event"] == "epoch"]
    assert again.table()["mean_squared_error"].equals(par.table()["mean_squared_error"])


def test_a_half_finished_store_is_completed_by_workers(data, tmp_path):
    path = str(tmp_path / "runs.sqlite")
    compare(data, workers=1, store=path, **{**_kw(), "laws": LAWS[:1]})
    events = []
    compare(data, workers=2, store=path, progress=events.append, **_kw())
    ends = [e for e in events if e["event"] == "run_end"]
    assert sorted((e["law"], e["cached"]) for e in ends) == sorted([(LAWS[0], True)] * 2 + [(law, False) for law in LAWS[1:] for _ in range(2)])


@pytest.mark.parametrize(
    "workers, model, device, message",
    [
        (0, "mlp", "cpu", "workers=0; expected a positive whole number or 'auto'"),
        ("many", "mlp", "cpu", "workers='many'"),
        (True, "mlp", "cpu", "workers=True"),
        (2, lambda shape: torch.nn.Identity(), "cpu", "needs a model given by name"),
        (2, "mlp", "meta", "needs device='cpu'"),
    ],
)
def test_bad_workers_name_the_culprit(workers, model, device, message):
    with pytest.raises(LosslabError, match=message.replace("(", r"\(").replace(")", r"\)").replace("'", "'")):
        resolve_workers(workers, n_jobs=3, device=torch.device(device), model=model)


def test_auto_uses_one_process_where_workers_cannot_help():
    cpu = torch.device("cpu")
    assert resolve_workers("auto", n_jobs=1, device=cpu, model="mlp") == 1  # one law: nothing to spread
    assert resolve_workers("auto", n_jobs=5, device=cpu, model=lambda shape: None) == 1  # a factory may not pickle
    assert resolve_workers("auto", n_jobs=5, device=torch.device("meta"), model="mlp") == 1  # accelerators: one process
    assert resolve_workers(8, n_jobs=3, device=cpu, model="mlp") == 3  # never more processes than jobs


def test_auto_takes_one_worker_per_two_logical_cpus(monkeypatch):
    from losslab.experiment import _pool

    cpu = torch.device("cpu")
    for cpus, jobs, want in ((2, 6, 1), (3, 6, 1), (8, 6, 4), (16, 6, 6)):
        monkeypatch.setattr(_pool, "cpu_count", lambda: cpus)
        assert resolve_workers("auto", n_jobs=jobs, device=cpu, model="mlp") == want, (cpus, jobs)


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_cli_refuses_a_bad_workers_value_in_one_line(value, tmp_path):
    from typer.testing import CliRunner

    from losslab.cli import app

    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "o"), "--workers", value, "--quiet"])
    assert res.exit_code == 2, res.output
    assert f"--workers {value}" in res.output and "positive whole number or 'auto'" in res.output
    assert len(res.output.strip().splitlines()) == 1

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
from losslab.experiment.workers import resolve_workers

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


def test_auto_takes_one_worker_per_two_logical_cpus_for_other_runs(monkeypatch):
    from losslab.experiment import workers as pool

    cpu = torch.device("cpu")
    monkeypatch.setattr(pool, "physical_cores", lambda: 99)  # not consulted but for CNN runs
    for cpus, jobs, want in ((2, 6, 1), (3, 6, 1), (8, 6, 4), (16, 6, 6)):
        monkeypatch.setattr(pool, "cpu_count", lambda: cpus)
        assert resolve_workers("auto", n_jobs=jobs, device=cpu, model="mlp") == want, (cpus, jobs)


def test_auto_takes_one_worker_per_physical_core_for_cnn_runs(monkeypatch):
    from losslab.experiment import workers as pool

    cpu = torch.device("cpu")
    monkeypatch.setattr(pool, "cpu_count", lambda: 99)  # not consulted for CNN runs
    for cores, jobs, want in ((1, 30, 1), (2, 30, 2), (4, 30, 4), (8, 3, 3)):
        monkeypatch.setattr(pool, "physical_cores", lambda: cores)
        assert resolve_workers("auto", n_jobs=jobs, device=cpu, model="cnn-small", cnn_runs=True) == want, (cores, jobs)
    assert resolve_workers("auto", n_jobs=30, device=torch.device("meta"), model="cnn-small", cnn_runs=True) == 1


def test_only_cnn_grids_big_enough_to_repay_the_workers_start_are_spread():
    from losslab.experiment.workers import MIN_CNN_WORK, spread_cnn_runs

    # retinamnist as the grid benchmark runs it: 1600 images of 3x28x28, cap 50 epochs, 30 runs (5.6e9)
    assert spread_cnn_runs("cnn-small", (3, 28, 28), 1600, 50, 30)
    # the same images for a quick look, 4 runs of 3 epochs (4.5e7): one process
    assert not spread_cnn_runs("cnn-small", (3, 28, 28), 1600, 3, 4)
    assert not spread_cnn_runs("mlp", (3, 28, 28), 1600, 50, 30)  # MLPs one at a time: never
    rows = int(MIN_CNN_WORK // (64 * 10 * 2)) + 1  # just past the threshold, for 1x8x8 images, cap 10, 2 runs
    assert spread_cnn_runs("cnn", (1, 8, 8), rows, 10, 2) and not spread_cnn_runs("cnn", (1, 8, 8), rows - 2, 10, 2)


def test_auto_spreads_a_cnn_grid_only_past_the_threshold(monkeypatch):
    from losslab.experiment import workers as pool

    rng = np.random.default_rng(3)
    X = rng.uniform(size=(60, 1, 8, 8)).astype(np.float32)
    ds = ll.data.from_arrays(X, X.mean(axis=(1, 2, 3)).astype(np.float32), name="small-images")
    monkeypatch.setattr(pool, "physical_cores", lambda: 2)
    monkeypatch.setattr(pool, "cpu_count", lambda: 2)

    def workers_picked(model: str) -> int:
        events = []
        compare(ds, laws=["bernoulli", "sigmoid-mse"], seeds=2, epochs=1, batch_size=16, model=model, workers="auto", progress=events.append)
        return next(e for e in events if e["event"] == "grid")["workers"]

    assert workers_picked("cnn-small") == 1  # 60 x 64 x 1 epoch x 4 runs: far below MIN_CNN_WORK
    monkeypatch.setattr(pool, "MIN_CNN_WORK", 0)  # as if it were big enough: a worker per core
    assert workers_picked("cnn-small") == 2
    assert workers_picked("mlp") == 1  # MLP seeds batch as replicas: one per two logical CPUs


def _fake_topology(root, cores_of_cpus):
    for n, (pkg, core) in enumerate(cores_of_cpus):
        d = root / f"cpu{n}" / "topology"
        d.mkdir(parents=True)
        (d / "physical_package_id").write_text(f"{pkg}\n")
        (d / "core_id").write_text(f"{core}\n")


@pytest.mark.parametrize(
    "cores_of_cpus, allowed, want",
    [
        ([(0, 0), (0, 1)], {0, 1}, 2),  # two cores, no hyper-threads (this project's VM)
        ([(0, 0), (0, 1), (0, 0), (0, 1)], {0, 1, 2, 3}, 2),  # two cores with two hyper-threads each
        ([(0, 0), (1, 0)], {0, 1}, 2),  # core 0 of two sockets: two cores
        ([(0, 0), (0, 1), (0, 0), (0, 1)], {0, 2}, 1),  # only one core's two threads are allowed
    ],
)
def test_physical_cores_counts_distinct_cores_of_the_allowed_cpus(monkeypatch, tmp_path, cores_of_cpus, allowed, want):
    from losslab.experiment import workers as pool

    if not hasattr(pool.os, "sched_getaffinity"):
        pytest.skip("CPU affinity is Linux-only")
    _fake_topology(tmp_path, cores_of_cpus)
    monkeypatch.setattr(pool, "_SYS_CPU", str(tmp_path))
    monkeypatch.setattr(pool.os, "sched_getaffinity", lambda pid: allowed)
    assert pool.physical_cores() == want


def test_physical_cores_falls_back_to_half_the_cpus_without_a_topology(monkeypatch, tmp_path):
    from losslab.experiment import workers as pool

    if not hasattr(pool.os, "sched_getaffinity"):
        pytest.skip("CPU affinity is Linux-only")
    monkeypatch.setattr(pool, "_SYS_CPU", str(tmp_path / "missing"))
    monkeypatch.setattr(pool.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    assert pool.physical_cores() == 3


def test_cnn_seeds_go_to_the_workers_one_by_one_and_give_the_runs_of_one_process(tmp_path, monkeypatch):
    from losslab.experiment import workers as pool

    handed = []
    real_run_jobs = pool.run_jobs

    def run_jobs(jobs, *args):
        handed.extend((j["label"], tuple(j["seeds"])) for j in jobs)
        return real_run_jobs(jobs, *args)

    monkeypatch.setattr(pool, "run_jobs", run_jobs)

    # Images: cnn-small's seeds train one at a time on the CPU, so each (law, seed) is a job of its own.
    rng = np.random.default_rng(11)
    X = rng.uniform(size=(96, 1, 8, 8)).astype(np.float32)
    y = np.clip(X[:, 0, 2:6, 2:6].mean(axis=(1, 2)) + rng.normal(0, 0.05, 96), 0, 1).astype(np.float32)
    ds = ll.data.from_arrays(X, y, name="workers-images")
    kw = dict(laws=["bernoulli", "sigmoid-mse"], seeds=3, epochs=3, batch_size=16, model="cnn-small")
    serial = compare(ds, workers=1, **kw)
    events = []
    path = str(tmp_path / "runs.sqlite")
    par = compare(ds, workers=2, store=path, progress=events.append, **kw)
    grid = next(e for e in events if e["event"] == "grid")
    assert grid["replicas"] is False and grid["workers"] >= 2
    assert [(r["law"], r["seed"]) for r in par.runs] == [(r["law"], r["seed"]) for r in serial.runs]
    for a, b in zip(serial.runs, par.runs):
        np.testing.assert_allclose(b["arrays"]["y_pred"], a["arrays"]["y_pred"], rtol=1e-5, atol=1e-7, err_msg=f"{a['law']} seed {a['seed']}")
        assert b["history"]["best_epoch"] == a["history"]["best_epoch"] and b["history"]["val"] == pytest.approx(a["history"]["val"], rel=1e-5)
    # Each seed was its own job, and the store holds every run, each written as its job returned.
    assert handed == [(law, (s,)) for law in kw["laws"] for s in range(3)]
    with Store(path) as st:
        assert {(r["law"], int(r["seed"])) for r in st.runs()} == {(law, s) for law in kw["laws"] for s in range(3)}
    ends = [e for e in events if e["event"] == "run_end"]
    assert [e["done"] for e in ends] == list(range(1, 7))


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_cli_refuses_a_bad_workers_value_in_one_line(value, tmp_path):
    from typer.testing import CliRunner

    from losslab.cli import app

    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "o"), "--workers", value, "--quiet"])
    assert res.exit_code == 2, res.output
    assert f"--workers {value}" in res.output and "positive whole number or 'auto'" in res.output
    assert len(res.output.strip().splitlines()) == 1

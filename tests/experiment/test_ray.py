"""``compare(..., workers="ray")``: the grid's jobs as Ray tasks give the runs of one process, and lose nothing.

The reference is ``compare(..., workers=1)``: the same grid trained in this process, with no
Ray, pickling or object store in the way, run with the torch threads of a task (one per CPU it
asks), since the last bits of a product can follow the thread count. The cluster is a local one
(``ray.init(num_cpus=2)``), started once for the module: Ray's start-up costs seconds.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import losslab as ll
from losslab._errors import LosslabError
from losslab.experiment import Store, compare
from losslab.experiment.workers import resolve_workers

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason='Ray is not installed (pip install "losslab[ray]"; .ci/run installs it)'
)

LAWS = ["bernoulli", "sigmoid-mse", "zoib"]
KW = dict(laws=LAWS, seeds=2, epochs=4, batch_size=32, model="mlp")


def _data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(160, 4)).astype(np.float32)
    p = 1 / (1 + np.exp(-(X[:, 0] - X[:, 1])))
    y = np.round(p * 10) / 10  # fractions k/10, with exact 0 and 1
    return ll.data.from_arrays(X, y.astype(np.float32), name="ray-test")


@contextlib.contextmanager
def _threads(n: int):
    """Torch threads as in a Ray task of ``n`` CPUs: a convolution's sums are split by thread, so its last bits follow the count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _bits(result) -> str:
    """Every run's metrics, validation curve and test predictions, as exact text: equal strings mean equal bits."""
    out = {}
    for r in result.runs:
        arrays = {k: v.tobytes().hex() for k, v in sorted(r["arrays"].items())}
        out[f'{r["law"]}/{r["seed"]}'] = {"metrics": r["metrics"], "val": r["history"]["val"], "arrays": arrays}
    return json.dumps(out, sort_keys=True)


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs for the module, shut down at its end; yields the address other drivers join."""
    import ray

    # address="local": a cluster of our own even where RAY_ADDRESS names another
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def serial():
    with _threads(1):
        return compare(_data(), workers=1, **KW)


@needs_ray
def test_ray_tasks_give_the_runs_of_one_process_to_the_last_bit(cluster, serial, tmp_path):
    path = str(tmp_path / "runs.sqlite")
    events = []
    par = compare(_data(), workers="ray", store=path, progress=events.append, **KW)
    grid = next(e for e in events if e["event"] == "grid")
    assert grid["workers"] == "ray:1"
    # In the serial order (law, then seed), whatever order the tasks finished in; the same bits.
    assert [(r["law"], r["seed"]) for r in par.runs] == [(r["law"], r["seed"]) for r in serial.runs]
    assert _bits(par) == _bits(serial)
    # The tasks' run_start and epoch events reach this process, naming their law; run_end counts up.
    assert {e["law"] for e in events if e["event"] == "epoch"} == set(LAWS)
    assert sorted((e["law"], e["seed"]) for e in events if e["event"] == "run_start") == sorted((law, s) for law in LAWS for s in (0, 1))
    ends = [e for e in events if e["event"] == "run_end"]
    assert [e["done"] for e in ends] == list(range(1, 7)) and not any(e["cached"] for e in ends)
    # Every epoch event of a run came before its run_end.
    last_epoch = {(e["law"], e["seed"]): i for i, e in enumerate(events) if e["event"] == "epoch"}
    end_at = {(e["law"], e["seed"]): i for i, e in enumerate(events) if e["event"] == "run_end"}
    assert all(last_epoch[k] < end_at[k] for k in end_at)
    # The driver wrote every run.
    with Store(path) as st:
        assert {(r["law"], int(r["seed"])) for r in st.runs()} == {(law, s) for law in LAWS for s in (0, 1)}


@needs_ray
def test_a_store_of_a_workers_1_run_is_reused_by_ray(serial, tmp_path, monkeypatch):
    from losslab.experiment import ray_executor

    path = str(tmp_path / "runs.sqlite")
    with _threads(1):
        first = compare(_data(), workers=1, store=path, **KW)

    def no_tasks(*args, **kwargs):
        raise AssertionError("every run is in the store: no Ray task should be sent")

    monkeypatch.setattr(ray_executor, "run_jobs", no_tasks)
    events = []
    again = compare(_data(), workers="ray", store=path, progress=events.append, **KW)
    ends = [e for e in events if e["event"] == "run_end"]
    assert len(ends) == 6 and all(e["cached"] for e in ends)
    assert not [e for e in events if e["event"] in ("run_start", "epoch")]
    assert _bits(again) == _bits(first) == _bits(serial)


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    import ray
    sys.path.insert(0, {tests!r})
    from test_ray import _data, KW
    from losslab.experiment import compare
    ray.init(address=sys.argv[2])  # the test's cluster: compare must use it, not start its own
    def progress(ev):
        if ev["event"] == "run_end" and not ev["cached"]:  # the first run is in the store: die now
            os.kill(os.getpid(), signal.SIGKILL)
    compare(_data(), workers="ray", store=sys.argv[1], progress=progress, replicas=False, **KW)
    """
)


@needs_ray
def test_killing_the_driver_loses_no_stored_run_and_resume_trains_only_the_rest(cluster, tmp_path):
    # Seeds one at a time (replicas=False): every run is a task of its own, trained alone both here and in the
    # reference, so the resumed grid must match it bit for bit. (With a law's seeds batched, a seed retrained
    # after a kill trains in a smaller batch, which rounds differently, with workers=1 as well.)
    with _threads(1):
        ref = compare(_data(), workers=1, replicas=False, **KW)
    path = tmp_path / "killed.sqlite"
    script = tmp_path / "killed.py"
    script.write_text(KILLED.format(tests=str(Path(__file__).parent)))
    proc = subprocess.run([sys.executable, str(script), str(path), cluster], capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    with Store(path) as st:
        assert len(list(st.runs())) == 1
    events = []
    resumed = compare(_data(), workers="ray", store=str(path), progress=events.append, replicas=False, **KW)
    assert sum(e["event"] == "run_start" for e in events) == 5  # the five runs that were not stored
    assert sum(e["event"] == "run_end" and e["cached"] for e in events) == 1
    assert [(r["law"], r["seed"]) for r in resumed.runs] == [(r["law"], r["seed"]) for r in ref.runs]
    assert _bits(resumed) == _bits(ref)


@needs_ray
def test_a_factory_model_travels_by_cloudpickle_and_tasks_take_n_cpus(cluster):
    def trunk(shape):  # a local function: the process pool cannot pickle it, Ray's cloudpickle can
        return torch.nn.Sequential(torch.nn.Linear(shape[0], 8), torch.nn.Tanh())

    kw = dict(laws=["bernoulli"], seeds=2, epochs=3, batch_size=32, model=trunk)
    with _threads(2):
        ref = compare(_data(), workers=1, **kw)
    events = []
    par = compare(_data(), workers="ray:2", progress=events.append, **kw)
    assert next(e for e in events if e["event"] == "grid")["workers"] == "ray:2"
    assert _bits(par) == _bits(ref)


@needs_ray
def test_a_task_error_arrives_as_its_one_line(cluster):
    driver = os.getpid()

    def broken(shape):  # fails in the Ray workers only, so the error must cross from a task
        if os.getpid() != driver:
            raise RuntimeError("no such layer on this node")
        return torch.nn.Linear(shape[0], 4)

    with pytest.raises(LosslabError) as info:
        compare(_data(), workers="ray", laws=["bernoulli"], seeds=1, epochs=1, model=broken)
    assert type(info.value) is LosslabError  # the task's own error, not Ray's wrapper with its traceback
    assert "broken' failed when called with input_shape=(4,): RuntimeError: no such layer on this node" in str(info.value)
    assert "\n" not in str(info.value)


@needs_ray
def test_more_cpus_per_task_than_any_node_has_is_refused_before_waiting_for_ever(cluster):
    with pytest.raises(LosslabError, match=r"workers='ray:3' asks 3 CPUs per task and the largest node of the Ray cluster has 2; ask for at most 2"):
        compare(_data(), workers="ray:3", laws=["bernoulli"], seeds=1, epochs=1)


@needs_ray
@pytest.mark.slow
def test_cnn_seeds_as_ray_tasks_give_the_runs_of_one_process(cluster):
    rng = np.random.default_rng(11)
    X = rng.uniform(size=(96, 1, 8, 8)).astype(np.float32)
    y = np.clip(X[:, 0, 2:6, 2:6].mean(axis=(1, 2)) + rng.normal(0, 0.05, 96), 0, 1).astype(np.float32)
    ds = ll.data.from_arrays(X, y, name="ray-images")
    kw = dict(laws=["bernoulli", "sigmoid-mse"], seeds=3, epochs=3, batch_size=16, model="cnn-small")
    with _threads(1):  # measured: with 2 threads here, the CNN's outputs differ in their last bits
        ref = compare(ds, workers=1, **kw)
    events = []
    par = compare(ds, workers="ray", progress=events.append, **kw)
    assert next(e for e in events if e["event"] == "grid")["replicas"] is False  # CNN seeds one at a time: one task each
    assert _bits(par) == _bits(ref)


# ---------------------------------------------------------------------------- without a cluster
def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError, as where it is not installed
    with pytest.raises(LosslabError) as info:
        compare(_data(), workers="ray", laws=["bernoulli"], seeds=1, epochs=1)
    assert str(info.value) == "workers='ray' needs Ray: pip install \"losslab[ray]\""


@pytest.mark.parametrize("workers", ["ray:0", "ray:", "ray:two", "ray:-1", "ray:1.5"])
def test_a_bad_ray_spec_names_the_culprit(workers):
    with pytest.raises(LosslabError, match=rf"workers={workers!r}; expected 'ray', or 'ray:N' with N, the CPUs of each Ray task"):
        resolve_workers(workers, n_jobs=3, device=torch.device("cpu"), model="mlp")


def test_ray_needs_the_cpu():
    with pytest.raises(LosslabError, match=r"workers='ray' trains on the Ray cluster's CPUs, and this comparison trains on meta; pass device='cpu'"):
        resolve_workers("ray", n_jobs=3, device=torch.device("meta"), model="mlp")


@pytest.mark.parametrize("value, want", [("ray", "ray"), ("ray:4", "ray:4")])
def test_cli_passes_ray_to_the_library(value, want):
    from losslab.cli import _parse_workers

    assert _parse_workers(value) == want


def test_cli_refuses_a_bad_ray_spec_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from losslab.cli import app

    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "o"), "--workers", "ray:0", "--quiet"])
    assert res.exit_code == 2, res.output
    assert "--workers ray:0; expected ray, or ray:N with N, the CPUs of each Ray task" in res.output
    assert len(res.output.strip().splitlines()) == 1

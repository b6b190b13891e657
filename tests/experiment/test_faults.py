"""Injected faults: concurrent writers on one store, stores of other versions, unwritable or full output
folders, and a run that diverges in the middle of a grid.

The SIGKILL-and-resume fault is in ``test_compare.py`` (``test_sigkill_loses_no_finished_run_and_resume_matches``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import losslab as ll
import losslab.experiment
from losslab.cli import app
from losslab.experiment import Store, compare
from losslab.experiment import preflight
from losslab.experiment.preflight import check_store_path, check_writable
from losslab.experiment.store import SCHEMA_VERSION

FAST = dict(epochs=3, batch_size=64, patience=10)
TESTS = str(Path(__file__).parent)


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    p = 1 / (1 + np.exp(-(X[:, 0] - 0.5 * X[:, 1])))
    y = (rng.binomial(10, p) / 10).astype(np.float32)
    return X, y


def _one_line(message: str) -> None:
    assert "\n" not in message.strip(), message


# ---------------------------------------------------------------------------- concurrent writers

WRITER = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from losslab.experiment import Store
    path, me, go, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    open(go + f".ready{me}", "w").close()
    while not os.path.exists(go):  # start together: both open a fresh file and write at the same moment
        time.sleep(0.001)
    st = Store(path)
    for i in range(n):
        for key in (f"w{me}-{i}", f"shared-{i}"):
            st.put_run(key, comparison="c", law=f"law{me}", seed=i, status="ok", config={"writer": me, "i": i},
                       metrics={"value": me * 1000 + i}, history={"val": [float(i)]},
                       arrays={"raw": np.full((50, 3), me * 1000 + i, dtype=np.float32)}, seconds=0.0)
        if i % 10 == 0:  # readers interleave with the other process's writes
            assert st.get_run(f"w{me}-{i}")["metrics"]["value"] == me * 1000 + i
            list(st.runs())
    st.close()
    """
)


def _open_store_when_told(path: str, go: str) -> str:
    while not os.path.exists(go):
        time.sleep(0.0005)
    try:
        Store(path).close()
        return ""
    except Exception as e:  # noqa: BLE001 - the test reports it
        return str(e)


def test_processes_creating_one_store_together_all_open_it(tmp_path):
    """Switching a new file to WAL needs it to itself; SQLite then says "locked" at once, without waiting.

    Three processes open one new store at the same moment, 12 times. Before the store retried
    that switch, about 1 opening in 15 failed this way on a 2-core machine.
    """
    import multiprocessing as mp

    ctx = mp.get_context("fork")  # the children touch only sqlite3: no torch threads to inherit
    errors = []
    for i in range(12):
        path, go = str(tmp_path / f"s{i}.sqlite"), str(tmp_path / f"go{i}")
        with ctx.Pool(3) as pool:
            pending = [pool.apply_async(_open_store_when_told, (path, go)) for _ in range(3)]
            time.sleep(0.02)
            Path(go).touch()
            errors += [r.get(timeout=120) for r in pending]
    assert not any(errors), [e for e in errors if e]


def test_two_processes_write_one_store_at_once(tmp_path):
    """Two writers, distinct keys and the same keys, on a store both create at once: nothing lost or torn."""
    store, n = tmp_path / "shared.sqlite", 300
    results = []
    path = tmp_path / "writer.py"
    path.write_text(WRITER)
    go = str(tmp_path / "go")
    procs = [
        subprocess.Popen([sys.executable, str(path), str(store), str(me), go, str(n)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for me in (0, 1)
    ]
    deadline = time.time() + 120
    while not all(os.path.exists(f"{go}.ready{me}") for me in (0, 1)):
        assert time.time() < deadline and all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    Path(go).touch()
    for p in procs:
        out, err = p.communicate(timeout=240)
        results.append((p.returncode, err))
    for rc, err in results:
        assert rc == 0 and "locked" not in err, err
    con = sqlite3.connect(store)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    with Store(store) as st:
        runs = {r["key"]: r for r in st.runs(arrays=True)}
    assert len(runs) == 3 * n  # n per writer, and n shared keys written by both
    # The writers really ran at the same time: each one's commits fall between the other's.
    t0 = sorted(r["finished"] for r in runs.values() if r["key"].startswith("w0-"))
    t1 = sorted(r["finished"] for r in runs.values() if r["key"].startswith("w1-"))
    assert t0[0] < t1[-1] and t1[0] < t0[-1], "the two writers did not overlap"
    for key, r in runs.items():
        writer = r["config"]["writer"]
        # Each row is one writer's whole row: config, metrics and arrays agree (no torn write).
        assert r["metrics"]["value"] == writer * 1000 + r["config"]["i"] == r["seed"] + 1000 * writer
        assert (r["arrays"]["raw"] == writer * 1000 + r["config"]["i"]).all()
        if not key.startswith("shared"):
            assert key == f"w{writer}-{r['config']['i']}"


COMPARE_WORKER = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {tests!r})
    from test_faults import _data, FAST
    from losslab.experiment import compare
    store, laws, me, go = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4]
    open(go + f".ready{{me}}", "w").close()
    while not os.path.exists(go):
        time.sleep(0.001)
    compare(_data(), laws=laws, seeds=1, store=store, **FAST)
    """
)


def test_two_comparisons_share_one_store(tmp_path):
    """Two ``compare`` processes on one store: their common law trains in both (same keys), the others once each."""
    store = tmp_path / "grid.sqlite"
    script = tmp_path / "worker.py"
    script.write_text(COMPARE_WORKER.format(tests=TESTS))
    go = str(tmp_path / "go")
    procs = [
        subprocess.Popen([sys.executable, str(script), str(store), laws, str(me), go], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for me, laws in enumerate(["bernoulli,sigmoid-mse", "bernoulli,gaussian"])
    ]
    deadline = time.time() + 180
    while not all(os.path.exists(f"{go}.ready{me}") for me in (0, 1)):
        assert time.time() < deadline and all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    Path(go).touch()
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0 and "locked" not in err, err
    with Store(store) as st:
        runs = list(st.runs(arrays=True))
        assert len(st.comparisons()) == 1
    assert sorted((r["law"], r["seed"]) for r in runs) == [("bernoulli", 0), ("gaussian", 0), ("sigmoid-mse", 0)]
    # Every run reads back whole, and matches a comparison run alone in a fresh store.
    alone = compare(_data(), laws=["bernoulli", "sigmoid-mse", "gaussian"], seeds=1, store=str(tmp_path / "alone.sqlite"),
                    **FAST)
    want = {(r["law"], r["seed"]): json.dumps(r["metrics"], sort_keys=True) for r in alone.runs}
    got = {(r["law"], r["seed"]): json.dumps(r["metrics"], sort_keys=True) for r in runs}
    assert got == want
    assert all(r["arrays"]["y_pred"].shape == r["arrays"]["y_true"].shape for r in runs)


# ---------------------------------------------------------------------------- store versions


@pytest.mark.parametrize("version", ["0", "2", "abc"])
def test_store_of_another_schema_version_is_refused_in_one_line(tmp_path, version):
    path = tmp_path / f"v{version}.sqlite"
    with Store(path) as st:
        st._con.execute("UPDATE meta SET value=? WHERE key='schema_version'", (version,))
    before = path.read_bytes()
    with pytest.raises(ll.LosslabError) as info:
        Store(path)
    msg = str(info.value)
    _one_line(msg)
    assert repr(str(path)) in msg and f"schema version {version}" in msg and f"schema version {SCHEMA_VERSION}" in msg
    assert path.read_bytes() == before  # refused without a write


def test_sqlite_file_without_a_schema_version_is_not_altered(tmp_path):
    """A store from before schema versions (or another program's database) is refused, and left as it was."""
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE runs (key TEXT PRIMARY KEY, law TEXT, metrics TEXT)")
    con.execute("INSERT INTO runs VALUES ('k', 'beta', '{}')")
    con.commit()
    con.close()
    with pytest.raises(ll.LosslabError, match="not a losslab store.*no schema version.*expected schema version") as info:
        Store(path)
    _one_line(str(info.value))
    con = sqlite3.connect(path)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["runs"]
    con.close()


def test_cli_exits_2_on_a_store_of_another_version(tmp_path):
    path = tmp_path / "future.sqlite"
    with Store(path) as st:
        st._con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    res = CliRunner().invoke(app, ["report", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert "schema version 99" in res.output and "Traceback" not in res.output


def test_store_in_a_missing_folder_or_a_folder_path(tmp_path):
    with pytest.raises(ll.LosslabError, match="does not exist"):
        Store(tmp_path / "no" / "such" / "runs.sqlite")
    with pytest.raises(ll.LosslabError, match="cannot be opened") as info:
        Store(tmp_path)  # a folder, not a file
    _one_line(str(info.value))


def test_disk_full_while_saving_a_run_keeps_the_finished_ones(tmp_path):
    """SQLite's page limit stands in for a full disk: the failing write is one line, earlier runs stay whole."""
    path = tmp_path / "full.sqlite"

    def put(st, i):
        st.put_run(f"k{i}", comparison="c", law="beta", seed=i, status="ok", config={}, metrics={"i": i}, history={},
                   arrays={"raw": np.random.default_rng(i).random((400, 4)).astype(np.float32)}, seconds=0.0)

    with Store(path) as st:
        for i in range(3):
            put(st, i)
        pages = st._con.execute("PRAGMA page_count").fetchone()[0]
        st._con.execute(f"PRAGMA max_page_count={pages + 8}")
        with pytest.raises(ll.LosslabError, match="disk is full.*run the same command again to resume") as info:
            for i in range(3, 100):
                put(st, i)
        _one_line(str(info.value))
        n_saved = i
    with Store(path) as st:
        assert sorted(r["metrics"]["i"] for r in st.runs()) == list(range(n_saved))
        assert st._con.execute("PRAGMA integrity_check").fetchone() == ("ok",)


# ---------------------------------------------------------------------------- pre-flight: unwritable or full folders


def test_check_writable_creates_the_folder_and_leaves_nothing(tmp_path):
    out = tmp_path / "a" / "b"
    assert check_writable(out, min_free=0) == out
    assert out.is_dir() and list(out.iterdir()) == []  # the probe is gone


def test_check_writable_refuses_a_file_and_a_missing_folder_without_create(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(ll.LosslabError, match="is a file"):
        check_writable(f)
    with pytest.raises(ll.LosslabError, match="does not exist"):
        check_writable(tmp_path / "missing", create=False)
    with pytest.raises(ll.LosslabError, match="cannot be created"):
        check_writable(f / "sub")  # a folder under a file: NotADirectoryError, even for root


def test_full_disk_is_caught_by_free_space(tmp_path, monkeypatch):
    real = preflight.shutil.disk_usage

    def nearly_full(path):
        u = real(path)
        return type(u)(u.total, u.total - 1000, 1000)

    monkeypatch.setattr(preflight.shutil, "disk_usage", nearly_full)
    with pytest.raises(ll.LosslabError, match=r"has 1000 B free, below the 50.0 MB") as info:
        check_writable(tmp_path)
    _one_line(str(info.value))
    assert list(tmp_path.iterdir()) == []


def test_full_disk_is_caught_when_the_probe_cannot_be_written(tmp_path, monkeypatch):
    def enospc(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(preflight.os, "write", enospc)
    with pytest.raises(ll.LosslabError, match="not writable \\(no space left on the device\\)"):
        check_writable(tmp_path, min_free=0)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []  # the probe was removed even so


@contextlib.contextmanager
def _tmpfs(path: Path, options: str):
    """A tmpfs mounted at ``path`` (root with mount rights only; the test skips otherwise)."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_really_full_disk(tmp_path):
    """A 1 MB tmpfs filled up: the probe write fails with ENOSPC, and the free-space check fails anyway."""
    with _tmpfs(tmp_path / "tiny", "size=1m") as tiny:
        with contextlib.suppress(OSError):
            with open(tiny / "filler", "wb") as f:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        with pytest.raises(ll.LosslabError, match="no space left"):
            check_writable(tiny, min_free=0)
        (tiny / "filler").unlink()
        with pytest.raises(ll.LosslabError, match="free, below the"):
            check_writable(tiny)  # empty, but 1 MB is below the 50 MB minimum


@pytest.fixture
def unwritable(tmp_path):
    """A folder nobody here can write: mode 0o500 for a normal user; for root (who ignores modes) a read-only tmpfs."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        yield locked, "permission denied"
        locked.chmod(0o700)
        return
    with _tmpfs(tmp_path / "ro", "size=1m,ro") as ro:
        yield ro, "read-only file system"


def test_unwritable_folder(unwritable):
    folder, reason = unwritable
    with pytest.raises(ll.LosslabError, match=f"not writable \\({reason}\\)") as info:
        check_writable(folder)
    _one_line(str(info.value))
    with pytest.raises(ll.LosslabError, match=f"cannot be created \\({reason}\\)"):
        check_writable(folder / "sub")
    with pytest.raises(ll.LosslabError, match="not writable"):
        check_store_path(folder / "runs.sqlite")
    with pytest.raises(ll.LosslabError, match="cannot be opened"):
        Store(folder / "runs.sqlite")  # the store says so too, without the pre-flight


def test_check_store_path(tmp_path):
    check_store_path(":memory:")
    check_store_path(tmp_path / "new.sqlite", min_free=0)
    assert not (tmp_path / "new.sqlite").exists()  # checking creates nothing
    with pytest.raises(ll.LosslabError, match="does not exist"):
        check_store_path(tmp_path / "missing" / "runs.sqlite")
    with pytest.raises(ll.LosslabError, match="is a folder"):
        check_store_path(tmp_path)


@pytest.fixture
def csv_path(tmp_path):
    X, y = _data(150)
    path = tmp_path / "data.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "score": y}).to_csv(path, index=False)
    return path


@pytest.fixture
def no_training(monkeypatch):
    """Make ``compare`` fail loudly if the CLI reaches it."""

    def boom(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(losslab.experiment, "compare", boom)


def _cli_compare(csv_path, out, *extra):
    args = ["compare", str(csv_path), "--target", "score", "--laws", "bernoulli", "--seeds", "1", "--epochs", "1",
            "--quiet", "--out", str(out), *extra]
    return CliRunner().invoke(app, args)


def test_cli_full_disk_exits_2_before_training(csv_path, tmp_path, monkeypatch, no_training):
    real = preflight.shutil.disk_usage
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda p: type(real(p))(10**9, 10**9 - 4096, 4096))
    res = _cli_compare(csv_path, tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert "--out folder" in res.output and "free" in res.output and "Traceback" not in res.output


def test_cli_unwritable_out_exits_2_before_training(csv_path, unwritable, no_training):
    folder, _ = unwritable
    res = _cli_compare(csv_path, folder / "out")
    assert res.exit_code == 2, res.output
    assert "--out folder" in res.output and "cannot be created" in res.output and "Traceback" not in res.output


def test_cli_store_in_a_missing_folder_exits_2_before_training(csv_path, tmp_path, no_training):
    res = _cli_compare(csv_path, tmp_path / "out", "--store", str(tmp_path / "nowhere" / "runs.sqlite"))
    assert res.exit_code == 2, res.output
    assert "does not exist" in res.output and "Traceback" not in res.output


# ---------------------------------------------------------------------------- a run that diverges mid-grid

DIVERGE_AFTER = 2  # validation passes (epochs) before the poisoned trunk starts returning NaN


class _Trunk(torch.nn.Module):
    """A small trunk that, when poisoned, returns NaN in training from epoch DIVERGE_AFTER + 1 on."""

    def __init__(self, in_features: int, poisoned: bool) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(in_features, 8)
        self.out_features = 8
        # A buffer, so that replicas of different seeds never train as one batched model.
        self.register_buffer("poisoned", torch.tensor(poisoned))
        self.validations = 0

    def forward(self, x):
        h = torch.tanh(self.lin(x))
        if not self.training:
            self.validations += 1
        # one validation pass precedes training (the untrained model's NLL, for the blow-up check), then one per epoch
        elif bool(self.poisoned) and self.validations >= DIVERGE_AFTER + 1:
            h = h * float("nan")
        return h


def poisoned_seed_1(shape):
    # build_trunk seeds torch with the run's seed just before calling the factory.
    return _Trunk(int(np.prod(shape)), poisoned=torch.initial_seed() == 1)


def test_diverging_run_is_recorded_with_its_epoch_and_the_grid_goes_on(tmp_path):
    store = tmp_path / "div.sqlite"
    events = []
    res = compare(_data(), laws=["bernoulli", "gaussian"], model=poisoned_seed_1, seeds=3, store=str(store),
                  progress=events.append, epochs=5, batch_size=64, patience=10)
    status = {(r["law"], r["seed"]): r["status"] for r in res.runs}
    assert status == {(law, s): "diverged" if s == 1 else "ok" for law in ("bernoulli", "gaussian") for s in (0, 1, 2)}
    # Seed 2 trains after the diverged seed 1: the grid went on.
    order = [(e["law"], e["seed"]) for e in events if e["event"] == "run_end"]
    assert order.index(("gaussian", 2)) > order.index(("bernoulli", 1))
    with Store(store) as st:
        stored = {(r["law"], r["seed"]): r for r in st.runs()}
    for law in ("bernoulli", "gaussian"):
        bad = stored[(law, 1)]
        assert bad["status"] == "diverged"
        assert bad["history"]["diverged_epoch"] == DIVERGE_AFTER + 1 == bad["history"]["epochs_run"]
        assert bad["metrics"]["reasons"]["all"] == f"diverged at epoch {DIVERGE_AFTER + 1}"
        good = stored[(law, 2)]
        assert good["status"] == "ok" and good["history"]["diverged_epoch"] is None
        assert np.isfinite(good["metrics"]["mean_squared_error"])
    table = res.table()
    assert (table["diverged"] == 1).all() and (table["runs"] == 3).all()
    assert "diverged and are left out" in res.recommend().reason
    # A diverged run is a finished result: the same call again trains nothing.
    again = []
    compare(_data(), laws=["bernoulli", "gaussian"], model=poisoned_seed_1, seeds=3, store=str(store),
            progress=again.append, epochs=5, batch_size=64, patience=10)
    assert not any(e["event"] == "run_start" for e in again)

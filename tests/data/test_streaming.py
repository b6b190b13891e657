"""Streamed data (issue 20, item 1): a torch Dataset or a lazily decoded image folder gives the numbers of the same data in memory.

The reference is always the in-memory path of losslab itself, run on the same arrays with
``replicas=False`` (one model at a time, as streaming trains): the claim under test is that the
streaming path changes nothing but where the features come from. On the CPU every step is the
same float32 operation on the same values in the same order (the split, the standardisation,
the minibatch permutation, the 4096-row validation chunks, one forward pass over the test
rows), so the metrics are compared with ``==``, bit for bit.
"""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import IterableDataset, TensorDataset

import losslab as ll
from losslab._errors import LosslabError
from losslab.data import from_torch, read_image_folder
from losslab.data.streaming import StreamingDataset
from losslab.experiment.plan import fingerprint
from losslab.experiment.streamed import StreamSplit, train_scale
from losslab.experiment.trainer import Split

KW = dict(seeds=2, model="mlp", epochs=4, batch_size=32, patience=2)


@pytest.fixture(autouse=True)
def _one_thread():
    # The machines that run the tests are shared: one thread keeps these small models quick, and changes no number
    # (each comparison below is run on both paths in the same process, with the same threads).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _table(n=240, f=5, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, f)) * [1, 10, 100, 0.1, 5][:f] + [0, 3, -50, 1, 0][:f]).astype(np.float32)
    y = (1 / (1 + np.exp(-X[:, 0]))).astype(np.float32)
    return X, y


def _metrics(result) -> dict:
    return {(r["law"], r["seed"]): {k: v for k, v in r["metrics"].items() if isinstance(v, float)} for r in result.runs}


def _arrays(result, name) -> dict:
    return {(r["law"], r["seed"]): r["arrays"][name] for r in result.runs}


def _write_folder(root, n=60, colour_every=0, size=(10, 10), seed=0):
    """An image folder with labels.csv: grey PNGs (every ``colour_every``-th in colour), label = mean intensity."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        a = (rng.random(size[::-1]) * 255).astype(np.uint8)
        img = Image.fromarray(np.stack([a, a // 2, 255 - a], -1)) if colour_every and i % colour_every == 0 else Image.fromarray(a)
        img.save(root / f"im{i:03d}.png")
        rows.append(f"im{i:03d}.png,{a.mean() / 255:.4f}")
    (root / "labels.csv").write_text("filename,label\n" + "\n".join(rows) + "\n")
    return root


# ---------------------------------------------------------------------------- same numbers
@pytest.fixture(params=["one pass", "many passes"])
def passes(request, monkeypatch):
    """Rows per validation or test forward pass of the streamed side: as many as there are (small data), or 64.

    Returns the rows the data set should have: enough, with 64-row passes, for the validation
    rows to take two passes and the test rows three.
    """
    if request.param == "one pass":
        return None
    import losslab.experiment.streamed as streamed

    monkeypatch.setattr(streamed, "EVAL_BYTES", 1)  # eval_rows falls to its floor, 64
    return 1000


def test_a_tensor_dataset_gives_the_numbers_of_its_arrays_run_for_run(passes):
    X, y = _table(n=passes or 240)
    laws = ["bernoulli", "beta"]
    streamed = ll.compare(TensorDataset(torch.tensor(X), torch.tensor(y)), laws=laws, loader_workers=0, **KW)
    memory = ll.compare((X, y), laws=laws, replicas=False, **KW)
    assert [(r["law"], r["seed"]) for r in streamed.runs] == [(r["law"], r["seed"]) for r in memory.runs]
    assert _metrics(streamed) == _metrics(memory)  # bit for bit
    for name in ("y_pred", "raw"):
        got, want = _arrays(streamed, name), _arrays(memory, name)
        assert all(np.array_equal(got[k], want[k]) for k in want), name
    # the history too: every epoch's validation NLL, the early-stopping criterion
    assert [r["history"]["val"] for r in streamed.runs] == [r["history"]["val"] for r in memory.runs]


def test_trials_multi_targets_and_one_feature_give_the_numbers_of_the_arrays():
    # One feature column: numpy sums a contiguous column pairwise, which the streamed standardisation must follow too.
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(5000, 1)) * 30 + 7).astype(np.float32)
    n = np.full((5000, 2), 8.0, dtype=np.float32)
    k = rng.binomial(8, 1 / (1 + np.exp(-X / 30)), size=(5000, 2))
    y = (k / 8).astype(np.float32)

    class Counts(TorchDataset):
        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            return X[i], y[i], n[i]

    kw = dict(laws=["binomial"], seeds=[3], model="linear", epochs=2, batch_size=512, patience=2)
    streamed = ll.compare(Counts(), loader_workers=0, **kw)
    memory = ll.compare((X, y, n), replicas=False, **kw)
    assert _metrics(streamed) == _metrics(memory)


def test_k_fold_splits_stream_with_the_numbers_of_the_arrays():
    # cv=k gives the data set fixed splits (a new StreamingDataset with them): one split per seed, streamed too.
    X, y = _table(n=90, f=3)
    kw = dict(laws=["bernoulli"], seeds=3, model="mlp", epochs=2, batch_size=16, patience=2, cv=3)
    streamed = ll.compare(TensorDataset(torch.tensor(X), torch.tensor(y)), loader_workers=0, **kw)
    assert _metrics(streamed) == _metrics(ll.compare((X, y), replicas=False, **kw))


def test_an_image_folder_streamed_gives_the_numbers_of_the_folder_loaded(tmp_path, passes):
    folder = _write_folder(tmp_path / "imgs", n=passes or 60, colour_every=7)  # one colour image makes all RGB, as when loaded
    lazy = read_image_folder(folder, stream=True, loader_workers=0)
    loaded = read_image_folder(folder)
    assert isinstance(lazy, StreamingDataset) and lazy.sample_shape == loaded.X.shape[1:] == (3, 10, 10)
    np.testing.assert_array_equal(lazy.to_dataset().X, loaded.X)
    np.testing.assert_array_equal(lazy.y, loaded.y)
    kw = dict(laws=["bernoulli", "beta"], seeds=[0], model="cnn-small", epochs=3, batch_size=8, patience=3)
    # Two DataLoader workers: the batches come back from other processes, in the permutation's order.
    streamed = ll.compare(folder, stream=True, loader_workers=2, **kw)
    memory = ll.compare(folder, replicas=False, **kw)
    assert _metrics(streamed) == _metrics(memory)
    assert all(r["status"] == "ok" for r in streamed.runs)


def test_streamed_minibatches_are_the_trainers_permutation_of_the_rows():
    X, y = _table(n=400)
    ds = from_torch(TensorDataset(torch.tensor(X), torch.tensor(y)), loader_workers=0)
    index = np.sort(np.random.default_rng(0).choice(400, size=193, replace=False))
    part = StreamSplit(ds, index, torch.tensor(y[index]), None, torch.device("cpu"), None, eval_rows=64)
    memory = Split(torch.tensor(X[index]), torch.tensor(y[index]))
    perm = torch.randperm(len(index), generator=torch.Generator().manual_seed(0))
    got, want = list(part.batches(perm, 48)), list(memory.batches(perm, 48))
    assert len(got) == len(want) == 4  # 193 rows in batches of 48: the last partial batch is dropped by both
    for g, w in zip(got, want):
        assert torch.equal(g.X, w.X) and torch.equal(g.y, w.y)
    model = torch.nn.Sequential(torch.nn.Linear(5, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))
    with torch.no_grad():  # passes of 64, 64 and 65 rows against one of 193
        assert torch.equal(part.outputs(model), memory.outputs(model))
        # A last pass of 1 row on its own runs the single-row kernel: its outputs need not be the big pass's.
        # (This is why the last pass takes the remainder; not asserted either way, it depends on the CPU.)
    assert [len(c) for c in part.chunks(64)] == [64, 64, 64, 1]


@pytest.mark.parametrize("f", [1, 2, 7])
def test_the_streamed_standardisation_equals_numpys_on_the_training_rows(f):
    # Reference: numpy's own mean and std of X[train] in float32, as split_tensors computes them in memory.
    rng = np.random.default_rng(f)
    X = (rng.normal(size=(9000, f)) * rng.uniform(0.1, 1000, size=f) + rng.normal(size=f) * 1e3).astype(np.float32)
    rows = np.sort(rng.choice(9000, size=6000, replace=False))
    ds = from_torch(TensorDataset(torch.tensor(X), torch.zeros(9000)), loader_workers=0)
    mu, sd = train_scale(ds, rows)  # 6000 rows: read in two batches of 4096 and 1904
    assert mu.dtype == sd.dtype == np.float32
    np.testing.assert_array_equal(mu, X[rows].mean(axis=0))
    np.testing.assert_array_equal(sd, X[rows].std(axis=0))


def test_items_convert_as_from_arrays_converts_the_whole_array():
    # uint8 (H, W) pixels: divided by 255 and given one channel, as from_arrays does with (N, H, W).
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(30, 6, 5), dtype=np.uint8)
    labels = rng.random(30)

    class Pixels(TorchDataset):
        def __len__(self):
            return 30

        def __getitem__(self, i):
            return pixels[i], float(labels[i])

    ds = from_torch(Pixels(), loader_workers=0)
    ref = ll.data.from_arrays(pixels, labels)
    assert ds.kind == ref.kind == "image" and ds.sample_shape == ref.X.shape[1:] == (1, 6, 5)
    np.testing.assert_array_equal(ds.read(np.arange(30)), ref.X)
    np.testing.assert_array_equal(ds.y, ref.y)


# ---------------------------------------------------------------------------- fingerprints and the store
def test_a_torch_datasets_fingerprint_is_that_of_its_arrays_in_memory():
    X, y = _table(n=40)
    t = np.full(40, 3.0, dtype=np.float32)
    k = np.round(y * 3) / 3
    ref = ll.data.from_arrays(X, k, trials=t)
    streamed = from_torch(TensorDataset(torch.tensor(X), torch.tensor(k), torch.tensor(t)), loader_workers=0)
    assert streamed.fingerprint == fingerprint(ref.X, ref.y, ref.trials)
    X2 = X.copy()
    X2[17, 2] += 1.0
    changed = from_torch(TensorDataset(torch.tensor(X2), torch.tensor(k), torch.tensor(t)), loader_workers=0)
    assert changed.fingerprint != streamed.fingerprint


def test_an_image_folders_fingerprint_follows_its_files_and_labels(tmp_path):
    folder = _write_folder(tmp_path / "imgs", n=12)
    first = read_image_folder(folder, stream=True, loader_workers=0).fingerprint
    assert read_image_folder(folder, stream=True, loader_workers=0).fingerprint == first
    st = os.stat(folder / "im003.png")
    os.utime(folder / "im003.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a rewritten file: a new time
    touched = read_image_folder(folder, stream=True, loader_workers=0).fingerprint
    assert touched != first
    lines = (folder / "labels.csv").read_text().splitlines()
    lines[6] = "im005.png,0.9"  # one label changed (line 0 is the header)
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    assert read_image_folder(folder, stream=True, loader_workers=0).fingerprint != touched


def _copy(src, dst) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def test_a_streamed_comparison_resumes_after_a_kill_with_identical_numbers(tmp_path):
    X, y = _table(n=160)
    data = TensorDataset(torch.tensor(X), torch.tensor(y))
    kw = dict(laws=["bernoulli", "beta"], loader_workers=0, **KW)
    full = tmp_path / "full.sqlite"
    want = _metrics(ll.compare(data, store=str(full), **kw))
    cut = tmp_path / "cut.sqlite"
    _copy(full, cut)
    with sqlite3.connect(cut) as con:  # the store as a kill after the first two writes leaves it
        keys = [k for (k,) in con.execute("SELECT key FROM runs ORDER BY finished")]
        con.executemany("DELETE FROM runs WHERE key=?", [(k,) for k in keys[2:]])
    events = []
    got = ll.compare(data, store=str(cut), progress=events.append, **kw)
    assert sum(e["event"] == "run_start" for e in events) == 2  # only the two lost runs are trained again
    assert _metrics(got) == want
    # The same arrays in memory are another comparison in the store: neither reuses the other's runs.
    memory = ll.compare((X, y), store=str(cut), replicas=False, laws=kw["laws"], **KW)
    assert _metrics(memory) == want
    assert len(ll.experiment.Store(str(cut)).comparisons()) == 2


# ---------------------------------------------------------------------------- bad input: one line naming the culprit
class _Items(TorchDataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _good(i):
    return torch.full((3,), float(i)), 0.5


def _bad_at(i, bad, n=6):
    return _Items([bad if j == i else _good(j) for j in range(n)])


@pytest.mark.parametrize(
    "data, words",
    [
        (_bad_at(4, torch.zeros(3)), ["dataset item 4", "Tensor of shape (3,)", "expected a tuple (x, y) or (x, y, trials)"]),
        (_bad_at(2, (torch.zeros(3), 0.5, 1.0, 2.0)), ["dataset item 2", "tuple of 4 value(s)"]),
        (_bad_at(3, (torch.zeros(4), 0.5)), ["dataset item 3", "shape (4,)", "item 0's have shape (3,)"]),
        (_bad_at(5, (torch.zeros(3), "cat")), ["dataset item 5", "the label y is 'cat' (str)", "expected a number"]),
        (_bad_at(1, (torch.zeros(3), float("nan"))), ["dataset item 1", "NaN or inf"]),
        (_bad_at(1, (torch.zeros(3), [0.5, 0.5])), ["dataset item 1", "label y has shape (2,)", "item 0's has ()"]),
        (_bad_at(2, (torch.zeros(3), 0.5, 4.0)), ["dataset item 2 returns 3 values", "item 0 returns 2"]),
        (_bad_at(0, (["a", "b"], 0.5)), ["dataset item 0", "expected numbers"]),
        (_Items([_good(0), _good(1)]), ["has 2 row(s)", "at least 3"]),
    ],
)
def test_a_bad_dataset_gets_one_line_naming_the_item(data, words):
    with pytest.raises(LosslabError) as e:
        ll.compare(data, laws=["bernoulli"], seeds=1, epochs=1, loader_workers=0)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_an_iterable_dataset_is_refused_in_one_line():
    class Stream(IterableDataset):
        def __iter__(self):
            yield torch.zeros(3), 0.5

    with pytest.raises(LosslabError, match=r"IterableDataset \(Stream\), which is not supported.*map-style"):
        ll.compare(Stream(), laws=["bernoulli"])


def test_an_item_that_raises_or_changes_its_label_is_named():
    class Raises(TorchDataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            if i == 3:
                raise KeyError("no such file")
            return torch.zeros(2), 0.5

    with pytest.raises(LosslabError, match=r"^dataset item 3: __getitem__ raised KeyError: 'no such file'$"):
        from_torch(Raises(), loader_workers=0)

    class Noisy(TorchDataset):
        """Random labels: each read gives another label, which breaks the paired comparison."""

        def __init__(self):
            self.gen = np.random.default_rng(0)

        def __len__(self):
            return 40

        def __getitem__(self, i):
            return torch.zeros(2), float(self.gen.random())

    with pytest.raises(LosslabError, match=r"dataset item \d+ returned the label .* now and .* in the first pass"):
        ll.compare(Noisy(), laws=["bernoulli"], seeds=1, epochs=1, loader_workers=0)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(replicas=True), "replicas=True cannot apply to streamed data"),
        (dict(workers=2), "workers=2 cannot apply to streamed data"),
        (dict(optimizer="lbfgs"), "optimizer='lbfgs' trains full batch"),
        (dict(target="label"), "option target= does not apply to a torch Dataset"),
        (dict(loader_workers=-1), "loader_workers=-1; expected a whole number"),
    ],
)
def test_options_streamed_data_cannot_take_are_refused_in_one_line(kwargs, words):
    X, y = _table(n=20)
    with pytest.raises(LosslabError) as e:
        ll.compare(TensorDataset(torch.tensor(X), torch.tensor(y)), laws=["bernoulli"], seeds=2, epochs=1, **kwargs)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_broken_image_in_a_streamed_folder_is_named_when_read(tmp_path):
    folder = _write_folder(tmp_path / "imgs", n=20)
    ds = read_image_folder(folder, stream=True, loader_workers=2)
    # A file whose header is intact and whose pixel data are not: only decoding finds it, in a worker.
    raw = (folder / "im007.png").read_bytes()
    (folder / "im007.png").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(LosslabError, match=r"im007\.png: cannot be read as an image"):
        ds.read(np.arange(20))
    ds.close()


def test_stream_is_a_yes_or_no(tmp_path):
    folder = _write_folder(tmp_path / "imgs", n=6)
    with pytest.raises(LosslabError, match=r"stream='yes'; expected True"):
        ll.data.load(folder, stream="yes")
    assert isinstance(ll.data.load(folder, stream=True), StreamingDataset)


# ---------------------------------------------------------------------------- the command line
def test_the_command_line_streams_a_torch_dataset_named_as_file_and_name(tmp_path):
    from typer.testing import CliRunner

    from losslab.cli import app

    script = tmp_path / "mydata.py"
    script.write_text(
        "import torch\n"
        "from torch.utils.data import TensorDataset\n"
        "g = torch.Generator().manual_seed(0)\n"
        "X = torch.randn(90, 3, generator=g)\n"
        "def make():\n"
        "    return TensorDataset(X, torch.sigmoid(X[:, 0]))\n"
    )
    out = tmp_path / "out"
    args = ["compare", f"{script}:make", "--laws", "bernoulli", "--seeds", "1", "--epochs", "2", "--loader-workers", "0", "--out", str(out), "--quiet"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Recommended law: bernoulli" in res.output
    stored = ll.experiment.Store(str(out / "runs.sqlite")).comparisons()
    assert len(stored) == 1


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--stream"], "--stream applies to an image folder"),
        (["--loader-workers", "2"], "--loader-workers applies to streamed data"),
        (["--stream", "--loader-workers", "two"], "--loader-workers two; expected a whole number"),
    ],
)
def test_the_command_lines_streaming_options_are_checked_in_one_line(tmp_path, extra, words):
    from typer.testing import CliRunner

    from losslab.cli import app

    csv = tmp_path / "t.csv"
    csv.write_text("a,y\n1,0.5\n2,0.25\n3,0.75\n4,1\n")
    res = CliRunner().invoke(app, ["compare", str(csv), "--target", "y", "--out", str(tmp_path / "out"), "--quiet", *extra])
    assert res.exit_code == 2, res.output
    assert words in res.output


def test_the_command_line_streams_an_image_folder(tmp_path):
    from typer.testing import CliRunner

    from losslab.cli import app

    folder = _write_folder(tmp_path / "imgs", n=30)
    out = tmp_path / "out"
    args = ["compare", str(folder), "--stream", "--loader-workers", "1", "--laws", "bernoulli", "--model", "cnn-small", "--seeds", "1",
            "--epochs", "2", "--out", str(out), "--quiet"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    (record,) = [c for c in ll.experiment.Store(str(out / "runs.sqlite")).comparisons()]
    assert record["config"]["data"]["fingerprint"] == read_image_folder(folder, stream=True, loader_workers=0).fingerprint


# ---------------------------------------------------------------------------- the benchmark, in the slow lane
@pytest.mark.slow
def test_streaming_benchmark_quick():
    from benchmarks import streaming

    out = streaming.main(["--quick"])
    assert out["same_numbers"]  # the two sides trained to the same metrics, as the tests above require
    for side in ("memory", "stream"):
        row = out[side]
        assert row["samples_per_s"] > 0 and row["end_to_end_per_s"] > 0
        assert row["maxrss_mib"] >= out["baseline"]["maxrss_mib"] * 0.5 and row["peak_pss_mib"] > 0

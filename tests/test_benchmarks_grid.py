"""The grid benchmark's time to quality: the naive loop's clock, its evaluations and the first one that reaches a target.

No time is measured here: the naive loop's clock is driven by a fake ``perf_counter`` that
advances one second per training epoch and a thousand per test evaluation, so what the clock
counts is checked exactly.
"""

import dataclasses
import math

import numpy as np
import pytest
import torch

import losslab as ll
from benchmarks import grid, naive


def _digits(n=120):
    return grid.quick_rows(ll.data.load("digits-inpaint"), n)


def test_time_to_quality_is_the_first_evaluation_at_or_below_the_target():
    trace = [
        {"seconds": 1.0, "law": "a", "epoch": 1, "value": 0.50},
        {"seconds": 2.0, "law": "a", "epoch": 2, "value": math.nan},  # a diverged seed: never reaches
        {"seconds": 3.0, "law": "a", "epoch": 3, "value": 0.30},
        {"seconds": 4.0, "law": "b", "epoch": 1, "value": 0.20},
    ]
    assert grid.time_to_quality(trace, 0.30)["seconds"] == 3.0  # equal counts as reached
    assert grid.time_to_quality(trace, 0.25) == trace[3]
    assert grid.time_to_quality(trace, 0.10) is None
    assert grid.time_to_quality([], 1.0) is None


def test_side_by_side_seeds_train_the_weights_of_one_after_another():
    # The time-to-quality loop trains a law's seeds an epoch each in turn; each seed must end with
    # the weights the plain loop (train_one, seed after seed) gives it, or the two would train other models.
    ds = _digits()
    nv = naive.naive_compare(ds, ["bernoulli", "zoib"], 2, model="mlp", epochs=3, eval_every=1)
    idx = ds.split(0, val=0.15, test=0.2)
    X = ds.X.astype(np.float32)
    mu, sd = X[idx["train"]].mean(0), X[idx["train"]].std(0)
    X = (X - mu) / np.where(sd > 1e-8, sd, 1.0)
    Xtr, Xte = torch.as_tensor(X[idx["train"]]), torch.as_tensor(X[idx["test"]])
    ytr = torch.as_tensor(ds.y[idx["train"]], dtype=torch.float32)
    for name in ("bernoulli", "zoib"):
        law = naive.NAIVE_LAWS[name]()
        for seed in range(2):
            torch.manual_seed(seed)
            net = naive.naive_model("mlp", ds.X.shape[1:], ytr.shape[1] * law.raw_dim)
            naive.train_one(law, net, Xtr, ytr, epochs=3, batch_size=128, lr=3e-3, seed=seed)
            net.eval()
            with torch.no_grad():
                pred = law.mean(net(Xte).reshape(len(Xte), ytr.shape[1], law.raw_dim)).numpy()
            np.testing.assert_array_equal(pred, nv.predictions[name][seed])


def test_the_naive_clock_counts_training_and_leaves_the_evaluations_out(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(naive.time, "perf_counter", lambda: now[0])
    train_epoch, test = naive.train_epoch, naive._test

    def timed_epoch(*a, **k):
        now[0] += 1.0
        return train_epoch(*a, **k)

    def timed_test(*a, **k):
        now[0] += 1000.0
        return test(*a, **k)

    monkeypatch.setattr(naive, "train_epoch", timed_epoch)
    monkeypatch.setattr(naive, "_test", timed_test)
    nv = naive.naive_compare(_digits(), ["bernoulli", "sigmoid-mse"], 3, model="mlp", epochs=5, eval_every=2)
    # 2 laws x 3 seeds x 5 epochs of training; the evaluations' 1000 s never reach the clock
    assert nv.seconds == 30.0
    # after epochs 2, 4 and the last (5) of each law; seconds = the epochs trained by then, every seed of every law so far
    assert [(ev["law"], ev["epoch"], ev["seconds"]) for ev in nv.trace] == [
        ("bernoulli", 2, 6.0), ("bernoulli", 4, 12.0), ("bernoulli", 5, 15.0),
        ("sigmoid-mse", 2, 21.0), ("sigmoid-mse", 4, 27.0), ("sigmoid-mse", 5, 30.0),
    ]  # fmt: skip
    # a law's last evaluation is its fixed-budget result: the mean over seeds of the final test MSEs
    for name in ("bernoulli", "sigmoid-mse"):
        last = [ev for ev in nv.trace if ev["law"] == name][-1]
        assert last["value"] == pytest.approx(np.mean(nv.values[name]), rel=1e-12)


def test_the_naive_trace_values_are_the_test_mse_of_the_models_then():
    # Two runs of the loop, one stopped after 2 epochs: the longer run's evaluation at epoch 2 is the shorter one's result.
    ds = _digits()
    long = naive.naive_compare(ds, ["bernoulli"], 2, model="mlp", epochs=4, eval_every=1)
    short = naive.naive_compare(ds, ["bernoulli"], 2, model="mlp", epochs=2)
    at2 = next(ev for ev in long.trace if ev["epoch"] == 2)
    y = short.test_y.astype(np.float64)
    ref = np.mean([((p.astype(np.float64) - y) ** 2).mean() for p in short.predictions["bernoulli"]])
    assert at2["value"] == pytest.approx(ref, rel=1e-12)
    assert short.trace == []  # no eval_every: no evaluations on the way


def test_fixed_splits_give_each_seed_its_own_test_rows():
    # As losslab runs data with fixed splits (the UCI sets): seed s trains and tests on split s.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)).astype(np.float32), rng.normal(size=60).astype(np.float32)
    splits = [{"train": np.arange(0, 40), "val": np.arange(40, 45), "test": np.arange(45, 60)},
              {"train": np.arange(20, 60), "val": np.arange(15, 20), "test": np.arange(0, 15)}]  # fmt: skip
    ds = dataclasses.replace(ll.data.from_arrays(X, y), splits=splits)
    nv = naive.naive_compare(ds, ["gaussian"], 2, model="mlp", epochs=1, eval_every=1)
    assert nv.test_y is None and len(nv.test_ys) == 2
    for s in range(2):
        np.testing.assert_array_equal(nv.test_ys[s], y[splits[s]["test"]])
    mses = [((p.astype(np.float64) - t.astype(np.float64)) ** 2).mean() for p, t in zip(nv.predictions["gaussian"], nv.test_ys)]
    assert nv.values["gaussian"] == pytest.approx(mses, rel=1e-12)

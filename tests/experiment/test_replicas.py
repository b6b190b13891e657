"""Replica batching: the seeds of one law trained as one batched model agree with training them one by one.

The reference is :func:`losslab.experiment.trainer.train` run on each model separately, an
implementation that shares no batching code with :func:`train_replicas`.
"""

import math

import numpy as np
import pytest
import torch

import losslab as ll
from losslab._errors import LosslabError
from losslab.experiment import Store, compare
from losslab.experiment.trainer import Split, TrainConfig, can_batch, train, train_replicas
from losslab.models import build_model

SEEDS = [0, 1, 2]


def _split(n, seed, law_name, targets=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 5, generator=g)
    mean = torch.sigmoid(X[:, :1] - 0.5 * X[:, 1:2]).expand(n, targets)
    trials = None
    if law_name in ("binomial", "beta-binomial"):
        trials = torch.full((n, targets), 8.0)
        y = torch.binomial(trials, mean, generator=g) / trials
    elif law_name in ("beta", "logit-normal"):
        with torch.random.fork_rng():  # Beta.sample takes no generator: seed the global one, then restore it
            torch.manual_seed(seed)
            y = torch.distributions.Beta(8 * mean, 8 * (1 - mean)).sample().clamp(1e-4, 1 - 1e-4)
    elif law_name == "mvn":
        y = X[:, :targets] + 0.3 * torch.randn(n, targets, generator=g)
    else:
        y = (torch.rand(n, targets, generator=g) < mean).float() * 0.5 + 0.5 * mean
    if targets == 1 or law_name == "mvn":
        y = y if law_name == "mvn" else y[:, 0]
        trials = None if trials is None or law_name == "mvn" else trials[:, 0]
    return Split(X, y, trials)


def _models(law, n_targets, seeds, tr, model="mlp"):
    out = []
    for s in seeds:
        m = build_model(model, (5,), law, n_targets=n_targets, seed=s)
        m.head.init_bias(tr.y, tr.trials)
        out.append(m)
    return out


@pytest.mark.parametrize(
    "law_name, opts, targets, model",
    [
        ("bernoulli", {}, 1, "mlp"),
        ("gaussian-hetero", {"beta": 0.5}, 3, "mlp"),
        ("binomial", {}, 1, "linear"),
        ("beta", {}, 1, "mlp"),
        ("binned", {"kind": "hl-gauss", "n_bins": 11}, 2, "mlp"),
        ("mvn", {"dim": 2}, 2, "mlp"),
    ],
)
def test_replicas_follow_the_one_by_one_trajectories(law_name, opts, targets, model):
    law = ll.get_law(law_name, **opts)
    n_targets = 1 if law.event_dim else targets
    tr, va = _split(192, 1, law_name, targets), _split(64, 2, law_name, targets)
    # Beta-NLL training amplifies any difference in rounding (batched and single matrix products round
    # differently): in float32 some label draws end far past the tolerance below after 12 epochs (one
    # did in a full test run), while float64 keeps it orders of magnitude away. So beta runs in float64.
    dtype = torch.float64 if law_name == "beta" else torch.float32
    tr, va = (Split(s.X.to(dtype), s.y.to(dtype), None if s.trials is None else s.trials.to(dtype)) for s in (tr, va))
    # patience 2 over 12 epochs: replicas stop at different epochs, so the dropping of stopped replicas is exercised.
    cfg = TrainConfig(epochs=12, batch_size=32, patience=2, lr=1e-2)
    one = [m.to(dtype) for m in _models(law, n_targets, SEEDS, tr, model)]
    ref = [train(m, tr, va, cfg, seed=s) for m, s in zip(one, SEEDS)]
    many = [m.to(dtype) for m in _models(law, n_targets, SEEDS, tr, model)]
    assert can_batch(many)
    got = train_replicas(many, tr, va, cfg, seeds=SEEDS)
    for a, b, ma, mb in zip(ref, got, one, many):
        assert (a.status, a.best_epoch, a.epochs_run) == (b.status, b.best_epoch, b.epochs_run)
        np.testing.assert_allclose(b.history["val"], a.history["val"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b.history["train"], a.history["train"], rtol=1e-5, atol=1e-6)
        for (name, p), q in zip(ma.named_parameters(), mb.parameters()):
            np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_a_diverging_replica_is_recorded_and_the_others_are_unaffected():
    law = ll.get_law("gaussian-hetero")
    tr, va = _split(128, 1, "gaussian"), _split(64, 2, "gaussian")
    cfg = TrainConfig(epochs=6, batch_size=32, patience=10)
    def poisoned():
        ms = _models(law, 1, SEEDS, tr)
        with torch.no_grad():  # seed 1's head predicts a scale of exp(-1e30): its NLL is infinite at once
            ms[1].head.linear.weight.fill_(0.0)
            ms[1].head.linear.bias.fill_(-1e30)
        return ms
    many = poisoned()
    got = train_replicas(many, tr, va, cfg, seeds=SEEDS)
    assert got[1].status == "diverged" and got[1].diverged_epoch == 1
    one = poisoned()
    for i in (0, 2):
        ref = train(one[i], tr, va, cfg, seed=SEEDS[i])
        assert got[i].status == "ok" and got[i].best_epoch == ref.best_epoch
        np.testing.assert_allclose(got[i].history["val"], ref.history["val"], rtol=1e-5)


def test_models_of_different_structure_do_not_batch():
    law = ll.get_law("bernoulli")
    tr = _split(32, 1, "bernoulli")
    a = _models(law, 1, [0], tr, "mlp")[0]
    b = _models(law, 1, [0], tr, "linear")[0]
    assert not can_batch([a, b])
    assert can_batch([a])  # a batch of one: a batched law's last pending seed (resume) trains as in the full batch
    with pytest.raises(LosslabError, match="2 models but 1 seeds"):
        train_replicas([a, a], tr, tr, TrainConfig(), seeds=[0])


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    p = 1 / (1 + np.exp(-(X[:, 0] - 0.5 * X[:, 1])))
    return X, (rng.binomial(10, p) / 10).astype(np.float32)


def _assert_same_metrics(a, b, n_runs):
    """The two comparisons hold the same runs, every finite metric equal within float tolerance."""
    ma = {(r["law"], r["seed"]): r["metrics"] for r in a.runs}
    mb = {(r["law"], r["seed"]): r["metrics"] for r in b.runs}
    assert ma.keys() == mb.keys() and len(ma) == n_runs
    for k in ma:
        for m, v in mb[k].items():
            if isinstance(v, float) and math.isfinite(v):
                assert ma[k][m] == pytest.approx(v, rel=1e-4, abs=1e-6), (k, m)


def test_compare_gives_the_same_numbers_with_and_without_replicas(tmp_path):
    kw = dict(laws=["bernoulli", "gaussian-hetero"], seeds=3, model="mlp", epochs=5, batch_size=64, patience=2)
    events = []
    batched = compare(_data(), replicas=True, store=str(tmp_path / "a.sqlite"), progress=events.append, **kw)
    assert next(e for e in events if e["event"] == "grid")["replicas"] is True
    single = compare(_data(), replicas=False, store=str(tmp_path / "b.sqlite"), **kw)
    _assert_same_metrics(batched, single, n_runs=6)
    assert {r["config"]["replicas"] for r in batched.runs} == {3}
    # The two modes round differently in the last bits, so a store keeps them apart (issue 21, item 13): re-running
    # one-by-one into the batched store trains its own runs and leaves the batched comparison's numbers as they were.
    again = []
    alone = compare(_data(), replicas=False, store=str(tmp_path / "a.sqlite"), progress=again.append, **kw)
    assert sum(e["event"] == "run_start" for e in again) == 6
    assert {r["config"]["replicas"] for r in alone.runs} == {1}
    with Store(str(tmp_path / "a.sqlite")) as st:
        assert len(st.comparisons()) == 2
    reread = ll.experiment.load_result(str(tmp_path / "a.sqlite"), comparison=batched.runs[0]["comparison"])
    assert {(r["law"], r["seed"]): r["metrics"] for r in reread.runs} == {(r["law"], r["seed"]): r["metrics"] for r in batched.runs}


def test_replicas_option_is_checked():
    with pytest.raises(LosslabError, match="replicas='maybe'"):
        compare(_data(), laws=["bernoulli"], seeds=2, replicas="maybe", epochs=1)
    with pytest.raises(LosslabError, match="lbfgs"):
        compare(_data(), laws=["bernoulli"], seeds=2, replicas=True, optimizer="lbfgs", model="linear", epochs=1)


def test_multi_output_metrics_are_kept_per_output():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    # output 0 depends on X, output 1 is pure noise: the per-output errors must differ accordingly
    y = np.stack([1 / (1 + np.exp(-3 * X[:, 0])), rng.uniform(size=200)], axis=1).astype(np.float32)
    res = compare((X, y), laws=["bernoulli", "sigmoid-mse"], seeds=2, model="linear", epochs=40, batch_size=32, patience=40, lr=0.05)
    per = res.per_output("mean_squared_error")
    assert per.shape == (2, 2) and list(per.index) == ["bernoulli", "sigmoid-mse"]
    # the table's metric is the mean over outputs of the per-output metric (mean over seeds commutes)
    np.testing.assert_allclose(per.mean(axis=1).to_numpy(), res.table()["mean_squared_error"].to_numpy(), rtol=1e-9)
    # uniform noise has variance 1/12 that no model can remove; the learnable output ends far below it
    assert (per[1] > 0.06).all() and (per[0] < 0.04).all()
    assert "per_output" not in res.frame().columns


# ---------------------------------------------------------------------------- laws of one head shape together
SAME_HEAD = ["bernoulli", "sigmoid-mse", "continuous-bernoulli"]  # one raw output per target each


def test_laws_of_one_head_shape_train_together_as_they_would_alone():
    tr, va = _split(192, 1, "bernoulli", 2), _split(64, 2, "bernoulli", 2)
    cfg = TrainConfig(epochs=10, batch_size=32, patience=2, lr=1e-2)
    laws = [ll.get_law(n) for n in SAME_HEAD]
    seeds = [0, 1]
    many = [m for law in laws for m in _models(law, 2, seeds, tr)]
    assert can_batch(many)
    events = []
    labels = [law.name for law in laws for _ in seeds]
    got = train_replicas(many, tr, va, cfg, seeds=seeds * len(laws), progress=events.append, labels=labels)
    for k, law in enumerate(laws):
        one = _models(law, 2, seeds, tr)
        for j, (m, s) in enumerate(zip(one, seeds)):
            ref = train(m, tr, va, cfg, seed=s)
            b, mb = got[k * len(seeds) + j], many[k * len(seeds) + j]
            assert (ref.status, ref.best_epoch, ref.epochs_run) == (b.status, b.best_epoch, b.epochs_run), (law.name, s)
            np.testing.assert_allclose(b.history["val"], ref.history["val"], rtol=1e-5, atol=1e-6)
            for (name, p), q in zip(m.named_parameters(), mb.parameters()):
                np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=f"{law.name} {s} {name}")
    # every epoch event names its replica's law and seed
    seen = {(e["law"], e["seed"]) for e in events if e["event"] == "epoch"}
    assert seen == {(n, s) for n in SAME_HEAD for s in seeds}


def test_replicas_of_one_law_must_be_adjacent():
    tr = _split(64, 1, "bernoulli")
    a, b = ll.get_law("bernoulli"), ll.get_law("sigmoid-mse")
    ms = _models(a, 1, [0], tr) + _models(b, 1, [0], tr) + _models(a, 1, [1], tr)
    with pytest.raises(LosslabError, match="adjacent"):
        train_replicas(ms, tr, tr, TrainConfig(epochs=1), seeds=[0, 0, 1])


def test_compare_with_laws_together_gives_the_numbers_of_one_by_one(tmp_path):
    kw = dict(laws=["bernoulli", "gaussian-hetero", "sigmoid-mse", "continuous-bernoulli"], seeds=2, model="mlp", epochs=5, batch_size=64, patience=2)
    events = []
    grouped = compare(_data(), replicas="laws", store=str(tmp_path / "a.sqlite"), progress=events.append, **kw)
    single = compare(_data(), replicas=False, store=str(tmp_path / "b.sqlite"), **kw)
    _assert_same_metrics(grouped, single, n_runs=8)
    # the three one-output laws trained as 6 replicas of one model; gaussian-hetero (two outputs) on its own
    replicas = {r["law"]: r["config"]["replicas"] for r in grouped.runs}
    assert replicas == {"bernoulli": 6, "sigmoid-mse": 6, "continuous-bernoulli": 6, "gaussian-hetero": 2}
    starts = [e for e in events if e["event"] == "run_start"]
    assert {e["law"] for e in starts if e.get("group") == 6} == set(SAME_HEAD)
    assert [r["law"] for r in grouped.runs] == [lab for lab in kw["laws"] for _ in range(2)]  # the grid's order


def test_auto_groups_laws_on_a_gpu_only():
    from losslab.experiment.compare import _use_replicas

    cfg = TrainConfig()
    assert _use_replicas("auto", "mlp", torch.device("cuda"), cfg, False, 3) == "laws"
    assert _use_replicas("auto", "cnn", torch.device("cuda"), cfg, False, 3) == "laws"
    assert _use_replicas("auto", "mlp", torch.device("cpu"), cfg, False, 3) is True
    assert _use_replicas("auto", "cnn", torch.device("cpu"), cfg, False, 3) is False
    assert _use_replicas("laws", "cnn", torch.device("cpu"), cfg, False, 3) == "laws"
    with pytest.raises(LosslabError, match="replicas='laws' cannot apply here"):
        _use_replicas("laws", "mlp", torch.device("cpu"), cfg, False, 1)

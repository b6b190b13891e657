"""The trained winner: runs keep their weights, predictors rebuild them, save/load round trips, ensembles, errors."""

import json
import math
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import scipy.stats
import torch
from torch import nn

import losslab as ll
from losslab import LosslabError
from losslab.experiment import EqualMixture, load_result
from losslab.experiment.predictor import FORMAT_VERSION, file_name

ROOT = Path(__file__).resolve().parents[2]
FAST = dict(epochs=4, batch_size=32)


def _table(n=160, seed=0):
    """Features on very different scales and offsets (so a predictor that skipped the standardisation would be far off)."""
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, 3)) * [1.0, 50.0, 0.01] + [0.0, 300.0, -2.0]).astype(np.float32)
    mu = 1 / (1 + np.exp(-(X[:, 0] + (X[:, 1] - 300.0) / 50.0)))
    y = np.clip(rng.beta(20 * mu, 20 * (1 - mu)), 1e-3, 1 - 1e-3).astype(np.float32)
    return ll.data.from_arrays(X, y, feature_names=["a", "b", "c"], name="table")


def _images(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, 1, 8, 8)).astype(np.float32)
    y = np.clip(X[:, 0, :4].mean(axis=(1, 2)), 0.01, 0.99).astype(np.float32)
    return ll.data.from_arrays(X, y, name="tiny-images")


def _test_rows(ds, split_seed=0):
    return ds.split(split_seed, val=0.15, test=0.2)["test"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """A small comparison with a store: a data-filled law (binned's range), a two-parameter law, a law with a closed edge."""
    store = tmp_path_factory.mktemp("grid") / "runs.sqlite"
    ds = _table()
    result = ll.compare(ds, laws=["binned", "gaussian-hetero", "beta"], seeds=3, store=str(store), **FAST)
    return ds, result, store


# ---------------------------------------------------------------------------- the stored runs
def test_every_finished_run_keeps_its_weights_standardisation_and_spec(grid):
    ds, result, _ = grid
    for r in result.runs:
        assert r["status"] == "ok"
        spec = r["config"]["predictor"]
        assert spec["model"] == "mlp" and spec["input_shape"] == [3] and spec["n_targets"] == 1
        assert spec["data"]["feature_names"] == ["a", "b", "c"]
        state = {k for k in r["arrays"] if k.startswith("state/")}
        assert "state/head.linear.weight" in state
        # the training rows' mean, recomputed here independently of the code under test
        train = ds.split(0, val=0.15, test=0.2)["train"]
        np.testing.assert_array_equal(r["arrays"]["x_mean"], ds.X[train].mean(axis=0))


def test_a_data_filled_law_option_is_kept_and_used():
    """A binned law on labels outside [0, 1] takes its range from the labels; the predictor must rebuild that range."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 2)).astype(np.float32)
    y = (3 * X[:, 0] + rng.normal(size=150)).astype(np.float32)
    result = ll.compare((X, y), laws=["binned"], seeds=1, **FAST)
    pad = 0.05 * (float(y.max()) - float(y.min()))  # the 5% margin of losslab.laws.spec.law_for_data
    model = result.best_model()
    opts = model.law.options()
    assert opts["low"] == pytest.approx(float(y.min()) - pad) and opts["high"] == pytest.approx(float(y.max()) + pad)
    test = _test_rows(ll.data.from_arrays(X, y))
    np.testing.assert_array_equal(model.predict(X[test]), result.runs[0]["arrays"]["y_pred"].astype(np.float64))


def test_predictors_fresh_and_from_the_store_equal_the_stored_test_predictions(grid):
    ds, result, store = grid
    test = _test_rows(ds)
    again = load_result(str(store))
    for r in result.runs:
        fresh = result.model(r["law"], r["seed"]).predict(ds.X[test])
        stored = again.model(r["law"], r["seed"]).predict(ds.X[test])
        # bit-equal: the same weights, the same float32 standardisation, the same forward pass
        np.testing.assert_array_equal(fresh, r["arrays"]["y_pred"].astype(np.float64), err_msg=f"{r['law']} seed {r['seed']}")
        np.testing.assert_array_equal(stored, fresh)


def test_best_model_picks_the_recommended_law_and_its_best_seed_on_validation(grid):
    _, result, _ = grid
    model = result.best_model()
    law = result.recommend().law
    assert model.label == law and not model.ensemble
    metric = result.config.primary_metric
    scores = {r["seed"]: r["history"]["val_metric"]["value"] for r in result.runs if r["law"] == law}
    assert all(r["history"]["val_metric"]["metric"] == metric for r in result.runs)
    assert model.seeds == [min(scores, key=scores.get)]  # mean_squared_error: lower is better


def test_validation_score_is_the_primary_metric_on_the_validation_rows(grid):
    ds, result, _ = grid
    va = ds.split(0, val=0.15, test=0.2)["val"]
    for r in result.runs:
        pred = result.model(r["law"], r["seed"]).predict(ds.X[va])
        mse = float(np.mean((pred - ds.y[va].astype(np.float64)) ** 2))  # the definition, computed here
        assert r["history"]["val_metric"]["value"] == pytest.approx(mse, rel=1e-6, abs=1e-12)


# ---------------------------------------------------------------------------- save -> load
@pytest.mark.parametrize("model, make", [("mlp", _table), ("linear", _table), ("cnn", _images)])
def test_save_load_gives_bit_equal_predictions(tmp_path, model, make):
    ds = make()
    law = "beta" if model != "linear" else "gaussian-hetero"
    result = ll.compare(ds, laws=[law], seeds=1, model=model, **FAST)
    pred = result.best_model()
    test = _test_rows(ds)
    # the stored test predictions (the CNN's came from channels-last inputs, as the predictor's do)
    np.testing.assert_array_equal(pred.predict(ds.X[test]), result.runs[0]["arrays"]["y_pred"].astype(np.float64))
    path = pred.save(tmp_path / "m.losslab")
    back = ll.load_model(path)
    X = ds.X[:25]
    np.testing.assert_array_equal(back.predict(X), pred.predict(X))
    for a, b in zip(back.predict_interval(X, 0.8), pred.predict_interval(X, 0.8)):
        np.testing.assert_array_equal(a, b)
    d1, d2 = back.predict_dist(X), pred.predict_dist(X)
    np.testing.assert_array_equal(d1.mean.numpy(), d2.mean.numpy())
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["config.json", "state_dict-0.pt"]
        cfg = json.loads(zf.read("config.json"))
    assert cfg["format_version"] == FORMAT_VERSION and cfg["model"] == model and cfg["law"]["name"] == law


def test_a_custom_factory_round_trips_when_given_at_load_time(tmp_path):
    def small_trunk(input_shape):
        return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), 5), nn.Tanh())

    ds = _table()
    result = ll.compare(ds, laws=["beta"], seeds=1, model=small_trunk, **FAST)
    path = result.best_model().save(tmp_path / "custom.losslab")  # the fresh result remembers the factory
    back = ll.load_model(path, model=small_trunk)
    np.testing.assert_array_equal(back.predict(ds.X[:9]), result.best_model().predict(ds.X[:9]))
    with pytest.raises(LosslabError, match=r"custom model factory 'test_a_custom_factory.*small_trunk'.*model="):
        ll.load_model(path)


def test_a_dataframe_is_read_by_column_name_whatever_the_order(grid):
    ds, result, _ = grid
    model = result.best_model()
    shuffled = pd.DataFrame(ds.X[:6], columns=["a", "b", "c"]).assign(id=range(6))[["c", "id", "a", "b"]]  # an extra id column too
    np.testing.assert_array_equal(model.predict(shuffled), model.predict(ds.X[:6]))


def test_quantiles_match_the_laws_own(grid):
    ds, result, _ = grid
    model = result.model("gaussian-hetero", 0)
    q = model.quantile(ds.X[:7], [0.05, 0.5, 0.95])
    d = model.predict_dist(ds.X[:7])
    ref = scipy.stats.norm.ppf([0.05, 0.5, 0.95], loc=d.mean.double().numpy()[:, None], scale=d.stddev.double().numpy()[:, None])
    np.testing.assert_allclose(q, ref, rtol=1e-5, atol=1e-6)  # scipy's normal quantiles
    low, high = model.predict_interval(ds.X[:7], level=0.9)
    np.testing.assert_allclose(np.stack([low, high], -1), ref[:, [0, 2]], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- the ensemble
def test_equal_mixture_against_a_hand_mixture_of_scipy_distributions():
    loc = torch.tensor([[-1.0, 0.5], [2.0, 0.7], [0.0, 0.2]], dtype=torch.float64)  # (K=3, batch 2)
    scale = torch.tensor([[1.0, 0.3], [0.5, 0.2], [2.0, 0.1]], dtype=torch.float64)
    m = EqualMixture([torch.distributions.Normal(loc[k], scale[k]) for k in range(3)])
    y = torch.tensor([0.3, 0.4], dtype=torch.float64)
    pdf = scipy.stats.norm.pdf(y.numpy(), loc.numpy(), scale.numpy()).mean(0)  # (1/K) sum_k N(y; mu_k, s_k)
    cdf = scipy.stats.norm.cdf(y.numpy(), loc.numpy(), scale.numpy()).mean(0)
    np.testing.assert_allclose(m.log_prob(y).numpy(), np.log(pdf), rtol=1e-12)
    np.testing.assert_allclose(m.cdf(y).numpy(), cdf, rtol=1e-12)
    # law of total variance: E[s^2 + mu^2] - E[mu]^2
    var = (scale.numpy() ** 2 + loc.numpy() ** 2).mean(0) - loc.numpy().mean(0) ** 2
    np.testing.assert_allclose(m.variance.numpy(), var, rtol=1e-12)
    for q in (0.05, 0.5, 0.9):
        x = m.icdf(torch.full((2,), q, dtype=torch.float64)).numpy()
        for b in range(2):  # scipy's root finder on the hand mixture's cdf
            ref = scipy.optimize.brentq(lambda t: scipy.stats.norm.cdf(t, loc[:, b], scale[:, b]).mean() - q, -20, 20, xtol=1e-14)
            assert x[b] == pytest.approx(ref, abs=1e-10)
    # beta members: far in the tail a member's density underflows exp(), the logsumexp does not
    a, b = torch.tensor([[2.0], [50.0]], dtype=torch.float64), torch.tensor([[5.0], [2.0]], dtype=torch.float64)
    mb = EqualMixture([torch.distributions.Beta(a[k], b[k]) for k in range(2)])
    t = torch.tensor([0.999], dtype=torch.float64)
    ref = np.log(scipy.stats.beta.pdf(0.999, [2.0, 50.0], [5.0, 2.0]).mean())
    assert float(mb.log_prob(t)) == pytest.approx(ref, rel=1e-10)


def test_equal_mixture_samples_pick_a_member_per_element():
    torch.manual_seed(0)
    m = EqualMixture([torch.distributions.Normal(torch.full((3,), -10.0), 0.01), torch.distributions.Normal(torch.full((3,), 10.0), 0.01)])
    s = m.sample((4000,))
    assert s.shape == (4000, 3)
    frac = (s > 0).double().mean(0)
    assert torch.all((frac > 0.45) & (frac < 0.55)), frac  # each member chosen with probability 1/2 (sd 0.008 here)


def test_ensemble_predictor_is_the_mixture_of_its_members(grid):
    ds, result, _ = grid
    test = _test_rows(ds)
    ens = result.ensemble_model("gaussian-hetero")
    assert ens.ensemble and ens.seeds == [0, 1, 2]
    X, y = ds.X[test], ds.y[test].astype(np.float64)
    members = [result.model("gaussian-hetero", s).predict_dist(X) for s in (0, 1, 2)]
    loc = np.stack([d.mean.double().numpy() for d in members])
    scale = np.stack([d.stddev.double().numpy() for d in members])
    mix = ens.predict_dist(X)
    yt = torch.as_tensor(y, dtype=torch.float32)
    # a hand mixture of scipy normals with each member's parameters
    np.testing.assert_allclose(mix.cdf(yt).double().numpy(), scipy.stats.norm.cdf(y, loc, scale).mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mix.log_prob(yt).double().numpy(), np.log(scipy.stats.norm.pdf(y, loc, scale).mean(0)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ens.predict(X), loc.mean(0), rtol=1e-6)
    # the same log score as ComparisonResult.ensemble, which mixes the stored raw outputs instead
    assert -float(mix.log_prob(yt).double().mean()) == pytest.approx(result.ensemble().loc["gaussian-hetero", "log_score"], rel=1e-5)
    low, high = ens.predict_interval(X, 0.8)
    np.testing.assert_allclose(scipy.stats.norm.cdf(low, loc, scale).mean(0), 0.1, atol=1e-5)
    np.testing.assert_allclose(scipy.stats.norm.cdf(high, loc, scale).mean(0), 0.9, atol=1e-5)


def test_ensemble_interval_coverage_on_synthetic_data():
    """A well-specified heteroscedastic Gaussian: the ensemble's 90% intervals cover about 90% of fresh draws."""
    rng = np.random.default_rng(3)

    def draw(n):
        X = rng.normal(size=(n, 2)).astype(np.float32)
        return X, (X[:, 0] + 0.5 * np.exp(0.5 * X[:, 1]) * rng.normal(size=n)).astype(np.float32)

    X, y = draw(1500)
    result = ll.compare((X, y), laws=["gaussian-hetero"], seeds=3, epochs=40, batch_size=64, patience=8)
    ens = result.ensemble_model("gaussian-hetero")
    Xn, yn = draw(4000)
    low, high = ens.predict_interval(Xn, level=0.9)
    coverage = float(np.mean((yn >= low) & (yn <= high)))
    # binomial sd of the estimate ~0.005; the rest of the margin is the fit's error
    assert 0.87 <= coverage <= 0.93, coverage


def test_an_ensemble_round_trips_through_a_file(grid, tmp_path):
    ds, result, _ = grid
    ens = result.ensemble_model("beta")
    back = ll.load_model(ens.save(tmp_path / file_name("beta")))
    assert back.ensemble and back.seeds == ens.seeds
    for a, b in zip(back.predict_interval(ds.X[:20], 0.9), ens.predict_interval(ds.X[:20], 0.9)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.predict(ds.X[:20], kind="median"), ens.predict(ds.X[:20], kind="median"))


# ---------------------------------------------------------------------------- errors
def _rewrite_config(path, change):
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    cfg = json.loads(members["config.json"])
    change(cfg)
    members["config.json"] = json.dumps(cfg).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)


def test_a_model_file_from_a_newer_losslab_is_refused_in_one_line(grid, tmp_path):
    _, result, _ = grid
    path = result.best_model().save(tmp_path / "m.losslab")
    _rewrite_config(path, lambda c: c.update(format_version=FORMAT_VERSION + 1, losslab_version="9.0.0"))
    with pytest.raises(LosslabError, match=rf"format version {FORMAT_VERSION + 1} \(written by losslab 9.0.0\).*upgrade losslab") as e:
        ll.load_model(path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "X, message",
    [
        (np.zeros((4, 4), np.float32), r"X has shape \(4, 4\); the model takes \(n, 3\) \(3 features: \['a', 'b', 'c'\]\)"),
        (np.zeros(3, np.float32), r"one row without its batch axis; pass X.reshape\(1, -1\)"),
        (pd.DataFrame({"a": [0.0], "bb": [1.0], "c": [2.0]}), r"X lacks feature column 'b' \(did you mean 'bb'\?\); the model was trained on columns"),
        (pd.DataFrame({"a": [0.0], "b": ["x"], "c": [2.0]}), r"feature column 'b' holds 1 non-numeric value"),
        (np.array([[0.0, np.nan, 1.0]], np.float32), r"1 row\(s\) with NaN or infinite values, first at row\(s\) \[0\]"),
    ],
)
def test_inputs_that_do_not_fit_get_one_line_naming_the_culprit(grid, X, message):
    _, result, _ = grid
    with pytest.raises(LosslabError, match=message) as e:
        result.best_model().predict(X)
    assert "\n" not in str(e.value)


def test_other_bad_calls_get_one_line(grid, tmp_path):
    ds, result, _ = grid
    model = result.best_model()
    with pytest.raises(LosslabError, match=r"level=1.5; expected a number in \(0, 1\)"):
        model.predict_interval(ds.X[:2], level=1.5)
    with pytest.raises(LosslabError, match=r"q=\[0.5, 2\]; expected a probability"):
        model.quantile(ds.X[:2], [0.5, 2])
    with pytest.raises(LosslabError, match=r"law 'betta' is not in this comparison \(did you mean 'beta'\?\)"):
        result.model("betta", 0)
    with pytest.raises(LosslabError, match=r"law 'beta' has no run with seed 7; its seeds: \[0, 1, 2\]"):
        result.model("beta", 7)
    bogus = tmp_path / "x.losslab"
    bogus.write_text("not a zip")
    with pytest.raises(LosslabError, match="is not a losslab model"):
        ll.load_model(bogus)
    with pytest.raises(LosslabError, match="does not exist"):
        ll.load_model(tmp_path / "missing.losslab")


def test_a_law_of_counts_needs_trials(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2)).astype(np.float32)
    k = rng.binomial(10, 1 / (1 + np.exp(-X[:, 0])))
    result = ll.compare((X, (k / 10).astype(np.float32), np.full(120, 10.0, np.float32)), laws=["binomial"], seeds=1, **FAST)
    model = result.best_model()
    with pytest.raises(LosslabError, match=r"needs trials="):
        model.predict_interval(X[:3])
    low, high = model.predict_interval(X[:3], trials=10)
    p = model.predict(X[:3])  # a binomial's mean of k/n is its p
    # scipy.stats.binom.interval(0.9, 10, p) / 10: the atoms k/n holding at least 90% inside
    ref = np.array(scipy.stats.binom.interval(0.9, 10, p)) / 10
    np.testing.assert_allclose(np.stack([low, high]), ref, atol=1e-6)


def test_runs_stored_without_weights_say_so(grid):
    ds, result, _ = grid
    old = [{**r, "arrays": {k: v for k, v in r["arrays"].items() if not k.startswith("state/")}} for r in result.runs]
    legacy = ll.experiment.ComparisonResult(old, result.config, data_meta=result.data_meta)
    with pytest.raises(LosslabError, match=r"stored without its weights \(recorded by an older losslab.*new --store file"):
        legacy.model("beta", 0)


# ---------------------------------------------------------------------------- README
def test_readme_use_the_winner_runs():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use the winner", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)\n```", section, flags=re.S)
    env: dict = {}
    exec(compile(code, "README.md", "exec"), env)  # noqa: S102 - our own README
    model, again = env["model"], env["again"]
    X = env["X"][:10]
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    low, high = env["low"], env["high"]
    assert low.shape == high.shape == (3,) and bool(np.all(low < high))
    assert isinstance(env["ens"].predict_dist(X), EqualMixture)
    assert math.isfinite(float(env["ens"].predict(X).mean()))

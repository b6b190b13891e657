"""``ll.Regressor``: GLMs against independent fits (numpy, scikit-learn, scipy), the scikit-learn contract, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import optimize, special, stats
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

import losslab as ll
from losslab import LosslabError, Regressor


def _linear_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    # Features on very different scales and off-centre, so internal standardisation matters.
    X = rng.normal(size=(n, 3)) * np.array([1.0, 50.0, 0.02]) + np.array([3.0, -100.0, 0.5])
    y = X @ np.array([1.5, -0.04, 30.0]) + 2.0 + rng.normal(scale=0.5, size=n)
    return X, y


def _stacked(est, name):
    return np.r_[est.intercept_[name], est.coef_[name]]


# ------------------------------------------------------------------ GLMs against independent fits
def test_gaussian_linear_lbfgs_is_least_squares():
    X, y = _linear_data()
    est = Regressor("gaussian", model="linear", optimizer="lbfgs").fit(X, y)
    # References: numpy's least-squares solution of y ~ 1 + X, and scikit-learn's LinearRegression.
    ref, *_ = np.linalg.lstsq(np.c_[np.ones(len(X)), X], y, rcond=None)
    np.testing.assert_allclose(_stacked(est, "loc"), ref, rtol=1e-5, atol=1e-6)
    lr = LinearRegression().fit(X, y)
    np.testing.assert_allclose(est.coef_["loc"], lr.coef_, rtol=1e-5, atol=1e-6)
    assert est.intercept_["loc"] == pytest.approx(lr.intercept_, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(est.predict(X), lr.predict(X), rtol=1e-6, atol=1e-6)
    # score is R^2 of the mean prediction, as for every scikit-learn regressor.
    assert est.score(X, y) == pytest.approx(lr.score(X, y), abs=1e-9)


def test_bernoulli_linear_on_binary_labels_is_logistic_regression():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2)) * np.array([1.0, 10.0])
    p = special.expit(0.3 + X @ np.array([1.2, -0.1]))
    y = (rng.uniform(size=300) < p).astype(float)
    est = Regressor("bernoulli", optimizer="lbfgs").fit(X, y)
    # Reference: scikit-learn's unpenalised logistic regression (C=inf is penalty=None), solved tightly.
    lr = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(est.coef_["logits"], lr.coef_[0], rtol=1e-5, atol=1e-6)
    assert est.intercept_["logits"] == pytest.approx(lr.intercept_[0], rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(est.predict(X), lr.predict_proba(X)[:, 1], atol=1e-6)


def test_binomial_with_trials_is_the_binomial_glm():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 2))
    n = rng.integers(1, 30, size=80).astype(float)
    k = rng.binomial(n.astype(int), special.expit(-0.5 + X @ np.array([0.8, -0.4])))
    est = Regressor("binomial").fit(X, k / n, trials=n)

    # Reference: the binomial log-likelihood written out here and maximised by scipy's BFGS.
    D = np.c_[np.ones(len(X)), X]

    def nll(beta):
        eta = D @ beta
        return -np.sum(k * eta - n * np.logaddexp(0.0, eta))

    def grad(beta):
        return -D.T @ (k - n * special.expit(D @ beta))

    ref = optimize.minimize(nll, np.zeros(3), jac=grad, method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(_stacked(est, "logits"), ref, rtol=1e-5, atol=1e-6)
    # The log score includes log C(n, k): compare with scipy.stats.binom.
    want = np.mean(stats.binom.logpmf(k, n, special.expit(D @ ref)))
    assert est.log_score(X, k / n, trials=n) == pytest.approx(want, rel=1e-6)


def test_constant_scale_is_the_root_mean_squared_residual():
    X, y = _linear_data(seed=3)
    est = Regressor("gaussian-hetero", constant=("scale",)).fit(X, y)
    # The homoscedastic Gaussian MLE: OLS coefficients and sigma^2 = RSS / n (closed form).
    ref, *_ = np.linalg.lstsq(np.c_[np.ones(len(X)), X], y, rcond=None)
    rss = np.sum((y - np.c_[np.ones(len(X)), X] @ ref) ** 2)
    np.testing.assert_allclose(_stacked(est, "loc"), ref, rtol=1e-5, atol=1e-6)
    assert set(est.constants_) == {"scale"} and "scale" not in est.coef_
    assert est.constants_["scale"] == pytest.approx(math.sqrt(rss / len(y)), rel=1e-5)
    # log_score against scipy's normal log density at the fitted parameters.
    want = np.mean(stats.norm.logpdf(y, np.c_[np.ones(len(X)), X] @ ref, math.sqrt(rss / len(y))))
    assert est.log_score(X, y) == pytest.approx(want, rel=1e-6)


def test_coefficients_are_on_the_original_feature_scale():
    X, y = _linear_data(seed=4)
    y01 = special.expit((y - y.mean()) / y.std())  # labels in (0, 1) for a beta regression
    a = Regressor("beta", constant=("precision",), random_state=0).fit(X, y01)
    # Reference: the same model fitted on features standardised beforehand, mapped back by hand.
    mu, sd = X.mean(axis=0), X.std(axis=0)
    b = Regressor("beta", constant=("precision",), standardize=False, random_state=0).fit((X - mu) / sd, y01)
    np.testing.assert_allclose(a.coef_["mean"], b.coef_["mean"] / sd, rtol=1e-5)
    assert a.intercept_["mean"] == pytest.approx(b.intercept_["mean"] - np.sum(b.coef_["mean"] * mu / sd), rel=1e-5)
    assert a.constants_["precision"] == pytest.approx(b.constants_["precision"], rel=1e-5)
    # And the coefficients reproduce the predictions on raw features: sigmoid(intercept + X coef).
    np.testing.assert_allclose(a.predict(X), special.expit(a.intercept_["mean"] + X @ a.coef_["mean"]), rtol=1e-9)


# ------------------------------------------------------------------ DataFrames
def _frame(n=90, seed=5):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "size": rng.normal(10.0, 2.0, size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n),
        }
    )
    effect = df["colour"].map({"blue": 0.0, "green": 1.0, "red": -2.0}).to_numpy()
    y = 0.5 * df["size"].to_numpy() + effect + rng.normal(scale=0.3, size=n)
    return df, y


def test_dataframe_with_a_categorical_column_is_treatment_coded():
    df, y = _frame()
    est = Regressor("gaussian").fit(df, y)
    assert list(est.feature_names_in_) == ["size", "colour"] and est.n_features_in_ == 2
    # Sorted categories: blue is the reference; one indicator for green and one for red.
    assert est.design_names_ == ["size", "colour_green", "colour_red"]
    D = np.c_[np.ones(len(df)), df["size"], df["colour"] == "green", df["colour"] == "red"].astype(float)
    ref, *_ = np.linalg.lstsq(D, y, rcond=None)  # reference: least squares on the dummies built here
    np.testing.assert_allclose(_stacked(est, "loc"), ref, rtol=1e-5, atol=1e-6)
    # Predict on reordered columns and a subset of rows holding one category only: same encoding.
    part = df[df["colour"] == "red"][["colour", "size"]]
    np.testing.assert_allclose(est.predict(part), D[df["colour"] == "red"] @ ref, rtol=1e-6)
    with pytest.raises(LosslabError, match="'purple', unseen at fit"):
        est.predict(pd.DataFrame({"size": [1.0], "colour": ["purple"]}))
    with pytest.raises(LosslabError, match="lacks column 'colour'"):
        est.predict(df[["size"]])
    with pytest.raises(LosslabError, match="categorical column"):
        est.predict(df[["size"]].to_numpy())


def test_a_pandas_categorical_sets_the_reference_level():
    df, y = _frame(seed=6)
    df["colour"] = pd.Categorical(df["colour"], categories=["red", "green", "blue"])
    est = Regressor("gaussian").fit(df, y)
    assert est.design_names_ == ["size", "colour_green", "colour_blue"]
    # True effects red -2, green 1, blue 0: relative to red, green is +3 and blue +2.
    np.testing.assert_allclose(est.coef_["loc"][1:], [3.0, 2.0], atol=0.2)


# ------------------------------------------------------------------ predictions
@pytest.mark.parametrize(
    "law, y_kind, constant",
    [("gaussian-hetero", "real", ()), ("beta", "unit", ("precision",)), ("student-t", "real", ()), ("laplace-hetero", "real", ())],
)
def test_predict_dist_is_a_torch_distribution_whose_mean_is_predict(law, y_kind, constant):
    X, y = _linear_data(n=60, seed=7)
    if y_kind == "unit":
        y = special.expit((y - y.mean()) / y.std())
    est = Regressor(law, constant=constant).fit(X, y)
    dist = est.predict_dist(X[:7])
    assert isinstance(dist, torch.distributions.Distribution) and dist.batch_shape == (7,)
    np.testing.assert_allclose(dist.mean.numpy(), est.predict(X[:7], kind="mean"), rtol=1e-9, atol=1e-12)


def test_predict_dist_of_binomial_takes_trials():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(40, 1))
    n = np.full(40, 10.0)
    k = rng.binomial(10, special.expit(X[:, 0]))
    est = Regressor("binomial").fit(X, k / n, trials=n)
    dist = est.predict_dist(X, trials=n)
    np.testing.assert_allclose(dist.mean.numpy(), est.predict(X), rtol=1e-9)
    # log_prob of the fraction k/n is the binomial log pmf of k (scipy reference).
    want = stats.binom.logpmf(k, 10, est.predict(X))
    np.testing.assert_allclose(dist.log_prob(torch.as_tensor(k / n)).numpy(), want, rtol=1e-7)
    with pytest.raises(LosslabError, match="needs trials"):
        est.predict_dist(X)


def _beta_data(n=400, seed=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    mu = special.expit(0.4 + X @ np.array([1.0, -0.6]))
    return X, rng.beta(30 * mu, 30 * (1 - mu))


def test_beta_median_and_interval_are_those_of_the_fitted_beta_laws():
    X, y = _beta_data()
    est = Regressor("beta", constant=("precision",)).fit(X, y)
    d = est.predict_dist(X[:20])
    a, b = d.concentration1.numpy(), d.concentration0.numpy()
    # References: scipy.stats.beta's median and central interval at the fitted concentrations.
    np.testing.assert_allclose(est.predict(X[:20], kind="median"), stats.beta.median(a, b), rtol=1e-9)
    low, high = est.predict_interval(X[:20], level=0.9)
    want_low, want_high = stats.beta.interval(0.9, a, b)
    assert low.dtype == high.dtype == np.float64 and low.shape == high.shape == (20,)
    np.testing.assert_allclose(low, want_low, rtol=1e-9)
    np.testing.assert_allclose(high, want_high, rtol=1e-9)
    np.testing.assert_allclose(est.predict_quantile(X[:20], 0.05), want_low, rtol=1e-9)
    # the data were drawn from a beta regression of this form: the 90% intervals hold about 90% of the labels
    low, high = est.predict_interval(X, level=0.9)
    assert 0.85 <= np.mean((y >= low) & (y <= high)) <= 0.95


def test_predict_interval_of_count_laws_takes_trials():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(60, 2))
    n = rng.integers(1, 20, size=60).astype(float)
    k = rng.binomial(n.astype(int), special.expit(X @ np.array([0.8, -0.4])))
    est = Regressor("binomial").fit(X, k / n, trials=n)
    low, high = est.predict_interval(X, level=0.8, trials=n)
    p = special.expit(est.intercept_["logits"] + X @ est.coef_["logits"])
    # Reference: scipy.stats.binom's central interval of k, divided by n.
    want_low, want_high = stats.binom.interval(0.8, n, p)
    np.testing.assert_allclose(low * n, want_low, atol=1e-9)
    np.testing.assert_allclose(high * n, want_high, atol=1e-9)
    with pytest.raises(LosslabError, match="predict_interval: law 'binomial' needs trials="):
        est.predict_interval(X, level=0.8)


def test_predict_interval_errors_are_one_line():
    X, y = _beta_data(n=60)
    est = Regressor("bernoulli").fit(X, y)
    with pytest.raises(LosslabError) as exc:
        est.predict_interval(X)
    assert "\n" not in str(exc.value) and "Bernoulli(p) on {0, 1}" in str(exc.value) and "'beta'" in str(exc.value)
    beta = Regressor("beta").fit(X, y)
    for level in (0.0, 1.0, 1.5, float("nan"), "0.9"):
        with pytest.raises(LosslabError, match="level=") as exc:
            beta.predict_interval(X, level=level)
        assert "\n" not in str(exc.value)
    with pytest.raises(LosslabError, match="mean', 'median', 'mode'"):
        beta.predict(X, kind="interp")


def test_mlp_fits_a_nonlinear_function_better_than_a_linear_model():
    rng = np.random.default_rng(9)
    X = rng.uniform(-2, 2, size=(400, 1))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 0] ** 2 + rng.normal(scale=0.05, size=400)
    Xt = rng.uniform(-2, 2, size=(200, 1))
    yt = np.sin(2 * Xt[:, 0]) + 0.5 * Xt[:, 0] ** 2
    lin = Regressor("gaussian", model="linear").fit(X, y)
    mlp = Regressor("gaussian", model="mlp", hidden=(32, 32), epochs=300, lr=1e-2, batch_size=64, random_state=0).fit(X, y)
    assert lin.score(Xt, yt) < 0.5 and mlp.score(Xt, yt) > 0.9
    assert not hasattr(mlp, "coef_")


def test_random_state_makes_training_deterministic():
    X, y = _linear_data(n=80, seed=10)
    kw = dict(model="mlp", hidden=(8,), epochs=15, random_state=3)
    a = Regressor("gaussian-hetero", **kw).fit(X, y).predict(X)
    b = Regressor("gaussian-hetero", **kw).fit(X, y).predict(X)
    c = Regressor("gaussian-hetero", **{**kw, "random_state": 4}).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_law_specs_options_and_objects_are_the_same_law():
    X, y = _linear_data(n=50, seed=11)
    a = Regressor("student-t:df=4", random_state=0).fit(X, y)
    b = Regressor("student-t", law_options={"df": 4}, random_state=0).fit(X, y)
    c = Regressor(ll.get_law("student-t", df=4), random_state=0).fit(X, y)
    assert a.law_.options() == b.law_.options() == c.law_.options()
    np.testing.assert_allclose(a.predict(X), c.predict(X), rtol=1e-6)


# ------------------------------------------------------------------ the scikit-learn contract
def test_clone_keeps_every_argument_verbatim():
    est = Regressor("beta", model="mlp", constant=("precision",), law_options={"clamp": 1e-6}, hidden=(5,), random_state=1)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
    twin.set_params(law="gaussian", lr=0.1)
    assert twin.law == "gaussian" and twin.lr == 0.1 and est.law == "beta"


def test_pipeline_cross_val_score_and_grid_search():
    X, y = _linear_data(n=100, seed=12)
    pipe = make_pipeline(StandardScaler(), Regressor("gaussian"))
    scores = cross_val_score(pipe, X, y, cv=KFold(3, shuffle=True, random_state=0))
    # Reference: the same folds with scikit-learn's LinearRegression (OLS twice over).
    ref = cross_val_score(make_pipeline(StandardScaler(), LinearRegression()), X, y, cv=KFold(3, shuffle=True, random_state=0))
    np.testing.assert_allclose(scores, ref, atol=1e-6)
    grid = GridSearchCV(
        Regressor(random_state=0), {"law": ["gaussian", "laplace-hetero"], "weight_decay": [0.0, 100.0]}, cv=3
    ).fit(X, y)
    # Every candidate was fitted and scored; a weight decay of 100 shrinks slopes and intercept towards 0 (R^2 < 0),
    # so the unpenalised fit wins. Gaussian and Laplace fits of Gaussian noise score alike: either law may win.
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all() and len(grid.cv_results_["params"]) == 4
    assert grid.best_params_["weight_decay"] == 0.0 and grid.best_score_ > 0.9
    check_is_fitted(grid.best_estimator_)


def test_unfitted_and_bad_arguments_raise_one_line_errors():
    X, y = _linear_data(n=30, seed=13)
    with pytest.raises(NotFittedError):
        Regressor().predict(X)
    bad = [
        (Regressor("gausian"), "unknown law 'gausian'"),
        (Regressor(optimizer="sgd"), "optimizer='sgd'"),
        (Regressor(model="tree"), "model='tree'"),
        (Regressor(validation_fraction=1.5, optimizer="adam"), "validation_fraction=1.5"),
        (Regressor("gaussian-hetero", constant=("loc", "scale")), "at least one parameter"),
        (Regressor(ll.get_law("gaussian"), law_options={"sigma": 2.0}), "law_options"),
    ]
    for est, match in bad:
        with pytest.raises(LosslabError, match=match) as info:
            est.fit(X, y)
        assert "\n" not in str(info.value)
    with pytest.raises(LosslabError, match="needs trials"):
        Regressor("binomial").fit(X, np.full(30, 0.5))
    with pytest.raises(LosslabError, match="expected a 2-d table"):
        Regressor().fit(X[:, 0], y)
    with pytest.raises(LosslabError, match="one label per row"):
        Regressor().fit(X, y[:-1])
    with pytest.raises(LosslabError, match="outside the support"):
        Regressor("beta").fit(X, y)
    est = Regressor().fit(X, y)
    with pytest.raises(LosslabError, match="X has 2 features, but Regressor is expecting 3 features"):
        est.predict(X[:, :2])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")  # array-API checks need SCIPY_ARRAY_API
def test_passes_scikit_learns_estimator_checks():
    # scikit-learn's own battery of API checks (cloning, pickling, n_features_in_, error wording, ...).
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(Regressor())

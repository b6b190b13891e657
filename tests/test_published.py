"""Published tables reproduced: beta regression (betareg), the binomial GLM (R's glm), single-network UCI scores.

Every reference number below carries its source in a comment; none comes from our own code.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import losslab as ll

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# ../shared/data beside the repository: CI and the project machines keep the UCI splits there.
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _max_rel_err(got: dict[str, float], want: dict[str, float]) -> float:
    return max(abs(got[k] - want[k]) / abs(want[k]) for k in want)


# ---------------------------------------------------------------------- 1. beta regression
# Cribari-Neto, F. & Zeileis, A. (2010). "Beta Regression in R". Journal of Statistical Software 34(2), 1-24,
# doi:10.18637/jss.v034.i02, Section 4 (Illustrative application): the printed summary of
# betareg(yield ~ batch + temp, data = GasolineYield), maximum likelihood, logit mean link, constant
# precision phi. Batch 10 is the reference level.
BETAREG_GASOLINE = {
    "(Intercept)": -6.15957,
    "batch1": 1.72773,
    "batch2": 1.32260,
    "batch3": 1.57231,
    "batch4": 1.05971,
    "batch5": 1.13375,
    "batch6": 1.04016,
    "batch7": 0.54369,
    "batch8": 0.49590,
    "batch9": 0.38579,
    "temp": 0.01097,
    "phi": 440.27838,
}


def test_beta_regression_reproduces_betareg_on_gasoline_yield():
    df = pd.read_csv(FIXTURES / "gasoline_yield.csv", comment="#")
    assert df.shape == (32, 6)
    # Prater's data as printed: batch k has rows in ascending temp; yields are proportions.
    assert df["batch"].tolist() == [1] * 4 + [2] * 3 + [3] * 3 + [4] * 4 + [5] * 3 + [6] * 3 + [7] * 4 + [8] * 3 + [9] * 2 + [10] * 3
    X = pd.DataFrame(
        {
            # A Categorical whose first category (the reference) is batch 10, as in the paper's model.
            "batch": pd.Categorical(df["batch"], categories=[10, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            "temp": df["temp"],
        }
    )
    est = ll.Regressor(law="beta", model="linear", constant=("precision",), optimizer="lbfgs").fit(X, df["yield"])
    assert est.design_names_ == [f"batch_{k}" for k in range(1, 10)] + ["temp"]
    coef = est.coef_["mean"]
    got = {"(Intercept)": est.intercept_["mean"], "temp": coef[9], "phi": est.constants_["precision"]}
    got.update({f"batch{k}": coef[k - 1] for k in range(1, 10)})
    # 3 significant digits, as the issue asks (the fit agrees to about 6; see the report).
    for key, want in BETAREG_GASOLINE.items():
        assert got[key] == pytest.approx(want, rel=5e-4), key
    assert _max_rel_err(got, BETAREG_GASOLINE) < 5e-4


def test_beta_regression_agrees_with_statsmodels_betamodel_to_more_digits():
    # A second, independent implementation of the same maximum-likelihood fit (statsmodels' BetaModel,
    # logit mean link and log precision link), so agreement is checked beyond the paper's printed digits.
    betareg = pytest.importorskip("statsmodels.othermod.betareg", reason="statsmodels (the 'test' extra)")
    df = pd.read_csv(FIXTURES / "gasoline_yield.csv", comment="#")
    design = np.c_[np.ones(32), (df["batch"].to_numpy()[:, None] == np.arange(1, 10)).astype(float), df["temp"]]
    ref = betareg.BetaModel(df["yield"].to_numpy(), design).fit(disp=0).params  # 11 mean coefficients, log(phi)
    X = pd.DataFrame({"batch": pd.Categorical(df["batch"], categories=[10, *range(1, 10)]), "temp": df["temp"]})
    est = ll.Regressor("beta", constant=("precision",)).fit(X, df["yield"])
    got = np.r_[est.intercept_["mean"], est.coef_["mean"], math.log(est.constants_["precision"])]
    np.testing.assert_allclose(got, ref, rtol=2e-5)


# ---------------------------------------------------------------------- 2. binomial GLM on star98
def test_binomial_glm_reproduces_r_on_star98():
    sm_star98 = pytest.importorskip("statsmodels.datasets.star98", reason="statsmodels (the 'test' extra) ships star98")
    # Reference: statsmodels' test results for this model, which were computed with R's
    # glm(cbind(NABOVE, NBELOW) ~ ., family = binomial) -- statsmodels/genmod/tests/results/results_glm.py,
    # class Star98 (params: 20 slopes then the intercept; deviance; llf "from R"). Copied here so the test
    # does not depend on statsmodels' test modules being installed:
    r_params = np.array([
        -0.0168150366, 0.0099254766, -0.0187242148, -0.0142385609, 0.2544871730, 0.2406936644, 0.0804086739,
        -1.9521605027, -0.3340864748, -0.1690221685, 0.0049167021, -0.0035799644, -0.0140765648, -0.0040049918,
        -0.0039063958, 0.0917143006, 0.0489898381, 0.0080407389, 0.0002220095, -0.0022492486, 2.9588779262,
    ])
    r_deviance = 4078.76541772
    r_llf = -2998.61255899391

    data = sm_star98.load_pandas()
    k = data.endog["NABOVE"].to_numpy(dtype=float)
    n = k + data.endog["NBELOW"].to_numpy(dtype=float)
    X = data.exog
    assert X.shape == (303, 20)
    est = ll.Regressor("binomial", model="linear", optimizer="lbfgs").fit(X, k / n, trials=n)
    got = np.r_[est.coef_["logits"], est.intercept_["logits"]]
    rel = np.abs(got - r_params) / np.abs(r_params)
    assert rel.max() < 1e-4, (rel.max(), int(rel.argmax()))
    # Deviance: twice the summed excess NLL over the saturated model (law.excess is NLL - its infimum).
    Z = torch.as_tensor(((X.to_numpy() - est.x_mean_) / est.x_scale_), dtype=torch.float64)
    with torch.no_grad():
        params = est.law_.link(est.model_(Z))
        deviance = 2.0 * float(est.law_.excess(params, torch.as_tensor(k / n), trials=torch.as_tensor(n)).sum())
    assert deviance == pytest.approx(r_deviance, rel=1e-7)
    # Log-likelihood, binomial coefficients included (R's logLik of the glm).
    assert est.log_score(X, k / n, trials=n) * len(n) == pytest.approx(r_llf, rel=1e-7)


# ---------------------------------------------------------------------- 3. UCI, one heteroscedastic network
# Lakshminarayanan, B., Pritzel, A. & Blundell, C. (2017). "Simple and Scalable Predictive Uncertainty Estimation
# using Deep Ensembles". NeurIPS. Table 1, "Deep Ensembles" columns: test RMSE and test NLL (mean ± standard
# deviation over the 20 splits of Hernandez-Lobato & Adams 2015) of an ensemble of M = 5 networks with one hidden
# layer of 50 ReLU units, each trained on the Gaussian NLL with a learned variance -- the model tested here, but 5
# of them. Values: (nll_mean, nll_sd, rmse_mean, rmse_sd).
DEEP_ENSEMBLES_TABLE1 = {
    "boston": (2.41, 0.25, 3.28, 1.00),
    "concrete": (3.06, 0.18, 6.03, 0.58),
    "yacht": (1.18, 0.21, 1.58, 0.48),
}
# A single network is worse than an ensemble of five, and Table 1 has no single-network column, so the upper
# bound adds ENSEMBLE_SLACK nats to the ensemble's mean NLL plus one standard deviation of its split-to-split
# spread. The slack is our judgement, not a published number: twice the largest spread in these rows (0.25), wide
# enough for the ensemble's gain over one network, narrow enough to catch a badly trained or miscalibrated one.
# The lower bound (two standard deviations below the ensemble) catches an NLL left on standardised targets,
# which would be log(sd_y) = 2.2 (boston), 2.8 (concrete), 2.7 (yacht) nats too low. RMSE: at most the
# ensemble's mean plus one standard deviation.
ENSEMBLE_SLACK = 0.5
N_SPLITS = 3  # the first three of the 20 fixed splits


def _uci_scores(name: str) -> tuple[float, float]:
    """Mean test NLL (original target scale) and RMSE over the first N_SPLITS fixed splits."""
    ds = ll.data.load(f"uci-{name}")
    X, y = ds.X.astype(np.float64), ds.y.astype(np.float64)
    nlls, rmses = [], []
    for k in range(N_SPLITS):
        train, test = ds.splits[k]["train"], ds.splits[k]["test"]
        # Targets standardised on the training rows, as in the paper's protocol; scores are reported on the
        # original scale: NLL(y) = NLL(z) + log(sd_y) for z = (y - mean_y) / sd_y.
        mean_y, sd_y = y[train].mean(), y[train].std()
        est = ll.Regressor(
            law="gaussian-hetero",
            model="mlp",
            hidden=(50,),
            optimizer="adam",
            lr=3e-3,
            batch_size=32,
            epochs=400,
            patience=20,
            validation_fraction=0.1,  # early stopping on 10% of the training rows (the paper trains 40 epochs)
            random_state=k,
        ).fit(X[train], (y[train] - mean_y) / sd_y)
        nlls.append(-est.log_score(X[test], (y[test] - mean_y) / sd_y) + math.log(sd_y))
        rmses.append(float(np.sqrt(np.mean((est.predict(X[test]) * sd_y + mean_y - y[test]) ** 2))))
    return float(np.mean(nlls)), float(np.mean(rmses))


@pytest.mark.skipif(
    not (SHARED / "uci_gal").is_dir(),
    reason=f"the UCI splits ({SHARED / 'uci_gal'}, ../shared/data beside the repository) are absent; see its README",
)
@pytest.mark.parametrize(
    "name",
    ["boston", pytest.param("concrete", marks=pytest.mark.slow), pytest.param("yacht", marks=pytest.mark.slow)],
)
def test_one_heteroscedastic_mlp_scores_like_the_literature_on_uci(name, monkeypatch):
    monkeypatch.setenv("LOSSLAB_DATA", str(SHARED))
    nll, rmse = _uci_scores(name)
    nll_ref, nll_sd, rmse_ref, rmse_sd = DEEP_ENSEMBLES_TABLE1[name]
    assert nll_ref - 2 * nll_sd <= nll <= nll_ref + nll_sd + ENSEMBLE_SLACK, (name, nll)
    assert rmse <= rmse_ref + rmse_sd, (name, rmse)

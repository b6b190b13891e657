"""The guide's mathematical claims (docs/which-loss.md, made by docs/build/which_loss.py), checked against closed forms.

References, independent of the guide's code:
* binary entropy from ``scipy.stats.entropy([y, 1 - y])`` (natural log);
* the soft-BCE minimiser from ``scipy.optimize.minimize_scalar`` on a BCE written with ``math.log``;
* KL(y || p) from ``scipy.special.rel_entr``;
* d/dz BCE-with-logits = sigmoid(z) - y and d/dz (sigmoid(z) - y)^2 = 2 (sigmoid(z) - y) sigmoid(z) (1 - sigmoid(z)),
  differentiated by hand, with sigmoid written through ``math.exp``.
"""

import math

import pytest
import torch
from scipy import optimize, special, stats

from docs.build import which_loss as guide

YS = (0.1, 0.25, 0.5, 0.75, 0.9)


def bce(p: float, y: float) -> float:
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


@pytest.mark.parametrize("y", YS)
def test_soft_bce_is_minimised_at_p_equal_y(y):
    res = optimize.minimize_scalar(lambda p: bce(p, y), bounds=(1e-9, 1 - 1e-9), method="bounded", options={"xatol": 1e-10})
    assert res.x == pytest.approx(y, abs=1e-6)


def test_guide_grid_argmin_and_floor_match_closed_forms():
    table = guide.soft_bce_curves(YS, n_grid=9999)
    step = 1 / 10000
    for row in table.itertuples():
        assert abs(row.argmin_p - row.y) <= step  # the grid point nearest to y
        h = float(stats.entropy([row.y, 1 - row.y]))
        assert row.entropy == pytest.approx(h, rel=1e-12)
        # On the grid the minimum exceeds H(y) by KL(y || p*), about (p* - y)^2 / (2 y (1 - y)) with |p* - y| <= step
        assert h - 1e-12 <= row.min_bce <= h + 1.01 * step**2 / (2 * row.y * (1 - row.y))
        # Predicting (nearly) 1, "as if the label were 1", costs more than predicting y, for every soft label.
        assert row.bce_at_p_0999 == pytest.approx(bce(0.999, row.y), rel=1e-12)
        assert row.bce_at_p_0999 > row.min_bce + 0.1


@pytest.mark.parametrize("y", YS + (0.0, 1.0))
def test_bernoulli_law_floor_is_entropy_and_excess_is_kl(y):
    import losslab as ll

    law = ll.get_law("bernoulli")
    yt = torch.tensor([y], dtype=torch.float64)
    if 0 < y < 1:
        at_y = {"logits": torch.tensor([math.log(y / (1 - y))], dtype=torch.float64)}
        assert float(law.nll(at_y, yt)) == pytest.approx(float(stats.entropy([y, 1 - y])), rel=1e-10)
        assert float(law.excess(at_y, yt)) == pytest.approx(0.0, abs=1e-12)
    for p in (0.05, 0.3, 0.6, 0.95):
        params = {"logits": torch.tensor([math.log(p / (1 - p))], dtype=torch.float64)}
        kl = float(special.rel_entr(y, p) + special.rel_entr(1 - y, 1 - p))
        assert float(law.excess(params, yt)) == pytest.approx(kl, rel=1e-9, abs=1e-12)


def test_seed_example_numbers():
    s = guide.seed_example()
    y_true, y_pred = (0.2, 0.8, 0.5, 0.9), (0.4, 0.7, 0.6, 0.85)
    by_hand = sum(bce(p, y) for p, y in zip(y_pred, y_true)) / 4
    floor = sum(float(stats.entropy([y, 1 - y])) for y in y_true) / 4
    kl = sum(float(special.rel_entr(y, p) + special.rel_entr(1 - y, 1 - p)) for p, y in zip(y_pred, y_true)) / 4
    assert s["bce"] == pytest.approx(by_hand, rel=1e-12)
    assert s["entropy_floor"] == pytest.approx(floor, rel=1e-12)
    assert s["bce_at_p_equal_y"] == pytest.approx(floor, rel=1e-9)
    assert s["excess_kl"] == pytest.approx(kl, rel=1e-9)
    assert s["law_excess"] == pytest.approx(kl, rel=1e-9)
    assert s["mse"] == pytest.approx(sum((p - y) ** 2 for p, y in zip(y_pred, y_true)) / 4, rel=1e-12)
    # nn.BCELoss takes probabilities (no sigmoid inside): equal to BCE-with-logits of logit(p) ...
    assert s["bce_with_logits_of_logit_p"] == pytest.approx(by_hand, rel=1e-12)
    # ... and the probabilities fed as logits give BCE of sigmoid(p), a different number.
    wrong = sum(bce(sigmoid(p), y) for p, y in zip(y_pred, y_true)) / 4
    assert s["bce_with_logits_of_p"] == pytest.approx(wrong, rel=1e-12)
    assert abs(s["bce_with_logits_of_p"] - s["bce"]) > 0.01


@pytest.mark.parametrize("y", (1.0, 0.0, 0.75))
def test_gradient_ratio_of_sigmoid_mse_to_bce(y):
    zs = (-10.0, -5.0, -2.0, 2.0, 5.0, 10.0)
    table = guide.gradient_table(zs, y)
    for row in table.itertuples(index=False):
        z, s, g_bce, g_mse, ratio = row
        sig = sigmoid(z)
        assert s == pytest.approx(sig, rel=1e-12)
        assert g_bce == pytest.approx(sig - y, rel=1e-9, abs=1e-300)
        assert g_mse == pytest.approx(2 * (sig - y) * sig * (1 - sig), rel=1e-9, abs=1e-300)
        assert ratio == pytest.approx(2 * sig * (1 - sig), rel=1e-9)  # independent of y
    # The numbers the guide quotes: about 2 e^-|z| in the tails.
    far = table[table["z"].abs() == 10.0]["ratio MSE/BCE"]
    assert far.between(9.0e-5, 9.1e-5).all()


def test_log_of_sigmoid_underflow_point():
    import numpy as np

    u = guide.log_sigmoid_underflow()
    # torch's float32 sigmoid is 1 / (1 + exp(-z)): it is exactly 0 once exp(-z) overflows float32, i.e. for
    # z < -log(float32 max) = -88.72 (numpy's finfo); the guide's grid has a step of 0.01.
    edge = -math.log(float(np.finfo(np.float32).max))
    assert edge - 0.011 <= u["z"] < edge
    # log sigmoid(z) = z - log1p(exp(z)), about z that far out: the fused kernel stays finite and exact.
    assert u["logsigmoid"] == pytest.approx(u["z"] - math.log1p(math.exp(u["z"])), abs=1e-4)


# ----------------------------------------------------------------------------- the page around the claims
def _claims():
    return {
        "soft": guide.soft_bce_curves(YS, n_grid=9999),
        "n_grid": 9999,
        "seed": guide.seed_example(),
        "grad": guide.gradient_table(),
        "grad_soft": guide.gradient_table(y=0.75),
        "underflow": guide.log_sigmoid_underflow(),
    }


def test_guide_without_comparisons_quotes_the_claims_where_the_prose_says():
    # A placeholder wired to the wrong value (or left unfilled) shows here: each number is checked in its
    # sentence against the closed forms above, not against the generator's own dicts.
    meta = {"threads": 1, "runs": 0, "train_minutes": 0.0, "total_minutes": 0.0}
    text = guide.build_guide(_claims(), {}, None, meta)
    assert "$" not in text and "\x00" not in text
    assert text.startswith("# Which loss for my float labels?\n") and text.endswith("```\n")
    for key in ("cifar", "digits", "concrete"):
        assert f"*(The {key} comparison was not run in this generation.)*" in text
    assert "RetinaMNIST's label" not in text and "*(docs/evidence/recovery.csv is missing" in text
    y_true, y_pred = (0.2, 0.8, 0.5, 0.9), (0.4, 0.7, 0.6, 0.85)
    by_hand = sum(bce(p, y) for p, y in zip(y_pred, y_true)) / 4
    mse = sum((p - y) ** 2 for p, y in zip(y_pred, y_true)) / 4
    as_logits = sum(bce(sigmoid(p), y) for p, y in zip(y_pred, y_true)) / 4
    assert f"`nn.BCELoss` gives {by_hand:.4f};" in text
    assert f"`nn.MSELoss` on the same numbers gives {mse:.4f}." in text
    assert f"while passing the probabilities as logits gives {as_logits:.4f}." in text
    for y in YS:  # the table's row for y: the argmin is y itself on this grid, the minimum is H(y)
        h = float(stats.entropy([y, 1 - y]))
        assert f"| {y:g} | {y:.4f} | {h:.6f} | {h:.6f} | {bce(0.999, y):.4f} |" in text
    for z in (-10.0, 10.0):  # the gradient table: the ratio 2 s (1 - s) far out in the tails
        s = sigmoid(z)
        assert f"| {z:+g} | {s:.6g} | {s - 1:.4g} | {2 * (s - 1) * s * (1 - s):.4g} | {2 * s * (1 - s):.3g} |" in text


def test_render_drops_empty_blocks_and_refuses_a_mismatch():
    assert guide.render("a\n${b}\nc ${x}", {"b": [], "x": "1"}) == "a\nc 1"
    assert guide.render("a\n${b}\nc ${x}", {"b": ["l1", ""], "x": "1"}) == "a\nl1\n\nc 1"
    with pytest.raises(ValueError, match=r"no value for \['x'\]"):
        guide.render("${x} ${y}", {"y": "1"})
    with pytest.raises(ValueError, match=r"no placeholder for \['z'\]"):
        guide.render("${x}", {"x": "1", "z": "2"})
    with pytest.raises(ValueError, match="alone on its line"):
        guide.render("a ${b}", {"b": []})


def test_every_template_part_is_filled_by_the_generator():
    # A part no code asks for is prose that silently left the page.
    import inspect

    source = inspect.getsource(guide)
    for name in guide.template_parts():
        if name.startswith("setting."):  # asked for as f"setting.{key}", one per comparison
            assert name.partition(".")[2] in {case.key for case in guide.CASES}, name
        else:
            assert f'"{name}"' in source, name


def test_cost_sentence_sets_every_fixed_spread_law_apart(tmp_path):
    # laplace has a fixed scale as gaussian has a fixed sigma: its intervals are of an arbitrary width, so
    # its coverage must be shown apart with the spread it was given. Laplace(b) has standard deviation
    # b * sqrt(2) (closed form), so scale=0.5 gives 0.707; gaussian's default sigma is 1.
    import losslab as ll

    laws = ("laplace:scale=0.5", "gaussian", "laplace-hetero")
    ds = ll.data.synthetic("gaussian-hetero", 150, seed=0)
    result = ll.compare(ds, laws=list(laws), model="linear", seeds=2, epochs=2, device="cpu")
    case = guide.Case("synthetic", "synthetic", "synthetic", "linear", laws, epochs=2, patience=2)
    c = guide.case_numbers(case, result, tmp_path)
    sentence = guide.cost_sentence(c)
    fitted, _, fixed = sentence.partition("coverage of the central 90% predictive interval ")[2].partition("(fixed spreads, not fitted: ")
    assert "`laplace-hetero`" in fitted and "`laplace(scale=0.5)`" not in fitted and "`gaussian`" not in fitted
    assert f"`laplace(scale=0.5)` {result.table().loc['laplace(scale=0.5)', 'interval_coverage']:.2f} (σ = {0.5 * math.sqrt(2):.3g})" in fixed
    assert "`gaussian`" in fixed and "(σ = 1)" in fixed

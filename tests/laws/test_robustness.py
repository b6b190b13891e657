"""Regression tests of issue 21's law defects (items 2, 6-12), one class of defect per test, over every law.

Each test names the item it guards. Where a row of the issue was one example of a class (one law, one
option), the test runs the class: every registered law, every option, every bad argument. References
are closed forms or float64 computations written here, with their source in a comment.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
from scipy import stats

import losslab as ll
from losslab.laws import SUPPORTS

from .examples import EXAMPLES

LAWS = ll.list_laws()
CASES = [(name, i) for name in LAWS for i in range(len(EXAMPLES[name]))]
F64 = torch.float64


def _law(name: str, i: int = 0):
    return ll.get_law(name, **EXAMPLES[name][i].opts)


def _batch(name: str, i: int = 0, n: int = 6, seed: int = 0, dtype=F64):
    ex = EXAMPLES[name][i]
    gen = torch.Generator().manual_seed(seed)
    raw = ex.raw(gen, n).to(dtype)
    y, trials = ex.labels(gen, n)
    return raw, y.to(dtype), None if trials is None else trials.to(dtype)


def _one_line(info: pytest.ExceptionInfo) -> str:
    msg = str(info.value)
    assert msg and "\n" not in msg, f"not one line: {msg!r}"
    return msg


def _real_support(name: str) -> bool:
    low, high, _, _ = SUPPORTS[ll.laws.law_class(name).support]
    return math.isinf(low) and math.isinf(high)


# ------------------------------------------------------------------------------------------- item 2
@pytest.mark.parametrize("name", [n for n in LAWS if _real_support(n)])
def test_clamp_is_refused_where_the_support_has_no_edge(name):
    # Item 2: get_law("gaussian", clamp=1e-6).loss(...) was a torch RuntimeError; clamp moves labels away from
    # an open edge, and (-inf, inf) has none, so the option is refused when the law is built.
    with pytest.raises(ll.LosslabError) as info:
        ll.get_law(name, clamp=1e-6)
    msg = _one_line(info)
    assert name in msg and "clamp=1e-06" in msg and "no edge" in msg


@pytest.mark.parametrize("name", [n for n in LAWS if not _real_support(n)])
def test_clamp_is_accepted_where_the_support_has_an_edge(name):
    law = ll.get_law(name, **{**EXAMPLES[name][0].opts, "clamp": 1e-6})
    raw, y, trials = _batch(name)
    assert torch.isfinite(law.loss(raw, y, trials=trials))


# ------------------------------------------------------------------------------------------- item 6
@pytest.mark.parametrize("name_i", CASES, ids=[f"{n}-{i}" for n, i in CASES])
@pytest.mark.parametrize("reduction", ["bogus", "MEAN", None, 1])
def test_every_law_refuses_an_unknown_reduction(name_i, reduction):
    # Item 6/12: binned returned the sum for reduction="bogus"; gaussian, bernoulli, laplace, sigmoid-mse and
    # binned onehot raised torch's ValueError. Every law's loss now checks it before any fused kernel.
    name, i = name_i
    raw, y, trials = _batch(name, i)
    for weight in (None, torch.ones(y.shape[: y.ndim - _law(name, i).event_dim], dtype=F64)):
        with pytest.raises(ll.LosslabError) as info:
            _law(name, i).loss(raw, y, reduction=reduction, weight=weight, trials=trials)
        assert "reduction=" in _one_line(info)


@pytest.mark.parametrize("name_i", CASES, ids=[f"{n}-{i}" for n, i in CASES])
@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, -math.inf])
def test_every_law_refuses_negative_or_non_finite_weights(name_i, bad):
    # Item 6: weight -1 gave a loss of -1.42, NaN a NaN loss, both silently.
    name, i = name_i
    law = _law(name, i)
    raw, y, trials = _batch(name, i)
    weight = torch.ones(y.shape[: y.ndim - law.event_dim], dtype=F64)
    weight.view(-1)[2] = bad
    for reduction in ("mean", "sum", "none"):
        with pytest.raises(ll.LosslabError) as info:
            law.loss(raw, y, reduction=reduction, weight=weight, trials=trials)
        msg = _one_line(info)
        assert "weight" in msg and "[2]" in msg and "finite weights >= 0" in msg


def test_zero_weights_are_accepted_and_drop_their_rows():
    # A weight of 0 is valid (mask a row out); the weighted sum equals the sum over the other rows.
    law = ll.get_law("gaussian")
    raw, y, _ = _batch("gaussian")
    w = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0], dtype=F64)
    keep = w > 0
    torch.testing.assert_close(law.loss(raw, y, weight=w, reduction="sum"), law.loss(raw[keep], y[keep], reduction="sum"))


@pytest.mark.parametrize("name", LAWS)
def test_every_law_refuses_complex_labels(name):
    # Item 6: complex labels lost their imaginary part in the cast to the parameters' dtype.
    raw, y, trials = _batch(name)
    for bad in (y.to(torch.complex128) + 1j, y.numpy().astype(np.complex128)):
        with pytest.raises(ll.LosslabError) as info:
            _law(name).loss(raw, bad, trials=trials)
        assert "complex" in _one_line(info)


# ------------------------------------------------------------------------------------------- item 7
@pytest.mark.parametrize("name", ["beta", "logit-normal", "mixture-beta"])
def test_a_clamp_below_the_dtype_resolution_is_refused(name):
    # Item 7: clamp=1e-8 passed validation, but 1 - 1e-8 is 1.0 in float32: beta gave -inf at y = 1 and
    # logit-normal NaN. It is now refused where the labels' dtype shows it, naming the smallest clamp that works.
    law = ll.get_law(name, clamp=1e-8)
    raw = torch.zeros(2, law.raw_dim)
    with pytest.raises(ll.LosslabError) as info:
        law.loss(raw, torch.tensor([1.0, 0.5]))
    msg = _one_line(info)
    eps = torch.finfo(torch.float32).eps
    assert "clamp=1e-08" in msg and "float32" in msg and f"{eps:.3g}" in msg
    # float64 resolves 1 - 1e-8: the same law is finite there, and equals the NLL at 1 - 1e-8 (the label it clamps to)
    raw64, y64 = raw.double(), torch.tensor([1.0, 0.5], dtype=F64)
    got = law.nll(law.link(raw64), y64)
    ref = ll.get_law(name).nll(law.link(raw64), torch.tensor([1 - 1e-8, 0.5], dtype=F64))
    torch.testing.assert_close(got, ref)
    # the smallest clamp the message names works in float32
    ok = ll.get_law(name, clamp=eps)
    assert torch.isfinite(ok.loss(raw, torch.tensor([1.0, 0.0]), reduction="none")).all()


def test_a_clamp_of_1e_300_is_refused_in_float64_too():
    law = ll.get_law("beta", clamp=1e-300)
    with pytest.raises(ll.LosslabError) as info:
        law.nll(law.link(torch.zeros(1, 2, dtype=F64)), torch.tensor([1.0], dtype=F64))
    assert "float64" in _one_line(info) and "2.22e-16" in str(info.value)


def test_beta_clamp_in_float32_matches_scipy_at_the_edge():
    # With clamp=1e-6 the label 1 is read as 1 - 1e-6 (rounded to float32); scipy.stats.beta.logpdf there.
    law = ll.get_law("beta", clamp=1e-6)
    p = law.link(torch.tensor([[0.3, 1.2]]))
    y_in = float(torch.tensor(1 - 1e-6, dtype=torch.float32))
    ref = -stats.beta.logpdf(y_in, float(p["concentration1"]), float(p["concentration0"]))
    assert float(law.nll(p, torch.tensor([1.0]))) == pytest.approx(ref, rel=1e-5)


# ------------------------------------------------------------------------------------------- item 8
def test_mvn_dim3_at_the_issue_raw_outputs_has_no_nan_gradient():
    # Item 8: the float32 forward substitution met inf - inf: NaN gradient entries. The whitened residual is now
    # computed in float64; the float32 loss and gradient must equal the float64 computation (rounded).
    law = ll.get_law("mvn", dim=3)
    raw = torch.tensor([[-1e4, 1e4, -3e-39, -1e4, -1e4, -1e4, -1e4, -1e4, 3e-39]])
    y = torch.tensor([[31.15, -14.87, -28.95]])
    out = {}
    for dtype in (torch.float32, F64):
        r = raw.detach().to(dtype).clone().requires_grad_(True)
        loss = law.loss(r, y.to(dtype))
        loss.backward()
        out[dtype] = (loss.detach(), r.grad)
    (l32, g32), (l64, g64) = out[torch.float32], out[F64]
    assert torch.isfinite(l32) and torch.isfinite(g32).all()
    torch.testing.assert_close(l32.double(), l64, rtol=1e-5, atol=0)
    torch.testing.assert_close(g32.double(), g64, rtol=1e-5, atol=1e-30)


@pytest.mark.parametrize("name", ["bernoulli", "binomial"])
def test_evaluate_bernoulli_kl_is_finite_at_saturated_logits(name):
    # Item 8: evaluate gave bernoulli_kl = inf at raw 1e4, y = 0 (sigmoid(1e4) rounds to 1) while excess gave 1e4.
    # KL(0 || sigmoid(x)) = -log(1 - sigmoid(x)) = softplus(x) = 1e4 (to 1e-4340) for x = 1e4.
    law = ll.get_law(name)
    params = law.link(torch.tensor([[1e4], [-1e4]]))
    y = torch.tensor([0.0, 1.0])
    trials = torch.tensor([4.0, 4.0]) if law.needs_trials else None
    res = ll.metrics.evaluate(law, params, y, trials=trials)
    assert res["bernoulli_kl"] == pytest.approx(1e4, rel=1e-6)


def test_exponential_predictive_agrees_with_the_nll_where_the_rate_underflows():
    # Item 8: at raw -1e4 the rate softplus(-1e4) is 0: predictive.log_prob was -inf while nll was 1e4. The
    # predictive reads log_rate = -1e4 as the NLL does: log_prob(y) = log_rate - rate y = -1e4.
    law = ll.get_law("exponential")
    for dtype in (torch.float32, F64):
        params = law.link(torch.tensor([[-1e4], [-50.0], [2.0]], dtype=dtype))
        y = torch.tensor([1.0, 0.5, 3.0], dtype=dtype)
        lp = law.predictive(params).log_prob(y)
        torch.testing.assert_close(lp, -law.nll(params, y))
        assert float(lp[0]) == -1e4
    # The mean e^1e4 is beyond every float: inf is its rounding, and the same in point() and the predictive.
    params = law.link(torch.tensor([[-1e4], [-3.0]], dtype=F64))
    torch.testing.assert_close(law.predictive(params).mean, law.point(params, "mean"))
    assert math.isinf(float(law.point(params)[0])) and float(law.point(params)[1]) == pytest.approx(1 / math.log1p(math.exp(-3.0)))


def test_mixture_gaussian_cdf_stays_a_probability():
    law = ll.get_law("mixture-gaussian")
    params = law.link(torch.tensor([[0.0, 1.0, -2.0, -3.0, 0.0, 3.0, -5.0, 0.0, 5.0]]))
    cdf = law.predictive(params).cdf(torch.tensor([1e4]))
    assert 0.0 <= float(cdf) <= 1.0


# ------------------------------------------------------------------------------------------- item 9
#: float32 inputs beyond ±1e4 whose gradient was NaN (found by searching the old code over ±1e4, ±1e20,
#: ±1e30, ±3.4e38 raw outputs and labels to ±1e30): a huge d loss / d scale met a link slope that rounds to 0
BEYOND = [
    ("gaussian-hetero", {}, [0.0, -1e4], -1e30),
    ("laplace-hetero", {}, [3.4e38, -1e4], 0.0),
    ("logit-normal", {}, [-1e20, -1e4], 0.5),
    ("student-t", {}, [0.0, -1e4, 3.4e38], -1e30),
    ("sigmoid-mse", {"sigma": 0.3}, [200.0], -3e38),
    ("mixture-gaussian", {"n_components": 1}, [7997.5, 3.4e38, 104.0], -1e-7),
    ("mixture-gaussian", {}, [0.0] * 9, 1e15),
    ("mixture-gaussian", {}, [0.0] * 9, 1e30),
]


@pytest.mark.parametrize("name, opts, raw, y", BEYOND, ids=[f"{c[0]}-{i}" for i, c in enumerate(BEYOND)])
def test_no_nan_gradient_beyond_the_house_range(name, opts, raw, y):
    # Item 9. Where the exact gradient entry is e^-1e4 times a huge number it is 0 (the link's slope is below the
    # smallest float), where it is beyond float32 it is inf: never NaN.
    law = ll.get_law(name, **opts)
    r = torch.tensor([raw], requires_grad=True)
    loss = law.loss(r, torch.tensor([y]), reduction="none")
    loss.sum().backward()
    assert not torch.isnan(loss).any() and not torch.isnan(r.grad).any(), r.grad
    # The entries that are finite agree with float64 on the same inputs.
    r64 = torch.tensor([raw], dtype=F64).requires_grad_(True)
    law.loss(r64, torch.tensor([y], dtype=F64), reduction="none").sum().backward()
    ok = torch.isfinite(r.grad) & (r64.grad.abs() < 1e30)
    # (float32 rounding leaves entries of 1e-8 where float64 has 1e-17: absolute error relative to the largest)
    scale = float(r64.grad[ok].abs().max()) if bool(ok.any()) else 0.0
    torch.testing.assert_close(r.grad[ok].double(), r64.grad[ok], rtol=1e-4, atol=1e-6 * scale + 1e-6)


def test_mixture_gaussian_far_label_keeps_the_nearest_components_gradient():
    # Every component more than 1.6e153 scales (float64) from y = 1e160: the log density is the nearest component's
    # plus log sum_j exp(c_j - c_k), where the others' c_j - c_k is about -(1e150 / 0.69)(2e160 / 0.69) = -inf
    # (component 0 sits at 1e150, the others at 0): the gradient in the weights' logits is softmax - onehot(0),
    # with equal weights [-2/3, 1/3, 1/3].
    law = ll.get_law("mixture-gaussian")
    r = torch.zeros(1, 9, dtype=F64)
    r[0, 3] = 1e150
    r.requires_grad_(True)
    law.loss(r, torch.tensor([1e160], dtype=F64)).backward()
    torch.testing.assert_close(r.grad[0, :3], torch.tensor([-2 / 3, 1 / 3, 1 / 3], dtype=F64))
    # Tied components (all locations 0) share the label: the logits' gradient is 0, as in exact arithmetic.
    for dtype in (torch.float32, F64):
        r = torch.zeros(1, 9, dtype=dtype, requires_grad=True)
        law.loss(r, torch.tensor([1e30], dtype=dtype)).backward()
        torch.testing.assert_close(r.grad[0, :3], torch.zeros(3, dtype=dtype), atol=1e-6, rtol=0)


def test_mixture_gaussian_far_row_does_not_spoil_its_neighbours_gradient():
    # The slow lane's fuzz found it (CI, 2026-12-05): in one batch, a row whose components are all far from its
    # label (raw 1e20, y = 2.46) sent the batch through the "nearest component" branch, and a neighbour row whose
    # weights are 0 and 1 (logits ±3.4e38, log weights -inf) made that unused branch NaN, which where() passed
    # back as 0 * NaN. The neighbour's loss is 90.14 (float64 agrees) and its gradient must stay finite.
    law = ll.get_law("mixture-gaussian")
    m = 3.4028e38
    far = [-1.0562e20, -1.1260e20, 1.3083e20, -1.8630e19, -6.9974e18, -5.9087e19, -1.7210e19, -3.5793e19, -1.3326e19]
    raw = torch.tensor([[-m, m, -m, m, -m, -m, m, m, m], far], requires_grad=True)
    y = torch.tensor([-2.2023, 2.4599])
    loss = law.loss(raw, y, reduction="none")
    assert math.isfinite(float(loss[0])) and not math.isfinite(float(loss[1]))
    loss[0].backward()
    assert bool(torch.isfinite(raw.grad).all()), raw.grad
    alone = raw.detach()[:1].double().requires_grad_(True)
    ref = law.loss(alone, y[:1].double(), reduction="none")
    ref.sum().backward()
    torch.testing.assert_close(loss[0].double().detach(), ref[0].detach(), rtol=1e-6, atol=0)
    torch.testing.assert_close(raw.grad[0].double(), alone.grad[0], rtol=1e-4, atol=1e-30)


# ------------------------------------------------------------------------------------------- item 10
@pytest.mark.parametrize("name_i", CASES, ids=[f"{n}-{i}" for n, i in CASES])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(name_i, dtype):
    # Item 10: float16/bfloat16 gave inf/NaN in 21 of 28 law configurations at |raw| <= 1e4. Half raw outputs
    # are now computed in float32 (as torch's autocast does for losses): the loss is the float32 loss of the
    # same (rounded) inputs and is float32; the gradient reaches the raw outputs in their dtype.
    name, i = name_i
    law = _law(name, i)
    gen = torch.Generator().manual_seed(1)
    raw = (1e4 * torch.sign(torch.randn(16, law.raw_dim, generator=gen))).to(dtype)  # the house range's corners
    raw[:4] = EXAMPLES[name][i].raw(gen, 4).to(dtype)
    _, y, trials = _batch(name, i, n=16, seed=2, dtype=torch.float32)
    if law.support in ("unit_interval",):
        y = y.clamp(0.01, 0.98)  # labels inside (0, 1) that bfloat16 does not round onto 1 (its spacing there is 4e-3)
    y = y.to(dtype)
    trials = None if trials is None else trials.to(dtype)
    r = raw.clone().requires_grad_(True)
    loss = law.loss(r, y, reduction="none", trials=trials)
    assert loss.dtype == torch.float32
    assert torch.isfinite(loss).all(), loss
    ref = law.loss(raw.float(), y.float(), reduction="none", trials=None if trials is None else trials.float())
    torch.testing.assert_close(loss, ref, rtol=0, atol=0)
    loss.sum().backward()
    assert r.grad.dtype == dtype and not torch.isnan(r.grad).any()
    params = law.link(raw)
    assert all(v.dtype == torch.float32 for v in params.values())
    for kind in law.point_kinds:
        assert torch.isfinite(law.point(params, kind)).all() or name == "exponential", kind


# ------------------------------------------------------------------------------------------- item 11
@pytest.mark.parametrize(
    "name, opts, culprit",
    [
        ("gaussian", {"sigma": 1e-200}, "sigma=1e-200"),  # was ZeroDivisionError in 0.5 / sigma**2
        ("gaussian", {"sigma": 1e200}, "sigma=1e+200"),  # was OverflowError in sigma**2
        ("sigmoid-mse", {"sigma": 1e-200}, "sigma=1e-200"),
        ("laplace", {"scale": 1e-300}, "scale=1e-300"),
        ("gaussian-hetero", {"min_scale": 1e-300}, "min_scale=1e-300"),
        ("mixture-gaussian", {"min_scale": 1e300}, "min_scale=1e+300"),
        ("student-t", {"df": 1e-300}, "df=1e-300"),
        ("student-t", {"min_df": 1e300}, "min_df=1e+300"),
        ("binned", {"high": 1e-320}, "high=1e-320"),  # was a NaN loss: bins of width 2e-322
        ("binned", {"sigma_ratio": 1e-300}, "sigma_ratio=1e-300"),  # was NaN HL-Gauss targets
        ("binned", {"sigma_ratio": 1e9}, "sigma_ratio=1000000000.0"),  # NaN targets in float32
        ("binned", {"low": -1e38, "high": 1e38}, "low=-1e+38"),  # high - low overflows float32
    ],
)
def test_options_that_crashed_later_are_refused_when_the_law_is_built(name, opts, culprit):
    with pytest.raises(ll.LosslabError) as info:
        ll.get_law(name, **opts)
    assert culprit in _one_line(info)


def test_the_extremes_of_each_option_range_work():
    # The ends of the documented ranges give finite losses at the house range (raw and labels at ±1e4).
    raw, y = torch.tensor([[1e4], [-1e4]]), torch.tensor([-1e4, 1e4])
    for opts in ({"sigma": 1e-9}, {"sigma": 1e9}):
        assert torch.isfinite(ll.get_law("gaussian", **opts).loss(raw, y))
    b = ll.get_law("binned", sigma_ratio=1e-6)
    assert torch.isfinite(b.loss(torch.zeros(3, 51), torch.tensor([0.0, 0.31, 1.0]))), "sigma_ratio=1e-6"
    b = ll.get_law("binned", sigma_ratio=1e6)
    assert torch.isfinite(b.loss(torch.zeros(3, 51), torch.tensor([0.0, 0.31, 1.0]))), "sigma_ratio=1e6"


@pytest.mark.parametrize("integer", [np.int64(5), np.int32(5), np.uint8(5)])
def test_numpy_integers_are_integers(integer):
    # Item 11: n_bins=np.int64(5) was rejected as "must be an integer".
    law = ll.get_law("binned", n_bins=integer)
    assert law.n_bins == 5 and type(law.n_bins) is int
    torch.testing.assert_close(law.loss(torch.zeros(2, 5), torch.tensor([0.1, 0.9])),
                               ll.get_law("binned", n_bins=5).loss(torch.zeros(2, 5), torch.tensor([0.1, 0.9])))
    assert ll.get_law("mixture-gaussian", n_components=integer).n_components == 5
    assert ll.get_law("mvn", dim=integer).dim == 5


# ------------------------------------------------------------------------------------------- item 12
def _options(name: str) -> list[str]:
    cls = ll.laws.law_class(name)
    return [p.name for p in inspect.signature(cls.__init__).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]


OPTION_CASES = [(name, opt) for name in LAWS for opt in _options(name)]


@pytest.mark.parametrize("name, option", OPTION_CASES, ids=[f"{n}-{o}" for n, o in OPTION_CASES])
@pytest.mark.parametrize("bad", ["x", True, [1.0], math.nan, complex(1, 1)])
def test_every_option_of_every_law_refuses_a_wrong_type_in_one_line(name, option, bad):
    # Item 12: beta='0.5' and clamp='x' raised TypeError from a comparison. Each option goes through the shared
    # checkers of losslab._errors (check_number / check_integer / check_choice), so every law names it alike.
    with pytest.raises(ll.LosslabError) as info:
        ll.get_law(name, **{option: bad})
    msg = _one_line(info)
    assert name in msg and f"{option}=" in msg


@pytest.mark.parametrize("bad", [None, 3, "gaussian-", ["gaussian"]])
def test_get_law_refuses_a_name_that_is_not_a_law(bad):
    with pytest.raises(ll.LosslabError) as info:
        ll.get_law(bad)
    assert "law" in _one_line(info)


@pytest.mark.parametrize("name", LAWS)
@pytest.mark.parametrize("bad", ["abc", None, object(), ["a", "b"], {"y": 1}])
def test_every_law_refuses_labels_that_are_not_numbers(name, bad):
    # Item 12: labels as strings or None raised torch's TypeError / RuntimeError.
    raw, _, trials = _batch(name)
    law = _law(name)
    for call in (lambda: law.loss(raw, bad, trials=trials), lambda: law.nll(law.link(raw), bad, trials=trials),
                 lambda: law.check_labels(bad, trials=trials)):
        with pytest.raises(ll.LosslabError) as info:
            call()
        msg = _one_line(info)
        assert name in msg and "labels y" in msg


@pytest.mark.parametrize("name", LAWS)
@pytest.mark.parametrize("bad", [3, True, 2.5, None, "raw"])
def test_every_law_refuses_raw_outputs_that_are_not_a_float_tensor(name, bad):
    # Item 12: raw outputs as an int or a bool raised AttributeError; a numpy array too.
    _, y, trials = _batch(name)
    law = _law(name)
    for raw in (bad, torch.zeros(y.shape[0], law.raw_dim, dtype=torch.long), torch.zeros(y.shape[0], law.raw_dim).bool()):
        with pytest.raises(ll.LosslabError) as info:
            law.loss(raw, y, trials=trials)
        assert "raw outputs" in _one_line(info)


@pytest.mark.parametrize("name", LAWS)
def test_numpy_float_raw_outputs_are_read_as_tensors(name):
    # Item 12: a numpy array of raw outputs raised AttributeError ('contiguous'); it is the same numbers as a tensor.
    raw, y, trials = _batch(name)
    law = _law(name)
    torch.testing.assert_close(law.loss(raw.numpy(), y, trials=trials), law.loss(raw, y, trials=trials))


def test_params_that_are_not_a_dict_of_tensors_are_refused():
    law = ll.get_law("gaussian")
    for bad in ([1.0], {"loc": [0.0]}, {}, None):
        with pytest.raises(ll.LosslabError) as info:
            law.nll(bad, torch.zeros(1))
        assert "law.link(raw)" in _one_line(info)


def test_inverse_link_refuses_parameters_that_are_not_numbers():
    with pytest.raises(ll.LosslabError) as info:
        ll.get_law("gaussian-hetero").inverse_link({"loc": "a", "scale": 1.0})
    assert "'loc'" in _one_line(info)


def test_student_t_with_min_df_1_has_no_mean_where_the_learned_df_reaches_1():
    # The learned df is 1 + softplus(r), which is 1 in float32 once softplus(r) underflows: the mean is undefined
    # there (torch's predictive.mean is NaN), so the law does not offer it; with min_df = 2 it does.
    assert "mean" not in ll.get_law("student-t", min_df=1.0).point_kinds
    assert "mean" in ll.get_law("student-t").point_kinds
    law = ll.get_law("student-t")
    p = law.link(torch.tensor([[0.5, 0.0, -1e4]]))
    assert float(law.predictive(p).mean) == 0.5

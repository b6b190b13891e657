"""Trainer and model factories: an independent least-squares reference, the paired design, divergence."""

import numpy as np
import torch

import losslab as ll
from losslab.experiment import Split, TrainConfig, train
from losslab.models import build_model


def test_lbfgs_linear_gaussian_is_ordinary_least_squares():
    # Reference: numpy's lstsq solution of y ~ 1 + X (the Gaussian law with a linear head is OLS).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    y = (X @ np.array([1.5, -2.0, 0.5]) + 0.3 + rng.normal(scale=0.5, size=200)).astype(np.float32)
    law = ll.get_law("gaussian")
    model = build_model("linear", (3,), law, seed=0).double()
    tr = Split(torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64))
    res = train(model, tr, tr, TrainConfig(optimizer="lbfgs", epochs=20), seed=0)
    assert res.status == "ok"
    coef, *_ = np.linalg.lstsq(np.c_[np.ones(200), X].astype(np.float64), y.astype(np.float64), rcond=None)
    got = np.r_[model.head.linear.bias.detach().numpy(), model.head.linear.weight.detach().numpy().ravel()]
    np.testing.assert_allclose(got, coef, atol=1e-6)


def test_same_seed_same_trunk_for_every_law():
    a = build_model("mlp", (8,), ll.get_law("bernoulli"), seed=3)
    b = build_model("mlp", (8,), ll.get_law("gaussian-hetero"), seed=3)
    c = build_model("mlp", (8,), ll.get_law("bernoulli"), seed=4)
    for (na, pa), (_, pb), (_, pc) in zip(a.trunk.named_parameters(), b.trunk.named_parameters(), c.trunk.named_parameters()):
        assert torch.equal(pa, pb), na
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.trunk.parameters(), c.trunk.parameters()))


def test_cnn_trunks_follow_the_input_size():
    for kind in ("cnn", "cnn-small"):
        for shape in ((1, 28, 28), (3, 32, 32), (1, 8, 8)):
            m = build_model(kind, shape, ll.get_law("bernoulli"), seed=0)
            assert m(torch.zeros(2, *shape)).shape == (2, 1)


class _Exploding(torch.nn.Module):
    out_features = 4

    def forward(self, x):
        return x[:, :4] * float("nan")


def test_divergence_is_recorded_not_raised():
    law = ll.get_law("bernoulli")
    model = build_model(lambda shape: _Exploding(), (4,), law, seed=0)
    data = Split(torch.randn(32, 4), torch.rand(32))
    res = train(model, data, data, TrainConfig(epochs=5), seed=0)
    assert res.status == "diverged" and res.diverged_epoch == 1


def test_training_is_deterministic_given_the_seed():
    torch.manual_seed(123)
    X, y = torch.randn(100, 5), torch.rand(100)
    outs = []
    for _ in range(2):
        m = build_model("mlp", (5,), ll.get_law("bernoulli"), seed=1)
        train(m, Split(X, y), Split(X[:20], y[:20]), TrainConfig(epochs=5, batch_size=16), seed=1)
        outs.append(m(X).detach())
    assert torch.equal(outs[0], outs[1])

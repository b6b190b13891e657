"""Synthetic data drawn from a known law, with the true conditional mean ``E[y | x]``.

``x ~ N(0, I)``; a fixed random function of ``x`` (a linear part plus a sine of the
first feature) gives a predictor ``eta``; the label is drawn from the named law with
its mean tied to ``eta``. ``meta["true_mean"]`` holds ``E[y | x]`` per row,
``meta["law"]`` the registry name of the generating law and ``meta["params"]`` its
parameters per row (named as in torch.distributions), so that a comparison of laws
can be checked against the truth. Only ``numpy.random.Generator(seed)`` is used.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .._errors import LosslabError, check_integer, check_number, close_matches
from .dataset import Dataset, from_arrays

_F32_BELOW_ONE = float(np.nextafter(np.float32(1.0), np.float32(0.0)))
_F32_TINY = float(np.finfo(np.float32).tiny)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # Written through exp(-|z|) so that no branch overflows.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _open_unit_float32(y: np.ndarray) -> np.ndarray:
    """Keep draws strictly inside (0, 1) after the cast to float32 (a draw 1 - 1e-9 rounds to 1.0f)."""
    return np.clip(y, _F32_TINY, _F32_BELOW_ONE)


def _positive(opts: dict, key: str, default: float) -> float:
    """Option ``key`` (a scale or concentration): a finite number > 0, or a one-line error."""
    return check_number(opts.get(key, default), key, who="synthetic", low=0.0, low_open=True,
                        what="a finite number > 0")


# Each generator: (rng, x, eta, opts) -> (y, true_mean, params, trials or None)
Gen = Callable[[np.random.Generator, np.ndarray, np.ndarray, dict], tuple]


def _direction(rng: np.random.Generator, f: int) -> np.ndarray:
    v = rng.standard_normal(f)
    return v / np.linalg.norm(v)


def _gen_binomial(rng, x, eta, opts):
    n_trials = check_integer(opts.get("trials", 16), "trials", who="synthetic", low=1)
    p = _sigmoid(eta)
    k = rng.binomial(n_trials, p)
    return k / n_trials, p, {"probs": p}, np.full(x.shape[0], float(n_trials))


def _gen_bernoulli(rng, x, eta, opts):
    p = _sigmoid(eta)
    return (rng.random(x.shape[0]) < p).astype(np.float64), p, {"probs": p}, None


def _gen_beta(rng, x, eta, opts):
    phi = _positive(opts, "concentration", 10.0)
    mu = _sigmoid(eta)
    a, b = mu * phi, (1 - mu) * phi
    return _open_unit_float32(rng.beta(a, b)), mu, {"concentration1": a, "concentration0": b}, None


def _gen_zoib(rng, x, eta, opts):
    phi = _positive(opts, "concentration", 10.0)
    # Three-way softmax: large eta favours exact ones, small eta exact zeros.
    logits = np.stack([-1.5 - eta, -1.5 + eta, np.zeros_like(eta)], axis=1)
    logits -= logits.max(axis=1, keepdims=True)
    w = np.exp(logits)
    w /= w.sum(axis=1, keepdims=True)
    p0, p1, pc = w[:, 0], w[:, 1], w[:, 2]
    mu = _sigmoid(eta)
    a, b = mu * phi, (1 - mu) * phi
    u = rng.random(x.shape[0])
    cont = _open_unit_float32(rng.beta(a, b))
    y = np.where(u < p0, 0.0, np.where(u < p0 + p1, 1.0, cont))
    params = {"p0": p0, "p1": p1, "concentration1": a, "concentration0": b}
    return y, p1 + pc * mu, params, None


def _gen_continuous_bernoulli(rng, x, eta, opts):
    # Density proportional to exp(eta y) on [0, 1]; inverse CDF y = log1p(u expm1(eta)) / eta.
    u = rng.random(x.shape[0])
    small = np.abs(eta) < 1e-4
    e = np.where(small, 1.0, eta)  # safe value, then select: no 0/0 in the unused branch
    y = np.where(small, u, np.log1p(u * np.expm1(e)) / e)
    # Mean 1/(1 - exp(-eta)) - 1/eta, with its Taylor expansion 1/2 + eta/12 near 0 (cancellation).
    mean = np.where(small, 0.5 + eta / 12.0, 1.0 / (-np.expm1(-e)) - 1.0 / e)
    return np.clip(y, 0.0, 1.0), mean, {"logits": eta}, None


def _gen_logit_normal(rng, x, eta, opts):
    s = _positive(opts, "scale", 0.7)
    y = _open_unit_float32(_sigmoid(eta + s * rng.standard_normal(x.shape[0])))
    # E[sigmoid(eta + s Z)] by 60-point Gauss-Hermite quadrature (probabilists' weights sum to sqrt(2 pi)).
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    mean = _sigmoid(eta[:, None] + s * nodes[None, :]) @ weights / math.sqrt(2 * math.pi)
    return y, mean, {"loc": eta, "scale": np.full_like(eta, s)}, None


def _gen_gaussian(rng, x, eta, opts):
    s = _positive(opts, "scale", 0.5)
    return eta + s * rng.standard_normal(x.shape[0]), eta, {"loc": eta, "scale": np.full_like(eta, s)}, None


def _gen_gaussian_hetero(rng, x, eta, opts):
    s0 = _positive(opts, "scale", 0.5)
    v = _direction(rng, x.shape[1])
    scale = s0 * np.exp(0.6 * (x @ v))  # log-scale varies with x: about 0.15 to 1.6 times s0 (2 sd)
    return eta + scale * rng.standard_normal(x.shape[0]), eta, {"loc": eta, "scale": scale}, None


def _gen_laplace(rng, x, eta, opts):
    b = _positive(opts, "scale", 0.5)
    return eta + rng.laplace(0.0, b, x.shape[0]), eta, {"loc": eta, "scale": np.full_like(eta, b)}, None


def _gen_student_t(rng, x, eta, opts):
    df = check_number(opts.get("df", 3.0), "df", who="synthetic", low=1.0, low_open=True,
                      what="a finite number > 1, so that the mean exists")
    s = _positive(opts, "scale", 0.5)
    y = eta + s * rng.standard_t(df, x.shape[0])
    return y, eta, {"df": np.full_like(eta, df), "loc": eta, "scale": np.full_like(eta, s)}, None


def _gen_mixture_gaussian(rng, x, eta, opts):
    sep = check_number(opts.get("separation", 2.0), "separation", who="synthetic", low=0.0,
                       what="a finite number >= 0")
    s = _positive(opts, "scale", 0.3)
    u = _direction(rng, x.shape[1])
    p = _sigmoid(1.5 * (x @ u))  # weight of the upper component
    upper = rng.random(x.shape[0]) < p
    loc0, loc1 = eta - sep, eta + sep
    y = np.where(upper, loc1, loc0) + s * rng.standard_normal(x.shape[0])
    params = {"probs": p, "loc0": loc0, "loc1": loc1, "scale": np.full_like(eta, s)}
    return y, (1 - p) * loc0 + p * loc1, params, None


def _gen_exponential(rng, x, eta, opts):
    mean = np.exp(0.5 * eta)
    return rng.exponential(mean), mean, {"rate": 1.0 / mean}, None


# generator name -> (registry name of the law, generator, accepted options)
_GENERATORS: dict[str, tuple[str, Gen, tuple[str, ...]]] = {
    "bernoulli-fraction": ("binomial", _gen_binomial, ("trials",)),
    "bernoulli": ("bernoulli", _gen_bernoulli, ()),
    "beta": ("beta", _gen_beta, ("concentration",)),
    "zoib": ("zoib", _gen_zoib, ("concentration",)),
    "continuous-bernoulli": ("continuous-bernoulli", _gen_continuous_bernoulli, ()),
    "logit-normal": ("logit-normal", _gen_logit_normal, ("scale",)),
    "gaussian": ("gaussian", _gen_gaussian, ("scale",)),
    "gaussian-hetero": ("gaussian-hetero", _gen_gaussian_hetero, ("scale",)),
    "laplace": ("laplace", _gen_laplace, ("scale",)),
    "student-t": ("student-t", _gen_student_t, ("df", "scale")),
    "mixture-gaussian": ("mixture-gaussian", _gen_mixture_gaussian, ("separation", "scale")),
    "exponential": ("exponential", _gen_exponential, ()),
}
_ALIASES = {"binomial": "bernoulli-fraction"}


def list_synthetic() -> dict[str, str]:
    """Generator names and the registry law each one draws from.

    >>> list_synthetic()["bernoulli-fraction"]
    'binomial'
    """
    return {k: v[0] for k, v in _GENERATORS.items()}


def synthetic(law: str, n: int = 1000, *, n_features: int = 5, seed: int = 0, **opts: Any) -> Dataset:
    """A table of ``n`` rows whose labels are drawn from ``law`` given ``x``, with the true mean.

    Args:
        law: a generator name (:func:`list_synthetic`): "bernoulli-fraction" (k/n labels with ``trials``,
            default 16; law "binomial"), "bernoulli", "beta", "zoib", "continuous-bernoulli",
            "logit-normal", "gaussian", "gaussian-hetero", "laplace", "student-t",
            "mixture-gaussian" (two components ``2 * separation`` apart: bimodal given x), "exponential".
        n: rows.
        n_features: columns of ``x ~ N(0, I)``.
        seed: seeds ``numpy.random.default_rng``; the function ``eta(x)`` and the draws depend on it.
        **opts: the law's options (``trials``, ``concentration``, ``scale``, ``df``, ``separation``).

    Returns:
        A table :class:`Dataset` with ``meta["law"]`` (registry name), ``meta["true_mean"]`` ``(N,)``
        float64, ``meta["params"]`` (per-row parameters) and, for "bernoulli-fraction", ``trials``.

    >>> ds = synthetic("bernoulli-fraction", 2000, seed=1)
    >>> ds.meta["law"], float(ds.trials[0]), ds.y.shape
    ('binomial', 16.0, (2000,))
    >>> bool(abs(ds.y.mean() - ds.meta["true_mean"].mean()) < 0.02)
    True
    """
    if not isinstance(law, str):
        raise LosslabError(f"synthetic law {law!r} is a {type(law).__name__}; expected one of {', '.join(_GENERATORS)}")
    key = _ALIASES.get(law, law)
    if key not in _GENERATORS:
        raise LosslabError(
            f"synthetic law {law!r}{close_matches(law, _GENERATORS)}; expected one of {', '.join(_GENERATORS)}"
        )
    registry_name, gen, accepted = _GENERATORS[key]
    for k in opts:
        if k not in accepted:
            raise LosslabError(
                f"synthetic law {key!r} has no option {k!r}{close_matches(k, accepted)}; "
                f"its options: {', '.join(accepted) or 'none'}"
            )
    n = check_integer(n, "n", who="synthetic", low=1)
    f = check_integer(n_features, "n_features", who="synthetic", low=1)
    seed = check_integer(seed, "seed", who="synthetic", low=0)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, f))
    w = _direction(rng, f)
    # A linear part of unit variance and a bounded non-linear one: a linear model is not quite enough.
    eta = 1.5 * (x @ w) + 0.5 * np.sin(2.0 * x[:, 0])
    y, mean, params, trials = gen(rng, x, eta, opts)
    return from_arrays(
        x,
        y,
        trials=trials,
        name=f"synthetic-{key}",
        kind="table",
        feature_names=[f"x{i}" for i in range(f)],
        target_names=["y"],
        meta={
            "law": registry_name,
            "generator": key,
            "true_mean": np.asarray(mean, dtype=np.float64),
            "params": {k: np.asarray(v, dtype=np.float64) for k, v in params.items()},
            "options": dict(opts),
            "seed": int(seed),
            "description": f"x ~ N(0, I_{f}); eta = 1.5 x.w + 0.5 sin(2 x0); y ~ {registry_name} with mean tied to eta",
        },
    )

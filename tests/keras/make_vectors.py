"""Shared test vectors for the Keras losses, computed by the PyTorch laws: ``python tests/keras/make_vectors.py``.

Writes ``tests/keras/vectors.npz``: for each case (a law, its options, raw outputs and
labels), the references the Keras losses must reproduce on every backend. Raw outputs and
labels are float32 numbers (what a float32 Keras model sees); the references are the
PyTorch laws evaluated in float64 on those very numbers, so a float32 Keras loss can only
differ by its own rounding. The PyTorch laws themselves are checked against scipy.stats
and closed forms in ``tests/laws``.

Per case ``c`` the file holds ``c/raw (N, raw_dim)``, ``c/y``, and, from the float64 law:
``c/loss`` (``law.loss(raw, y)``, the mean), ``c/grad`` (its gradient w.r.t. ``raw``),
``c/objective`` and ``c/nll`` (per label), ``c/param/<name>`` (``law.link(raw)``),
``c/point/<kind>`` (``law.point``), ``c/targets`` (binned: ``law.to_probs(y)``),
``c/excess`` (bernoulli); and ``c/loss32``, ``c/grad32``, ``c/objective32``, ``c/nll32``: the same law run
in float32, the yardstick for the "extreme" cases, where float32 itself loses digits.
``__meta__`` is a JSON list of ``{"case", "law", "options", "group"}``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

import losslab as ll

PATH = Path(__file__).with_name("vectors.npz")

N = 24  # rows per moderate case
EXTREMES = (-1e4, -100.0, -31.0, 0.0, 31.0, 100.0, 1e4)


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _with_edges(y: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Labels with the first rows set to the support's edges (where the loss must stay finite)."""
    y = y.copy()
    y[: len(edges)] = edges
    return y


def _cases(rng: np.random.RandomState) -> list[dict]:
    """``{"case", "law", "options", "group", "raw", "y"}`` for every case; raw and y are float32."""
    out: list[dict] = []

    def add(case: str, law: str, options: dict, raw, y, group: str = "moderate") -> None:
        out.append({"case": case, "law": law, "options": options, "group": group, "raw": _f32(raw), "y": _f32(y)})

    u = lambda lo, hi, *shape: rng.uniform(lo, hi, size=shape)  # noqa: E731
    nrm = lambda s, *shape: rng.normal(0.0, s, size=shape)  # noqa: E731

    # -- labels in [0, 1]
    raw = nrm(2.5, N, 1)
    raw[:2, 0] = (20.0, -20.0)
    add("bernoulli", "bernoulli", {}, raw, _with_edges(u(0, 1, N), (0.0, 1.0, 1.0, 0.0)))
    # continuous Bernoulli: the float32 Taylor region |x| <= 1, the float64 one |x| <= 0.15, and far out
    sign = lambda k: rng.choice([-1, 1], k)  # noqa: E731
    raw = np.concatenate([u(-1, 1, 8), u(0.1, 0.2, 4) * sign(4), u(1.01, 12, 12) * sign(12)])
    add("continuous-bernoulli", "continuous-bernoulli", {}, raw[:, None], _with_edges(u(0, 1, N), (0.0, 1.0, 0.0, 1.0)))
    add("beta", "beta", {}, np.stack([nrm(1.5, N), u(-1, 3, N)], 1), _with_edges(u(0.02, 0.98, N), (1e-3, 0.999)))
    add("beta-clamp", "beta", {"clamp": 1e-4}, np.stack([nrm(1.5, N), u(-1, 3, N)], 1),
        _with_edges(u(0.02, 0.98, N), (0.0, 1.0, 1e-5, 1 - 1e-5)))
    y = rng.choice([0.0, 1.0, 0.5], N, p=[0.3, 0.3, 0.4])
    y = np.where(y == 0.5, u(0.01, 0.99, N), y)
    add("zoib", "zoib", {}, np.stack([nrm(1.5, N), nrm(1.5, N), nrm(1.5, N), u(-1, 3, N)], 1), y)
    add("sigmoid-mse", "sigmoid-mse", {}, nrm(2.0, N, 1), _with_edges(u(0, 1, N), (0.0, 1.0)))

    # -- binned: every kind, a window narrower than the grid (51 bins) and one covering it (sigma_ratio 2, 11 bins)
    add("binned-hl-gauss", "binned", {}, nrm(1.0, N, 51), _with_edges(u(0, 1, N), (0.0, 1.0, 0.005, 0.995)))
    add("binned-hl-gauss-wide", "binned", {"n_bins": 11, "sigma_ratio": 2.0, "low": -2.0, "high": 3.0},
        nrm(1.0, N, 11), _with_edges(u(-2, 3, N), (-2.0, 3.0)))
    add("binned-twohot", "binned", {"kind": "twohot", "n_bins": 21, "low": -1.0, "high": 2.0}, nrm(1.5, N, 21),
        _with_edges(u(-1, 2, N), (-1.0, 2.0, -0.99, 1.99)))
    add("binned-onehot", "binned", {"kind": "onehot", "n_bins": 10}, nrm(1.5, N, 10),
        _with_edges(u(0, 1, N), (0.0, 1.0)))

    # -- real labels
    add("gaussian", "gaussian", {}, nrm(2.0, N, 1), nrm(2.0, N))
    add("gaussian-sigma", "gaussian", {"sigma": 0.3}, nrm(2.0, N, 1), nrm(2.0, N))
    add("gaussian-hetero", "gaussian-hetero", {}, np.stack([nrm(2, N), u(-3, 2, N)], 1), nrm(2.0, N))
    add("gaussian-hetero-beta", "gaussian-hetero", {"beta": 0.5}, np.stack([nrm(2, N), u(-3, 2, N)], 1), nrm(2.0, N))
    add("laplace", "laplace", {}, nrm(2.0, N, 1), nrm(2.0, N))
    add("laplace-scale", "laplace", {"scale": 2.0}, nrm(2.0, N, 1), nrm(2.0, N))
    add("laplace-hetero", "laplace-hetero", {}, np.stack([nrm(2, N), u(-3, 2, N)], 1), nrm(2.0, N))
    add("student-t", "student-t", {}, np.stack([nrm(2, N), u(-3, 2, N), u(-3, 4, N)], 1), 3 * rng.standard_t(3, N))
    add("student-t-df", "student-t", {"df": 3.0}, np.stack([nrm(2, N), u(-3, 2, N)], 1), 3 * rng.standard_t(3, N))
    add("student-t-min-df", "student-t", {"min_df": 1.0, "min_scale": 0.01},
        np.stack([nrm(2, N), u(-3, 2, N), u(-3, 4, N)], 1), 3 * rng.standard_t(3, N))
    add("exponential", "exponential", {}, nrm(2.0, N, 1), _with_edges(rng.exponential(1.5, N), (0.0,)))
    add("mvn", "mvn", {}, np.concatenate([nrm(1, N, 2), u(-2, 2, N, 3)], 1), nrm(1.5, N, 2))
    add("mvn-3", "mvn", {"dim": 3, "min_scale": 0.01}, np.concatenate([nrm(1, N, 3), u(-2, 2, N, 6)], 1),
        nrm(1.5, N, 3))

    # -- extremes: raw outputs at +-1e4, +-100 and just beyond the +-30 clamps, with edge and interior labels
    edge_labels = {
        "bernoulli": (0.0, 0.5, 1.0), "continuous-bernoulli": (0.0, 0.5, 1.0), "beta": (0.01, 0.5, 0.99),
        "zoib": (0.0, 0.5, 1.0), "sigmoid-mse": (0.0, 0.5, 1.0), "binned": (0.0, 0.5, 1.0),
        "gaussian": (-3.0, 0.0, 3.0), "gaussian-hetero": (-3.0, 0.0, 3.0), "laplace": (-3.0, 0.0, 3.0),
        "laplace-hetero": (-3.0, 0.0, 3.0), "student-t": (-3.0, 0.0, 3.0), "exponential": (0.0, 1.0, 5.0),
    }
    seen: set[str] = set()
    for c in list(out):
        law = c["law"]
        if law in seen or law == "mvn":
            continue
        seen.add(law)
        k = c["raw"].shape[1]
        rows = []
        for v in EXTREMES:
            rows.append(np.full(k, v))  # every raw output at the extreme
            rows.append(np.where(np.arange(k) % 2 == 0, v, -v))  # alternating signs
        raw = np.repeat(np.stack(rows), 3, axis=0)
        labels = np.tile(edge_labels[law], len(rows))
        add(f"{law}-extreme", law, c["options"] if law == "binned" else {}, raw, labels, group="extreme")
    # mvn: float32 keeps the loss finite at +-1e4 for dim <= 2 only (see the law's docstring)
    rows = [np.full(5, v) for v in EXTREMES] + [np.array([v, -v, v, -v, v]) for v in EXTREMES]
    raw = np.repeat(np.stack(rows), 2, axis=0)
    add("mvn-extreme", "mvn", {}, raw, np.tile([[0.0, 0.0], [3.0, -3.0]], (len(rows), 1)), group="extreme")
    return out


def _reference(law, raw: np.ndarray, y: np.ndarray, dtype: torch.dtype) -> dict[str, np.ndarray]:
    raw_t = torch.tensor(raw, dtype=dtype, requires_grad=True)
    y_t = torch.tensor(y, dtype=dtype)
    loss = law.loss(raw_t, y_t)
    (grad,) = torch.autograd.grad(loss, raw_t)
    with torch.no_grad():
        out = {
            "loss": loss.detach().numpy(),
            "grad": grad.numpy(),
            "objective": law.loss(raw_t, y_t, reduction="none").numpy(),
            "nll": law.nll(law.link(raw_t), y_t).numpy(),
        }
    return out


def build() -> tuple[dict[str, np.ndarray], list[dict]]:
    """The arrays and the metadata of ``vectors.npz`` (deterministic)."""
    rng = np.random.RandomState(20240917)
    arrays: dict[str, np.ndarray] = {}
    meta: list[dict] = []
    for c in _cases(rng):
        name, law = c["case"], ll.get_law(c["law"], **c["options"])
        raw, y = c["raw"], c["y"]
        assert raw.shape[-1] == law.raw_dim, name
        ref = _reference(law, raw.astype(np.float64), y.astype(np.float64), torch.float64)
        ref32 = _reference(law, raw, y, torch.float32)
        arrays[f"{name}/raw"], arrays[f"{name}/y"] = raw, y
        arrays.update({f"{name}/{k}": v for k, v in ref.items()})
        arrays.update({f"{name}/{k}32": ref32[k] for k in ("loss", "grad", "objective", "nll")})
        with torch.no_grad():
            raw64, y64 = torch.tensor(raw, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
            params = law.link(raw64)
            if c["group"] == "moderate":
                for key, v in params.items():
                    arrays[f"{name}/param/{key}"] = v.numpy()
                for kind in law.point_kinds:
                    if kind == "median" and type(law)._median is ll.laws.Law._median:
                        continue  # the quantile at 1/2 (scipy): no Keras kernel, see LawLoss.point_kinds
                    arrays[f"{name}/point/{kind}"] = law.point(params, kind).numpy()
            if c["law"] == "binned":
                arrays[f"{name}/targets"] = law.to_probs(y64).numpy()
            if c["law"] == "bernoulli":
                arrays[f"{name}/excess"] = law.excess(params, y64).numpy()
        meta.append({"case": name, "law": c["law"], "options": c["options"], "group": c["group"]})
    for key, v in arrays.items():
        if not np.all(np.isfinite(v)):
            raise RuntimeError(f"{key}: the PyTorch reference is not finite")
    return arrays, meta


def main() -> None:
    arrays, meta = build()
    np.savez_compressed(PATH, __meta__=np.array(json.dumps(meta)), **arrays)
    print(f"wrote {PATH} ({len(meta)} cases, {PATH.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()

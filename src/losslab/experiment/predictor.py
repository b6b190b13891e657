"""The model you keep: a trained run (or a law's seeds as an ensemble) as a predictor you can save and load.

A comparison stores, with each finished run, its best-epoch weights and what a predictor needs
to rebuild the model and map new inputs exactly as training did (the run's ``config["predictor"]``
and the arrays ``state/<name>``, ``x_mean``, ``x_std``; see :func:`run_spec` and :func:`run_arrays`).
:meth:`ComparisonResult.best_model <losslab.experiment.ComparisonResult.best_model>`,
``model(law, seed)`` and ``ensemble_model(law)`` turn them into a :class:`Predictor`:

* ``predict(X)`` — point predictions (numpy);
* ``predict_dist(X)`` — the predictive ``torch.distributions.Distribution`` of each row
  (an :class:`EqualMixture` of the members' for an ensemble);
* ``predict_interval(X, level=0.9)`` and ``quantile(X, q)`` — central intervals and quantiles;
* ``save(path)`` and :func:`load_model`.

Inputs are numpy arrays, tensors or (tables) DataFrames with the training feature names; the
predictor applies the training standardisation (the training rows' mean and standard deviation
of each table feature) itself.

The model file (``.losslab``) is a zip archive, stored without compression, of two kinds of member:

* ``config.json`` — ``format_version``, the losslab version that wrote it, the model's name (or
  the name of a custom factory), the input shape, the number of targets, the law (name, options
  with the data-filled ones such as a binned law's range, label), the data's kind and its
  feature and target names, and one entry per member: seed, run key, its weights' member name
  and its standardisation (``{"mean": [...], "std": [...]}`` or null);
* ``state_dict-<i>.pt`` — ``torch.save`` of member ``i``'s plain state dict (tensors only),
  read back with ``torch.load(..., weights_only=True)``, so loading a model file runs no code.

``unzip -p model.losslab config.json`` shows the configuration.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.distributions import Distribution, constraints

from .._errors import LosslabError, close_matches, first_rows
from .._version import __version__
from ..laws import Law, get_law

__all__ = ["EqualMixture", "FORMAT_VERSION", "Predictor", "load_model", "predict_frame", "read_inputs"]

#: the version of the model file format this losslab writes and reads (a newer one is refused)
FORMAT_VERSION = 1
#: the prefix of a run's weights among its stored arrays
STATE_PREFIX = "state/"
#: the model file's suffix, as ``losslab compare --keep`` names them
SUFFIX = ".losslab"
#: rows per forward pass: bounds the memory of a prediction on many rows
CHUNK = 8192


# ---------------------------------------------------------------------------- what a run records
def run_spec(plan: Any, law: Law, label: str) -> dict[str, Any]:
    """What a predictor needs to rebuild a run's model, besides its weights: the run's ``config["predictor"]``.

    Args:
        plan: the comparison's :class:`~losslab.experiment.plan.RunPlan`.
        law: the run's law, built for the data (a binned law's range filled in).
        label: the law's label in the comparison.
    """
    from ..laws.spec import n_targets
    from ..models import _factory_name
    from .plan import jsonable

    ds = plan.data
    named = isinstance(plan.model, str)
    return {
        "model": plan.model if named else None,
        "factory": None if named else _factory_name(plan.model),
        "input_shape": [int(d) for d in plan.input_shape],
        "n_targets": n_targets(law, ds.y),
        "law": {"name": law.name, "options": jsonable(law.options()), "label": label},
        "data": {
            "name": str(ds.name),
            "kind": ds.kind,
            "feature_names": jsonable(list(ds.feature_names)) if ds.feature_names else None,
            "target_names": jsonable(list(ds.target_names)) if ds.target_names else None,
        },
    }


def run_arrays(model: torch.nn.Module, scaling: tuple[np.ndarray, np.ndarray] | None) -> dict[str, np.ndarray]:
    """A trained run's weights as named arrays (``state/<name>``), and its feature standardisation (``x_mean``, ``x_std``)."""
    out = {STATE_PREFIX + k: _to_numpy(v) for k, v in model.state_dict().items()}
    if scaling is not None:
        out["x_mean"], out["x_std"] = (np.asarray(a) for a in scaling)
    return out


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds every bfloat16 exactly
        t = t.float()
    return t.numpy().copy()


# ---------------------------------------------------------------------------- the ensemble's law
class EqualMixture(Distribution):
    r"""The equal-weight mixture of ``K`` distributions of one batch and event shape: a deep ensemble's predictive.

    .. math::
        p(y) = \frac1K \sum_{k=1}^K p_k(y), \qquad
        \log p(y) = \operatorname{logsumexp}_k \log p_k(y) - \log K, \qquad
        F(y) = \frac1K \sum_k F_k(y)

    ``mean`` is the members' average, ``variance`` the law of total variance (mean of the
    variances plus the variance of the means), ``icdf(q)`` the smallest ``y`` with
    :math:`F(y) \ge q`, by vectorised bisection on :math:`F` inside the bracket of the members'
    own ``q``-quantiles (at their smallest every :math:`F_k \le q`, at their largest every
    :math:`F_k \ge q`), and ``sample`` draws a member uniformly per element, then from it.
    No ``rsample``: the member choice is discrete.

    Args:
        components: the ``K`` distributions, each of batch shape ``(...)`` and one event shape.

    >>> from torch.distributions import Normal
    >>> m = EqualMixture([Normal(torch.tensor([-1.0]), torch.tensor([1.0])), Normal(torch.tensor([1.0]), torch.tensor([1.0]))])
    >>> m.mean.tolist(), m.variance.tolist(), m.cdf(torch.tensor([0.0])).tolist()
    ([0.0], [2.0], [0.5])
    >>> round(float(m.log_prob(torch.tensor([0.0]))), 6)  # log N(0; 1, 1), as both members give it
    -1.418939
    """

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, components: Sequence[Distribution], validate_args: bool | None = None) -> None:
        comps = list(components)
        if not comps:
            raise LosslabError("EqualMixture: components is empty; expected at least one distribution")
        for i, c in enumerate(comps):
            if not isinstance(c, Distribution):
                raise LosslabError(f"EqualMixture: components[{i}] is a {type(c).__name__}; expected a torch Distribution")
            if (c.batch_shape, c.event_shape) != (comps[0].batch_shape, comps[0].event_shape):
                raise LosslabError(
                    f"EqualMixture: components[{i}] has batch shape {tuple(c.batch_shape)} and event shape {tuple(c.event_shape)}; "
                    f"components[0] has {tuple(comps[0].batch_shape)} and {tuple(comps[0].event_shape)}; expected equal shapes"
                )
        self.components = comps
        super().__init__(comps[0].batch_shape, comps[0].event_shape, validate_args=False)

    @property
    def support(self) -> constraints.Constraint:
        return self.components[0].support

    @property
    def mean(self) -> torch.Tensor:
        return torch.stack([c.mean for c in self.components]).mean(0)

    @property
    def variance(self) -> torch.Tensor:
        means = torch.stack([c.mean for c in self.components])
        spread = (means - means.mean(0)).pow(2).mean(0)
        return torch.stack([c.variance for c in self.components]).mean(0) + spread

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        # logsumexp, not log(mean(exp)): a member's log density of -800 underflows exp in float64
        lp = torch.stack([c.log_prob(value) for c in self.components])
        return torch.logsumexp(lp, dim=0) - math.log(len(self.components))

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        from ..distributions import distribution_cdf

        return torch.stack([distribution_cdf(c, value) for c in self.components]).mean(0).clamp(0.0, 1.0)

    def icdf(self, value: Any) -> torch.Tensor:
        """The smallest ``y`` with ``cdf(y) >= q``; ``q`` broadcasts to the batch shape. No gradient."""
        from ..distributions import distribution_icdf

        q = self._levels(value)
        return self.quantile_within(q, [distribution_icdf(c, q) for c in self.components])

    def quantile_within(self, q: torch.Tensor, member_quantiles: Sequence[torch.Tensor]) -> torch.Tensor:
        """The mixture's ``q``-quantile, given each member's ``q``-quantile (its bracket); ``q`` has the batch shape."""
        from ..distributions import bisect_icdf

        if self.event_shape != ():
            raise NotImplementedError("EqualMixture: the quantile of a mixture of vector laws is undefined")
        with torch.no_grad():
            per = torch.stack([torch.as_tensor(m, dtype=q.dtype, device=q.device).expand(q.shape) for m in member_quantiles])
            lo, hi = per.amin(0), per.amax(0)
            edge = (q <= 0) | (q >= 1)
            # q = 0 and 1 are the members' extreme ends (maybe infinite): a zero-width bracket skips the bisection there
            inner = torch.where(edge, torch.full_like(q, 0.5), q)
            finite = torch.where(torch.isfinite(lo), lo, torch.where(torch.isfinite(hi), hi, torch.zeros_like(lo)))
            a, b = torch.where(edge, finite, lo), torch.where(edge, finite, hi)
            # An atom at the bracket's lower end (zoib's 0, a count law's k/n) already holds q: it is the answer.
            x = torch.where(self.cdf(a) >= inner, a, bisect_icdf(self.cdf, inner, a, b))
            return torch.where(q <= 0, lo, torch.where(q >= 1, hi, x))

    def _levels(self, value: Any) -> torch.Tensor:
        ref = self.mean
        q = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
        try:
            fits = torch.broadcast_shapes(q.shape, self.batch_shape) == self.batch_shape
        except RuntimeError:
            fits = False
        if not fits:
            raise LosslabError(f"EqualMixture.icdf: q has shape {tuple(q.shape)}; expected a shape that broadcasts to the batch shape {tuple(self.batch_shape)}")
        return q.expand(self.batch_shape)

    def sample(self, sample_shape: torch.Size | Sequence[int] = torch.Size()) -> torch.Tensor:
        sample_shape = torch.Size(sample_shape)
        with torch.no_grad():
            draws = torch.stack([c.sample(sample_shape) for c in self.components])  # (K, *sample, *batch, *event)
            rows = draws.shape[1 : draws.dim() - len(self.event_shape)]
            pick = torch.randint(len(self.components), rows, device=draws.device)
            pick = pick.reshape(1, *rows, *([1] * len(self.event_shape))).expand(1, *draws.shape[1:])
            return draws.gather(0, pick).squeeze(0)

    def __repr__(self) -> str:
        kinds = sorted({type(c).__name__ for c in self.components})
        return f"EqualMixture({len(self.components)} x {'/'.join(kinds)}, batch_shape={tuple(self.batch_shape)})"


# ---------------------------------------------------------------------------- the predictor
@dataclass
class _Member:
    seed: int | None
    run: str | None
    model: torch.nn.Module
    mean: np.ndarray | None  # the training rows' mean of each table feature (None: no standardisation)
    std: np.ndarray | None


class Predictor:
    """A trained model (or an ensemble of a law's seeds) that predicts from new inputs as the comparison trained it.

    Built by :meth:`ComparisonResult.best_model <losslab.experiment.ComparisonResult.best_model>`,
    ``model(law, seed)``, ``ensemble_model(law)`` and :func:`load_model`; not by hand.

    Attributes:
        law: the :class:`~losslab.laws.Law` the model was trained under.
        label: the law's label in the comparison (``"binned(kind=twohot)"``).
        seeds: the seeds of the members (one for a single model).
        ensemble: whether predictions are the equal mixture of the members' predictive laws.
        input_shape: one input's shape: ``(F,)`` for a table, ``(C, H, W)`` for images.
        feature_names, target_names: the data's names (None where the data had none).
    """

    def __init__(self, spec: Mapping[str, Any], members: list[_Member], *, ensemble: bool, device: torch.device) -> None:
        self.spec = dict(spec)
        self.members = members
        self.ensemble = bool(ensemble)
        self.device = device
        law = spec["law"]
        self.law: Law = _law(law["name"], law["options"])
        self.label: str = law.get("label") or law["name"]
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in spec["input_shape"])
        data = spec.get("data") or {}
        self.data_kind: str = data.get("kind") or ("image" if len(self.input_shape) == 3 else "table")
        self.feature_names: list[str] | None = data.get("feature_names") or None
        self.target_names: list[str] | None = data.get("target_names") or None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_runs(cls, runs: Sequence[dict], *, ensemble: bool, model: Callable | None = None, device: str | torch.device = "cpu") -> "Predictor":
        """A predictor from stored runs (records as :meth:`Store.get_run` returns them) of one law."""
        if not runs:
            raise LosslabError("no run to build a predictor from")
        dev = _device(device)
        spec = None
        members = []
        for r in runs:
            where = f"run {r.get('key', '?')!r} (law {r.get('law')!r}, seed {r.get('seed')!r})"
            if r.get("status") != "ok":
                raise LosslabError(f"{where} diverged and kept no weights; choose another seed or law")
            own = (r.get("config") or {}).get("predictor")
            arrays = r.get("arrays") or {}
            state = {k[len(STATE_PREFIX):]: v for k, v in arrays.items() if k.startswith(STATE_PREFIX)}
            if own is None or not state:
                raise LosslabError(
                    f"{where} was stored without its weights (recorded by an older losslab, or read without its arrays); "
                    "run the comparison again with a new --store file to keep them"
                )
            if spec is None:
                spec = own
            elif _structure(own) != _structure(spec):
                raise LosslabError(f"{where} has another model, input shape or law than the first run; an ensemble needs runs of one law and model")
            net = _build(spec, r.get("seed", 0), model, where)
            _load_state(net, {k: torch.from_numpy(np.array(v)) for k, v in state.items()}, where)
            mean, std = arrays.get("x_mean"), arrays.get("x_std")
            members.append(_Member(r.get("seed"), r.get("key"), net.to(dev).eval(), mean, std))
        return cls(spec, members, ensemble=ensemble, device=dev)

    # ------------------------------------------------------------------ inputs
    def features(self, X: Any) -> np.ndarray:
        """``X`` as float32 inputs ``(n, *input_shape)``, before standardisation; a one-line error naming what does not fit."""
        if _is_frame(X):
            if self.data_kind != "table":
                raise LosslabError(f"X is a DataFrame; this model takes images of shape {self.input_shape} per row: pass an array (n, C, H, W)")
            return self._from_frame(X)
        if torch.is_tensor(X):
            X = X.detach().cpu().numpy()
        try:
            A = np.asarray(X)
        except (TypeError, ValueError) as e:
            raise LosslabError(f"X cannot be read as an array ({e}); expected numbers of shape (n, {', '.join(map(str, self.input_shape))})") from None
        if A.dtype.kind not in "biuf":
            raise LosslabError(f"X has dtype {A.dtype}; expected numbers")
        if self.data_kind == "image":
            from ..data.dataset import _images_to_nchw

            A = _images_to_nchw("X", A)
            if A.shape[1] == 1 and self.input_shape[0] == 3:
                A = np.repeat(A, 3, axis=1)  # grayscale in an RGB model: what the image-folder reader does to such files
        else:
            if A.ndim == 1 and A.shape[0] == self.input_shape[0]:
                raise LosslabError(f"X has shape {A.shape}, one row without its batch axis; pass X.reshape(1, -1) for a single row")
            A = A.astype(np.float32)
        if A.ndim != 1 + len(self.input_shape) or tuple(A.shape[1:]) != self.input_shape:
            what = f"({len(self.feature_names)} features: {_listing(self.feature_names)})" if self.feature_names else ""
            raise LosslabError(
                f"X has shape {A.shape}; the model takes (n, {', '.join(map(str, self.input_shape))}) {what}".rstrip()
                + ("; columns are the training features, in their order" if self.data_kind == "table" else "")
            )
        if A.shape[0] == 0:
            raise LosslabError("X has no rows; expected at least one")
        bad = ~np.isfinite(A.reshape(A.shape[0], -1)).all(axis=1)
        if bad.any():
            raise LosslabError(f"X has {int(bad.sum())} row(s) with NaN or infinite values, first at row(s) {first_rows(bad)}; expected finite numbers")
        return A

    def _from_frame(self, df: Any) -> np.ndarray:
        """A DataFrame's training features, by name: numeric columns as they are, categorical ones one-hot as the readers encode them."""
        from ..data.readers import _numeric_column

        cols = [str(c) for c in df.columns]
        frame = df.copy()
        frame.columns = cols
        names = self.feature_names
        if names is None:
            if len(cols) != self.input_shape[0]:
                raise LosslabError(f"X has {len(cols)} columns; the model takes {self.input_shape[0]} features (unnamed at training: pass them in training order)")
            return np.stack([_numeric_column("X", frame, c, "feature") for c in cols], axis=1).astype(np.float32)
        out, missing, known = [], [], {}
        for name in names:
            if name in frame.columns:
                out.append(_numeric_column("X", frame, name, "feature"))
                continue
            # pandas.get_dummies names the indicator of value v in column c "c_v" (the CSV reader's one-hot encoding)
            parent = next((c for c in cols if name.startswith(c + "_") and c not in names and _is_text(frame[c])), None)
            if parent is None:
                missing.append(name)
                continue
            known.setdefault(parent, []).append(name[len(parent) + 1:])
            out.append((frame[parent].astype(str) == name[len(parent) + 1:]).to_numpy(dtype=np.float64))
        if missing:
            raise LosslabError(
                f"X lacks feature column {missing[0]!r}{close_matches(missing[0], cols)}"
                + (f" and {len(missing) - 1} other(s)" if len(missing) > 1 else "")
                + f"; the model was trained on columns {_listing(names)} (X has {_listing(cols)})"
            )
        for parent, values in known.items():
            col = frame[parent]
            if col.isna().any():
                raise LosslabError(f"X column {parent!r} has missing categories at row(s) {first_rows(col.isna().to_numpy())}; expected a category in every row")
            unseen = ~col.astype(str).isin(values)
            if unseen.any():
                raise LosslabError(
                    f"X column {parent!r} holds category {col[unseen].iloc[0]!r} at row(s) {first_rows(unseen.to_numpy())}, unseen in training; "
                    f"known categories: {_listing(values)}"
                )
        if not len(frame):
            raise LosslabError("X has no rows; expected at least one")
        return np.stack(out, axis=1).astype(np.float32)

    # ------------------------------------------------------------------ parameters
    @torch.no_grad()
    def params(self, X: Any) -> list[dict[str, torch.Tensor]]:
        """Each member's law parameters for inputs ``X``: ``[law.link(model(x))]``, batch shape ``(n,)`` or ``(n, T)``."""
        from ..models import channels_last

        A = self.features(X)
        out = []
        for m in self.members:
            Z = A if m.mean is None else ((A - m.mean) / m.std).astype(np.float32, copy=False)
            raws = []
            for i in range(0, len(Z), CHUNK):
                x = torch.as_tensor(Z[i : i + CHUNK], device=self.device)
                raws.append(m.model(channels_last(x) if x.dim() == 4 else x))
            out.append(self.law.link(torch.cat(raws)))
        return out

    def _trials(self, trials: Any, params: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """``trials`` as a tensor of the batch shape (a number, one per row, or one per label); None for laws without."""
        if not self.law.needs_trials:
            if trials is not None:
                raise LosslabError(f"trials={trials!r}; law {self.law.name!r} takes no trials (they are for k/n labels: binomial, beta-binomial)")
            return None
        ref = next(iter(params.values()))
        batch = ref.shape
        if trials is None:
            raise LosslabError(f"law {self.law.name!r} predicts k/n labels and needs trials= (the number of trials n: a number, or one per row)")
        try:
            t = torch.as_tensor(np.asarray(trials, dtype=np.float64), dtype=ref.dtype, device=ref.device)
        except (TypeError, ValueError):
            raise LosslabError(f"trials={trials!r} are not numbers; expected counts n >= 1") from None
        if t.ndim == 1 and len(batch) == 2 and t.shape[0] == batch[0]:
            t = t[:, None]
        try:
            t = t.expand(batch)
        except RuntimeError:
            raise LosslabError(f"trials has shape {tuple(t.shape)}; expected a number, one per row ({batch[0]},) or one per label {tuple(batch)}") from None
        bad = ~torch.isfinite(t) | (t < 1) | (t != t.round())
        if bool(bad.any()):
            raise LosslabError(f"trials has {int(bad.sum())} value(s) that are not whole counts >= 1, first at row(s) {first_rows(bad)}")
        return t

    def _dists(self, X: Any, trials: Any) -> tuple[list[dict[str, torch.Tensor]], list[Distribution], torch.Tensor | None]:
        params = self.params(X)
        t = self._trials(trials, params[0])
        dists = [self.law.predictive(p, trials=t) if self.law.needs_trials else self.law.predictive(p) for p in params]
        return params, dists, t

    # ------------------------------------------------------------------ predictions
    @torch.no_grad()
    def predict(self, X: Any, kind: str | None = None) -> np.ndarray:
        """Point predictions, ``(n,)``, ``(n, T)`` for T targets or ``(n, d)`` for a vector law.

        Args:
            X: inputs: ``(n, F)`` (an array, a tensor or a DataFrame with the training feature
                names) or images ``(n, C, H, W)``.
            kind: ``"mean"``, ``"median"``, ``"mode"`` (a single model: any of ``law.point_kinds``;
                an ensemble: ``"mean"``, the average of its members' means, or ``"median"``, the
                mixture's); default: the point the comparison scored, the mean (the median for
                a law without one).
        """
        from ..metrics import point_kind

        kind = point_kind(self.law) if kind is None else kind
        if not self.ensemble:
            return self.law.point(self.params(X)[0], kind).double().cpu().numpy()
        if kind == "mean":
            return torch.stack([self.law.point(p, "mean") for p in self.params(X)]).mean(0).double().cpu().numpy()
        if kind == "median":
            return self.quantile(X, 0.5)
        raise LosslabError(f"kind={kind!r}; an ensemble predicts its 'mean' (the average of its members' means) or its 'median'")

    @torch.no_grad()
    def predict_dist(self, X: Any, trials: Any = None) -> Distribution:
        """The predictive law of each row: the law's ``Distribution`` of batch shape ``(n,)`` or ``(n, T)``;
        for an ensemble, the :class:`EqualMixture` of its members'.

        ``trials`` (a number, one per row, or one per label) is needed by the laws of k/n labels.
        """
        _, dists, _ = self._dists(X, trials)
        return EqualMixture(dists) if self.ensemble else dists[0]

    @torch.no_grad()
    def quantile(self, X: Any, q: float | Sequence[float], trials: Any = None) -> np.ndarray:
        r"""The ``q``-quantile of each row's predictive law: :math:`F^{-1}(q) = \inf\{y : F(y) \ge q\}`.

        Args:
            X: inputs, as in :meth:`predict`.
            q: a probability in [0, 1], or a list of them.
            trials: for the laws of k/n labels.

        Returns:
            the predictions' shape for one ``q``; with a list, one more axis at the end, one entry per level.
        """
        try:
            levels = [q] if np.ndim(q) == 0 else list(np.asarray(q, dtype=np.float64).ravel())
        except (TypeError, ValueError):
            levels = [q]
        for v in levels:
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not 0 <= float(v) <= 1:
                raise LosslabError(f"q={q!r}; expected a probability in [0, 1] or a list of them, e.g. [0.1, 0.5, 0.9]")
        params, dists, t = self._dists(X, trials)
        out = [self._quantile(params, dists, t, float(v)) for v in levels]
        return out[0] if np.ndim(q) == 0 else np.stack(out, axis=-1)

    @torch.no_grad()
    def predict_interval(self, X: Any, level: float = 0.9, trials: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """The central ``level`` prediction interval ``(low, high)`` of each row, each of the predictions' shape.

        The quantiles at :math:`(1 - l)/2` and :math:`(1 + l)/2` of the predictive law (of the
        mixture, for an ensemble).
        """
        if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0 < float(level) < 1:
            raise LosslabError(f"level={level!r}; expected a number in (0, 1), e.g. 0.9 for the central 90% interval")
        params, dists, t = self._dists(X, trials)
        level = float(level)
        if not self.ensemble and hasattr(self.law, "interval"):
            low, high = self.law.interval(params[0], level, trials=t)
            return low.double().cpu().numpy(), high.double().cpu().numpy()
        return self._quantile(params, dists, t, (1 - level) / 2), self._quantile(params, dists, t, (1 + level) / 2)

    def _quantile(self, params: list[dict[str, torch.Tensor]], dists: list[Distribution], trials: torch.Tensor | None, q: float) -> np.ndarray:
        ref = next(iter(params[0].values()))
        member_q = [self._law_quantile(p, d, q, trials) for p, d in zip(params, dists)]
        if not self.ensemble:
            return member_q[0].double().cpu().numpy()
        mix = EqualMixture(dists)
        if mix.event_shape != ():
            raise LosslabError(f"law {self.law.name!r} is a vector law: an ensemble of it has no quantiles (a mixture's marginals are not its members' marginals)")
        levels = torch.full(mix.batch_shape, q, dtype=ref.dtype, device=ref.device)
        return mix.quantile_within(levels, member_q).double().cpu().numpy()

    def _law_quantile(self, params: dict[str, torch.Tensor], dist: Distribution, q: float, trials: torch.Tensor | None) -> torch.Tensor:
        if hasattr(self.law, "quantile"):  # the law's own: its atoms, its trials and its one-line reasons (bernoulli has none)
            return self.law.quantile(params, q, trials=trials)
        from ..distributions import distribution_icdf

        ref = next(iter(params.values()))
        try:
            return distribution_icdf(dist, torch.full(dist.batch_shape, q, dtype=ref.dtype, device=ref.device))
        except NotImplementedError:
            raise LosslabError(f"law {self.law.name!r}: its predictive law has no quantile function, so no quantiles or intervals") from None

    # ------------------------------------------------------------------ files
    @property
    def config(self) -> dict[str, Any]:
        """The model file's ``config.json``: everything but the weights."""
        members = []
        for i, m in enumerate(self.members):
            scaling = None if m.mean is None else {"mean": [float(v) for v in np.asarray(m.mean).ravel()], "std": [float(v) for v in np.asarray(m.std).ravel()]}
            members.append({"seed": m.seed, "run": m.run, "state": f"state_dict-{i}.pt", "standardize": scaling})
        return {
            "format_version": FORMAT_VERSION,
            "losslab_version": __version__,
            "kind": "ensemble" if self.ensemble else "model",
            **{k: v for k, v in self.spec.items() if k in ("model", "factory", "input_shape", "n_targets", "law", "data")},
            "members": members,
        }

    def save(self, path: str | Path) -> Path:
        """Write the model file: a zip of ``config.json`` and each member's ``state_dict-<i>.pt`` (see the module docstring).

        Returns the path written. :func:`load_model` reads it back.
        """
        p = Path(path).expanduser()
        if not p.parent.is_dir():
            raise LosslabError(f"save: folder {str(p.parent)!r} does not exist; create it first")
        if p.is_dir():
            raise LosslabError(f"save: {str(p)!r} is a folder; expected a file name such as model{SUFFIX}")
        try:
            with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_STORED) as zf:
                zf.writestr("config.json", json.dumps(self.config, indent=1))
                for i, m in enumerate(self.members):
                    buf = io.BytesIO()
                    torch.save({k: v.detach().cpu().clone() for k, v in m.model.state_dict().items()}, buf)
                    zf.writestr(f"state_dict-{i}.pt", buf.getvalue())
        except OSError as e:
            raise LosslabError(f"save: cannot write {str(p)!r} ({e.strerror or e})") from None
        return p

    @property
    def seeds(self) -> list[int | None]:
        return [m.seed for m in self.members]

    def __repr__(self) -> str:
        what = "ensemble" if self.ensemble else "model"
        model = self.spec.get("model") or f"factory {self.spec.get('factory')!r}"
        return f"Predictor({what} of law {self.label!r}, {model}, seeds {self.seeds}, input {self.input_shape})"


def load_model(path: str | Path, *, model: Callable | None = None, device: str | torch.device = "cpu") -> Predictor:
    """A :class:`Predictor` from a model file written by :meth:`Predictor.save` (or ``losslab compare --keep``).

    The weights are read with ``torch.load(..., weights_only=True)``: tensors only, no code.

    Args:
        path: the ``.losslab`` file.
        model: the factory ``f(input_shape) -> nn.Module`` of a model trained with a custom
            factory (the file names it, but cannot hold code); leave it out for a named model.
        device: where to predict (``"cpu"``, ``"cuda"``, ...).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise LosslabError(f"model file {str(p)!r} does not exist" + (" (it is a folder)" if p.is_dir() else ""))
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as e:
        raise LosslabError(f"model file {str(p)!r} is not a losslab model ({type(e).__name__}: {e}); expected a file written by Predictor.save or losslab compare --keep") from None
    with zf:
        try:
            config = json.loads(zf.read("config.json"))
        except KeyError:
            raise LosslabError(f"model file {str(p)!r} is a zip archive without config.json; expected a file written by Predictor.save") from None
        except (ValueError, zipfile.BadZipFile, OSError) as e:
            raise LosslabError(f"model file {str(p)!r}: its config.json cannot be read ({e})") from None
        if not isinstance(config, dict):
            raise LosslabError(f"model file {str(p)!r}: its config.json is not a JSON object")
        version = config.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise LosslabError(f"model file {str(p)!r}: its config.json has format_version {version!r}; expected a whole number")
        if version > FORMAT_VERSION:
            raise LosslabError(
                f"model file {str(p)!r} has format version {version} (written by losslab {config.get('losslab_version', '?')}); this losslab "
                f"{__version__} reads format version {FORMAT_VERSION} and older: upgrade losslab (pip install -U losslab)"
            )
        spec = _check_config(config, p)
        dev = _device(device)
        members = []
        for i, entry in enumerate(config["members"]):
            where = f"model file {str(p)!r}, member {i}"
            try:
                raw = zf.read(entry["state"])
            except (KeyError, TypeError):
                raise LosslabError(f"{where}: its weights ({entry.get('state')!r}) are missing from the archive") from None
            try:
                state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001 - torch's unpickler raises many types; one line naming the file
                raise LosslabError(f"{where}: its weights cannot be read with weights_only=True ({type(e).__name__}: {_first(e)})") from None
            if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
                raise LosslabError(f"{where}: its weights are not a state dict of named tensors")
            net = _build(spec, entry.get("seed") or 0, model, str(p))
            _load_state(net, state, where)
            scaling = entry.get("standardize")
            mean = std = None
            if scaling is not None:
                mean, std = (np.asarray(scaling[k], dtype=np.float32) for k in ("mean", "std"))
            members.append(_Member(entry.get("seed"), entry.get("run"), net.to(dev).eval(), mean, std))
    return Predictor(spec, members, ensemble=config.get("kind") == "ensemble", device=dev)


def _check_config(config: dict, p: Path) -> dict:
    """The parts of a model file's config a predictor reads, checked; one line naming what is missing."""
    need = {"input_shape": list, "n_targets": int, "law": dict, "members": list}
    for key, kind in need.items():
        if not isinstance(config.get(key), kind) or (key == "members" and not config[key]):
            raise LosslabError(f"model file {str(p)!r}: its config.json lacks a valid {key!r}; expected a file written by Predictor.save")
    if not isinstance(config["law"].get("name"), str) or not isinstance(config["law"].get("options", {}), dict):
        raise LosslabError(f"model file {str(p)!r}: its config.json names no law")
    for i, m in enumerate(config["members"]):
        if not isinstance(m, dict) or not isinstance(m.get("state"), str):
            raise LosslabError(f"model file {str(p)!r}: member {i} of its config.json names no weights")
    return config


# ---------------------------------------------------------------------------- helpers
def _law(name: str, options: Mapping[str, Any]) -> Law:
    return get_law(name, **dict(options))


def _structure(spec: Mapping[str, Any]) -> tuple:
    law = spec.get("law") or {}
    return (spec.get("model"), spec.get("factory"), tuple(spec.get("input_shape") or ()), spec.get("n_targets"), law.get("name"),
            json.dumps(law.get("options"), sort_keys=True))


def _build(spec: Mapping[str, Any], seed: int, model: Callable | None, where: str) -> torch.nn.Module:
    """The untrained model of ``spec`` (its weights are loaded next): a named model, or the given factory's."""
    from ..models import build_model

    name, factory = spec.get("model"), spec.get("factory")
    if name is None:
        if model is None:
            raise LosslabError(
                f"{where}: the model was trained with a custom model factory {factory!r}, which a model file cannot hold; "
                f"pass it in Python, model={factory or 'factory'} (a function input_shape -> nn.Module), e.g. "
                f"ll.load_model(path, model={factory or 'factory'}); the losslab command cannot rebuild such a model"
            )
        if not callable(model):
            raise LosslabError(f"model={model!r}; expected the factory {factory!r} (a function input_shape -> nn.Module)")
        trunk: Any = model
    else:
        if model is not None:
            raise LosslabError(f"{where}: the model is losslab's {name!r}; model= is only for models trained with a custom factory, so leave it out")
        trunk = name
    law = spec["law"]
    return build_model(trunk, spec["input_shape"], _law(law["name"], law.get("options") or {}), n_targets=int(spec["n_targets"]), seed=int(seed or 0))


def _load_state(net: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    ours = net.state_dict()
    missing = [k for k in ours if k not in state]
    extra = [k for k in state if k not in ours]
    wrong = [k for k in ours if k in state and tuple(state[k].shape) != tuple(ours[k].shape)]
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"lacks {_listing(missing)}")
        if extra:
            parts.append(f"has unknown {_listing(extra)}")
        if wrong:
            k = wrong[0]
            parts.append(f"has {k!r} of shape {tuple(state[k].shape)}, the model's is {tuple(ours[k].shape)}")
        raise LosslabError(f"{where}: its weights do not fit the model: the state dict {'; '.join(parts)} (another model or factory?)")
    net.load_state_dict(state)


def _device(device: str | torch.device) -> torch.device:
    from .trainer import resolve_device

    return resolve_device(device)


def _is_frame(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "iloc")


def _is_text(col: Any) -> bool:
    import pandas as pd

    return not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))


def _listing(names: Sequence[Any], k: int = 6) -> str:
    names = [str(n) for n in names]
    return "[" + ", ".join(repr(n) for n in names[:k]) + (f", ... ({len(names)} in all)" if len(names) > k else "") + "]"


def _first(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def file_name(label: str, seed: int | None = None) -> str:
    """A model file's name for a law's label and a seed (``None``: the law's ensemble), safe on every file system.

    >>> file_name("binned(kind=twohot, n_bins=21)", 3), file_name("beta")
    ('binned-kind-twohot-n_bins-21-seed3.losslab', 'beta-ensemble.losslab')
    """
    slug = re.sub(r"[^A-Za-z0-9_.]+", "-", label).strip("-.") or "law"
    return f"{slug}-{'ensemble' if seed is None else f'seed{seed}'}{SUFFIX}"


# ---------------------------------------------------------------------------- reading new data, writing predictions
@dataclass
class Inputs:
    """New rows to predict: ``X`` (a DataFrame of a table's columns, or an array), their ids and their trials."""

    X: Any
    ids: Any = None  # a pandas Series named after its column, kept as the first column of the predictions
    trials: Any = None


def read_inputs(source: Any, predictor: Predictor, *, trials: Any = None, id_column: str | None = None, x: str = "X") -> Inputs:
    """The rows of a CSV/TSV/Parquet table, an ``.npz`` archive, an image folder or a registry data set, as ``predictor`` takes them.

    The same files ``losslab compare`` reads; the target column may be absent (and is ignored when
    present). A table keeps its columns (the predictor picks the training features by name);
    ``id_column`` (default: the table's first column when the model does not use it, e.g. an id)
    is kept to label the rows. An image folder lists its images in the order of its
    ``labels.csv`` (``filename`` column) when there is one, else by file name; the file names are the ids.

    Args:
        source: a path or a registry name.
        predictor: the model that will predict (its input kind and feature names guide the reading).
        trials: for laws of k/n labels: a number, or the name of a column holding each row's count.
        id_column: the column that names the rows.
        x: the key of the features in an ``.npz`` archive.
    """
    import os

    import pandas as pd

    from ..data.readers import _check_file, _first_line

    if not isinstance(source, (str, os.PathLike)):
        raise LosslabError(f"data is a {type(source).__name__}; expected a path or a registry name")
    p = Path(source).expanduser()
    frame = None
    if p.is_dir():
        X, ids = _read_image_folder(p, predictor)
        return Inputs(X, ids, _trial_values(trials, None, len(X)))
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix in (".csv", ".txt", ".tsv"):
            try:
                frame = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",")
            except pd.errors.EmptyDataError:
                raise LosslabError(f"{p}: the file is empty; expected a header row and data rows") from None
            except (pd.errors.ParserError, UnicodeDecodeError) as e:
                raise LosslabError(f"{p}: cannot be parsed as CSV ({_first_line(e)})") from None
        elif suffix in (".parquet", ".pq"):
            try:
                frame = pd.read_parquet(p)
            except ImportError:
                raise LosslabError("reading Parquet needs pyarrow, which is not installed: pip install 'losslab[parquet]'") from None
            except (OSError, ValueError) as e:
                raise LosslabError(f"{p}: cannot be read as Parquet ({_first_line(e)})") from None
        elif suffix == ".npz":
            return Inputs(_read_npz(p, x), None, _trial_values(trials, None, None))
        else:
            raise LosslabError(f"{p}: unknown file type {suffix!r}; expected .csv, .tsv, .parquet, .npz or an image folder")
    else:
        from .. import data as lldata

        if isinstance(source, str) and source in lldata.list_datasets():
            ds = lldata.load(source)
            X: Any = ds.X
            if ds.kind == "table" and ds.feature_names:
                X = pd.DataFrame(ds.X, columns=ds.feature_names)
            return Inputs(X, None, _trial_values(trials, None, len(ds)))
        _check_file(p, "data file")  # one line: does not exist, with close names
    if frame is None or len(frame.columns) == 0 or len(frame) == 0:
        raise LosslabError(f"{p}: no rows or no columns; expected a header and at least one data row")
    frame.columns = [str(c) for c in frame.columns]
    used = set(predictor.feature_names or [])
    ids = None
    if id_column is not None:
        if id_column not in frame.columns:
            raise LosslabError(f"--id {id_column!r}: {p} has no such column{close_matches(id_column, list(frame.columns))}; its columns: {_listing(list(frame.columns))}")
        ids = frame[id_column]
    elif frame.columns[0] not in used and frame.columns[0] not in (predictor.target_names or []) and not any(n.startswith(frame.columns[0] + "_") for n in used):
        ids = frame[frame.columns[0]]
    return Inputs(frame, ids, _trial_values(trials, frame, len(frame)))


def _trial_values(trials: Any, frame: Any, n: int | None) -> Any:
    if trials is None or not isinstance(trials, str):
        return trials
    try:
        return float(trials)
    except ValueError:
        pass
    if frame is None:
        raise LosslabError(f"--trials {trials!r} names a column, and this data has no columns; pass a number")
    if trials not in frame.columns:
        raise LosslabError(f"--trials {trials!r}: no such column{close_matches(trials, list(frame.columns))}; pass a column of counts or a number")
    from ..data.readers import _numeric_column

    return _numeric_column("data", frame, trials, "trials")


def _read_npz(p: Path, key: str) -> np.ndarray:
    try:
        archive = np.load(p, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise LosslabError(f"{p}: cannot be read as a numpy .npz archive ({type(e).__name__}: {e})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise LosslabError(f"{p}: holds a single array, not an .npz archive of named arrays; expected a key {key!r}")
    with archive:
        if key not in archive.files:
            raise LosslabError(f"{p}: no feature array {key!r}{close_matches(key, archive.files)}; its keys: {', '.join(archive.files)}")
        try:
            return archive[key]
        except ValueError as e:
            raise LosslabError(f"{p}: array {key!r} cannot be read without pickle ({e})") from None


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _read_image_folder(root: Path, predictor: Predictor) -> tuple[np.ndarray, Any]:
    import pandas as pd

    from ..data.readers import _load_image

    if predictor.data_kind != "image":
        raise LosslabError(f"data {str(root)!r} is a folder of images; this model takes table rows of {predictor.input_shape[0]} features")
    labels = root / "labels.csv"
    if labels.is_file():
        try:
            listed = pd.read_csv(labels, dtype={"filename": str})
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as e:
            raise LosslabError(f"{labels}: cannot be parsed as CSV ({e})") from None
        if "filename" not in listed.columns:
            raise LosslabError(f"{labels}: no column 'filename'; expected one file name per row (or remove labels.csv to read every image)")
        files = listed["filename"].astype(str).str.strip().tolist()
    else:
        files = sorted(f.name for f in root.iterdir() if f.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise LosslabError(f"folder {str(root)!r} holds no image ({', '.join(_IMAGE_SUFFIXES)})")
    images = []
    for i, name in enumerate(files):
        f = root / name
        if not f.is_file():
            raise LosslabError(f"{labels}: row {i} names {name!r}, which is not a file in {root}")
        a = _load_image(f)
        if a.shape[0] == 1 and predictor.input_shape[0] == 3:
            a = np.repeat(a, 3, axis=0)
        if a.shape != predictor.input_shape:
            raise LosslabError(f"{f}: image of shape {a.shape} (C, H, W); the model takes {predictor.input_shape} (resize it, or convert its colours)")
        images.append(a)
    return np.stack(images), pd.Series(files, name="filename")


def predict_frame(predictor: Predictor, inputs: Inputs, *, level: float | None = 0.9, quantiles: Sequence[float] = ()) -> Any:
    """Predictions as a table, one row per input row: ids (if any), then per target ``<t>_pred``, ``<t>_low``,
    ``<t>_high`` (the central ``level`` interval) and ``<t>_q<q>`` for each quantile.

    A law without quantiles (``bernoulli``: soft BCE is not a density over a float label) gets no
    interval columns; ``frame.attrs["notes"]`` says why. Quantiles asked of such a law raise.
    """
    import pandas as pd

    point = predictor.predict(inputs.X)
    n = point.shape[0]
    names = _target_names(predictor, point)
    cols: dict[str, np.ndarray] = {}
    notes = []

    def put(suffix: str, values: np.ndarray) -> None:
        flat = values.reshape(n, -1)
        for j, name in enumerate(names):
            cols[f"{name}_{suffix}"] = flat[:, j]

    put("pred", point)
    if level is not None:
        try:
            low, high = predictor.predict_interval(inputs.X, level, trials=inputs.trials)
        except LosslabError as e:
            if quantiles:
                raise
            notes.append(f"no interval columns: {e}")
        else:
            put("low", low)
            put("high", high)
    for q in quantiles:
        put(f"q{q:g}", predictor.quantile(inputs.X, float(q), trials=inputs.trials))
    frame = pd.DataFrame(cols)
    if inputs.ids is not None:
        frame.insert(0, str(inputs.ids.name), np.asarray(inputs.ids))
    frame.attrs["notes"] = notes
    return frame


def _target_names(predictor: Predictor, point: np.ndarray) -> list[str]:
    width = int(np.prod(point.shape[1:], dtype=int))
    names = predictor.target_names
    if names and len(names) == width:
        return [str(t) for t in names]
    return ["y"] if width == 1 else [f"y{j}" for j in range(width)]


# ---------------------------------------------------------------------------- keeping a comparison's models
#: what ``losslab compare --keep`` writes: the best model, every run's model and each law's ensemble, or nothing
KEEP = ("best", "all", "none")


def keep_models(result: Any, folder: str | Path, keep: str = "best", *, model: Callable | None = None) -> tuple[dict[str, Path], list[str]]:
    """Write a comparison's models into ``folder`` as model files; return ``({description: path}, notes)``.

    ``keep="best"``: :meth:`~losslab.experiment.ComparisonResult.best_model` as
    ``<law>-seed<k>.losslab``; ``"all"``: every finished run's model, and each law's ensemble of two
    or more seeds as ``<law>-ensemble.losslab``; ``"none"``: nothing. The best model comes first.
    A run whose model cannot be kept (recorded without its weights by an older losslab) is left
    out, with a note saying why.
    """
    if keep not in KEEP:
        raise LosslabError(f"keep={keep!r}; expected one of {', '.join(KEEP)}")
    if keep == "none":
        return {}, []
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LosslabError(f"models folder {str(folder)!r} cannot be created ({e.strerror or e})") from None
    out: dict[str, Path] = {}
    notes: list[str] = []

    def put(what: str, build: Callable[[], Predictor], name: str) -> None:
        try:
            out[what] = build().save(folder / name)
        except LosslabError as e:
            notes.append(f"{what} not kept: {e}")

    label, seed = result.best_seed()
    put(f"{label}, seed {seed} (best)", lambda: result.model(label, seed, model=model), file_name(label, seed))
    if keep == "all":
        for law in result.laws:
            done = sorted(r["seed"] for r in result.runs if r["law"] == law and r["status"] == "ok")
            for s in done:
                if (law, s) != (label, seed):
                    put(f"{law}, seed {s}", lambda law=law, s=s: result.model(law, s, model=model), file_name(law, s))
            if len(done) > 1:
                put(f"{law}, ensemble of seeds {', '.join(map(str, done))}", lambda law=law: result.ensemble_model(law, model=model), file_name(law))
    return out, notes

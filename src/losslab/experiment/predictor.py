"""The model you keep: a trained run (or a law's seeds as an ensemble) as a predictor you can save and load.

:meth:`ComparisonResult.best_model <losslab.experiment.ComparisonResult.best_model>`,
``model(law, seed)`` and ``ensemble_model(law)`` turn a comparison's stored runs into a :class:`Predictor`:

* ``predict(X)`` — point predictions (numpy);
* ``predict_dist(X)`` — the predictive ``torch.distributions.Distribution`` of each row
  (an :class:`~losslab.experiment.ensemble.EqualMixture` of the members' for an ensemble);
* ``predict_interval(X, level=0.9)`` and ``quantile(X, q)`` — central intervals and quantiles;
* ``save(path)`` and :func:`load_model`.

Inputs are numpy arrays, tensors or (tables) DataFrames with the training feature names; the
predictor applies the training standardisation (the training rows' mean and standard deviation
of each table feature) itself.

What a run records for it, the model file's format (``.losslab``) and keeping a comparison's
models are in :mod:`~losslab.experiment.model_file`; reading new rows for ``losslab predict``
and writing the predictions' table in :mod:`~losslab.experiment.predict_io`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.distributions import Distribution

from .._errors import LosslabError, close_matches, first_rows, listing
from ..data.features import standardize
from ..laws import Law
from .ensemble import EqualMixture
from .model_file import (  # noqa: F401  the names below load_model's: re-exported from where they were defined before
    FORMAT_VERSION,
    KEEP,
    STATE_PREFIX,
    SUFFIX,
    Member,
    build_member,
    file_name,
    keep_models,
    law_of,
    load_state,
    model_config,
    read_model_file,
    run_arrays,
    run_spec,
    structure,
    write_model_file,
)
from .predict_io import Inputs, predict_frame, read_inputs  # noqa: F401  re-exported from where they were defined before
from .trainer import resolve_device

__all__ = ["EqualMixture", "FORMAT_VERSION", "Predictor", "load_model", "predict_frame", "read_inputs"]

#: rows per forward pass: bounds the memory of a prediction on many rows
CHUNK = 8192


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

    def __init__(self, spec: Mapping[str, Any], members: list[Member], *, ensemble: bool, device: torch.device) -> None:
        self.spec = dict(spec)
        self.members = members
        self.ensemble = bool(ensemble)
        self.device = device
        law = spec["law"]
        self.law: Law = law_of(law["name"], law["options"])
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
        dev = resolve_device(device)
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
            elif structure(own) != structure(spec):
                raise LosslabError(f"{where} has another model, input shape or law than the first run; an ensemble needs runs of one law and model")
            net = build_member(spec, r.get("seed", 0), model, where)
            load_state(net, {k: torch.from_numpy(np.array(v)) for k, v in state.items()}, where)
            mean, std = arrays.get("x_mean"), arrays.get("x_std")
            members.append(Member(r.get("seed"), r.get("key"), net.to(dev).eval(), mean, std))
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
            from ..data.dataset import images_to_nchw

            A = images_to_nchw("X", A)
            if A.shape[1] == 1 and self.input_shape[0] == 3:
                A = np.repeat(A, 3, axis=1)  # grayscale in an RGB model: what the image-folder reader does to such files
        else:
            if A.ndim == 1 and A.shape[0] == self.input_shape[0]:
                raise LosslabError(f"X has shape {A.shape}, one row without its batch axis; pass X.reshape(1, -1) for a single row")
            A = A.astype(np.float32)
        if A.ndim != 1 + len(self.input_shape) or tuple(A.shape[1:]) != self.input_shape:
            what = f"({len(self.feature_names)} features: {listing(self.feature_names)})" if self.feature_names else ""
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
        from ..data.readers import numeric_column

        cols = [str(c) for c in df.columns]
        frame = df.copy()
        frame.columns = cols
        names = self.feature_names
        if names is None:
            if len(cols) != self.input_shape[0]:
                raise LosslabError(f"X has {len(cols)} columns; the model takes {self.input_shape[0]} features (unnamed at training: pass them in training order)")
            return np.stack([numeric_column("X", frame, c, "feature") for c in cols], axis=1).astype(np.float32)
        out, missing, known = [], [], {}
        for name in names:
            if name in frame.columns:
                out.append(numeric_column("X", frame, name, "feature"))
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
                + f"; the model was trained on columns {listing(names)} (X has {listing(cols)})"
            )
        for parent, values in known.items():
            col = frame[parent]
            if col.isna().any():
                raise LosslabError(f"X column {parent!r} has missing categories at row(s) {first_rows(col.isna().to_numpy())}; expected a category in every row")
            unseen = ~col.astype(str).isin(values)
            if unseen.any():
                raise LosslabError(
                    f"X column {parent!r} holds category {col[unseen].iloc[0]!r} at row(s) {first_rows(unseen.to_numpy())}, unseen in training; "
                    f"known categories: {listing(values)}"
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
            Z = A if m.mean is None else standardize(A, m.mean, m.std).astype(np.float32, copy=False)
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
        return model_config(self.spec, self.members, ensemble=self.ensemble)

    def save(self, path: str | Path) -> Path:
        """Write the model file: a zip of ``config.json`` and each member's ``state_dict-<i>.pt`` (see :mod:`~losslab.experiment.model_file`).

        Returns the path written. :func:`load_model` reads it back.
        """
        return write_model_file(path, self.config, [m.model for m in self.members])

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
    config, members, dev = read_model_file(path, model=model, device=device)
    return Predictor(config, members, ensemble=config.get("kind") == "ensemble", device=dev)


def _is_frame(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "iloc")


def _is_text(col: Any) -> bool:
    import pandas as pd

    return not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))

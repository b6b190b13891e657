"""``Regressor``: one model trained under one law, with the scikit-learn estimator interface.

``fit`` / ``predict`` / ``score`` as in scikit-learn, plus :meth:`Regressor.predict_dist`
(the predictive ``torch.distributions.Distribution``), :meth:`Regressor.predict_interval`
and :meth:`Regressor.predict_quantile` (prediction intervals and quantiles of each row's
label) and :meth:`Regressor.log_score` (the mean log-likelihood of held-out labels). Every constructor argument is stored
as given and checked only in ``fit``, so ``clone``, ``Pipeline``, ``cross_val_score``
and ``GridSearchCV`` work as with any scikit-learn regressor.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.validation import check_is_fitted, check_random_state

from ._errors import LosslabError
from .data.features import FeatureEncoder, feature_scale, standardize
from .laws import Law, ScalarLaw
from .models import MLP, build_model

__all__ = ["Regressor"]

_OPTIMIZERS = ("auto", "lbfgs", "adam")
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _mlp_trunk(input_shape: Sequence[int], hidden: tuple[int, ...]) -> MLP:
    # A module-level function (not a lambda), so that a factory built from it pickles.
    return MLP(int(np.prod(input_shape)), hidden=hidden)


class Regressor(RegressorMixin, BaseEstimator):
    r"""One model (linear, MLP or a factory) trained under one law: a scikit-learn regressor.

    With ``model="linear"`` the fitted model is the generalised linear model of the law:

    .. math::
        \hat\theta = \arg\min_\theta \frac1N \sum_{i=1}^N -\log p\big(y_i \mid g^{-1}(W x_i + b)\big),

    each parameter of the law a linear function of the features on its link scale
    (``mean`` on the logit scale for ``beta``), except the parameters listed in
    ``constant``, which are one free number each (the precision ``phi`` of classical
    beta regression). ``gaussian`` with a linear model is ordinary least squares,
    ``bernoulli`` on 0/1 labels logistic regression, ``binomial`` with ``trials``
    the binomial GLM, ``beta`` with ``constant=("precision",)`` R's ``betareg``.

    Features are standardised internally (mean 0, standard deviation 1 on the fit
    rows); :attr:`coef_` and :attr:`intercept_` are reported on the original scale.
    DataFrame inputs keep their column names (``feature_names_in_``); columns of
    strings or pandas ``Categorical`` are coded as 0/1 indicators of every category
    but the first (the reference: the first of a ``Categorical``'s categories, else
    the smallest value), with the categories fixed at ``fit``.

    Args:
        law: a registered name, a ``"name:option=value,..."`` spec or a :class:`~losslab.laws.Law`.
        model: ``"linear"``, ``"mlp"`` (hidden widths ``hidden``) or a factory
            ``f(input_shape) -> nn.Module`` with an ``out_features`` attribute.
        law_options: extra options of the law, e.g. ``{"beta": 0.5}``.
        constant: parameters of the law that do not depend on the features.
        optimizer: ``"lbfgs"`` (full batch on all rows), ``"adam"`` (minibatches, early
            stopping on ``validation_fraction`` of the rows) or ``"auto"`` (L-BFGS for a
            linear model, Adam otherwise).
        hidden: hidden widths of ``model="mlp"``.
        epochs, lr, batch_size, weight_decay, patience: training options
            (:class:`~losslab.experiment.trainer.TrainConfig`; ``lr`` and ``batch_size`` apply to Adam).
        validation_fraction: share of rows held out for early stopping with Adam (0: none,
            stop on the training loss).
        standardize: standardise the features before training.
        dtype: ``"float32"`` or ``"float64"``; default float64 for L-BFGS, float32 for Adam.
        device: torch device (``"cpu"``, ``"cuda"``, ``"auto"``).
        random_state: seed of the initial weights, the validation rows and the minibatch order.

    Fitted attributes: ``model_`` (the torch model), ``law_``, ``n_features_in_``,
    ``feature_names_in_`` (DataFrame inputs), ``design_names_`` (names of the columns
    of the design matrix, the order of ``coef_``), ``coef_`` and ``intercept_`` (linear
    models: ``{parameter: coefficients}`` on the link scale), ``constants_``
    (``{parameter: value}`` on the parameter scale), ``train_result_``.

    References: P. McCullagh and J. A. Nelder, *Generalized Linear Models*, 2nd ed. (1989);
    S. Ferrari and F. Cribari-Neto, "Beta regression for modelling rates and proportions",
    J. Appl. Stat. 31 (2004) 799-815; F. Pedregosa et al., "Scikit-learn: machine learning
    in Python", JMLR 12 (2011) (the estimator interface).

    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> est = Regressor("gaussian").fit(X, 1.0 + 2.0 * X[:, 0])
    >>> round(float(est.coef_["loc"][0]), 6), round(est.intercept_["loc"], 6)
    (2.0, 1.0)
    >>> est.predict(np.array([[4.0]])).round(6).tolist()
    [9.0]
    """

    def __init__(
        self,
        law: str | Law = "gaussian",
        model: str | Callable = "linear",
        *,
        law_options: dict[str, Any] | None = None,
        constant: Sequence[str] = (),
        optimizer: str = "auto",
        hidden: Sequence[int] = (64, 64),
        epochs: int = 200,
        lr: float = 3e-3,
        batch_size: int = 128,
        weight_decay: float = 0.0,
        patience: int = 20,
        validation_fraction: float = 0.1,
        standardize: bool = True,
        dtype: str | None = None,
        device: str = "cpu",
        random_state: int | None = None,
    ) -> None:
        self.law = law
        self.model = model
        self.law_options = law_options
        self.constant = constant
        self.optimizer = optimizer
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.standardize = standardize
        self.dtype = dtype
        self.device = device
        self.random_state = random_state

    # ----------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any, trials: Any = None) -> "Regressor":
        """Train on ``X (n, features)`` and labels ``y (n,)``; ``trials (n,)`` or a number for k-of-n labels.

        Returns ``self``.
        """
        from .experiment.polish import polish_lbfgs
        from .experiment.trainer import Split, TrainConfig, resolve_device, train

        encoder = FeatureEncoder()
        A = encoder.fit_transform(X)
        if A.shape[0] == 0 or A.shape[1] == 0:  # a DataFrame with no rows or no columns
            raise LosslabError(f"X has shape {A.shape}; expected at least one row and one feature")
        y_arr = self._labels(y, A.shape[0])
        law = self._make_law(y_arr)
        y_arr = self._label_shape(law, y_arr)
        t_arr = self._trials(law, trials, y_arr)
        optimizer = self._optimizer()
        seed = self._seed()
        dtype = self._torch_dtype(optimizer)
        device = resolve_device(self.device)

        if self.standardize:
            mu, sd = feature_scale(A)  # constant columns keep their scale (data.features.floor_std)
        else:
            mu, sd = np.zeros(A.shape[1]), np.ones(A.shape[1])
        Z = standardize(A, mu, sd)

        tr_idx, va_idx = self._split(len(Z), optimizer, seed)

        def split(idx: np.ndarray) -> Split:
            trials_part = None if t_arr is None else torch.as_tensor(t_arr[idx], dtype=dtype, device=device)
            return Split(
                torch.as_tensor(Z[idx], dtype=dtype, device=device),
                torch.as_tensor(y_arr[idx], dtype=dtype, device=device),
                trials_part,
            )

        tr, va = split(tr_idx), split(va_idx)
        constant = (self.constant,) if isinstance(self.constant, str) else tuple(self.constant)
        trunk = self._trunk_spec()
        net = build_model(trunk, (Z.shape[1],), law, seed=seed, constant=constant).to(device=device, dtype=dtype)
        net.head.init_bias(tr.y.cpu(), None if tr.trials is None else tr.trials.cpu())
        config = TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience,
            optimizer=optimizer,
        )
        result = train(net, tr, va, config, seed=seed)
        if result.status != "ok":
            raise LosslabError(
                f"training diverged at epoch {result.diverged_epoch} (non-finite loss); lower lr={self.lr!r}, "
                f"standardise the labels or choose another law"
            )
        if optimizer == "lbfgs":
            polish_lbfgs(net, law, tr, self.weight_decay)
        net.eval()

        self.model_ = net
        self.law_ = law
        self.train_result_ = result
        self.n_features_in_ = encoder.n_columns
        if encoder.columns is not None:
            self.feature_names_in_ = np.asarray(encoder.columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.design_names_ = list(encoder.names)
        self.x_mean_, self.x_scale_ = mu, sd
        self._encoder = encoder
        self._dtype, self._device = dtype, device
        self.constants_ = self._constants(net, law)
        for attr in ("coef_", "intercept_"):
            if hasattr(self, attr):
                delattr(self, attr)
        if trunk == "linear":
            self.coef_, self.intercept_ = self._linear_coefficients(net, law, mu, sd)
        return self

    # ------------------------------------------------------------- predict
    def predict(self, X: Any, kind: str = "mean") -> np.ndarray:
        """Point predictions ``(n,)`` (``(n, d)`` for vector laws): ``law.point(params, kind)``.

        ``kind`` is one of ``law_.point_kinds``: ``"mean"``, and for most laws ``"median"``
        (``beta``, ``zoib`` and the mixtures through the quantile at 1/2) and ``"mode"``.
        """
        params = self._params(X)
        return self.law_.point(params, kind).detach().cpu().double().numpy()

    def predict_interval(self, X: Any, level: float = 0.9, trials: Any = None) -> tuple[np.ndarray, np.ndarray]:
        r"""The central ``level`` prediction interval of each row's label: ``(low, high)``, float64 arrays ``(n,)``.

        .. math:: \Big[F^{-1}\big(\tfrac{1 - l}{2}\big),\ F^{-1}\big(\tfrac{1 + l}{2}\big)\Big]

        The quantiles of the fitted predictive law (``law.interval``): a calibrated model's
        intervals hold about ``level`` of new labels (at least ``level`` for laws with atoms:
        ``zoib``, ``binomial``, ``beta-binomial``, whose intervals are closed sets of atoms and
        edges). ``(n, d)`` marginal intervals for ``mvn``. ``bernoulli`` (soft BCE) raises: it
        is not a density over a float label. ``sigmoid-mse`` and ``gaussian`` give intervals
        of the fixed width their ``sigma`` option sets.

        Args:
            X: features ``(n, features)``, as in :meth:`predict`.
            level: the probability inside each interval, in (0, 1).
            trials: for k-of-n laws, the number of trials of each row (a number or ``(n,)``):
                the interval is of ``k / n``.
        """
        params = self._params(X)
        with torch.no_grad():
            low, high = self.law_.interval(params, level, trials=self._trials_for(trials, params, "predict_interval"))
        return low.detach().cpu().double().numpy(), high.detach().cpu().double().numpy()

    def predict_quantile(self, X: Any, q: Any, trials: Any = None) -> np.ndarray:
        """The ``q``-quantile of each row's label, float64 ``(n,)`` (``(n, d)`` for ``mvn``): ``law.quantile``.

        ``q`` is a probability in [0, 1], one number or one per row ``(n,)``; ``trials`` as in
        :meth:`predict_interval`.
        """
        params = self._params(X)
        with torch.no_grad():
            out = self.law_.quantile(params, q, trials=self._trials_for(trials, params, "predict_quantile"))
        return out.detach().cpu().double().numpy()

    def predict_dist(self, X: Any, trials: Any = None) -> torch.distributions.Distribution:
        """The predictive ``torch.distributions.Distribution`` of each row, batch shape ``(n,)``.

        ``trials`` (a number or one per row) is needed by laws of k-of-n labels (``binomial``).
        """
        params = self._params(X)
        if self.law_.needs_trials:
            if trials is None:
                raise LosslabError(f"predict_dist: law {self.law_.name!r} needs trials= (the number of trials of each row)")
            return self.law_.predictive(params, trials=self._trials_tensor(trials, params))
        return self.law_.predictive(params)

    def log_score(self, X: Any, y: Any, trials: Any = None) -> float:
        """Mean log-likelihood of ``y`` (``-mean NLL``; higher is better).

        :meth:`score` is the R² of the mean prediction, as for every scikit-learn regressor;
        this is the proper scoring rule the law was trained on.
        """
        params = self._params(X)
        y_arr = self._label_shape(self.law_, self._labels(y, len(next(iter(params.values())))))
        t = None if trials is None else self._trials_tensor(trials, params)
        with torch.no_grad():
            nll = self.law_.nll(params, torch.as_tensor(y_arr, dtype=self._dtype, device=self._device), trials=t)
        return -float(nll.mean())

    # ------------------------------------------------------------- helpers
    @torch.no_grad()
    def _params(self, X: Any) -> dict[str, torch.Tensor]:
        check_is_fitted(self, "model_")
        A = self._encoder.transform(X)
        Z = torch.as_tensor(standardize(A, self.x_mean_, self.x_scale_), dtype=self._dtype, device=self._device)
        return self.law_.link(self.model_(Z))

    def _trials_for(self, trials: Any, params: dict[str, torch.Tensor], what: str) -> torch.Tensor | None:
        """``trials`` as a tensor for laws of k-of-n labels (required there), else None."""
        if not self.law_.needs_trials:
            return None
        if trials is None:
            raise LosslabError(f"{what}: law {self.law_.name!r} needs trials= (the number of trials of each row)")
        return self._trials_tensor(trials, params)

    def _trials_tensor(self, trials: Any, params: dict[str, torch.Tensor]) -> torch.Tensor:
        t = np.asarray(trials, dtype=np.float64)
        n = len(next(iter(params.values())))
        if t.ndim not in (0, 1) or (t.ndim == 1 and len(t) != n):
            raise LosslabError(f"trials has shape {t.shape}; expected a number or one count per row ({n},)")
        return torch.as_tensor(t, dtype=self._dtype, device=self._device)

    @staticmethod
    def _labels(y: Any, n: int) -> np.ndarray:
        if y is None:
            raise LosslabError("Regressor requires y to be passed, but the target y is None")
        raw = np.asarray(y)
        if np.iscomplexobj(raw):
            raise LosslabError("y holds complex numbers; expected real float labels")
        try:
            y_arr = raw.astype(np.float64)
        except (TypeError, ValueError):
            raise LosslabError("y holds values that are not numbers; expected float labels") from None
        if y_arr.ndim == 0 or y_arr.shape[0] != n:
            raise LosslabError(f"y has shape {y_arr.shape}; expected one label per row of X ({n} rows)")
        if not np.isfinite(y_arr).all():
            rows = np.flatnonzero(~np.isfinite(y_arr.reshape(n, -1)).all(axis=1))[:5].tolist()
            raise LosslabError(f"y holds NaN or infinite labels, first at row(s) {rows}; expected finite numbers")
        return y_arr

    @staticmethod
    def _label_shape(law: Law, y: np.ndarray) -> np.ndarray:
        if law.event_dim:
            if y.ndim != 2:
                raise LosslabError(f"y has shape {y.shape}; law {law.name!r} models vector labels, expected (n, d)")
            return y
        if y.ndim == 2 and y.shape[1] == 1:
            # scikit-learn's convention for a column vector y: accept it, and say so.
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; it was read as shape (n,) (use y.ravel())",
                DataConversionWarning,
                stacklevel=3,
            )
            return y[:, 0]
        if y.ndim != 1:
            raise LosslabError(f"y has shape {y.shape}; expected one label per row, shape (n,)")
        return y

    def _make_law(self, y: np.ndarray) -> Law:
        from .laws.spec import law_for_data, parse_law_spec

        opts = dict(self.law_options or {})
        if isinstance(self.law, Law):
            if opts:
                raise LosslabError(f"law_options={opts!r} given with a Law object; set the options on the law itself")
            return self.law
        if not isinstance(self.law, str):
            raise LosslabError(f"law is a {type(self.law).__name__}; expected a law name, a 'name:k=v' spec or a Law")
        name, spec_opts = parse_law_spec(self.law)
        return law_for_data(name, {**spec_opts, **opts}, y)

    def _trials(self, law: Law, trials: Any, y: np.ndarray) -> np.ndarray | None:
        if trials is None:
            if law.needs_trials:
                raise LosslabError(f"fit: law {law.name!r} needs trials= (the number of trials n of each k/n label)")
            return None
        t = np.asarray(trials, dtype=np.float64)
        if t.ndim != 0 and t.shape != y.shape:
            raise LosslabError(f"trials has shape {t.shape}; expected a number or the labels' shape {y.shape}")
        # One count per label, so that the rows of a validation split and of each minibatch carry theirs.
        return np.broadcast_to(t, y.shape).copy()

    def _optimizer(self) -> str:
        if self.optimizer not in _OPTIMIZERS:
            raise LosslabError(f"optimizer={self.optimizer!r}; expected one of {', '.join(_OPTIMIZERS)}")
        if self.optimizer == "auto":
            return "lbfgs" if self.model == "linear" else "adam"
        return self.optimizer

    def _torch_dtype(self, optimizer: str) -> torch.dtype:
        if self.dtype is None:
            # L-BFGS on a convex GLM converges to the optimum, and float64 keeps its last digits.
            return torch.float64 if optimizer == "lbfgs" else torch.float32
        if self.dtype not in _DTYPES:
            raise LosslabError(f"dtype={self.dtype!r}; expected 'float32', 'float64' or None")
        return _DTYPES[self.dtype]

    def _seed(self) -> int:
        if isinstance(self.random_state, (int, np.integer)) and not isinstance(self.random_state, bool):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _split(self, n: int, optimizer: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        frac = self.validation_fraction
        if not (isinstance(frac, (int, float)) and 0 <= frac < 1):
            raise LosslabError(f"validation_fraction={frac!r}; expected a number in [0, 1)")
        everything = np.arange(n)
        if optimizer == "lbfgs" or frac == 0:
            return everything, everything
        n_val = max(1, int(round(frac * n)))
        if n - n_val < 1:
            raise LosslabError(
                f"validation_fraction={frac!r} leaves no training row of n_samples={n}; use validation_fraction=0 or more rows"
            )
        perm = np.random.default_rng(seed).permutation(n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def _trunk_spec(self) -> str | Callable:
        if callable(self.model):
            return self.model
        if self.model == "linear":
            return "linear"
        if self.model == "mlp":
            hidden = tuple(int(h) for h in self.hidden)
            if not hidden or min(hidden) < 1:
                raise LosslabError(f"hidden={self.hidden!r}; expected positive layer widths such as (64, 64)")
            return functools.partial(_mlp_trunk, hidden=hidden)
        raise LosslabError(f"model={self.model!r}; expected 'linear', 'mlp' or a factory f(input_shape) -> nn.Module")

    @staticmethod
    @torch.no_grad()
    def _constants(net: Any, law: Law) -> dict[str, float | np.ndarray]:
        head = net.head
        if head.constants is None:
            return {}
        raw = head.constants[0].detach().cpu().double()
        links = law.param_links() if isinstance(law, ScalarLaw) else {}
        out: dict[str, float | np.ndarray] = {}
        start = 0
        for name in head.constant:
            k = law.raw_layout[name]
            r = raw[start : start + k]
            start += k
            value = links[name].forward(r) if name in links else r
            out[name] = float(value[0]) if k == 1 else value.numpy()
        return out

    @staticmethod
    @torch.no_grad()
    def _linear_coefficients(net: Any, law: Law, mu: np.ndarray, sd: np.ndarray) -> tuple[dict, dict]:
        W = net.head.linear.weight.detach().cpu().double().numpy()  # (varying raw outputs, features)
        b = net.head.linear.bias.detach().cpu().double().numpy()
        # W z + b with z = (x - mu) / sd is (W / sd) x + (b - W mu / sd).
        W_orig = W / sd[None, :]
        b_orig = b - W_orig @ mu
        coef, intercept, row = {}, {}, 0
        for name, k in law.raw_layout.items():
            if name in net.head.constant:
                continue
            if k == 1:
                coef[name], intercept[name] = W_orig[row], float(b_orig[row])
            else:
                coef[name], intercept[name] = W_orig[row : row + k], b_orig[row : row + k]
            row += k
        return coef, intercept

    def __sklearn_tags__(self):  # noqa: D105 - scikit-learn's estimator tags
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags


"""The trained models of a comparison: the recommended law's best seed, any run, a law's ensemble, as predictors.

:class:`KeptModels` holds the methods of :class:`~losslab.experiment.result.ComparisonResult`
that build a :class:`~losslab.experiment.predictor.Predictor` from its stored runs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .._errors import LosslabError, close_matches
from .stats import higher_is_better

if TYPE_CHECKING:
    from .predictor import Predictor

__all__ = ["KeptModels"]


class KeptModels:
    """The model accessors of a :class:`~losslab.experiment.result.ComparisonResult` (a base class of it).

    Reads the result's ``runs``, ``laws``, ``config``, ``recommend`` and ``model_factory``.
    """

    runs: list[dict]
    laws: list[str]
    model_factory: Any

    def best_model(self, law: str | None = None, *, model: Any = None, device: str = "cpu") -> "Predictor":
        """The trained model to keep: the recommended law's best seed, as a :class:`~.predictor.Predictor`.

        The law is :meth:`recommend`'s (or ``law``). Its seed is chosen on the validation rows,
        never on the test rows that ranked the laws: the seed whose model scored best on the
        primary metric over the validation rows (recorded with each run); runs recorded without
        that score, and metrics that do not apply to the law, fall back to the validation NLL
        (the early-stopping criterion); ties go to the smaller seed, and runs flagged unstable
        are passed over while the law has a stable one.

        Args:
            law: a law's label; default the recommended one.
            model: the factory of a custom model, for a result read back from a store
                (a fresh result remembers it).
            device: where the predictor computes.
        """
        label, seed = self.best_seed(law)
        return self.model(label, seed, model=model, device=device)

    def best_seed(self, law: str | None = None) -> tuple[str, int]:
        """``(law, seed)`` of :meth:`best_model`: the recommended law (or ``law``) and its seed chosen on the validation rows."""
        label = self.recommend().law if law is None else self._known_law(law)
        runs = [r for r in self.runs if r["law"] == label and r["status"] == "ok"]
        if not runs:
            raise LosslabError(f"law {label!r} has no finished run (every run diverged); choose another law")
        stable = [r for r in runs if not r["history"].get("unstable")] or runs
        metric = self.config.primary_metric
        scores = {r["seed"]: (r["history"].get("val_metric") or {}).get("value") for r in stable}
        if all(isinstance(v, (int, float)) and math.isfinite(v) for v in scores.values()):
            better = higher_is_better(metric)
        else:  # runs recorded without the score: the validation NLL, which every run has
            scores, better = {r["seed"]: r["metrics"].get("val_nll") for r in stable}, False
        scores = {s: v if isinstance(v, (int, float)) and math.isfinite(v) else math.inf * (-1 if better else 1) for s, v in scores.items()}
        return label, sorted(scores, key=lambda s: (-scores[s] if better else scores[s], s))[0]

    def model(self, law: str, seed: int, *, model: Any = None, device: str = "cpu") -> "Predictor":
        """The trained model of one run (``law``'s label, ``seed``) as a :class:`~.predictor.Predictor`."""
        from .predictor import Predictor

        label = self._known_law(law)
        runs = [r for r in self.runs if r["law"] == label and r["seed"] == seed]
        if not runs:
            seeds = sorted(r["seed"] for r in self.runs if r["law"] == label)
            raise LosslabError(f"law {label!r} has no run with seed {seed!r}; its seeds: {seeds}")
        return Predictor.from_runs(runs, ensemble=False, model=self._factory(model), device=device)

    def ensemble_model(self, law: str | None = None, *, model: Any = None, device: str = "cpu") -> "Predictor":
        """A law's finished seeds as one predictor whose predictive law is the equal mixture of theirs
        (:class:`~.predictor.EqualMixture`): a deep ensemble, with :meth:`ensemble`'s scores.

        ``law`` defaults to the recommended one; diverged seeds are left out.
        """
        from .predictor import Predictor

        label = self.recommend().law if law is None else self._known_law(law)
        runs = sorted((r for r in self.runs if r["law"] == label and r["status"] == "ok"), key=lambda r: r["seed"])
        if not runs:
            raise LosslabError(f"law {label!r} has no finished run (every run diverged); choose another law")
        return Predictor.from_runs(runs, ensemble=True, model=self._factory(model), device=device)

    def _known_law(self, law: Any) -> str:
        if law not in self.laws:
            raise LosslabError(f"law {law!r} is not in this comparison{close_matches(str(law), self.laws)}; its laws: {', '.join(self.laws)}")
        return law

    def _factory(self, model: Any) -> Any:
        return model if model is not None else self.model_factory

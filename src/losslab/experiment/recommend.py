"""The recommendation of a comparison: the best law, the laws tied with it, and the evidence, in words.

:class:`Recommending` holds the methods of :class:`~losslab.experiment.result.ComparisonResult`
that turn its tables and paired tests into prose: :meth:`~Recommending.recommend`, the cautions
about the evidence and the note on how the intervals were made (for reports).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._errors import LosslabError
from ..laws import law_class
from ..laws.spec import law_label
from ..metrics import info as metric_info
from .halving import stops_sentence
from .row_bootstrap import check_method
from .runs import UNSTABLE_NATS
from .stats import NOT_RANKED, higher_is_better

if TYPE_CHECKING:  # pandas is imported by the methods that build tables: `import losslab` does not load it
    import pandas as pd

__all__ = ["FEW_SEEDS", "SMALL_TEST_LABELS", "Recommendation", "Recommending", "check_comparable", "fixed_spread_sentence"]

#: below this many test labels (rows x outputs) the recommendation and the report warn that the test set is small
SMALL_TEST_LABELS = 200
#: below this many seeds they warn that training randomness is barely measured
FEW_SEEDS = 3


@dataclass
class Recommendation:
    law: str
    metric: str
    tied: list[str]
    reason: str
    value: float
    #: cautions about the evidence (a small test set, few seeds, intervals over seeds only); also at the end of ``reason``
    warnings: list[str] = field(default_factory=list)
    #: how the intervals and p-values were computed: "bootstrap" (over test rows, and seeds) or "seeds" (t over seeds)
    method: str = "seeds"

    def __str__(self) -> str:
        return self.reason


def fixed_spread_sentence(law: str, sd: float) -> str:
    """The recommendation's sentence on a recommended law whose spread is an option (a report that says so apart removes it).

    >>> fixed_spread_sentence("sigmoid-mse", 1.0)[:58]
    'sigmoid-mse predicts a fixed spread (standard deviation 1,'
    """
    return (
        f"{law} predicts a fixed spread (standard deviation {sd:.3g}, set by an option, not fitted), "
        "so its log score and CRPS are not evidence about its uncertainty; rank by a point metric or compare distributional laws."
    )


class Recommending:
    """The recommendation and its cautions, for a :class:`~losslab.experiment.result.ComparisonResult` (a base class of it).

    Reads the result's ``config``, ``laws``, ``values``, ``best``, ``paired``, ``table``,
    ``fixed_spread`` and its bootstrap (:class:`~losslab.experiment.row_bootstrap.RowBootstrap`).
    """

    def recommend(self, metric: str | None = None, alpha: float = 0.05, *, method: str = "bootstrap", n_boot: int = 2000,
                  seed: int = 0) -> Recommendation:
        """The best law on ``metric``, the laws statistically tied with it, and why, in one paragraph.

        Ties and intervals come from :meth:`paired` and :meth:`table` with ``method``: by default a
        paired bootstrap over the test rows and the seeds, which includes test-set noise; the text
        names the method used. ``warnings`` (also at the end of the text) flag a test set of fewer
        than :data:`SMALL_TEST_LABELS` labels, fewer than :data:`FEW_SEEDS` seeds, and intervals
        over seeds only.
        """
        check_method(method)
        metric = metric or self.config.primary_metric
        if metric in NOT_RANKED:
            raise LosslabError(f"metric {metric!r} is not ranked (a coverage is good near its nominal level)")
        check_comparable(metric, {law_label(n, o): law_class(n).likelihood for n, o in self.config.laws})
        best = self.best(metric)
        paired = self.paired(metric, method=method, n_boot=n_boot, seed=seed)

        def testable(law: str) -> bool:  # the t-test needs two seeds; the bootstrap has the test rows with one
            return law != best and (paired.loc[law, "method"] == "bootstrap" or paired.loc[law, "n"] >= 2)

        def p_text(law: str) -> str:
            p = paired.loc[law, "p_value"]
            if paired.loc[law, "method"] == "bootstrap" and p <= 2 / (n_boot + 1):
                return f"p < {math.ceil(2e4 / (n_boot + 1)) / 1e4:g}"  # the bootstrap's floor: no draw on the other side
            return f"p = {p:.2g}"

        tied = [law for law in self.laws if testable(law) and (paired.loc[law, "p_value"] >= alpha or math.isnan(paired.loc[law, "p_value"]))]
        table = self.table(method=method, n_boot=n_boot, seed=seed)
        v = table.loc[best, metric]
        direction = "highest" if higher_is_better(metric) else "lowest"
        used = "bootstrap" if paired.loc[best, "method"] == "bootstrap" else "seeds"
        why = self.interval_method(metric)[1] if method == "bootstrap" else "method='seeds' was asked for"
        parts = [
            f"Recommended law: {best}. It has the {direction} {metric} on held-out data "
            f"({self._ci_text(best, metric, table, used, int(paired.loc[best, 'rows']), why)}) among {len(self.laws)} laws"
            + (f" ({int((table['stopped'] > 0).sum())} stopped early)." if table["stopped"].any() else ".")
        ]
        others = [law for law in self.laws if testable(law)]
        test = self._test_text(best, metric, paired, others)
        if tied:
            parts.append(f"Statistically tied with it ({test}, p >= {alpha:g}): " + ", ".join(f"{t} ({p_text(t)})" for t in tied) + ".")
        elif others:
            runner = min(others, key=lambda law: abs(paired.loc[law, "diff"]))
            parts.append(
                f"Every other law is worse ({test}, p < {alpha:g}); the runner-up, {runner}, differs by {paired.loc[runner, 'diff']:+.3g} "
                f"(95% CI {paired.loc[runner, 'diff_low']:+.3g} to {paired.loc[runner, 'diff_high']:+.3g}, {p_text(runner)})."
            )
        elif len(self.laws) > 1:
            parts.append(f"The other laws cannot be tested against it: a t-test over seeds needs two seeds, and {why}.")
        fixed = self.fixed_spread().get(best)
        for extra in ("log_score", "crps", "calibration_error"):
            if fixed is not None and metric_info.info(extra).spread:
                continue
            if extra in table.columns and extra != metric and math.isfinite(table.loc[best, extra]):
                parts.append(f"Its {extra} is {table.loc[best, extra]:.4g}.")
        if fixed is not None:
            parts.append(fixed_spread_sentence(best, fixed))
        diverged = int(table["diverged"].sum())
        if diverged:
            parts.append(f"{diverged} run(s) diverged and are left out.")
        halted = stops_sentence(self.runs)
        if halted:
            parts.append(halted)
        if table.loc[best, "point"] not in (None, "mean"):
            parts.append(f"{best} has no mean, so its point metrics score its {table.loc[best, 'point']}.")
        shaky = {law: int(n) for law, n in table["unstable"].items() if n}
        if shaky:
            parts.insert(
                1,
                "Warning: training was unstable: "
                + ", ".join(f"{n} run(s) of {law}" for law, n in shaky.items())
                + f" ended with a validation NLL more than {UNSTABLE_NATS:g} nat per label above the untrained model's "
                "(a learning rate too large?); their numbers are finite but are no evidence"
                + (", and the recommended law is among them." if best in shaky else "."),
            )
        warnings = self.uncertainty_warnings(metric, method=method)
        return Recommendation(best, metric, tied, " ".join(parts + warnings), float(v), warnings, used)

    def uncertainty_warnings(self, metric: str | None = None, *, method: str = "bootstrap") -> list[str]:
        """Sentences that caution about the evidence: a small test set, few seeds, intervals over seeds only."""
        metric = metric or self.config.primary_metric
        out = []
        size = self.test_size()
        if size is not None and size[0] * size[1] < SMALL_TEST_LABELS:
            rows, outputs = size
            shape = f"{rows} rows x {outputs} outputs" if outputs > 1 else f"{rows} rows"
            out.append(
                f"Caution, small test set: {rows * outputs} test labels ({shape}), fewer than {SMALL_TEST_LABELS}; intervals and p-values "
                "from so few labels are rough (a bootstrap of a small sample is too narrow), so take the ranking as tentative "
                "and give the test split more rows (test=, --test) or use more data."
            )
        seeds = max((len(self.values(law, metric)) for law in self.laws), default=0)
        if 0 < seeds < FEW_SEEDS:
            what = "not measured at all" if seeds == 1 else "measured from only 2 runs per law"
            out.append(
                f"Caution, {seeds} seed{'s' if seeds > 1 else ''}: the spread due to training randomness (initial weights, "
                f"minibatch order) is {what}; use {FEW_SEEDS} or more seeds (seeds=, --seeds)."
            )
        used, why = self.interval_method(metric) if method == "bootstrap" else ("seeds", "method='seeds' was asked for")
        if used == "seeds":
            out.append(
                f"Caution: intervals and p-values on {metric} are over seeds only ({why}), so they leave out the noise of a finite test "
                "set" + ("; re-run the comparison with this losslab for a bootstrap over test rows." if "older" in (why or "") else ".")
            )
        return out

    def intervals_note(self, level: float = 0.95, n_boot: int = 2000) -> str:
        """One sentence on how :meth:`table`'s intervals and :meth:`paired`'s p-values were computed (for reports)."""
        methods = self.table(level, n_boot=n_boot).attrs.get("interval_method", {})
        boot = [m for m, k in methods.items() if k == "bootstrap"]
        seeds = [m for m, k in methods.items() if k != "bootstrap" and m not in ("seconds", "epochs")]
        size = self.test_size()
        n_seeds = len(self.config.seeds)
        over = f"the {size[0]} test rows" if size else "the test rows"
        over += f" and the {n_seeds} seeds" if n_seeds > 1 else " with 1 seed"
        parts = []
        if boot:
            parts.append(f"{100 * level:g}% intervals are percentile bootstraps over {over} ({n_boot} paired draws) for {', '.join(boot)}")
        if seeds:
            parts.append(f"t-intervals over seeds (without test-set noise; none with one seed) for {', '.join(seeds)}")
        metric = self.config.primary_metric
        p_method = self.interval_method(metric)[0]
        p_text = "a paired bootstrap over test rows and seeds" if p_method == "bootstrap" else "paired t-tests over seeds"
        return "; ".join(parts) + f". p-values are from {p_text} against the best law on {metric}."

    def _ci_text(self, law: str, metric: str, table: pd.DataFrame, used: str, n_rows: int, why: str | None) -> str:
        """The value of ``law`` on ``metric`` with its interval and how it was made, never a NaN bound."""
        v, lo, hi = table.loc[law, metric], table.loc[law, metric + "_low"], table.loc[law, metric + "_high"]
        n_seeds = len(self.values(law, metric))
        seeds = f"{n_seeds} seed{'s' if n_seeds != 1 else ''}"
        if used == "bootstrap" and math.isfinite(lo) and math.isfinite(hi):
            over = f"the {n_rows} test rows and the {seeds}" if n_seeds > 1 else f"the {n_rows} test rows; {seeds}"
            return f"{v:.4g}, 95% CI {lo:.4g} to {hi:.4g} by a bootstrap over {over}"
        if math.isfinite(lo) and math.isfinite(hi):
            return f"{v:.4g}, 95% CI {lo:.4g} to {hi:.4g} over {seeds} (a t-interval, without test-set noise)"
        return f"{v:.4g}, {seeds}; no interval: one seed gives no spread over seeds, and {why or 'no test rows were kept'}"

    def _test_text(self, best: str, metric: str, paired: pd.DataFrame, others: list[str]) -> str:
        """The name of the test behind the ties, e.g. "paired bootstrap over 72 test rows and 5 seeds"."""
        kinds = {paired.loc[law, "method"] for law in others}
        if kinds == {"bootstrap"}:
            rows = int(paired.loc[others, "rows"].max())
            n = int(paired.loc[others, "n"].max())
            return f"paired bootstrap over {rows} test rows and {n} seeds" if n > 1 else f"paired bootstrap over {rows} test rows, 1 seed"
        if kinds == {"seeds"}:
            return "paired t-test over seeds"
        return "paired bootstrap over test rows and seeds, or a paired t-test over seeds for the laws without per-row values"


def check_comparable(metric: str, kinds: dict[str, str]) -> None:
    """Log-likelihoods rank laws only within one likelihood kind (a density, a pmf of counts, a soft-label BCE).

    ``kinds`` maps each law's label to its ``likelihood``.
    """
    if not metric_info.info(metric).likelihood or len(set(kinds.values())) < 2:
        return
    groups: dict[str, list[str]] = {}
    for label, kind in kinds.items():
        groups.setdefault(kind, []).append(label)
    listing = "; ".join(f"{kind}: {', '.join(labels)}" for kind, labels in groups.items())
    raise LosslabError(
        f"metric {metric!r} cannot rank these laws: their log-likelihoods are of different kinds ({listing}) and are not "
        "comparable; compare laws of one kind, or rank by crps or mean_squared_error"
    )

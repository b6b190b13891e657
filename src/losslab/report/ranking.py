"""The report's first screen as data: the laws ranked best-first, the tie group, one sentence why, one fixed-spread note.

A reviewer decides from this screen: the recommended law, why in one sentence, and a compact
table of the primary metric, CRPS and one calibration metric, each to the precision its
interval supports (:func:`~losslab.report.numbers.fmt_interval`). The laws the paired test
cannot tell from the best share its rank (``=1``). The full table
(:func:`~losslab.report.sections.summary_table`) follows, collapsed, and as ``table.csv``
(:func:`numeric_table`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..experiment.halving import stops_of
from ..experiment.recommend import fixed_spread_sentence
from ..experiment.result import ComparisonResult
from ..experiment.stats import higher_is_better
from .numbers import DASH, fmt_interval, fmt_p

if TYPE_CHECKING:  # pandas is imported by the functions that build tables
    import pandas as pd

__all__ = [
    "ALPHA", "DUPLICATES", "P_COLUMN", "RANK_COLUMN", "compact_metrics", "duplicate_metrics", "duplicates_note", "evidence_text",
    "fixed_spread_note", "numeric_table", "rank_order", "ranked_legend", "ranked_table", "strip_fixed_sentence", "tie_group",
    "why_sentence",
]

#: the level of the ties the report shows: :meth:`~losslab.experiment.result.ComparisonResult.recommend`'s default
ALPHA = 0.05
#: metrics that can repeat another one exactly: brier_loss is the squared error of a probability, so for labels in
#: [0, 1] scored at the law's mean it *is* mean_squared_error (metrics/evaluate.py copies the row terms)
DUPLICATES = {"brier_loss": "mean_squared_error"}
RANK_COLUMN = "rank"
P_COLUMN = "p vs best"
#: the calibration metric of the compact table, the first one the comparison has (a point metric before the PIT's)
_CALIBRATION = ("calibration_error", "pit_calibration_error")
#: the distributional score of the compact table (energy_score for vector labels)
_SCORES = ("crps", "energy_score")


def rank_order(result: ComparisonResult, metric: str | None = None) -> list[str]:
    """The laws best-first by the mean of ``metric`` (the primary metric); laws without a value last, in grid order."""
    metric = metric or result.config.primary_metric
    table = result.table()
    col = table[metric].astype(float) if metric in table.columns else None
    sign = -1.0 if higher_is_better(metric) else 1.0

    def key(item: tuple[int, str]) -> tuple[int, float, int]:
        i, law = item
        v = math.nan if col is None else float(col.get(law, math.nan))
        return (0, sign * v, i) if math.isfinite(v) else (1, 0.0, i)

    return [law for _, law in sorted(enumerate(result.laws), key=key)]


def tie_group(rec) -> list[str]:
    """The recommended law and the laws statistically tied with it (p >= alpha), the recommended one first."""
    return [rec.law, *[law for law in rec.tied if law != rec.law]]


def compact_metrics(result: ComparisonResult) -> list[str]:
    """The compact table's metrics: the primary one, CRPS (or the energy score), one calibration metric; each once."""
    have = set(result.metrics())
    primary = result.config.primary_metric
    out = [primary]
    for group in (_SCORES, _CALIBRATION):
        pick = next((m for m in group if m in have), None)
        if pick is not None and pick not in out:
            out.append(pick)
    return out


def duplicate_metrics(result: ComparisonResult) -> dict[str, str]:
    """``{metric: the metric it repeats}`` for each metric of :data:`DUPLICATES` equal to its twin wherever it has a value.

    The report shows such a metric once (under its twin's name) and says so; :meth:`table`
    and ``results.csv`` keep both. The primary metric is never left out.
    """
    out = {}
    for metric, twin in DUPLICATES.items():
        if metric == result.config.primary_metric:
            continue
        # Where the metric has no value (a law whose mean leaves [0, 1]) nothing is lost; where it has one it must be equal.
        pairs = [(r["metrics"].get(metric), r["metrics"].get(twin)) for r in result.runs if r["status"] == "ok"]
        pairs = [(a, b) for a, b in pairs if a is not None]
        if pairs and all(a == b for a, b in pairs):
            out[metric] = twin
    return out


def duplicates_note(result: ComparisonResult) -> str | None:
    """A sentence saying which metrics the full table shows once (see :func:`duplicate_metrics`), or None."""
    dupes = duplicate_metrics(result)
    if not dupes:
        return None
    listing = "; ".join(f"{m} equals {twin} for every law that has it" for m, twin in dupes.items())
    return (f"{listing} (the Brier loss is the squared error of a probability, and these labels are probabilities), "
            f"so the table shows it once, as {', '.join(dict.fromkeys(dupes.values()))}; results.csv keeps both.")


def _status(result: ComparisonResult, rec, paired: pd.DataFrame, law: str, n_boot: int = 2000) -> str:
    """The "p vs best" cell: best, the p-value (with "tied" for the tie group), stopped or diverged."""
    stops = stops_of(result.runs)
    if law == rec.law:
        return "best"
    if law in stops and "epoch" in stops[law]:
        return f"stopped at epoch {stops[law]['epoch']}"
    if not result.values(law, rec.metric):
        return "diverged" if any(r["law"] == law and r["status"] == "diverged" for r in result.runs) else DASH
    p = float(paired.loc[law, "p_value"]) if law in paired.index else math.nan
    floor = 2 / (n_boot + 1) if law in paired.index and paired.loc[law, "method"] == "bootstrap" else None
    shown = fmt_p(p, floor)
    return f"{shown}, tied" if law in rec.tied and shown != DASH else shown


def _cell(table: pd.DataFrame, law: str, metric: str) -> str:
    v, lo, hi = (float(table.loc[law, c]) for c in (metric, f"{metric}_low", f"{metric}_high"))
    return fmt_interval(v, (hi - lo) / 2 if math.isfinite(lo) and math.isfinite(hi) else math.nan)


def ranked_table(result: ComparisonResult, rec) -> pd.DataFrame:
    """The first screen's table: laws best-first with their rank, the :func:`compact_metrics` and "p vs best".

    Values are ``mean ± 95% half-width`` rounded to the half-width's 2 significant digits. The
    tie group (:func:`tie_group`) shares rank ``=1``; a law after it gets its position. A law
    whose spread is an option has its spread metrics marked † (see :func:`fixed_spread_note`).
    """
    import pandas as pd

    from .sections import FIXED_MARK, SPREAD_METRICS

    table = result.table()
    paired = result.paired(rec.metric)
    order = rank_order(result, rec.metric)
    group = tie_group(rec)
    fixed = result.fixed_spread()
    out = pd.DataFrame(index=pd.Index(order, name="law"))
    out[RANK_COLUMN] = [("=1" if len(group) > 1 else "1") if law in group else str(i + 1) for i, law in enumerate(order)]
    for m in compact_metrics(result):
        cells = []
        for law in order:
            s = _cell(table, law, m)
            cells.append(s + (f" {FIXED_MARK}" if law in fixed and m in SPREAD_METRICS and s != DASH else ""))
        out[m] = cells
    out[P_COLUMN] = [_status(result, rec, paired, law) for law in order]
    return out


def why_sentence(result: ComparisonResult, rec) -> str:
    """One sentence: the recommended law's value on the primary metric and what the paired tests say about the others."""
    table = result.table()
    paired = result.paired(rec.metric)
    value = _cell(table, rec.law, rec.metric)
    direction = "highest" if higher_is_better(rec.metric) else "lowest"
    head = f"{rec.law} has the {direction} {rec.metric} on held-out data ({value})"
    others = [law for law in result.laws if law != rec.law and result.values(law, rec.metric)]
    if not others:
        return f"{rec.law} is the only law with a finished run ({rec.metric} {value})."
    if rec.tied:
        names = ", ".join(rec.tied)
        verb = "is" if len(rec.tied) == 1 else "are"
        return f"{head}, but {names} {verb} statistically tied with it (p ≥ {ALPHA:g}): the data do not single it out."
    tested = [law for law in others if law in paired.index and math.isfinite(paired.loc[law, "p_value"])]
    if not tested:
        return f"{head}; the other laws could not be tested against it."
    runner = min(tested, key=lambda law: abs(paired.loc[law, "diff"]))
    floor = 2 / 2001 if paired.loc[runner, "method"] == "bootstrap" else None
    p = fmt_p(float(paired.loc[runner, "p_value"]), floor)
    p = p if p.startswith("<") else f"= {p}"
    return f"{head}, and every other law is worse by a paired test (the closest, {runner}, p {p})."


def fixed_spread_note(result: ComparisonResult) -> str | None:
    """The first screen's one sentence on the laws whose spread is an option (not learned), or None if there are none.

    The report shows it once: in the answer when the recommended law is such a law, else under
    the compact table; the longer caveat sits with the full table.
    """
    from .sections import FIXED_MARK

    fixed = result.fixed_spread()
    if not fixed:
        return None
    laws = ", ".join(f"{law} (standard deviation {sd:.3g})" for law, sd in fixed.items())
    many = len(fixed) > 1
    return (
        f"{FIXED_MARK} {laws} {'have' if many else 'has'} a fixed spread set by an option, not learned: use "
        f"{'them' if many else 'it'} for point predictions; {'their' if many else 'its'} CRPS, log score, PIT and intervals "
        f"(marked {FIXED_MARK}) say nothing about uncertainty."
    )


def strip_fixed_sentence(result: ComparisonResult, rec, text: str) -> str:
    """``text`` (the recommendation's paragraph) without its sentence on the recommended law's fixed spread."""
    sd = result.fixed_spread().get(rec.law)
    if sd is None:
        return text
    return text.replace(" " + fixed_spread_sentence(rec.law, sd), "").replace(fixed_spread_sentence(rec.law, sd), "")


def evidence_text(result: ComparisonResult, rec) -> str:
    """The recommendation's paragraph for "The evidence": without the headline, the cautions and the fixed-spread sentence
    (the first screen shows those), its subject named."""
    from .sections import reason_body

    body = strip_fixed_sentence(result, rec, reason_body(rec))
    return f"{rec.law} {body[3:]}" if body.startswith("It ") else body


def numeric_table(result: ComparisonResult, rec) -> pd.DataFrame:
    """The full table as numbers for ``table.csv``: laws best-first, :meth:`table`'s columns (in its one order).

    Columns that are NaN for every law and the metrics of :func:`duplicate_metrics` (with
    their bounds) are left out; ``p_value`` is the paired test against the best law.
    """
    table = result.table()
    drop = [c for m in duplicate_metrics(result) for c in (m, f"{m}_low", f"{m}_high") if c in table.columns]
    table = table.drop(columns=drop)
    table = table.loc[:, [c for c in table.columns if table[c].notna().any()]]
    table = table.reindex(rank_order(result, rec.metric))
    table["p_value"] = result.paired(rec.metric)["p_value"].reindex(table.index)
    return table


def ranked_legend(rec, group: list[str]) -> str:
    """The sentence under the compact table: what its numbers are, what "p vs best" and the shared rank mean."""
    tie = (f" Rank =1: statistically tied with the best (p ≥ {ALPHA:g}), {len(group)} laws the data cannot tell apart."
           if len(group) > 1 else "")
    return (
        "Mean ± 95% CI half-width on held-out data, each shown to the precision its interval supports; "
        f"p vs best: the paired test of each law against {rec.law} on {rec.metric}.{tie}"
    )

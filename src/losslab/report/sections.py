"""The report's content, as plain data and sentences: the summary table, the caveats, what was compared, "Use it".

Pure functions of a :class:`~losslab.experiment.result.ComparisonResult`; the writers
(:mod:`~losslab.report.write` for Markdown, :mod:`~losslab.report.html`) lay them out.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..experiment.halving import stops_of, stops_sentence
from ..experiment.result import ComparisonResult
from ..experiment.stats import NOT_RANKED, higher_is_better
from ..laws.spec import law_label
from ..metrics import info as metric_info

if TYPE_CHECKING:  # pandas is imported by the functions that build tables
    import pandas as pd

__all__ = [
    "FIXED_MARK", "LIKELIHOOD_METRICS", "SPREAD_METRICS", "TABLE_METRICS", "UseIt", "cautions", "caveats", "compact_json", "compared_on", "fixed_spread_laws",
    "fixed_winner_note", "fmt", "labels_summary", "likelihood_kinds", "reason_body", "relative", "summary_table", "use_it",
]

TABLE_METRICS = (
    "mean_squared_error",
    "mean_absolute_error",
    "log_score",
    "crps",
    "calibration_error",
    "bernoulli_kl",
    "pit_calibration_error",
    "interval_coverage",
    "spearman_score",
)


#: metrics on the scale of each law's own likelihood: comparable only between laws of one kind
LIKELIHOOD_METRICS = metric_info.names(likelihood=True)


def likelihood_kinds(result: ComparisonResult) -> dict[str, str]:
    """``{law label: "density" | "pmf" | "mixed" | "soft-bernoulli"}`` (see ``Law.likelihood``)."""
    from ..laws import law_class

    return {law_label(n, o): law_class(n).likelihood for n, o in result.config.laws}


#: the test-row metrics that score the predictive law's spread, not only its centre
SPREAD_METRICS = metric_info.names(spread=True, evaluated=True)

#: the mark of a number that scores a spread the law did not learn (see :func:`fixed_spread_laws`)
FIXED_MARK = "†"


def fixed_spread_laws(result: ComparisonResult) -> dict[str, float]:
    """``{law label: predictive standard deviation}`` of the laws whose spread does not depend on the input.

    See :meth:`ComparisonResult.fixed_spread` (the laws' own :func:`losslab.laws.spec.fixed_spread`).
    """
    return result.fixed_spread()


def caveats(result: ComparisonResult) -> list[str]:
    """Plain sentences on what the table's numbers can and cannot be compared on."""
    kinds = likelihood_kinds(result)
    notes = []
    fixed = fixed_spread_laws(result)
    if fixed:
        shown = [m for m in SPREAD_METRICS if m in result.metrics()]
        notes.append(
            f"{FIXED_MARK} "
            + ", ".join(f"{law} (standard deviation {sd:.3g} for every input)" for law, sd in fixed.items())
            + (" has" if len(fixed) == 1 else " have")
            + " a fixed spread set by an option (sigma or scale), not learned from the data: "
            f"{'its' if len(fixed) == 1 else 'their'} {', '.join(shown) or 'distributional scores'} (marked {FIXED_MARK}) "
            "score that arbitrary spread, so they are not meaningful distributional scores (the log score is only a "
            "rescaled point error) and are left out of the ★ marks; compare such laws on the point metrics "
            "(mean_squared_error, mean_absolute_error, calibration_error)."
        )
    if len(set(kinds.values())) > 1:
        groups: dict[str, list[str]] = {}
        for law, k in kinds.items():
            groups.setdefault(k, []).append(law)
        notes.append(
            "log_score is the mean NLL on each law's own scale, so it is not ranked across kinds: "
            + "; ".join(f"{k}: {', '.join(v)}" for k, v in groups.items())
            + " (soft-bernoulli is BCE, not a density; pmf is over counts k of n)."
        )
    halted = stops_sentence(result.runs)
    if halted:  # successive halving (compare(halving=...)): the table's dashes for these laws are no result, not a bad one
        notes.append(halted)
    rep = result.labels
    atoms = (getattr(rep, "frac_zero", 0) or 0) + (getattr(rep, "frac_one", 0) or 0)
    if atoms > 0 and "density" in kinds.values():
        notes.append(
            f"{100 * atoms:.0f}% of labels are exactly 0 or 1: a density law can raise its log score without "
            "bound by piling density at the edges, so for such labels prefer CRPS and the point metrics."
        )
    return notes


def fmt(v: Any) -> str:
    """A number with 4 significant digits (a dash for NaN or inf); anything else as text."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "–" if not math.isfinite(f) else f"{f:.4g}"


def summary_table(result: ComparisonResult) -> pd.DataFrame:
    """Law x metric strings "mean ± half-width", the laws best-first by the primary metric, the best per column marked ★.

    Each value is rounded to the precision its interval supports (:func:`~.numbers.fmt_interval`),
    p-values read ``< 0.001`` or ``0.012`` (:func:`~.numbers.fmt_p`). Columns follow the comparison's
    one order (:data:`~losslab.experiment.result.METRIC_ORDER`); a metric that repeats another
    (:func:`~.ranking.duplicate_metrics`: brier_loss where it equals mean_squared_error) and a
    metric no law has a value of are left out.
    """
    import pandas as pd

    from .numbers import fmt_interval, fmt_p
    from .ranking import duplicate_metrics, rank_order

    table = result.table()
    dupes = duplicate_metrics(result)
    metrics = [m for m in result.metrics() if m not in ("seconds", "epochs", "val_nll") and m not in dupes and table[m].notna().any()]
    order = rank_order(result)
    out = pd.DataFrame(index=pd.Index(order, name="law"))
    kinds = likelihood_kinds(result)
    fixed = fixed_spread_laws(result)
    for m in metrics:
        col = table[m].astype(float)
        flagged = set(fixed) if m in SPREAD_METRICS else set()
        # A fixed spread is not a forecast of spread: such laws cannot win a spread metric's star.
        col = col.drop(index=[law for law in flagged if law in col.index])
        best = None
        mixed = m in LIKELIHOOD_METRICS and len({kinds[law] for law in col.dropna().index}) > 1
        if m not in NOT_RANKED and col.notna().any() and not mixed:
            best = col.idxmax() if higher_is_better(m) else col.idxmin()
        cells = []
        for law in order:
            v, lo, hi = table.loc[law, m], table.loc[law, f"{m}_low"], table.loc[law, f"{m}_high"]
            s = fmt_interval(float(v), (hi - lo) / 2 if math.isfinite(lo) and math.isfinite(hi) else math.nan)
            cells.append(("★ " if law == best else "") + s + (f" {FIXED_MARK}" if law in flagged and math.isfinite(v) else ""))
        out[m] = cells
    frame = result.frame()
    if "seconds" in frame.columns and not frame.empty:
        # Seconds are a property of the run, not a metric of its predictions, so they come from the frame.
        secs = frame.groupby("law", observed=False)["seconds"].mean()
        out["seconds/run"] = [f"{secs.get(law, math.nan):.2g}" if math.isfinite(secs.get(law, math.nan)) else "–" for law in order]
    paired = result.paired()
    stops = stops_of(result.runs)
    floor = {law: 2 / 2001 if paired.loc[law, "method"] == "bootstrap" else None for law in paired.index}
    out[f"p vs best ({result.config.primary_metric})"] = [
        f"stopped at epoch {stops[law]['epoch']}" if law in stops and "epoch" in stops[law]
        else "best" if law in paired.index and paired.loc[law, "reference"] == law
        else fmt_p(float(paired.loc[law, "p_value"]), floor[law]) if law in paired.index else "–"
        for law in order
    ]
    return out


def compact_json(obj: Mapping[str, Any]) -> str:
    """``obj`` as JSON with one top-level key per line and each value on that line (the configuration, read by a person).

    >>> print(compact_json({"laws": [["beta", {}], ["zoib", {}]], "seeds": [0, 1, 2]}))
    {
     "laws": [["beta", {}], ["zoib", {}]],
     "seeds": [0, 1, 2]
    }
    """
    import json

    items = [f" {json.dumps(str(k))}: {json.dumps(v, default=str, ensure_ascii=False)}" for k, v in obj.items()]
    return "{\n" + ",\n".join(items) + "\n}"


def labels_summary(result: ComparisonResult) -> list[str]:
    """The label diagnostics saved with the comparison: one line of facts, then their messages."""
    rep = result.labels
    if rep is None:
        return []
    msgs = list(getattr(rep, "messages", []) or [])
    facts = []
    for k in ("n", "n_targets", "min", "max", "mean", "std", "frac_zero", "frac_one", "support_kind"):
        if hasattr(rep, k):
            facts.append(f"{k} = {fmt(getattr(rep, k))}")
    return ([", ".join(facts)] if facts else []) + msgs


def compared_on(result: ComparisonResult) -> str:
    """One sentence: the data, the model and the grid the recommendation rests on."""
    meta = result.data_meta
    cfg = result.config
    data = str(meta.get("name") or "data")
    extra = ", ".join(str(x) for x in (f"{meta['n']} rows" if meta.get("n") is not None else None, meta.get("kind")) if x)
    return (
        f"Compared on {data}{f' ({extra})' if extra else ''}: model {cfg.model}, {len(result.laws)} laws "
        f"({', '.join(result.laws)}) x {len(cfg.seeds)} seeds, up to {cfg.train.epochs} epochs per run, "
        f"ranked by {cfg.primary_metric} on the held-out test split."
    )


def reason_body(rec) -> str:
    """The recommendation's paragraph without its first sentence when that only repeats the headline,
    and without its cautions, which the report shows apart (:func:`cautions`)."""
    lead = f"Recommended law: {rec.law}. "
    body = rec.reason[len(lead):] if rec.reason.startswith(lead) else rec.reason
    for w in getattr(rec, "warnings", []):
        body = body.replace(" " + w, "")
    return body


def cautions(rec) -> list[str]:
    """The recommendation's warnings (a small test set, few seeds, intervals over seeds only), each marked ⚠."""
    return [f"⚠ {w}" for w in getattr(rec, "warnings", [])]


def fixed_winner_note(result: ComparisonResult, rec, prefix: str = "") -> list[str]:
    """A warning when the recommended law has a fixed spread (then an empty line), else nothing."""
    fixed = fixed_spread_laws(result)
    if rec.law not in fixed:
        return []
    return [
        f"{prefix}{FIXED_MARK} {rec.law} has a fixed spread (standard deviation {fixed[rec.law]:.3g} for every input): "
        "use it for its point predictions; its log score, CRPS, PIT and intervals say nothing about uncertainty.",
        "",
    ]


@dataclass
class UseIt:
    """The report's "Use it" section: a sentence, the Python lines and the shell lines that load and use the model."""

    intro: str
    python: str
    shell: str | None = None
    note: str | None = None


def relative(path: str | Path, base: Path) -> str:
    """``path`` relative to ``base`` when it lies inside it (as a POSIX path), else as given."""
    try:
        return Path(path).resolve().relative_to(Path(base).resolve()).as_posix()
    except ValueError:
        return str(path)


def use_it(result: ComparisonResult, models: Mapping[str, str | Path] | None = None) -> UseIt:
    """The exact lines that load the kept model (the first of ``models``), or the best one from the run store, and predict."""
    label, seed = result.best_seed()
    runs = [r for r in result.runs if r["law"] == label and r["seed"] == seed]
    factory = next((r.get("config", {}).get("predictor", {}).get("factory") for r in runs), None)
    needs_trials = bool(runs) and _needs_trials(result, label)
    trials = ", trials=n" if needs_trials else ""
    store = getattr(result.store, "path", None)
    comparison = next((r.get("comparison") for r in result.runs if r.get("comparison")), None)
    names = result.data_meta.get("feature_names") or []
    if result.data_meta.get("kind") == "image":
        shape = "images (n, C, H, W), as the comparison read them"
    elif names:
        shape = (f"a DataFrame with the training file's feature columns, or an array of the {len(names)} features "
                 f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})")
    else:
        shape = "an array of the training features, in their order"
    given = f", model={factory}" if factory else ""
    lines = ["import losslab as ll", ""]
    if models:
        what, path = next(iter(models.items()))
        intro = f"The model kept is {what}: the recommended law's seed that scored best on the validation rows."
        lines.append(f"model = ll.load_model({str(path)!r}{given})")
    else:
        intro = f"The model to keep is {label}, seed {seed}: the recommended law's seed that scored best on the validation rows."
        if store and store != ":memory:":
            lines.append(f"result = ll.experiment.load_result({store!r}, comparison={comparison!r})")
            lines.append(f"model = result.best_model({given[2:]})  # {label}, seed {seed}")
            lines.append(f"model.save({_file_name(label, seed)!r})  # one file: ll.load_model(...) reads it back")
        else:
            lines.append(f"model = result.best_model({given[2:]})  # {label}, seed {seed}; result: what ll.compare returned")
    lines += [
        f"X = ...  # {shape}",
        "mean = model.predict(X)",
        f"low, high = model.predict_interval(X, level=0.9{trials})",
        f"dist = model.predict_dist(X{trials})  # a torch distribution per row",
    ]
    if models and len(result.config.seeds) > 1:
        lines += ["", f"ensemble = ll.experiment.load_result({store!r}, comparison={comparison!r}).ensemble_model({label!r}{given})"
                  if store and store != ":memory:" else f"ensemble = result.ensemble_model({label!r}{given})"]
    shell = note = None
    if factory:
        note = f"The model was built by the custom factory {factory}: load it in Python, passing the factory; the losslab command cannot rebuild it."
    elif models:
        path = next(iter(models.values()))
        data = result.data_meta.get("source") or result.data_meta.get("name") or "NEW_DATA.csv"
        if data == "arrays":
            data = "NEW_DATA.csv"
        quant = " --quantiles 0.1,0.5,0.9" if not needs_trials else " --trials N"
        shell = f"losslab predict {shlex.quote(str(path))} {shlex.quote(str(data))} --out predictions.csv --level 0.9{quant}"
    if any(not any(k.startswith("state/") for k in (r.get("arrays") or {})) for r in runs):
        note = (note + " " if note else "") + (
            "This run was stored without its weights (by an older losslab): run the comparison again with a new store to keep them."
        )
    return UseIt(intro, "\n".join(lines), shell, note)


def _needs_trials(result: ComparisonResult, label: str) -> bool:
    from ..laws import law_class

    name = next((n for n, o in result.config.laws if law_label(n, o) == label), label)
    return bool(law_class(name).needs_trials)


def _file_name(label: str, seed: int) -> str:
    from ..experiment.model_file import file_name

    return file_name(label, seed)

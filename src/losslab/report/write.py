"""Write a comparison's report: report.html (self-contained), report.md, PNG figures, results.csv/json.

The answer comes first: the recommended law, what it was compared on, the laws
tied with it and why. Every user-supplied string (a data set's or column's name, a law's
name or option, a path) is text, never markup: HTML-escaped in report.html, escaped for
CommonMark in report.md (:func:`md_text`, :func:`md_fence`). Files are written only inside
the chosen output folder.

This module draws the figures and writes the files; the content (the summary table, the
caveats, "Use it") is computed by :mod:`~losslab.report.sections`, the escaping is
:mod:`~losslab.report.markdown`'s and the page :mod:`~losslab.report.html`'s.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from .._errors import LosslabError
from ..experiment.plan import versions
from ..experiment.result import ComparisonResult
from . import figures as F
from .html import write_html
from .ranking import numeric_table
from .markdown import markdown_table, md_fence, md_text
from .sections import (  # noqa: F401  TABLE_METRICS .. use_it: re-exported from where they were defined before
    FIXED_MARK,
    LIKELIHOOD_METRICS,
    SPREAD_METRICS,
    TABLE_METRICS,
    UseIt,
    cautions,
    compact_json,
    caveats,
    compared_on,
    fixed_spread_laws,
    fixed_winner_note,
    labels_summary,
    likelihood_kinds,
    reason_body,
    relative,
    summary_table,
    use_it,
)

if TYPE_CHECKING:
    import pandas as pd


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def draw_figures(result: ComparisonResult, out: Path) -> dict[str, Path]:
    """Draw the report's figures into ``out`` as PNG files; return their paths by name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: dict[str, Path] = {}
    metric = result.config.primary_metric
    n = len(result.laws)
    cols = min(3, n)
    rows = math.ceil(n / cols)

    fig, ax = plt.subplots(figsize=(7, 0.45 * n + 1.5))
    F.plot_metric_dots(F.metric_dots_data(result, metric), metric, ax=ax)
    paths["metric"] = _save(fig, out / "metric.png")

    def law_grid(name: str, height: float, draw) -> Path:
        """One panel per law, three to a row; ``draw(ax, law)`` fills a panel, unused panels are hidden."""
        fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, height * rows), squeeze=False)
        for ax, law in zip(axes.flat, result.laws):
            draw(ax, law)
        for ax in list(axes.flat)[n:]:
            ax.set_axis_off()
        return _save(fig, out / name)

    def no_pit(ax, law: str) -> None:
        F.plot_missing("no PIT for this law", law, ax=ax)

    rel = F.reliability_data(result)
    if rel:
        paths["reliability"] = law_grid(
            "reliability.png", 3.6,
            lambda ax, law: F.plot_reliability(rel[law], law, ax=ax) if law in rel else F.plot_missing("labels outside [0, 1]", law, ax=ax),
        )
    curves = F.learning_curves_data(result)
    paths["learning"] = law_grid("learning_curves.png", 2.8, lambda ax, law: F.plot_learning_curves(curves.get(law, []), law, ax=ax))
    pit = F.pit_data(result)
    fixed = fixed_spread_laws(result)

    def pit_panel(ax, law: str) -> None:
        if law not in pit:
            no_pit(ax, law)
        else:
            F.plot_pit(pit[law], f"{law} {FIXED_MARK} (fixed spread)" if law in fixed else law, ax=ax)

    if pit:
        paths["pit"] = law_grid("pit.png", 2.6, pit_panel)
    limits = F.shared_limits([F.pooled_predictions(result, law) for law in result.laws])  # the same axes in every panel
    paths["scatter"] = law_grid("scatter.png", 3.1, lambda ax, law: F.plot_scatter(*F.pooled_predictions(result, law), law, ax=ax, limits=limits))

    ys = [r["arrays"]["y_true"] for r in result.runs if "y_true" in (r.get("arrays") or {})]
    if ys:
        counts, edges = F.label_histogram_data(ys[0])
        fig, ax = plt.subplots(figsize=(6, 3))
        F.plot_label_histogram(counts, edges, "test labels", ax=ax)
        paths["labels"] = _save(fig, out / "labels.png")
    return paths


def write_report(result: ComparisonResult, out_dir: str | Path, *, command: str | None = None, figures: bool = True,
                 models: Mapping[str, str | Path] | None = None) -> dict[str, Path]:
    """Write the report files into ``out_dir`` (created if missing); return their paths.

    report.html and report.md open on what a reviewer decides from: the recommended law, one
    sentence why, and the laws ranked best-first on the primary metric, CRPS and a calibration
    metric (:mod:`~losslab.report.ranking`); the full table follows, collapsed, and is written
    as ``table.csv`` (key ``"table_csv"``) beside ``results.csv`` (one row per run).

    ``models`` (``{description: path}``, the best first, as :func:`~losslab.experiment.predictor.keep_models`
    returns them) are the model files kept beside the report: its final "Use it" section shows the
    lines that load and use them (else the lines that get the best model from the run store).
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise LosslabError(f"output folder {str(out)!r} is not writable ({e.strerror})") from None
    rec = result.recommend()
    table = summary_table(result)
    frame = result.frame()
    paths: dict[str, Path] = {}
    frame.to_csv(out / "results.csv", index=False)
    paths["csv"] = out / "results.csv"
    # The full table as numbers (laws best-first, the table's one column order), linked from the report.
    numeric_table(result, rec).to_csv(out / "table.csv")
    paths["table_csv"] = out / "table.csv"
    payload = {
        "recommendation": {"law": rec.law, "metric": rec.metric, "value": rec.value, "tied": rec.tied, "reason": rec.reason,
                           "warnings": list(getattr(rec, "warnings", [])), "method": getattr(rec, "method", "seeds")},
        "intervals": result.intervals_note(),
        "compared_on": compared_on(result),
        "caveats": caveats(result),
        "fixed_spread": fixed_spread_laws(result),
        "data": result.data_meta,
        "config": result.config.as_dict(),
        "versions": result.versions or versions(),
        "command": command,
        "table": json.loads(result.table().to_json(orient="index")),
        "runs": json.loads(frame.to_json(orient="records")),
        # relative to the report's folder (where they are written), so that the file reads the same from any location
        "models": {what: relative(p, out) for what, p in (models or {}).items()},
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2, default=str))
    paths["json"] = out / "results.json"
    figs = draw_figures(result, out) if figures else {}
    paths.update(figs)
    use = use_it(result, models)
    paths["md"] = _write_md(out, result, rec, table, figs, command, use)
    paths["html"] = write_html(out, result, rec, table, figs, command, use)
    return paths


def _write_md(out: Path, result, rec, table: pd.DataFrame, figs: dict[str, Path], command: str | None, use: UseIt | None = None) -> Path:
    # Every string that can hold user text (a data set's name, column names, law names and options, paths)
    # goes through md_text or md_fence; the rest is this function's own markup.
    from .ranking import RANK_COLUMN, duplicates_note, evidence_text, fixed_spread_note, ranked_legend, ranked_table, tie_group, why_sentence

    note = fixed_spread_note(result)
    winner_fixed = rec.law in result.fixed_spread()
    ranked = ranked_table(result, rec)
    shown = ranked.drop(columns=[RANK_COLUMN])
    shown.insert(0, "law", shown.index)
    shown.index = ranked[RANK_COLUMN].rename("rank")
    lines = [
        f"# losslab report: {md_text(result.data_meta.get('name', 'data'))}",
        "",
        f"**Recommended law: {md_text(rec.law)}**",
        "",
        md_text(why_sentence(result, rec)),
        "",
    ] + ([f"> {md_text(note)}", ""] if note and winner_fixed else []) + [
        line for w in cautions(rec) for line in (f"> **{md_text(w)}**", "")
    ] + [
        md_text(compared_on(result)),
        "",
        f"## Laws ranked by {md_text(rec.metric)}",
        "",
        markdown_table(shown),
        "",
        md_text(ranked_legend(rec, tie_group(rec))),
        "",
    ] + ([md_text(note), ""] if note and not winner_fixed else []) + [
        "## The evidence",
        "",
        md_text(evidence_text(result, rec)),
        "",
        "## All metrics",
        "",
        # A raw HTML block (it ends at the blank line); the Markdown between the tags renders as usual.
        "<details>",
        f"<summary>The full table: {len(table.columns)} columns for {len(table)} laws, ★ the best per column</summary>",
        "",
        md_text("Mean ± 95% CI half-width on held-out data. " + result.intervals_note()),
        "",
        markdown_table(table),
        "",
    ] + [line for c in [*caveats(result), duplicates_note(result)] if c for line in (f"> {md_text(c)}", "")] + [
        "</details>",
        "",
        "As CSV: [table.csv](table.csv) (each law's means and interval bounds), [results.csv](results.csv) (one row per run).",
        "",
    ]
    for key, title in (("metric", "Primary metric by law"), ("reliability", "Soft-label reliability"), ("learning", "Learning curves"), ("pit", "PIT histograms"), ("scatter", "Predicted vs true")):
        if key in figs:
            lines += [f"## {title}", "", f"![{title}]({figs[key].name})", ""]
    if labels_summary(result) or "labels" in figs:
        lines += ["## Labels", ""]
        if "labels" in figs:
            lines += [f"![Test labels]({figs['labels'].name})", ""]
        lines += [f"- {md_text(m)}" for m in labels_summary(result)] + [""]
    config = compact_json({**result.config.as_dict(), "versions": result.versions or versions()})
    lines += ["## Configuration", "", "<details>", "<summary>The comparison's settings and versions (JSON)</summary>", "",
              md_fence(config, "json"), "", "</details>", ""]
    if command:
        lines += ["Reproduce with:", "", md_fence(command, "bash"), ""]
    if use is not None:
        lines += ["## Use it", "", md_text(use.intro), "", md_fence(use.python, "python"), ""]
        if use.shell:
            lines += ["From the command line:", "", md_fence(use.shell, "bash"), ""]
        if use.note:
            lines += [f"> {md_text(use.note)}", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path

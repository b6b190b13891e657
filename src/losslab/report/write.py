"""Write a comparison's report: report.html (self-contained), report.md, PNG figures, results.csv/json.

The answer comes first: the recommended law, what it was compared on, the laws
tied with it and why. Every user-supplied string (a data set's or column's name, a law's
name or option, a path) is text, never markup: HTML-escaped in report.html, escaped for
CommonMark in report.md (:func:`md_text`, :func:`md_fence`). Files are written only inside
the chosen output folder.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import shlex
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .._errors import LosslabError
from ..experiment.plan import versions
from ..experiment.result import ComparisonResult
from ..laws.spec import law_label
from ..experiment.stats import NOT_RANKED, higher_is_better
from ..metrics import info as metric_info
from . import figures as F

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
    rep = result.labels
    atoms = (getattr(rep, "frac_zero", 0) or 0) + (getattr(rep, "frac_one", 0) or 0)
    if atoms > 0 and "density" in kinds.values():
        notes.append(
            f"{100 * atoms:.0f}% of labels are exactly 0 or 1: a density law can raise its log score without "
            "bound by piling density at the edges, so for such labels prefer CRPS and the point metrics."
        )
    return notes


def _fmt(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "–" if not math.isfinite(f) else f"{f:.4g}"


def summary_table(result: ComparisonResult) -> pd.DataFrame:
    """Law x metric strings "mean ± half-width", the best per column marked with ★."""
    table = result.table()
    metrics = [m for m in TABLE_METRICS if m in table.columns] + [
        m for m in result.metrics() if m not in TABLE_METRICS and m not in ("seconds", "epochs", "val_nll")
    ]
    out = pd.DataFrame(index=table.index)
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
        for law in table.index:
            v, lo, hi = table.loc[law, m], table.loc[law, f"{m}_low"], table.loc[law, f"{m}_high"]
            s = _fmt(v) + (f" ± {_fmt((hi - lo) / 2)}" if math.isfinite(lo) and math.isfinite(hi) else "")
            cells.append(("★ " if law == best else "") + s + (f" {FIXED_MARK}" if law in flagged and math.isfinite(v) else ""))
        out[m] = cells
    frame = result.frame()
    if "seconds" in frame.columns and not frame.empty:
        # Seconds are a property of the run, not a metric of its predictions, so they come from the frame.
        secs = frame.groupby("law", observed=False)["seconds"].mean()
        out["seconds/run"] = [_fmt(secs.get(law, math.nan)) for law in table.index]
    paired = result.paired()
    out[f"p vs best ({result.config.primary_metric})"] = [_fmt(p) for p in paired["p_value"].reindex(table.index)]
    return out


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def draw_figures(result: ComparisonResult, out: Path) -> dict[str, Path]:
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
        ax.text(0.5, 0.5, "no PIT for this law", ha="center", va="center", fontsize=8)
        ax.set_axis_off()

    rel = F.reliability_data(result)
    if rel:
        paths["reliability"] = law_grid(
            "reliability.png", 3.1, lambda ax, law: F.plot_reliability(rel[law], law, ax=ax) if law in rel else ax.set_axis_off()
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
    paths["scatter"] = law_grid("scatter.png", 3.1, lambda ax, law: F.plot_scatter(*F.pooled_predictions(result, law), law, ax=ax))

    ys = [r["arrays"]["y_true"] for r in result.runs if "y_true" in (r.get("arrays") or {})]
    if ys:
        counts, edges = F.label_histogram_data(ys[0])
        fig, ax = plt.subplots(figsize=(6, 3))
        F.plot_label_histogram(counts, edges, "test labels", ax=ax)
        paths["labels"] = _save(fig, out / "labels.png")
    return paths


def _labels_summary(result: ComparisonResult) -> list[str]:
    rep = result.labels
    if rep is None:
        return []
    msgs = list(getattr(rep, "messages", []) or [])
    facts = []
    for k in ("n", "n_targets", "min", "max", "mean", "std", "frac_zero", "frac_one", "support_kind"):
        if hasattr(rep, k):
            facts.append(f"{k} = {_fmt(getattr(rep, k))}")
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


def _reason_body(rec) -> str:
    """The recommendation's paragraph without its first sentence when that only repeats the headline,
    and without its cautions, which the report shows apart (:func:`_cautions`)."""
    lead = f"Recommended law: {rec.law}. "
    body = rec.reason[len(lead):] if rec.reason.startswith(lead) else rec.reason
    for w in getattr(rec, "warnings", []):
        body = body.replace(" " + w, "")
    return body


def _cautions(rec) -> list[str]:
    """The recommendation's warnings (a small test set, few seeds, intervals over seeds only), each marked ⚠."""
    return [f"⚠ {w}" for w in getattr(rec, "warnings", [])]


def write_report(result: ComparisonResult, out_dir: str | Path, *, command: str | None = None, figures: bool = True,
                 models: Mapping[str, str | Path] | None = None) -> dict[str, Path]:
    """Write the report files into ``out_dir`` (created if missing); return their paths.

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
        "models": {what: _relative(p, out) for what, p in (models or {}).items()},
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2, default=str))
    paths["json"] = out / "results.json"
    figs = draw_figures(result, out) if figures else {}
    paths.update(figs)
    use = use_it(result, models)
    paths["md"] = _write_md(out, result, rec, table, figs, command, use)
    paths["html"] = _write_html(out, result, rec, table, figs, command, use)
    return paths


@dataclass
class UseIt:
    """The report's "Use it" section: a sentence, the Python lines and the shell lines that load and use the model."""

    intro: str
    python: str
    shell: str | None = None
    note: str | None = None


def _relative(path: str | Path, base: Path) -> str:
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


def _write_md(out: Path, result, rec, table: pd.DataFrame, figs: dict[str, Path], command: str | None, use: UseIt | None = None) -> Path:
    # Every string that can hold user text (a data set's name, column names, law names and options, paths)
    # goes through md_text or md_fence; the rest is this function's own markup.
    lines = [
        f"# losslab report: {md_text(result.data_meta.get('name', 'data'))}",
        "",
        f"**Recommended law: {md_text(rec.law)}**",
        "",
        md_text(_reason_body(rec)),
        "",
    ] + [line for w in _cautions(rec) for line in (f"> **{md_text(w)}**", "")] + [
        md_text(compared_on(result)),
        "",
    ] + [f"> {md_text(t)}" if t else "" for t in _fixed_winner_note(result, rec)] + [
        "## Metrics (mean ± 95% CI half-width; ★ best per column)",
        "",
        md_text(result.intervals_note()),
        "",
        markdown_table(table),
        "",
    ] + [f"> {md_text(c)}" for c in caveats(result)] + [""]
    for key, title in (("metric", "Primary metric by law"), ("reliability", "Soft-label reliability"), ("learning", "Learning curves"), ("pit", "PIT histograms"), ("scatter", "Predicted vs true"), ("labels", "Labels")):
        if key in figs:
            lines += [f"## {title}", "", f"![{title}]({figs[key].name})", ""]
    if _labels_summary(result):
        lines += ["## Labels", ""] + [f"- {md_text(m)}" for m in _labels_summary(result)] + [""]
    config = json.dumps({**result.config.as_dict(), "versions": result.versions or versions()}, indent=1, default=str)
    lines += ["## Configuration", "", md_fence(config, "json"), ""]
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


#: characters CommonMark (or GFM: tables, strikethrough) reads as inline markup, escaped with a backslash
_MD_PUNCT = set("\\`*_[]|~#!")
#: characters escaped as entities: raw HTML and entity references need them
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def md_text(s: object, *, block: bool = True) -> str:
    r"""``s`` as CommonMark text: shown as written, never read as markup.

    Control and line-separator characters are shown as Python escapes (a newline as ``\n``),
    so a user string stays on its line and can never start a block (a fence, a heading, a
    list, raw HTML). ``&``, ``<`` and ``>`` become entities; the other ASCII punctuation that
    CommonMark or GFM reads as markup gets a backslash (CommonMark lets any ASCII punctuation
    be escaped so), except an underscore between two letters or digits, which cannot emphasise.
    With ``block=True`` (text that may begin a line) a leading list, heading or setext marker
    is escaped too; table cells pass ``block=False``.

    >>> print(md_text("<img src=x onerror=alert(7)> & *b* mean_squared_error _u_ a|b"))
    &lt;img src=x onerror=alert(7)&gt; &amp; \*b\* mean_squared_error \_u\_ a\|b
    >>> print(md_text("x\n```a`"), md_text("1. item"), md_text("-0.5"), md_text("-0.5", block=False))
    x\\n\`\`\`a\` 1\. item \-0.5 -0.5
    """
    text = "".join(ascii(c)[1:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in str(s))
    out = []
    for i, c in enumerate(text):
        if c == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum():
            out.append(c)
        elif c in _MD_PUNCT:
            out.append("\\" + c)
        else:
            out.append(_MD_ENTITIES.get(c, c))
    escaped = "".join(out)
    if block:
        lead = re.match(r"( {0,3})([-+=]|\d{1,9}[.)])", escaped)
        if lead:  # a bullet, a setext underline or an ordered-list number at the start of a line
            cut = lead.end() - 1
            escaped = escaped[:cut] + "\\" + escaped[cut:]
    return escaped


def md_fence(content: str, info: str = "") -> str:
    r"""``content`` as a fenced code block, shown verbatim whatever it holds.

    The fence is one backtick longer than the longest run of backticks in ``content``, so
    no line of it can close the block (CommonMark closes a fence only with one at least as long).

    >>> print(md_fence("a\n```\nb", "bash"))
    ````bash
    a
    ```
    b
    ````
    """
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{content}\n{fence}"


def _fixed_winner_note(result: ComparisonResult, rec, prefix: str = "") -> list[str]:
    fixed = fixed_spread_laws(result)
    if rec.law not in fixed:
        return []
    return [
        f"{prefix}{FIXED_MARK} {rec.law} has a fixed spread (standard deviation {fixed[rec.law]:.3g} for every input): "
        "use it for its point predictions; its log score, CRPS, PIT and intervals say nothing about uncertainty.",
        "",
    ]


def markdown_table(table: pd.DataFrame, *, markup: bool = False) -> str:
    r"""A pipe table with the index as first column; each cell is text (:func:`md_text`), ``|`` included.

    With ``markup=True`` the cells are the caller's own Markdown (bold, code spans: never user
    strings) and are written as they are, except what would break the table: ``|`` is escaped
    (GFM ends a cell there even inside a code span) and control characters are shown as escapes.

    >>> print(markdown_table(pd.DataFrame({"law": ["**a_b**"], "value": ["`x|y`"]}).set_index("law"), markup=True))
    | law | value |
    |---|---|
    | **a_b** | `x\|y` |
    """
    cols = [table.index.name or "", *map(str, table.columns)]

    def esc(v: object) -> str:
        if not markup:
            return md_text(v, block=False)
        shown = "".join(ascii(c)[1:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in str(v))
        return shown.replace("|", "\\|")

    lines = ["| " + " | ".join(map(esc, cols)) + " |", "|" + "---|" * len(cols)]
    for idx, row in zip(table.index, table.itertuples(index=False)):
        lines.append("| " + " | ".join(esc(v) for v in (idx, *row)) + " |")
    return "\n".join(lines)


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
.answer{background:#eef7ee;border-left:6px solid #2e7d32;padding:1em 1.2em;font-size:1.1em;line-height:1.5}
.answer .headline{font-size:1.35em;font-weight:bold;display:block;margin-bottom:.3em}.answer .on{color:#444;font-size:.9em}
.scroll{overflow-x:auto;margin:1em 0}
table{border-collapse:collapse;font-size:.85em}th,td{border:1px solid #ddd;padding:.3em .5em;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}tr:first-child th{background:#f5f5f5}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.8em}
.muted{color:#666;font-size:.9em}
"""


def _write_html(out: Path, result, rec, table: pd.DataFrame, figs: dict[str, Path], command: str | None, use: UseIt | None = None) -> Path:
    e = html.escape
    name = e(str(result.data_meta.get("name", "data")))
    head = "".join(f"<th>{e(str(c))}</th>" for c in ["law", *table.columns])
    body = "".join(
        "<tr>" + f"<td>{'<b>' if law == rec.law else ''}{e(str(law))}{'</b>' if law == rec.law else ''}</td>"
        + "".join(f"<td>{e(str(v))}</td>" for v in row)
        + "</tr>"
        for law, row in zip(table.index, table.itertuples(index=False))
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>losslab report: {name}</title><style>{_CSS}</style></head><body>",
        f"<h1>Which loss suits these labels? <span class='muted'>{name}</span></h1>",
        f"<div class='answer' id='recommendation'><span class='headline'>Recommended law: {e(rec.law)}</span>"
        f"{e(_reason_body(rec))}"
        + "".join(f"<br><strong class='caution' style='color:#8a4b00'>{e(w)}</strong>" for w in _cautions(rec))
        + f"<br><span class='on'>{e(compared_on(result))}</span>"
        + "".join(f"<br><span class='on'>{e(t)}</span>" for t in _fixed_winner_note(result, rec) if t)
        + "</div>",
        f"<h2>Metrics</h2><p class='muted'>Mean ± 95% CI half-width on held-out data; ★ marks the best per column. "
        f"{e(result.intervals_note())}</p>",
        f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>",
    ] + [f"<p class='muted'>{e(c)}</p>" for c in caveats(result)]
    for key, title in (("metric", "Primary metric by law"), ("reliability", "Soft-label reliability (mean prediction vs mean float label per bin, with bin counts)"), ("learning", "Learning curves"), ("pit", "PIT histograms (flat = calibrated)"), ("scatter", "Predicted vs true"), ("labels", "Test labels")):
        if key in figs:
            parts.append(f"<h2>{e(title)}</h2>{_img(figs[key], title)}")
    if _labels_summary(result):
        parts.append("<h2>Labels</h2><ul>" + "".join(f"<li>{e(m)}</li>" for m in _labels_summary(result)) + "</ul>")
    cfg = json.dumps({**result.config.as_dict(), "data": result.data_meta, "versions": result.versions or versions()}, indent=1, default=str)
    parts.append(f"<h2>Configuration</h2><pre>{e(cfg)}</pre>")
    if command:
        parts.append(f"<h2>Reproduce</h2><pre>{e(command)}</pre>")
    if use is not None:
        parts.append(f"<h2 id='use-it'>Use it</h2><p>{e(use.intro)}</p><pre>{e(use.python)}</pre>")
        if use.shell:
            parts.append(f"<p>From the command line:</p><pre>{e(use.shell)}</pre>")
        if use.note:
            parts.append(f"<p class='muted'>{e(use.note)}</p>")
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts))
    return path

"""report.html: one self-contained page (figures inlined), every user string HTML-escaped."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING

from ..experiment.plan import versions
from .ranking import ranked_legend
from .sections import UseIt, cautions, caveats, compact_json, compared_on, labels_summary

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["write_html"]


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1240px;margin:1.2em auto;padding:0 1.2em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin:.2em 0 .5em}h2{font-size:1.25em;margin:1.4em 0 .5em}
.answer{background:#eef7ee;border-left:6px solid #2e7d32;padding:.8em 1.2em;line-height:1.5}
.answer .headline{font-size:1.45em;font-weight:bold;display:block;margin-bottom:.2em}
.answer p{margin:.3em 0}.answer .why{font-size:1.1em}.answer .on{color:#444;font-size:.9em}
.answer .caution{color:#8a4b00;font-size:.9em}.answer .fixed{font-size:.95em}
.scroll{overflow-x:auto;margin:.6em 0}
table{border-collapse:collapse;font-size:.85em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:.3em .55em;text-align:right;white-space:nowrap}
th{background:#f5f5f5}th.law,td.law{text-align:left}
table.ranked{font-size:1em;margin:.4em 0}table.ranked td,table.ranked th{padding:.35em .8em}
table.ranked tr.tie td{background:#eef7ee}table.ranked tr.best td{font-weight:bold}
table.full{font-size:.8em}table.full th,table.full td{padding:.3em .4em}table.full th{white-space:normal;vertical-align:bottom}table.full .pm{display:block;font-size:.85em;color:#666}
.legend{margin:.3em 0 .6em}
details{margin:.6em 0}summary{cursor:pointer;font-weight:600}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.8em;white-space:pre-wrap;overflow-wrap:anywhere}
.muted{color:#666;font-size:.9em}
"""


def _header(name: str) -> str:
    """A column name that may wrap after its underscores (``mean_squared_error`` over three lines, not one wide one)."""
    return "_<wbr>".join(html.escape(part) for part in name.split("_"))


def _cell(value: object) -> str:
    """A ``mean ± half-width`` cell as the mean over its half-width (two short lines: the full table fits the page)."""
    text = str(value)
    mean, sep, half = text.partition(" ± ")
    if not sep or text.startswith("("):  # "(1.2 ± 0.3)e-07" stays whole
        return html.escape(text)
    return f"{html.escape(mean)}<span class='pm'>± {html.escape(half)}</span>"


def _table(table: pd.DataFrame, *, first: str) -> str:
    """The full table in HTML: its index as the first column, headed ``first``; headers wrap, intervals go under their means."""
    e = html.escape
    head = f"<th class='law'>{e(first)}</th>" + "".join(f"<th>{_header(str(c))}</th>" for c in table.columns)
    body = "".join(
        f"<tr><td class='law'>{e(str(idx))}</td>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
        for idx, row in zip(table.index, table.itertuples(index=False))
    )
    return f"<table class='full'><tr>{head}</tr>{body}</table>"


def write_html(out: Path, result, rec, table: pd.DataFrame, figs: dict[str, Path], command: str | None, use: UseIt | None = None) -> Path:
    """Write ``out/report.html``: the answer and the ranked laws first, then the evidence, all metrics, figures, configuration, "Use it"."""
    from .ranking import RANK_COLUMN, duplicates_note, evidence_text, fixed_spread_note, ranked_table, tie_group, why_sentence

    e = html.escape
    name = e(str(result.data_meta.get("name", "data")))
    note = fixed_spread_note(result)
    winner_fixed = rec.law in result.fixed_spread()
    ranked = ranked_table(result, rec)
    group = tie_group(rec)
    # The rank first, then the law: a reader scans down the ranks.
    shown = ranked.drop(columns=[RANK_COLUMN])
    shown.insert(0, "law", shown.index)
    shown.index = ranked[RANK_COLUMN]
    classes = {law: " ".join(c for c in ("tie" if law in group and len(group) > 1 else "", "best" if law == rec.law else "") if c)
               for law in ranked.index}
    ranked_html = _ranked_html(shown, classes, ranked.index)
    metric = rec.metric
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>losslab report: {name}</title><style>{_CSS}</style></head><body>",
        f"<h1>Which loss suits these labels? <span class='muted'>{name}</span></h1>",
        f"<div class='answer' id='recommendation'><span class='headline'>Recommended law: {e(rec.law)}</span>"
        f"<p class='why'>{e(why_sentence(result, rec))}</p>"
        + (f"<p class='fixed'>{e(note)}</p>" if note and winner_fixed else "")
        + "".join(f"<p class='caution'>{e(w)}</p>" for w in cautions(rec))
        + f"<p class='on'>{e(compared_on(result))}</p>"
        + "</div>",
        f"<h2 id='ranking'>Laws ranked by {e(metric)}</h2>",
        f"<div class='scroll' id='ranked'>{ranked_html}</div>",
        f"<p class='muted legend'>{e(ranked_legend(rec, group))}</p>",
    ]
    if note and not winner_fixed:
        parts.append(f"<p class='muted'>{e(note)}</p>")
    parts.append(f"<h2>The evidence</h2><p>{e(evidence_text(result, rec))}</p>")
    parts.append(
        "<h2 id='all-metrics'>All metrics</h2><details>"
        f"<summary>The full table: {len(table.columns)} columns for {len(table)} laws, ★ the best per column</summary>"
        f"<p class='muted'>Mean ± 95% CI half-width on held-out data. {e(result.intervals_note())}</p>"
        f"<div class='scroll'>{_table(table, first='law')}</div>"
        + "".join(f"<p class='muted'>{e(c)}</p>" for c in [*caveats(result), duplicates_note(result)] if c)
        + "</details>"
        "<p class='muted'>As CSV: <a href='table.csv'>table.csv</a> (each law's means and interval bounds), "
        "<a href='results.csv'>results.csv</a> (one row per run).</p>"
    )
    for key, title in (("metric", "Primary metric by law"), ("reliability", "Soft-label reliability (mean prediction vs mean float label per bin, with bin counts)"), ("learning", "Learning curves"), ("pit", "PIT histograms (flat = calibrated)"), ("scatter", "Predicted vs true")):
        if key in figs:
            parts.append(f"<h2>{e(title)}</h2>{_img(figs[key], title)}")
    if labels_summary(result) or "labels" in figs:
        parts.append("<h2>Labels</h2>" + (_img(figs["labels"], "Test labels") if "labels" in figs else "")
                     + "<ul>" + "".join(f"<li>{e(m)}</li>" for m in labels_summary(result)) + "</ul>")
    cfg = compact_json({**result.config.as_dict(), "data": result.data_meta, "versions": result.versions or versions()})
    parts.append(f"<h2>Configuration</h2><details><summary>The comparison's settings, data and versions (JSON)</summary><pre>{e(cfg)}</pre></details>")
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


def _ranked_html(shown: pd.DataFrame, classes: dict[str, str], laws) -> str:
    """The compact ranked table: rank, law, the metrics, p vs best; each row classed by its law (tie group, best)."""
    e = html.escape
    head = "<th>rank</th>" + "".join(f"<th{' class=law' if c == 'law' else ''}>{e(str(c))}</th>" for c in shown.columns)
    body = ""
    for rank, law, row in zip(shown.index, laws, shown.itertuples(index=False)):
        cls = classes.get(law)
        cells = "".join(f"<td{' class=law' if c == 'law' else ''}>{e(str(v))}</td>" for c, v in zip(shown.columns, row))
        body += f"<tr{(' class=' + repr(cls)) if cls else ''}><td>{e(str(rank))}</td>{cells}</tr>"
    return f"<table class='ranked'><tr>{head}</tr>{body}</table>"

"""report.html: one self-contained page (figures inlined), every user string HTML-escaped."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..experiment.plan import versions
from .sections import UseIt, cautions, caveats, compared_on, fixed_winner_note, labels_summary, reason_body

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["write_html"]


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


def write_html(out: Path, result, rec, table: pd.DataFrame, figs: dict[str, Path], command: str | None, use: UseIt | None = None) -> Path:
    """Write ``out/report.html``: the answer first, then the metrics, figures, configuration and "Use it"."""
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
        f"{e(reason_body(rec))}"
        + "".join(f"<br><strong class='caution' style='color:#8a4b00'>{e(w)}</strong>" for w in cautions(rec))
        + f"<br><span class='on'>{e(compared_on(result))}</span>"
        + "".join(f"<br><span class='on'>{e(t)}</span>" for t in fixed_winner_note(result, rec) if t)
        + "</div>",
        f"<h2>Metrics</h2><p class='muted'>Mean ± 95% CI half-width on held-out data; ★ marks the best per column. "
        f"{e(result.intervals_note())}</p>",
        f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>",
    ] + [f"<p class='muted'>{e(c)}</p>" for c in caveats(result)]
    for key, title in (("metric", "Primary metric by law"), ("reliability", "Soft-label reliability (mean prediction vs mean float label per bin, with bin counts)"), ("learning", "Learning curves"), ("pit", "PIT histograms (flat = calibrated)"), ("scatter", "Predicted vs true"), ("labels", "Test labels")):
        if key in figs:
            parts.append(f"<h2>{e(title)}</h2>{_img(figs[key], title)}")
    if labels_summary(result):
        parts.append("<h2>Labels</h2><ul>" + "".join(f"<li>{e(m)}</li>" for m in labels_summary(result)) + "</ul>")
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

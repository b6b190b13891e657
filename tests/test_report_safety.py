"""report.md and report.html quote user strings as text: never as markup, in any place the report uses one.

report.md is rendered with markdown-it in CommonMark mode (and with GFM tables on), report.html
is parsed with the standard library's HTML parser; in both, the hostile strings must come out as
visible text and as no tag or attribute. The hostile strings go into every place a user string
reaches the report: the data set's name, its feature and target names, a law's name and an option
value (a law registered by the user), and the command line with its file path.
"""

from __future__ import annotations

import shlex
from html.parser import HTMLParser

import numpy as np
import pytest

import losslab as ll

markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py is in the test extra")

PAYLOAD = "<img src=x onerror=alert(7)>"
# A newline then a run of three backticks: the old escaper took "```a`" for a fence and left the next line
# raw; CommonMark does not (a backtick fence's info string has no backtick), so the tag was live HTML.
DATA_NAME = "x\n```a`\n" + PAYLOAD
FEATURE = "f <script>alert(1)</script>"
TARGET = "t\n# heading\n- [link](javascript:alert(2)) <b>"
LAW = "evil`<svg onload=alert(3)>"
OPTION = "o | ~~s~~ *e* _u_ &lt; &amp; \\<iframe src=x>"
HOSTILE = (DATA_NAME, FEATURE, TARGET, LAW, OPTION)
BAD_TAGS = {"script", "svg", "iframe", "object", "embed", "style", "a", "b", "del", "s", "em", "h3", "h4", "h5", "h6"}


class _Page(HTMLParser):
    """Tags with their attributes, and the visible text, of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._skip += tag in ("style", "title")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "title")

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    p.close()
    return p


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    """A real comparison (tiny data, 2 epochs, 2 seeds) whose every user string is hostile, and its report."""
    from losslab.laws import _registry
    from losslab.laws.gaussian import SigmoidMSE
    from losslab.report import write_report

    class Tagged(SigmoidMSE):
        """A user's law: sigmoid-mse with a free-text option."""

        def __init__(self, *, sigma: float = 1.0, clamp: float | None = None, tag: str = "") -> None:
            super().__init__(sigma=sigma, clamp=clamp)
            self.tag = tag

        def options(self):
            return {**super().options(), "tag": self.tag}

    _registry.register_law(LAW)(Tagged)
    try:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(60, 2))
        y = 1 / (1 + np.exp(-X[:, 0]))  # labels in (0, 1): every law and metric applies
        ds = ll.data.from_arrays(X, y, name=DATA_NAME, feature_names=[FEATURE, "b"], target_names=[TARGET])
        result = ll.compare(ds, laws=["sigmoid-mse", (LAW, {"tag": OPTION})], seeds=2, epochs=2, model="linear", workers=1)
        out = tmp_path_factory.mktemp("report")
        command = "losslab compare " + shlex.join([f"/data/{DATA_NAME}.csv", "--target", TARGET])
        paths = write_report(result, out, command=command)
    finally:
        _registry._LAWS.pop(LAW, None)
    return result, paths, command


def _visible(s: str) -> str:
    """How the Markdown report shows a user string: control characters as Python escapes, on one line."""
    return s.replace("\n", "\\n")


@pytest.mark.parametrize("preset", ["commonmark", "commonmark+tables"])
def test_markdown_report_renders_user_strings_as_text(hostile_report, preset):
    _, paths, command = hostile_report
    md = markdown_it.MarkdownIt("commonmark")
    if preset.endswith("tables"):
        md.enable(["table", "strikethrough"])
    page = md.render(paths["md"].read_text())
    parsed = _parse(page)
    figures = {p.name for k, p in paths.items() if p.suffix == ".png"}
    ours = {"table.csv", "results.csv"}  # the report's own links to its CSV files; a user's [link](...) is never one
    for tag, attrs in parsed.tags:
        if tag == "a":
            assert attrs.get("href") in ours and set(attrs) == {"href"}, attrs
            continue
        assert tag not in BAD_TAGS, (tag, attrs)
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        if tag == "img":
            assert attrs.get("src") in figures, attrs
    for raw in ("<img src=x", "<script", "<svg", "<iframe", "onerror=alert(7)>"):
        assert raw not in page.replace("&lt;", "\0"), raw  # only escaped, never as a tag
    text = "".join(parsed.text)
    # Each hostile string is shown, whole, as written (control characters as \n); none was dropped.
    for s in (DATA_NAME, LAW, OPTION):
        assert _visible(s) in text, s
    # The command keeps its newlines: it is shown verbatim in one code block, whatever backticks it holds.
    codes = [t.content for t in md.parse(paths["md"].read_text()) if t.type == "fence"]
    assert command + "\n" in codes


def test_markdown_table_cells_stay_cells():
    import pandas as pd

    from losslab.report import markdown_table

    table = pd.DataFrame({"m | n": ["a | b", "`x` <i>"]}, index=pd.Index(["law|1", "**law2**"], name="law"))
    page = markdown_it.MarkdownIt("commonmark").enable("table").render(markdown_table(table))
    rows = [r for r in page.split("<tr>")[1:]]
    assert len(rows) == 3 and all(r.count("<td>") + r.count("<th>") == 2 for r in rows), page
    text = "".join(_parse(page).text)
    for s in ("m | n", "a | b", "`x` <i>", "law|1", "**law2**"):
        assert s in text, s
    assert "<i>" not in page and "<strong>" not in page and "<code>" not in page


def test_html_report_renders_user_strings_as_text(hostile_report):
    _, paths, command = hostile_report
    page = paths["html"].read_text()
    parsed = _parse(page)
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "span", "div", "br", "p", "table", "tr",
               "th", "td", "b", "strong", "img", "ul", "li", "pre", "details", "summary", "a", "wbr"}
    for tag, attrs in parsed.tags:
        assert tag in allowed, (tag, attrs)
        if tag == "a":  # only the report's own links to its CSV files
            assert attrs.get("href") in {"table.csv", "results.csv"} and set(attrs) == {"href"}, attrs
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,"), attrs["src"][:40]
    assert [t for t, _ in parsed.tags].count("b") == 0  # no user's <b> (the recommended law's row is bold by its class)
    text = "".join(parsed.text)
    for s in (LAW, OPTION, FEATURE, PAYLOAD, "# heading", command):
        assert s in text, s

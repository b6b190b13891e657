"""CommonMark for user strings: text escaped so it is shown as written, verbatim code fences, pipe tables.

Every string a report takes from the user (a data set's or column's name, a law's name or
option, a path) goes through :func:`md_text` or :func:`md_fence`: it is text, never markup.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported by its callers: this module needs only the table's index and rows
    import pandas as pd

__all__ = ["markdown_table", "md_fence", "md_text"]


#: characters CommonMark (or GFM: tables, strikethrough) reads as inline markup, escaped with a backslash
_MD_PUNCT = set("\\`*_[]|~#!")
#: ``<`` starts raw HTML or an autolink only before a letter, ``/``, ``!`` or ``?``; ``&`` starts an entity
#: reference only before a letter, a digit or ``#``: there they get a backslash (CommonMark escapes any ASCII
#: punctuation so), elsewhere they stay as written, so the source reads ``p >= 0.05`` and ``< 0.001``, never ``&gt;``
_MD_OPENS = {"<": re.compile(r"[A-Za-z/!?]"), "&": re.compile(r"[A-Za-z0-9#]")}


def md_text(s: object, *, block: bool = True) -> str:
    r"""``s`` as CommonMark text: shown as written, never read as markup.

    Control and line-separator characters are shown as Python escapes (a newline as ``\n``),
    so a user string stays on its line and can never start a block (a fence, a heading, a
    list, raw HTML). The ASCII punctuation that CommonMark or GFM reads as markup gets a
    backslash (CommonMark lets any ASCII punctuation be escaped so; unlike an entity it leaves
    the source readable): ``<`` and ``&`` where they could open a tag, an autolink or an entity,
    the others always, except an underscore between two letters or digits, which cannot emphasise.
    With ``block=True`` (text that may begin a line) a leading list, heading or setext marker
    is escaped too; table cells pass ``block=False``.

    >>> print(md_text("<img src=x onerror=alert(7)> &amp; *b* mean_squared_error _u_ a|b"))
    \<img src=x onerror=alert(7)> \&amp; \*b\* mean_squared_error \_u\_ a\|b
    >>> print(md_text("p >= 0.05, p < 0.001 & more"), md_text("> quote"))
    p >= 0.05, p < 0.001 & more \> quote
    >>> print(md_text("x\n```a`"), md_text("1. item"), md_text("-0.5"), md_text("-0.5", block=False))
    x\\n\`\`\`a\` 1\. item \-0.5 -0.5
    """
    text = "".join(ascii(c)[1:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in str(s))
    out = []
    for i, c in enumerate(text):
        if c == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum():
            out.append(c)
        elif c in _MD_PUNCT or (c in _MD_OPENS and i + 1 < len(text) and _MD_OPENS[c].match(text[i + 1])):
            out.append("\\" + c)
        else:
            out.append(c)
    escaped = "".join(out)
    if block:
        lead = re.match(r"( {0,3})([-+=>]|\d{1,9}[.)])", escaped)
        if lead:  # a bullet, a setext underline, a block quote or an ordered-list number at the start of a line
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


def markdown_table(table: pd.DataFrame, *, markup: bool = False) -> str:
    r"""A pipe table with the index as first column; each cell is text (:func:`md_text`), ``|`` included.

    With ``markup=True`` the cells are the caller's own Markdown (bold, code spans: never user
    strings) and are written as they are, except what would break the table: ``|`` is escaped
    (GFM ends a cell there even inside a code span) and control characters are shown as escapes.

    >>> import pandas as pd
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

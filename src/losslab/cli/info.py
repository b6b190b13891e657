"""The commands that describe: ``losslab inspect`` (labels), ``losslab laws`` (the law registry), ``losslab datasets`` (the data-set registry)."""

from __future__ import annotations

import inspect as inspect_module
import math
import re
import textwrap
from typing import Any, Optional

import typer
from rich.table import Table

from .app import app, console, datasets_app, debug_option, guard
from .options import split_list


@app.command()
def inspect(
    data: str = typer.Argument(..., help="A path or a registry name."),
    target: Optional[str] = typer.Option(None, "--target", help="Label column(s) of a table."),
    trials: Optional[str] = typer.Option(None, "--trials", help="Column with the number of trials."),
    debug: bool = debug_option(),
) -> None:
    """Label diagnostics and the laws whose support fits, with a histogram of the labels."""

    def run() -> None:
        import numpy as np

        from .. import data as lldata

        kw: dict[str, Any] = {}
        if target is not None:
            kw["target"] = split_list(target) if "," in target else target
        if trials is not None:
            kw["trials"] = trials
        ds = lldata.load(data, **kw)
        rep = lldata.inspect(ds.y, trials=ds.trials)
        t = Table(title=f"labels of {ds.name}", show_header=False)
        for k in ("n", "n_targets", "min", "max", "mean", "std", "frac_zero", "frac_one", "support_kind", "modality"):
            if hasattr(rep, k):
                v = getattr(rep, k)
                t.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
        console.print(t)
        counts, edges = np.histogram(np.asarray(ds.y, dtype=float).ravel(), bins=20)
        top = max(int(counts.max()), 1)
        for c, lo, hi in zip(counts, edges[:-1], edges[1:]):
            console.print(f"{lo:9.3g} – {hi:<9.3g} {'█' * int(round(40 * c / top)):<40s} {c}", highlight=False)
        for m in rep.messages:
            console.print(f"• {m}", highlight=False, soft_wrap=True)
        console.print("suggested laws: " + ", ".join(rep.suggested_laws), highlight=False)
        for law, why in rep.excluded.items():
            console.print(f"  not {law}: {why}", highlight=False, soft_wrap=True)

    guard(run)


@app.command()
def laws(
    name: Optional[str] = typer.Argument(None, help="A law's name for its formula, parameters, options and an example; all laws when omitted."),
    debug: bool = debug_option(),
) -> None:
    """The law registry: each law's support and what it is; with NAME, its NLL, parameters, links, options and an example."""

    def run() -> None:
        from ..laws import get_law

        width = max(console.width, 60)
        lines = law_details(get_law(name), width) if name else law_listing(width)
        for line in lines:
            # markup off: formulas and supports hold brackets ("softmax(logits)[bin(y)]", "[0, 1]")
            console.print(line, highlight=False, markup=False, soft_wrap=True)

    guard(run)


def plain(text: str) -> str:
    """Docstring text without its reStructuredText: ``x`` for ````x````, ``Beta`` for ``:class:`~a.Beta```.

    >>> plain("Mixture of ``K`` beta laws, as :class:`~losslab.laws.beta.Beta` does.")
    'Mixture of K beta laws, as Beta does.'
    """
    text = re.sub(r":[a-z]+:`~?([^`]+)`", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return re.sub(r"``([^`]+)``", r"\1", text)


def _summary(law: Any, width: int | None = None, lines: int = 2) -> str:
    """The first line of the law's docstring as plain text; if it needs more than ``lines`` lines of ``width``, its
    part before ": " or before a closing parenthesis (a summary's natural cuts).

    >>> from losslab.laws import get_law
    >>> _summary(get_law("zoib"), width=20)
    'Zero/one-inflated beta'
    """
    doc = (type(law).__doc__ or "").strip()
    text = plain(doc.splitlines()[0]) if doc else ""
    if width is None:
        return text
    def untailed(t: str) -> str:  # less a closing remark in brackets (not an interval such as "(0, 1)")
        tail = re.search(r" \([A-Za-z][^()]*\)\.?$", t)
        return t[: tail.start()] if tail else t

    head = text.split(": ", 1)[0]
    candidates = [text, untailed(text), head, untailed(head)]
    for c in sorted(set(candidates), key=len, reverse=True):
        if len(textwrap.wrap(c, width, break_long_words=False, break_on_hyphens=False)) <= lines:
            return c
    return min(candidates, key=len)


def _option_docs(law: Any) -> dict[str, str]:
    """``{option: description}`` from the ``Args:`` block of the law's docstring (``low, high: ...`` gives both)."""
    doc = inspect_module.cleandoc(type(law).__doc__ or "")
    found: dict[str, str] = {}
    block = re.search(r"^Args:\n((?:[ \t]+.*\n?)+)", doc, flags=re.M)
    if not block:
        return found
    current: list[str] = []
    for line in block.group(1).splitlines():
        m = re.match(r"^\s{4}([a-z_][a-z0-9_, ]*):\s*(.*)$", line)
        if m:
            current = [k.strip() for k in m.group(1).split(",")]
            for k in current:
                found[k] = m.group(2).strip()
        elif current:
            for k in current:
                found[k] += " " + line.strip()
    return {k: plain(v) for k, v in found.items()}


def _options(law: Any) -> list[tuple[str, Any]]:
    """``[(option, default)]`` of the law's constructor, in its order."""
    sig = inspect_module.signature(type(law).__init__)
    return [(k, p.default) for k, p in sig.parameters.items() if k != "self" and p.default is not inspect_module.Parameter.empty]


def _wrapped(label: str, text: str, width: int, indent: int, *, max_lines: int | None = None) -> list[str]:
    """``label`` padded to ``indent``, then ``text`` wrapped at spaces only (formulas stay whole words)."""
    body = textwrap.wrap(
        text, width=width, initial_indent=label.ljust(indent), subsequent_indent=" " * indent,
        break_long_words=False, break_on_hyphens=False, max_lines=max_lines, placeholder=" ...",
    )
    return body or [label]


def law_listing(width: int = 80) -> list[str]:
    """``losslab laws``: a header, then each law's name, support and one-line summary in one or two lines of ``width``."""
    from ..laws import get_law, list_laws

    names = list_laws()
    laws_ = [get_law(n) for n in names]
    supports = [law.support.text for law in laws_]
    indent = max(map(len, names)) + 2 + max(map(len, supports)) + 2
    lines = [f"{len(names)} laws; each loss is the NLL of a law. `losslab laws NAME` shows one law's NLL, parameters,"
             " options and an example."]
    lines = textwrap.wrap(lines[0], width=width) + [""]
    lines.append(f"{'name'.ljust(max(map(len, names)) + 2)}{'support'.ljust(max(map(len, supports)) + 2)}what it is")
    for n, law, sup in zip(names, laws_, supports):
        label = n.ljust(max(map(len, names)) + 2) + sup
        lines += _wrapped(label, _summary(law, width - indent), width, indent, max_lines=2)
    return lines


def _example(law: Any) -> list[str]:
    """Two lines of Python that build the law and take its loss, with the shapes they expect."""
    shape_y = "(N, dim)" if law.event_dim else "(N,)"
    where = f" in {law.support.text}" if law.support.text != "(-inf, inf)" else ""
    trials = (", trials=n", ", n (N,)") if law.needs_trials else ("", "")
    return [
        f'law = losslab.get_law("{law.name}")',
        f"loss = law.loss(raw, y{trials[0]})  # raw (N, {law.raw_dim}), y {shape_y}{where}{trials[1]}",
    ]


def _clamp_doc(law: Any) -> str | None:
    """What ``clamp=`` does for this law: only a finite open edge has labels to move inside (None: not an option)."""
    sup = law.support
    if not (math.isfinite(sup.low) or math.isfinite(sup.high)):
        return None  # the real line: the law refuses clamp=
    if (math.isfinite(sup.low) and not sup.low_closed) or (math.isfinite(sup.high) and not sup.high_closed):
        return f"move labels on the open edge(s) of {sup.text} this far inside, e.g. 1e-6 (default: refuse them)"
    return f"the edges of {sup.text} are closed, so it changes nothing"


def law_details(law: Any, width: int = 80) -> list[str]:
    """``losslab laws NAME``: the law's NLL, support, parameters with their links, options with defaults, and an example.

    Built from the law's metadata (``formula``, ``support``, ``raw_layout``, ``param_links``, the
    constructor's defaults), and the docstring's first line and ``Args:`` block as plain text.
    """
    from ..laws._labels import option_text

    ind = 13
    lines = _wrapped(f"{law.name}:", _summary(law), width, len(law.name) + 2) + [""]
    lines += _wrapped("NLL", law.formula, width, ind)
    kind = {"density": "a density", "pmf": "a probability of counts k of n", "mixed": "masses at 0 and 1, a density between",
            "soft-bernoulli": "soft-label BCE (no density over y)"}.get(law.likelihood, law.likelihood)
    lines += _wrapped("likelihood", kind, width, ind)
    lines += _wrapped("support", law.support.text + (" (labels k/n, with the trials n given per row)" if law.needs_trials else ""), width, ind)
    links = law.param_links() if hasattr(law, "param_links") else {}
    label = "parameters"
    for k, n in law.raw_layout.items():
        link = f", link {links[k].name}" if k in links else ""
        lines += _wrapped(label, f"{k}: {n} raw output{'s' if n != 1 else ''}{link}", width, ind)
        label = ""
    docs = _option_docs(law)
    clamp = _clamp_doc(law)
    if clamp is not None:
        docs.setdefault("clamp", clamp)
    label = "options"
    for k, default in _options(law):
        if k == "clamp" and clamp is None:
            continue
        lines += _wrapped(label, f"{k}={option_text(default)}" + (f": {docs[k]}" if k in docs else ""), width, ind)
        label = ""
    if label:
        lines += _wrapped(label, "none", width, ind)
    else:
        lines += _wrapped("", f"(on the command line: --laws {law.name}:key=value;key=value)", width, ind)
    lines += ["", *textwrap.wrap("example (Python; raw: the network's outputs, e.g. from losslab.LawHead)", width)]
    lines += ["  " + line for line in _example(law)]  # code: never wrapped (it fits 80 columns)
    lines += ["example (command line)", f"  losslab compare DATA --laws {law.name}" + (" --trials COLUMN" if law.needs_trials else "")]
    return lines


def _list_datasets() -> None:
    from .. import data as lldata

    t = Table(title=f"data sets (cache: {lldata.cache_dir()})")
    for col in ("name", "description", "licence"):
        t.add_column(col, overflow="fold")
    for n in lldata.list_datasets():
        info = lldata.dataset_info(n)
        t.add_row(n, str(info.get("description", "")), str(info.get("licence", info.get("license", ""))))
    console.print(t)


@datasets_app.callback(invoke_without_command=True)
def datasets_default(ctx: typer.Context, debug: bool = debug_option()) -> None:
    """List the registry's data sets, the cache location and licences."""
    if ctx.invoked_subcommand is None:
        guard(_list_datasets)


@datasets_app.command("list")
def datasets_list(debug: bool = debug_option()) -> None:
    """List the registry's data sets, the cache location and licences."""
    guard(_list_datasets)


@datasets_app.command("fetch")
def datasets_fetch(name: str = typer.Argument(..., help="A registry name."), debug: bool = debug_option()) -> None:
    """Download a data set into the cache (checksum verified)."""

    def run() -> None:
        from .. import data as lldata

        path = lldata.fetch(name)
        console.print(f"{name}: {path}", highlight=False)

    guard(run)

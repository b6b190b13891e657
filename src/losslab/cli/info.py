"""The commands that describe: ``losslab inspect`` (labels), ``losslab laws`` (the law registry), ``losslab datasets`` (the data-set registry)."""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.table import Table

from .app import app, console, datasets_app, guard
from .options import split_list


@app.command()
def inspect(
    data: str = typer.Argument(..., help="A path or a registry name."),
    target: Optional[str] = typer.Option(None, "--target", help="Label column(s) of a table."),
    trials: Optional[str] = typer.Option(None, "--trials", help="Column with the number of trials."),
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
def laws(name: Optional[str] = typer.Argument(None, help="A law's name for its details; all laws when omitted.")) -> None:
    """The law registry: support, parameters, link functions and the NLL formula of each law."""

    def run() -> None:
        from ..laws import get_law, list_laws

        names = [name] if name else list_laws()
        t = Table(title="laws (each loss is the NLL of a law)")
        t.add_column("name", no_wrap=True)
        t.add_column("support", no_wrap=True)
        for col in ("raw", "links", "NLL"):
            t.add_column(col, overflow="fold")
        for n in names:
            law = get_law(n)
            links = law.param_links() if hasattr(law, "param_links") else {}
            link_text = ", ".join(f"{k}: {v.name}" for k, v in links.items()) if links else ", ".join(f"{k}: {v}" for k, v in law.raw_layout.items())
            t.add_row(n, law.support, str(law.raw_dim), link_text, law.formula)
        console.print(t)
        if name:
            doc = (type(get_law(name)).__doc__ or "").strip()
            console.print(doc, highlight=False, markup=False)

    guard(run)


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
def datasets_default(ctx: typer.Context) -> None:
    """List the registry's data sets, the cache location and licences."""
    if ctx.invoked_subcommand is None:
        guard(_list_datasets)


@datasets_app.command("list")
def datasets_list() -> None:
    """List the registry's data sets, the cache location and licences."""
    guard(_list_datasets)


@datasets_app.command("fetch")
def datasets_fetch(name: str = typer.Argument(..., help="A registry name.")) -> None:
    """Download a data set into the cache (checksum verified)."""

    def run() -> None:
        from .. import data as lldata

        path = lldata.fetch(name)
        console.print(f"{name}: {path}", highlight=False)

    guard(run)

"""``losslab report``: rebuild a report from a run store, choosing among its comparisons (``--comparison``, ``--list``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer

from .._errors import LosslabError
from .app import app, console, debug_option, err, guard
from .options import ID_DIGITS, shown

__all__ = ["pick"]


def _comparisons(st: Any) -> list[dict[str, Any]]:
    """The store's comparisons, oldest first, each with its id, date, data, recorded grid and the runs the store holds."""
    from ..experiment import law_label

    rows = []
    for c in st.comparisons():
        cfg, data = c["config"], c["config"].get("data") or {}
        labels = [law_label(n, o) for n, o in cfg.get("laws", [])]
        seeds = [int(s) for s in cfg.get("seeds", [])]
        held = sorted({(r["law"], int(r["seed"])) for r in st.runs(c["key"])})
        rows.append({
            "key": c["key"], "id": c["key"][:ID_DIGITS], "date": time.strftime("%Y-%m-%d %H:%M", time.localtime(c["created"])),
            "data": str(data.get("name", "?")), "n": data.get("n"), "laws": labels, "seeds": seeds, "held": held,
            "outside": [(law, s) for law, s in held if law not in labels or s not in seeds], "settings": _settings(cfg),
        })
    return rows


def _settings(cfg: dict[str, Any]) -> str:
    """The settings that tell two comparisons of one data set apart, in the command's words."""
    train = cfg.get("train") or {}
    parts = [f"--model {cfg.get('model', '?')}"]
    for key, option in (("epochs", "--epochs"), ("lr", "--lr"), ("batch_size", "--batch-size")):
        if key in train:
            parts.append(f"{option} {train[key]:g}")
    for key in ("val", "test"):
        if key in cfg:
            parts.append(f"--{key} {cfg[key]:g}")
    return " ".join(parts)


def _describe(c: dict[str, Any]) -> str:
    rows = f" ({c['n']} rows)" if c["n"] is not None else ""
    return f"{c['id']}  {c['date']}  {c['data']}{rows}  laws {', '.join(c['laws'])}  seeds {_seed_text(c['seeds'])}  {c['settings']}"


def _seed_text(seeds: list[int]) -> str:
    """``0-4`` for consecutive seeds, else the list."""
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def pick(comps: list[dict[str, Any]], wanted: str, store: Path) -> dict[str, Any]:
    """The comparison whose key starts with ``wanted``; a one-line error when none or several do."""
    prefix = wanted.strip().lower()
    found = [c for c in comps if prefix and c["key"].startswith(prefix)]
    if len(found) == 1:
        return found[0]
    ids = ", ".join(c["id"] for c in (found or comps))
    if not found:
        raise LosslabError(f"--comparison {shown(wanted)}: store {str(store)!r} has no comparison with that id; its ids: {ids} (losslab report STORE --list)")
    raise LosslabError(f"--comparison {shown(wanted)} matches {len(found)} comparisons ({ids}); give more of the id")


def _outside_note(c: dict[str, Any]) -> str:
    """A line on the runs of a comparison that its recorded grid leaves out (and so the report does)."""
    by_law: dict[str, list[int]] = {}
    for law, seed in c["outside"]:
        by_law.setdefault(law, []).append(seed)
    listing = "; ".join(f"{law} seed{'s' if len(s) > 1 else ''} {_seed_text(s)}" for law, s in by_law.items())
    return (
        f"note: the report covers comparison {c['id']}'s recorded laws ({', '.join(c['laws'])}) and seeds ({_seed_text(c['seeds'])}); "
        f"the store also holds runs of it outside them, from a `losslab compare` on the same data and settings with other "
        f"--laws or --seeds: {listing}"
    )


@app.command()
def report(
    store: Path = typer.Argument(..., help="A run store written by `losslab compare`."),
    out: Path = typer.Option(Path("losslab-out"), "--out", help="Folder for the report."),
    comparison: Optional[str] = typer.Option(
        None, "--comparison", metavar="ID", help="The comparison to report, by its id or a unique prefix of it (default: the latest; --list shows them)."
    ),
    list_: bool = typer.Option(False, "--list", metavar="", help="List the store's comparisons (id, date, data, laws, seeds) and write no report."),
    debug: bool = debug_option(),
) -> None:
    """Rebuild a report from a run store: the latest comparison in it, or the one --comparison names."""

    def run() -> None:
        from ..experiment import Store, load_result
        from ..report import write_report

        if not store.exists():
            raise LosslabError(f"store {str(store)!r} does not exist")
        with Store(store) as st:
            comps = _comparisons(st)
            if not comps:
                raise LosslabError(f"store {str(store)!r} holds no comparison yet; `losslab compare DATA --store {shown(str(store))}` writes one")
            if list_:
                # Plain lines, one per comparison, never wrapped: ids stay whole and the output greps.
                console.print(f"comparisons in {store}, oldest first (report one with --comparison ID):", highlight=False, markup=False, soft_wrap=True)
                for c in comps:
                    extra = f", {len(c['outside'])} outside its laws and seeds" if c["outside"] else ""
                    console.print(f"  {_describe(c)}  ({len(c['held'])} runs{extra})", highlight=False, markup=False, soft_wrap=True)
                return
            chosen = comps[-1] if comparison is None else pick(comps, comparison, store)
            if comparison is None and len(comps) > 1:
                others = "\n".join(f"  {_describe(c)}" for c in comps[:-1])
                err.print(
                    f"store {store} holds {len(comps)} comparisons; reporting the latest:\n  {_describe(chosen)}\nthe others:\n{others}\n"
                    f"pick one with --comparison ID",
                    highlight=False, markup=False, soft_wrap=True,
                )
            if chosen["outside"]:
                err.print(_outside_note(chosen), highlight=False, markup=False, soft_wrap=True)
            result = load_result(st, comparison=chosen["key"])
            paths = write_report(result, out)
        console.print(f"report: {paths['html']}  (comparison {chosen['id']})", highlight=False, soft_wrap=True)

    guard(run)

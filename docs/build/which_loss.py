"""Generate the user's guide ``docs/which-loss.md``: every number and figure in it is computed here.

Run ``python docs/build/which_loss.py`` from a clone (any working directory; with the
package installed, e.g. ``pip install -e .``) and ``LOSSLAB_DATA`` pointing at the local data
copies. Finished runs are kept in a store (``--store PATH``, default
``losslab-out/guide.sqlite``, git-ignored), so a re-run is fast; ``--quick`` (a smoke
run) and ``--only cifar,retina`` (some comparisons) write into ``--out``.
It computes

* the mathematical claims: the soft-BCE curve over ``p`` and its floor ``H(y)``,
  the seed article's ``nn.BCELoss`` example, and the gradient of MSE through a
  sigmoid against BCE-with-logits (by autograd, float64);
* comparisons with :func:`losslab.compare` on the real data sets (CIFAR-10H cat vs
  dog, RetinaMNIST, digits-inpaint, UCI concrete), their tables, recommendations and
  reliability diagrams;
* the known-truth recovery rates, read from ``docs/evidence/recovery.csv``
  (written by ``python -m benchmarks.recovery``);

and fills the template ``which_loss.md.tmpl`` beside this file, which holds all of the
guide's prose (its first lines say how it is read): this module only computes the values,
formatted, and the tables, written by the report's :func:`~losslab.report.write.markdown_table`.
The figures go into ``docs/img/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

import losslab as ll
from losslab.experiment.compare import ComparisonResult, law_label
from losslab.laws import law_class
from losslab.report.write import markdown_table

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Path(__file__).with_name("which_loss.md.tmpl")

if __package__ in (None, ""):  # run as a script (python docs/build/which_loss.py): benchmarks/ sits at the root
    sys.path.insert(0, str(ROOT))

from benchmarks.recovery import _restrict  # noqa: E402 - after the path is set
from benchmarks.recovery import summarise as summarise_recovery  # noqa: E402


# =============================================================================== the claims
def binary_entropy(y: float) -> float:
    """``H(y)`` in nats (0 at y in {0, 1})."""
    return -sum(v * math.log(v) for v in (y, 1.0 - y) if v > 0)


def soft_bce_curves(ys=(0.1, 0.25, 0.5, 0.75, 0.9), n_grid: int = 9999) -> pd.DataFrame:
    """For each soft label ``y``: the grid argmin of ``BCE(p; y)`` over ``p``, the minimum and the entropy ``H(y)``.

    The loss is torch's ``F.binary_cross_entropy`` on probabilities (what ``nn.BCELoss`` computes),
    evaluated in float64 on the grid ``p = k / (n_grid + 1)``.
    """
    p = torch.arange(1, n_grid + 1, dtype=torch.float64) / (n_grid + 1)
    rows = []
    for y in ys:
        loss = F.binary_cross_entropy(p, torch.full_like(p, y), reduction="none")
        k = int(torch.argmin(loss))
        rows.append(
            {
                "y": y,
                "argmin_p": float(p[k]),
                "min_bce": float(loss[k]),
                "entropy": binary_entropy(y),
                # the prediction the "BCE pushes soft labels to 1" claim says BCE favours
                "bce_at_p_0999": float(F.binary_cross_entropy(torch.tensor([0.999], dtype=torch.float64), torch.tensor([y], dtype=torch.float64))),
            }
        )
    return pd.DataFrame(rows)


def seed_example() -> dict[str, float]:
    """The numbers of the seed article's ``nn.BCELoss`` / ``nn.MSELoss`` example, and what they mean."""
    y_true = torch.tensor([0.2, 0.8, 0.5, 0.9], dtype=torch.float64)
    y_pred = torch.tensor([0.4, 0.7, 0.6, 0.85], dtype=torch.float64)
    bce = float(torch.nn.BCELoss()(y_pred, y_true))
    floor = float(np.mean([binary_entropy(float(v)) for v in y_true]))
    logits = torch.log(y_pred) - torch.log1p(-y_pred)
    return {
        "bce": bce,
        "entropy_floor": floor,
        "excess_kl": bce - floor,
        "bce_at_p_equal_y": float(torch.nn.BCELoss()(y_true, y_true)),
        "mse": float(torch.nn.MSELoss()(y_pred, y_true)),
        # nn.BCELoss takes probabilities: the same number as BCE-with-logits on logit(p) ...
        "bce_with_logits_of_logit_p": float(F.binary_cross_entropy_with_logits(logits, y_true)),
        # ... and a different one when the probabilities are (wrongly) passed as logits.
        "bce_with_logits_of_p": float(F.binary_cross_entropy_with_logits(y_pred, y_true)),
        "law_excess": float(ll.get_law("bernoulli").excess({"logits": logits}, y_true).mean()),
    }


def log_sigmoid_underflow() -> dict[str, float]:
    """The largest logit at which ``log(sigmoid(z))`` in float32 is -inf, and the fused ``logsigmoid`` there."""
    z = torch.arange(-200.0, 0.0, 0.01, dtype=torch.float32)
    naive = torch.log(torch.sigmoid(z))
    first = float(z[torch.isinf(naive)].max())
    return {"z": first, "logsigmoid": float(F.logsigmoid(torch.tensor(first, dtype=torch.float32)))}


def gradient_table(zs=(-10.0, -5.0, -2.0, 2.0, 5.0, 10.0), y: float = 1.0) -> pd.DataFrame:
    """d/dz of ``(sigmoid(z) - y)^2`` and of ``BCE-with-logits(z, y)`` by autograd (float64), and their ratio."""
    z = torch.tensor(zs, dtype=torch.float64, requires_grad=True)
    target = torch.full_like(z, y)
    (g_mse,) = torch.autograd.grad(((torch.sigmoid(z) - target) ** 2).sum(), z)
    (g_bce,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(z, target, reduction="sum"), z)
    return pd.DataFrame(
        {
            "z": zs,
            "sigmoid(z)": torch.sigmoid(z).detach().numpy(),
            "dBCE/dz": g_bce.numpy(),
            "dMSE/dz": g_mse.numpy(),
            "ratio MSE/BCE": (g_mse / g_bce).numpy(),
        }
    )


def draw_claims(img: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {}
    p = np.linspace(1e-3, 1 - 1e-3, 999)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for y in (0.1, 0.25, 0.5, 0.75, 0.9):
        bce = -(y * np.log(p) + (1 - y) * np.log1p(-p))
        line = axes[0].plot(p, bce, lw=1.5, label=f"y = {y:g}")[0]
        axes[0].plot([y], [binary_entropy(y)], "o", color=line.get_color())
        axes[1].plot(p, bce - binary_entropy(y), lw=1.5, color=line.get_color(), label=f"y = {y:g}")
    axes[0].set(xlabel="prediction p", ylabel="BCE(p; y)", ylim=(0, 2.5), title="soft BCE: minimum at p = y, floor H(y) (dots)")
    axes[1].set(xlabel="prediction p", ylabel="BCE − H(y) = KL(y‖p)", ylim=(0, 1.5), title="the excess: 0 exactly at p = y")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    paths["soft_bce"] = img / "soft-bce.png"
    fig.savefig(paths["soft_bce"], dpi=110)
    plt.close(fig)

    z = np.linspace(-12, 12, 481)
    table = gradient_table(tuple(z.tolist()), 1.0)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].semilogy(z, np.abs(table["dBCE/dz"]), label="BCE with logits")
    axes[0].semilogy(z, np.abs(table["dMSE/dz"]), label="MSE of sigmoid(z)")
    axes[0].set(xlabel="logit z (label y = 1)", ylabel="|d loss / dz|", title="gradient reaching the logit")
    axes[1].semilogy(z, table["ratio MSE/BCE"], color="tab:red")
    axes[1].set(xlabel="logit z", ylabel="MSE gradient / BCE gradient", title="ratio (the same for every label y)")
    for ax in axes:
        ax.legend(fontsize=8) if ax is axes[0] else None
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    paths["gradient"] = img / "sigmoid-mse-gradient.png"
    fig.savefig(paths["gradient"], dpi=110)
    plt.close(fig)
    return paths


# =============================================================================== the comparisons
@dataclasses.dataclass(frozen=True)
class Case:
    key: str  # short name, used in file names and --only
    data: str  # registry name
    title: str
    model: str  # losslab model name
    laws: tuple[str, ...]
    epochs: int  # upper bound; early stopping on the validation NLL ends most runs sooner
    patience: int
    trials: float | None = None  # counts to attach when the data set has none (grades k/4)
    binned_as_pmf: bool = False  # a one-bin-per-grade law's log score, shifted by log(width), is a pmf over grades


CASES: tuple[Case, ...] = (
    Case(
        "cifar",
        "cifar10h-catdog",
        "CIFAR-10H cat vs dog (fraction of the raters who said cat)",
        "cnn-small",
        ("bernoulli", "binomial", "beta-binomial", "zoib", "continuous-bernoulli", "sigmoid-mse"),
        epochs=15,
        patience=4,
    ),
    Case(
        "retina",
        "retinamnist",
        "RetinaMNIST (diabetic-retinopathy grade 0..4, divided by 4)",
        "cnn-small",
        (
            "gaussian",
            "sigmoid-mse",
            "bernoulli",
            "binomial",
            "beta-binomial",
            "binned:kind=onehot,n_bins=5,low=-0.125,high=1.125",
            "continuous-bernoulli",
            "zoib",
        ),
        epochs=25,
        patience=5,
        trials=4.0,
        binned_as_pmf=True,
    ),
    Case(
        "digits",
        "digits-inpaint",
        "digits-inpaint (32 pixel ink fractions k/16 of the bottom half from the top half)",
        "mlp",
        ("gaussian", "sigmoid-mse", "bernoulli", "binomial", "beta-binomial", "zoib", "continuous-bernoulli"),
        epochs=60,
        patience=8,
    ),
    Case(
        "concrete",
        "uci-concrete",
        "UCI concrete (compressive strength in MPa, unbounded; the literature's fixed splits)",
        "mlp",
        ("gaussian", "gaussian-hetero", "gaussian-hetero:beta=0.5", "laplace-hetero", "student-t", "mixture-gaussian:n_components=2", "binned"),
        epochs=200,
        patience=20,
    ),
)

SHOWN_METRICS = ("mean_squared_error", "log_score", "crps", "calibration_error", "interval_coverage")


def load_case(case: Case) -> ll.data.Dataset:
    ds = ll.data.load(case.data)
    if case.trials is not None and ds.trials is None:
        ds = ll.data.from_arrays(
            ds.X, ds.y, trials=case.trials, name=ds.name, kind=ds.kind, splits=ds.splits, meta=ds.meta,
            target_names=ds.target_names,
        )
    return ds


def data_facts(ds: ll.data.Dataset) -> dict[str, Any]:
    """Sizes the guide quotes: the fixed split's parts, the median number of trials."""
    facts: dict[str, Any] = {"n": len(ds)}
    if ds.splits:
        facts["split"] = " / ".join(str(len(ds.splits[0].get(k, []))) for k in ("train", "val", "test"))
    if ds.trials is not None:
        facts["median_trials"] = float(np.median(ds.trials))
    return facts


def run_case(case: Case, store: str | None, quick: bool) -> ComparisonResult:
    ds = load_case(case)
    if quick:
        ds = ds.subset(np.arange(min(len(ds), 400)))
    return ll.compare(
        ds,
        laws=list(case.laws),
        model=case.model,
        seeds=2 if quick else 3,
        epochs=2 if quick else case.epochs,
        patience=case.patience,
        primary_metric="mean_squared_error",
        device="cpu",
        store=store,
    )


def kinds_of(result: ComparisonResult) -> dict[str, str]:
    return {law_label(n, o): law_class(n).likelihood for n, o in result.config.laws}


def verdict(result: ComparisonResult, metric: str, laws: list[str] | None = None) -> dict[str, Any]:
    """Best law on ``metric`` (among ``laws``), its value, the laws tied with it, and every law's value."""
    sub = result if laws is None else _restrict(result, laws)
    table = sub.table()
    have = [law for law in sub.laws if metric in table.columns and math.isfinite(table.loc[law, metric])]
    if len(have) < 1:
        return {"best": None}
    sub = _restrict(sub, have) if len(have) < len(sub.laws) else sub
    if len(have) == 1:
        return {"best": have[0], "value": float(table.loc[have[0], metric]), "tied": [], "values": {have[0]: float(table.loc[have[0], metric])}}
    rec = sub.recommend(metric)
    return {
        "best": rec.law,
        "value": rec.value,
        "tied": rec.tied,
        "values": {law: float(table.loc[law, metric]) for law in have},
        "p": sub.paired(metric)["p_value"].to_dict(),
    }


SHORT_NAMES = {"binned(high=1.125, kind=onehot, low=-0.125, n_bins=5)": "binned (one bin per grade)"}


def short(law: str) -> str:
    return SHORT_NAMES.get(law, law)


def grades_pmf_verdict(result: ComparisonResult) -> dict[str, Any]:
    """Log scores over the grades: the pmf laws as they are, a one-bin-per-grade ``binned`` law as ``NLL - log w``.

    ``binned``'s NLL is the density ``-log P(bin) + log w``; with one grade per bin, ``-log P(bin)`` is the
    negative log-probability of the grade, the same quantity as a pmf law's NLL of ``k = 4 y``.
    """
    from losslab.experiment.stats import mean_ci, paired_test

    per_seed: dict[str, dict[int, float]] = {}
    for (name, opts), label in zip(result.config.laws, result.laws):
        kind = law_class(name).likelihood
        if kind == "pmf":
            per_seed[label] = result.values(label, "log_score")
        elif name == "binned" and opts.get("kind") == "onehot":
            width = (float(opts["high"]) - float(opts["low"])) / int(opts["n_bins"])
            per_seed[label] = {s: v - math.log(width) for s, v in result.values(label, "log_score").items()}
    means = {law: mean_ci(list(v.values())).mean for law, v in per_seed.items()}
    best = min(means, key=means.get)
    p = {}
    for law, v in per_seed.items():
        seeds = sorted(set(v) & set(per_seed[best]))
        p[law] = paired_test([v[s] for s in seeds], [per_seed[best][s] for s in seeds]).p_value
    tied = [law for law in per_seed if law != best and not (p[law] < 0.05)]
    return {"best": best, "value": means[best], "tied": tied, "values": means, "p": p}


def case_numbers(case: Case, result: ComparisonResult, img: Path) -> dict[str, Any]:
    """Everything the guide says about one comparison."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from losslab.report import figures as FIG

    kinds = kinds_of(result)
    table = result.table()
    out: dict[str, Any] = {"case": case, "kinds": kinds, "table": table}
    out["mse"] = verdict(result, "mean_squared_error")
    out["crps"] = verdict(result, "crps")
    out["calibration"] = verdict(result, "calibration_error") if "calibration_error" in table.columns else {"best": None}
    by_kind = {}
    rep = result.labels
    atoms = rep is not None and (rep.frac_zero + rep.frac_one > 0 or rep.grid is not None)
    out["density_log_skipped"] = False
    for kind in dict.fromkeys(kinds.values()):
        members = [law for law, k in kinds.items() if k == kind]
        if kind == "density" and atoms:
            # A density can grow without bound at labels that sit exactly on 0, 1 or a grid point:
            # its log score there rewards piling density on the atoms, not fitting the labels.
            out["density_log_skipped"] = True
            continue
        if len(members) >= 2:
            by_kind[kind] = verdict(result, "log_score", members)
    if case.binned_as_pmf:
        by_kind["pmf over the grades"] = grades_pmf_verdict(result)
    out["log_by_kind"] = by_kind
    # seconds and epochs are run records, not metrics: averaged from the frame of runs
    frame = result.frame()
    frame = frame[frame["status"] == "ok"]
    out["seconds"] = {law: float(frame.loc[frame["law"] == law, "seconds"].mean()) for law in result.laws}
    out["epochs"] = {law: float(frame.loc[frame["law"] == law, "epochs"].mean()) for law in result.laws}
    out["runs"] = int(table["runs"].sum())
    out["train_minutes"] = float(frame["seconds"].sum()) / 60
    out["diverged"] = int(table["diverged"].sum())
    out["labels"] = result.labels
    out["fixed_spread"] = result.fixed_spread()  # {law: its standard deviation}, for laws whose spread is an option

    # the table shown in the guide: mean ± half-width of the 95% interval over seeds
    rows = []
    for law in result.laws:
        row = {"law": short(law), "likelihood": kinds[law]}
        for m in SHOWN_METRICS:
            if m not in table.columns:
                continue
            v, lo, hi = table.loc[law, m], table.loc[law, f"{m}_low"], table.loc[law, f"{m}_high"]
            if not math.isfinite(v):
                row[m] = "–"
                continue
            star = ""
            for key, name in (("mse", "mean_squared_error"), ("crps", "crps"), ("calibration", "calibration_error")):
                if m == name and out[key].get("best") == law:
                    star = "**"
            # bold only where the shown number is the one ranked (not the derived pmf-over-grades score)
            if m == "log_score" and any(v_.get("best") == law for k_, v_ in by_kind.items() if k_ in kinds.values()):
                star = "**"
            half = (hi - lo) / 2 if math.isfinite(lo) and math.isfinite(hi) else math.nan
            row[m] = f"{star}{v:.4g}{star}" + (f" ± {half:.2g}" if math.isfinite(half) else "")
        row["s/run"] = f"{out['seconds'][law]:.1f}"
        rows.append(row)
    out["md_table"] = markdown_table(pd.DataFrame(rows).set_index("law"), markup=True)

    rel = FIG.reliability_data(result)
    if rel:
        n = len(rel)
        cols = min(4, n)
        rws = math.ceil(n / cols)
        fig, axes = plt.subplots(rws, cols, figsize=(3.0 * cols, 3.0 * rws), squeeze=False)
        for ax, (law, curve) in zip(axes.flat, rel.items()):
            FIG.plot_reliability(curve, short(law), ax=ax)
        for ax in list(axes.flat)[n:]:
            ax.set_axis_off()
        fig.tight_layout()
        out["reliability_png"] = img / f"{case.key}-reliability.png"
        fig.savefig(out["reliability_png"], dpi=100)
        plt.close(fig)
    return out


# =============================================================================== the template
#: an empty block's value until its line is removed (a character no value or template holds)
_DROP = "\x00"


@functools.lru_cache(maxsize=None)
def template_parts(path: Path = TEMPLATE) -> dict[str, str]:
    """The template's parts by name: the text after each ``%% NAME`` line up to the next, trailing blank lines dropped."""
    chunks = re.split(r"^%% ([\w.]+)[ \t]*\n", path.read_text(encoding="utf-8"), flags=re.M)
    return {name: body.rstrip("\n") for name, body in zip(chunks[1::2], chunks[2::2])}


def placeholders(text: str) -> set[str]:
    """The names of the ``$name`` / ``${name}`` placeholders in ``text``.

    >>> sorted(placeholders("a ${x} b $y $$z"))
    ['x', 'y']
    """
    names = set()
    for m in Template.pattern.finditer(text):
        if m.group("invalid") is not None:
            line = text.count("\n", 0, m.start()) + 1
            raise ValueError(f"a '$' on line {line} of the template starts no placeholder; write '$$' for a dollar sign")
        if m.group("named") or m.group("braced"):
            names.add(m.group("named") or m.group("braced"))
    return names


def render(text: str, values: Mapping[str, str | Sequence[str]]) -> str:
    """Fill ``text``'s placeholders: a string in place; a list of lines in place of its placeholder (none: the line goes).

    Every placeholder needs a value and every value a placeholder, so a renamed key fails here
    rather than vanishing from the page.

    >>> render("a ${x}\\n${block}\\nb", {"x": "1", "block": []})
    'a 1\\nb'
    >>> render("a ${x}\\n${block}\\nb", {"x": "1", "block": ["l1", "l2"]})
    'a 1\\nl1\\nl2\\nb'
    """
    wanted = placeholders(text)
    missing, unused = sorted(wanted - set(values)), sorted(set(values) - wanted)
    if missing or unused:
        raise ValueError(f"template and values differ: no value for {missing}, no placeholder for {unused}")
    flat = {k: v if isinstance(v, str) else ("\n".join(v) if v else _DROP) for k, v in values.items()}
    lines = [line for line in Template(text).substitute(flat).split("\n") if line != _DROP]
    if any(_DROP in line for line in lines):
        raise ValueError("an empty block's placeholder must stand alone on its line")
    return "\n".join(lines)


def part(name: str, **values: str | Sequence[str]) -> str:
    """The template's part ``name``, filled."""
    return render(template_parts()[name], values)


# =============================================================================== the guide's values
def f4(v: float) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.4g}"


def law_list(laws: list[str]) -> str:
    return ", ".join(f"`{short(x)}`" for x in laws) if laws else "none"


def describe(v: dict[str, Any], metric: str) -> str:
    """"`law` (value); tied: ..." for a verdict."""
    if not v.get("best"):
        return "n/a"
    tied = v.get("tied") or []
    s = f"`{short(v['best'])}` ({f4(v['value'])})"
    if tied:
        s += f", tied with {law_list(tied)}"
    else:
        s += ", every other law significantly worse"
    return s


def rank_of(v: dict[str, Any], law: str, higher_better: bool = False) -> str:
    vals = v.get("values", {})
    if law not in vals:
        return "–"
    order = sorted(vals, key=vals.get, reverse=higher_better)
    return f"{order.index(law) + 1} of {len(order)}"


#: the laws whose NLL is the squared error (a Gaussian of fixed σ on the label, or on sigmoid(z))
MSE_LAWS = ("gaussian", "sigmoid-mse")


def case_lines(key: str, cases: dict[str, dict[str, Any]]) -> list[str]:
    """One comparison's block (header, table, verdicts, figure), ending with a blank line."""
    c = cases.get(key)
    if c is None:
        return [part("case.missing", key=key), ""]
    case: Case = c["case"]
    setting = part(f"setting.{key}", split=c["facts"].get("split", "?")) if key == "retina" else part(f"setting.{key}")
    log_scores = []
    for kind, v in c["log_by_kind"].items():
        laws = part("case.grades_pmf_laws") if kind == "pmf over the grades" else f"the {kind} laws"
        log_scores.append(part("case.log_score", laws=laws, verdict=describe(v, "log")))
    block = part(
        "case",
        title=case.title,
        data=repr(case.data),
        model=repr(case.model),
        epochs=str(case.epochs),
        patience=str(case.patience),
        with_trials=" with trials=" + format(case.trials, "g") if case.trials else "",
        runs=str(c["runs"]),
        diverged=str(c["diverged"]),
        setting=setting,
        table=c["md_table"],
        mse=describe(c["mse"], "mse"),
        crps=describe(c["crps"], "crps"),
        calibration=[part("case.calibration", verdict=describe(c["calibration"], "cal"))] if c["calibration"].get("best") else [],
        log_scores=log_scores,
        density_log_skipped=[part("case.density_log_skipped")] if c["density_log_skipped"] else [],
        reliability=part("case.reliability", data=case.data, png=c["reliability_png"].name).split("\n") if "reliability_png" in c else [],
    )
    return block.split("\n") + [""]


def claims_values(claims: dict[str, Any]) -> dict[str, str]:
    """The claims section's numbers and tables."""
    soft, seed, grad = claims["soft"], claims["seed"], claims["grad"]
    soft_table = pd.DataFrame(
        {
            "label y": [f"{v:g}" for v in soft["y"]],
            "argmin over p": [f"{v:.4f}" for v in soft["argmin_p"]],
            "min BCE": [f"{v:.6f}" for v in soft["min_bce"]],
            "H(y)": [f"{v:.6f}" for v in soft["entropy"]],
            "BCE at p = 0.999": [f"{v:.4f}" for v in soft["bce_at_p_0999"]],
        }
    ).set_index("label y")
    gradient_table = pd.DataFrame(
        {
            "z": [f"{v:+g}" for v in grad["z"]],
            "sigmoid(z)": [f"{v:.6g}" for v in grad["sigmoid(z)"]],
            "d BCE / dz": [f"{v:.4g}" for v in grad["dBCE/dz"]],
            "d MSE / dz": [f"{v:.4g}" for v in grad["dMSE/dz"]],
            "ratio MSE / BCE": [f"{v:.3g}" for v in grad["ratio MSE/BCE"]],
        }
    ).set_index("z")
    values = {
        "n_grid": str(claims["n_grid"]),
        "soft_bce_table": markdown_table(soft_table, markup=True),
        "gradient_table": markdown_table(gradient_table, markup=True),
        "soft_label_ratios": ", ".join(f"{v:.3g}" for v in claims["grad_soft"]["ratio MSE/BCE"]),
        "underflow_z": f"{claims['underflow']['z']:.2f}",
        "underflow_logsigmoid": f"{claims['underflow']['logsigmoid']:.2f}",
    }
    for k in ("bce", "entropy_floor", "bce_at_p_equal_y", "excess_kl", "law_excess", "mse", "bce_with_logits_of_logit_p", "bce_with_logits_of_p"):
        values[f"seed_{k}"] = f"{seed[k]:.4f}"
    return values


def point_accuracy_values(cases: dict[str, dict[str, Any]], recovery: dict[str, Any] | None) -> dict[str, list[str]]:
    """"When MSE still wins on point accuracy": each comparison's MSE-trained laws, concrete's β-NLL, the count."""
    mse_lines = []
    for c in cases.values():
        v = c["mse"]
        mse_laws = [law for law in MSE_LAWS if law in v.get("values", {})]
        if not mse_laws or not v.get("best"):
            continue
        laws = []
        for law in mse_laws:
            state = "best" if law == v["best"] else ("tied with the best" if law in v["tied"] else f"p = {v['p'][law]:.2g} vs the best")
            laws.append(f"`{law}` {f4(v['values'][law])} (rank {rank_of(v, law)}, {state})")
        mse_lines.append(part("mse_line", data=c["case"].data, best=describe(v, "mse"), laws="; ".join(laws)))
    if recovery is not None:
        mse_lines.append(part("point_line", sentence=recovery["point_sentence"]))

    concrete_hetero: list[str] = []
    con = cases.get("concrete")
    if con is not None and {"gaussian", "gaussian-hetero", "gaussian-hetero(beta=0.5)"} <= set(con["mse"].get("values", {})):
        v = con["mse"]

        def vs_best(law: str) -> str:
            if law == v["best"]:
                return "the best"
            return "tied with the best" if law in v["tied"] else f"p = {v['p'][law]:.2g} against the best"

        fill = {}
        for key, law in (("gaussian", "gaussian"), ("hetero", "gaussian-hetero"), ("beta_nll", "gaussian-hetero(beta=0.5)")):
            fill[key], fill[f"{key}_state"] = f4(v["values"][law]), vs_best(law)
        concrete_hetero = [part("concrete_hetero", **fill), ""]

    good = []
    for c in cases.values():
        v = c["mse"]
        mse_laws = [law for law in MSE_LAWS if law in v.get("values", {})]
        if mse_laws and v.get("best"):
            good.append(any(law == v["best"] or law in v["tied"] for law in mse_laws))
    mse_enough = [part("mse_enough", n_good=str(sum(good)), n_cases=str(len(good)))] if good else []
    return {"mse_lines": mse_lines, "concrete_hetero": concrete_hetero, "mse_enough": mse_enough}


def coverage_lines(cases: dict[str, dict[str, Any]]) -> list[str]:
    """The 90% intervals' coverage of the one-parameter laws on [0, 1] against the laws with a free spread."""
    one, free = [], []
    for c in cases.values():
        t = c["table"]
        if "interval_coverage" not in t.columns:
            continue
        for law in t.index:
            v = t.loc[law, "interval_coverage"]
            if not math.isfinite(v):
                continue
            if law in ("binomial", "continuous-bernoulli"):
                one.append(f"`{law}` {v:.2f} on {c['case'].data}")
            elif law in ("beta-binomial", "zoib") or law.startswith("binned"):
                free.append((f"`{short(law)}` {v:.2f} on {c['case'].data}", v))
    if not (one and free):
        return []
    lo, hi = min(v for _, v in free), max(v for _, v in free)
    text = part("coverage", tied_spread=", ".join(one), low=f"{lo:.2f}", high=f"{hi:.2f}", free_spread=", ".join(t for t, _ in free))
    return [text, ""]


def build_guide(claims: dict[str, Any], cases: dict[str, dict[str, Any]], recovery: dict[str, Any] | None, meta: dict[str, Any]) -> str:
    """The text of docs/which-loss.md: the template's ``page`` filled with the claims, the comparisons and the recovery study."""
    cif, ret = cases.get("cifar"), cases.get("retina")
    count_lines = []
    for key in ("cifar", "digits"):
        c = cases.get(key)
        if c is None or "pmf" not in c["log_by_kind"]:
            continue
        v = c["log_by_kind"]["pmf"]
        bb, bi = v["values"].get("beta-binomial"), v["values"].get("binomial")
        if bb is not None and bi is not None:
            count_lines.append(
                part("count_line", data=c["case"].data, binomial=f4(bi), beta_binomial=f4(bb), difference=f4(bi - bb), best=describe(v, "log"))
            )

    def recovery_block(key: str) -> list[str]:
        return [recovery[key], ""] if recovery is not None else []

    if recovery is None:
        evidence = [part("evidence.missing")]
    else:
        evidence = part("evidence", draws=str(recovery["draws"]), rates_table=recovery["rates_md"], misses=recovery["miss_sentence"]).split("\n")
    values: dict[str, str | list[str]] = {
        "losslab_version": ll.__version__,
        "torch_version": torch.__version__,
        "threads": str(meta["threads"]),
        "runs": str(meta["runs"]),
        "train_minutes": f"{meta['train_minutes']:.1f}",
        "total_minutes": f"{meta['total_minutes']:.1f}",
        "cifar_labels": [
            part(
                "cifar_labels",
                median_raters=format(cif["facts"].get("median_trials", float("nan")), "g"),
                pct_zero=f"{100 * cif['labels'].frac_zero:.0f}",
                pct_one=f"{100 * cif['labels'].frac_one:.0f}",
            )
        ]
        if cif is not None
        else [],
        "cifar_case": case_lines("cifar", cases),
        "count_lines": count_lines,
        "digits_case": case_lines("digits", cases),
        "retina_labels": [part("retina_labels", pct_zero=f"{100 * ret['labels'].frac_zero:.0f}")] if ret is not None else [],
        # unlike the other comparisons, a RetinaMNIST that was not run leaves no note
        "retina_case": case_lines("retina", cases) if ret is not None else [],
        "recovery_beta": recovery_block("beta_sentence"),
        "concrete_case": case_lines("concrete", cases),
        "recovery_hetero": recovery_block("hetero_sentence"),
        "recovery_mixture": recovery_block("mixture_sentence"),
        "retina_bimodal": [part("retina_bimodal"), ""] if ret is not None else [],
        **claims_values(claims),
        **point_accuracy_values(cases, recovery),
        "cost_lines": [part("cost_line", data=c["case"].data, sentence=c["cost_sentence"]) for c in cases.values()],
        "coverage": coverage_lines(cases),
        "evidence": evidence,
    }
    return part("page", **values) + "\n"


def cost_sentence(c: dict[str, Any]) -> str:
    """What the best distributional law (by CRPS) costs on point accuracy and time, and what its intervals buy."""
    secs, crps, mse = c["seconds"], c["crps"], c["mse"]
    if not crps.get("best"):
        return "no law with a distribution over the labels."
    best = crps["best"]
    parts = [f"best CRPS {describe(crps, 'crps')}"]
    mv = mse.get("values", {})
    if best in mv:
        if best == mse["best"]:
            parts.append(f"it also has the best MSE ({f4(mv[best])})")
        else:
            state = "tied with it" if best in mse["tied"] else f"p = {mse['p'][best]:.2g}"
            parts.append(f"its MSE {f4(mv[best])} against the best, `{short(mse['best'])}` {f4(mse['value'])} ({state})")
    base = next((law for law in ("gaussian", "bernoulli", "sigmoid-mse") if law in secs), None)
    if base is not None and base != best:
        parts.append(f"{secs[best]:.1f} s per run against {secs[base]:.1f} s for `{base}`")
    table = c["table"]
    if "interval_coverage" in table.columns:
        cov = table["interval_coverage"]
        # A law whose spread is an option (ComparisonResult.fixed_spread) has intervals of an arbitrary width:
        # its coverage is shown apart, with the spread it was given.
        spread = c["fixed_spread"]
        fitted = [f"`{short(law)}` {cov[law]:.2f}" for law in cov.index if math.isfinite(cov[law]) and law not in spread]
        fixed = {law: sd for law, sd in spread.items() if law in cov.index and math.isfinite(cov[law])}
        if fitted:
            parts.append("coverage of the central 90% predictive interval " + ", ".join(fitted))
        if len({f"{sd:.3g}" for sd in fixed.values()}) == 1:
            sd = next(iter(fixed.values()))
            parts.append(f"(fixed σ = {sd:.3g}, not a fitted spread: " + ", ".join(f"`{short(law)}` {cov[law]:.2f}" for law in fixed) + ")")
        elif fixed:
            parts.append("(fixed spreads, not fitted: " + ", ".join(f"`{short(law)}` {cov[law]:.2f} (σ = {sd:.3g})" for law, sd in fixed.items()) + ")")
    return "; ".join(parts) + "."


def recovery_numbers(path: Path) -> dict[str, Any] | None:
    """The recovery study's rates table and the sentences the guide quotes from it (None without ``path``)."""
    if not path.exists():
        return None
    df = pd.read_csv(path)
    rates, dist, misses = summarise_recovery(df)
    cols = ["generating law", "true law", "draws", "primary: true or tied", "log score: true or tied", "CRPS: true or tied"]
    out: dict[str, Any] = {"draws": int(df.drop_duplicates(["study", "draw"]).groupby("study").size().min())}
    out["rates_md"] = markdown_table(rates[[c for c in cols if c in rates.columns]].set_index("generating law"))

    def distances(study_prefix: str, laws: list[str]) -> str:
        rows = [s for s in dist.index if s.startswith(study_prefix)]
        if not rows:
            return ""
        d = dist.loc[rows[0]]
        have = [law for law in laws if law in d.index and math.isfinite(d[law])]
        return ", ".join(f"`{law}` {d[law]:.4f}" for law in have)

    r = rates.set_index("generating law")

    def rate(prefix: str, col: str = "primary: true or tied") -> str:
        rows = [s for s in r.index if s.startswith(prefix)]
        return r.loc[rows[0], col] if rows else "n/a"

    def study(name: str, prefix: str, laws: list[str]) -> str:
        return part(name, log_rate=rate(prefix), crps_rate=rate(prefix, "CRPS: true or tied"), distances=distances(prefix, laws))

    out["beta_sentence"] = study(
        "recovery.beta", "Beta", ["beta", "bernoulli", "sigmoid-mse", "logit-normal", "continuous-bernoulli", "binned", "gaussian-hetero"]
    )
    out["hetero_sentence"] = study("recovery.hetero", "heteroscedastic", ["gaussian-hetero", "gaussian", "student-t", "laplace-hetero", "binned"])
    out["mixture_sentence"] = study(
        "recovery.mixture",
        "bimodal",
        ["mixture-gaussian(n_components=2)", "gaussian-hetero", "student-t", "laplace-hetero", "gaussian", "binned"],
    )
    out["point_sentence"] = part(
        "recovery.point",
        kn=distances("k/n", ["binomial", "bernoulli", "sigmoid-mse", "beta-binomial", "continuous-bernoulli"]),
        beta=distances("Beta", ["beta", "bernoulli", "sigmoid-mse"]),
        zoib=distances("zero/one", ["zoib", "bernoulli", "sigmoid-mse", "beta(clamp=0.001)"]),
    )
    if len(misses):
        out["miss_sentence"] = part(
            "recovery.misses",
            misses="; ".join(
                f"{m['generating law']}, {m['ranking']}: {m['misses']} draw(s), recommended {m['recommended instead']}" for _, m in misses.iterrows()
            ),
        )
    else:
        out["miss_sentence"] = part("recovery.no_misses")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=str(ROOT / "losslab-out" / "guide.sqlite"), help="SQLite store of the runs")
    parser.add_argument("--out", default=None, help="folder for which-loss.md and img/ (default docs/; required with --quick or --only)")
    parser.add_argument("--only", default="", help="comma-separated case keys (cifar, retina, digits, concrete)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 400 rows, 2 seeds, 2 epochs (use with --out)")
    args = parser.parse_args(argv)
    if args.out is None and (args.quick or args.only):
        parser.error("--quick and --only write a partial guide: name a folder with --out (docs/ holds the full one)")
    t0 = time.perf_counter()
    out = Path(args.out) if args.out else ROOT / "docs"
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    if args.store:
        Path(args.store).parent.mkdir(parents=True, exist_ok=True)
    if "LOSSLAB_DATA" not in os.environ and (ROOT.parent / "shared" / "data").is_dir():
        print(f"LOSSLAB_DATA is not set; using {ROOT.parent / 'shared' / 'data'}")
        os.environ["LOSSLAB_DATA"] = str(ROOT.parent / "shared" / "data")

    claims = {
        "soft": soft_bce_curves(),
        "n_grid": 9999,
        "seed": seed_example(),
        "grad": gradient_table(),
        "grad_soft": gradient_table(y=0.75),
        "underflow": log_sigmoid_underflow(),
    }
    draw_claims(img)
    print(claims["soft"].to_string(index=False))
    print(claims["grad"].to_string(index=False))

    wanted = [k.strip() for k in args.only.split(",") if k.strip()]
    cases: dict[str, dict[str, Any]] = {}
    t_cmp = time.perf_counter()
    for case in CASES:
        if wanted and case.key not in wanted:
            continue
        t = time.perf_counter()
        print(f"comparing on {case.data} ({len(case.laws)} laws, model {case.model}) ...", flush=True)
        result = run_case(case, args.store, args.quick)
        c = case_numbers(case, result, img)
        c["facts"] = data_facts(load_case(case))
        c["cost_sentence"] = cost_sentence(c)
        cases[case.key] = c
        print(c["md_table"])
        print(f"  MSE: {describe(c['mse'], 'mse')}\n  CRPS: {describe(c['crps'], 'crps')}  [{time.perf_counter() - t:.0f} s]", flush=True)
    compare_minutes = (time.perf_counter() - t_cmp) / 60
    recovery = recovery_numbers(ROOT / "docs" / "evidence" / "recovery.csv")
    meta = {
        "threads": torch.get_num_threads(),
        "compare_minutes": compare_minutes,
        "total_minutes": (time.perf_counter() - t0) / 60,
        "runs": sum(c["runs"] for c in cases.values()),
        "train_minutes": sum(c["train_minutes"] for c in cases.values()),
    }
    text = build_guide(claims, cases, recovery, meta)
    (out / "which-loss.md").write_text(text, encoding="utf-8")
    print(f"wrote {out / 'which-loss.md'} and {img}/*.png in {(time.perf_counter() - t0) / 60:.1f} min")
    return {"claims": claims, "cases": cases, "recovery": recovery, "meta": meta}


if __name__ == "__main__":
    main()

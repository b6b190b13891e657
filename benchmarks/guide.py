"""Generate the user's guide ``docs/which-loss.md``: every number and figure in it is computed here.

Run ``python -m benchmarks.guide`` with ``LOSSLAB_DATA`` pointing at the local data
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

and writes the guide from a template, the figures into ``docs/img/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

import losslab as ll
from losslab.experiment.compare import ComparisonResult, law_label
from losslab.laws import law_class

from .recovery import _md, _restrict
from .recovery import summarise as summarise_recovery

ROOT = Path(__file__).resolve().parent.parent


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
    out["md_table"] = _md(pd.DataFrame(rows))

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


# =============================================================================== the guide
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


def build_guide(claims: dict[str, Any], cases: dict[str, dict[str, Any]], recovery: dict[str, Any] | None, meta: dict[str, Any]) -> str:
    soft, seed, grad, grad_soft = claims["soft"], claims["seed"], claims["grad"], claims["grad_soft"]
    L: list[str] = []
    add = L.append
    add("# Which loss for my float labels?")
    add("")
    add(
        "<!-- Generated by `python -m benchmarks.guide`; do not edit by hand: every number below comes from that "
        "script's run. -->"
    )
    add("")
    add(
        f"Generated by `python -m benchmarks.guide` with losslab {ll.__version__}, torch {torch.__version__}, on the "
        f"CPU ({meta['threads']} thread(s)). Training the {meta['runs']} runs of the comparisons took "
        f"{meta['train_minutes']:.1f} min of run time when they were made (on a shared 2-core machine); this "
        f"generation took {meta['total_minutes']:.1f} min, finished runs being read back from the store. Every "
        "number on this page is printed by that script: rerun it to check or refresh them."
    )
    add("")
    add(
        "A loss is the negative log-likelihood (NLL) of a law for the label. Choosing a loss is choosing that law, "
        "and the label's kind — where it lives, whether it has atoms at 0 and 1, whether counts stand behind it — "
        "decides which laws are even defined. Then an experiment decides between the laws that are: the same "
        "network trained under each, several seeds, held-out scores. `losslab inspect` does the first step, "
        "`losslab compare` the second."
    )
    add("")
    add("## In one table")
    add("")
    summary = pd.DataFrame(
        [
            ("soft labels with exact 0 and 1 (rater fractions, teacher probabilities)", "`bernoulli` (soft BCE), `zoib`, `continuous-bernoulli`", "`beta`, `logit-normal` (undefined at 0 and 1)", "cifar"),
            ("annotator counts k of n", "`binomial` (uses n), `beta-binomial` (raters disagree more than chance)", "—", "cifar, digits"),
            ("graded scores (grade / max)", "`binned` over the grades (categorical), `binomial` / `beta-binomial` with n = max, `gaussian` (MSE)", "`beta` (atoms at 0 and 1)", "retina"),
            ("bounded continuous in (0, 1), no atoms", "`beta`, `logit-normal`, `continuous-bernoulli`", "—", "recovery study"),
            ("unbounded real numbers", "`gaussian` (MSE), `gaussian-hetero`, `student-t`, `laplace-hetero`", "bounded laws", "concrete, recovery"),
            ("multi-modal given x", "`mixture-gaussian`, `mixture-beta`, `binned`", "one-mode laws (they average the modes)", "recovery"),
        ],
        columns=["label kind", "laws that fit", "laws that do not", "numbers below"],
    )
    add(_md(summary))
    add("")
    add(
        "How to read the tables. Each comparison trains the same model under each law with 3 seeds and reports, on "
        "held-out data, the mean over seeds ± half the 95% t-interval. `mean_squared_error` is the point accuracy of "
        "the law's mean; `crps` (continuous ranked probability score) scores the whole predictive distribution on the "
        "label's own scale, so it compares laws of every kind (lower is better; `bernoulli` has no distribution over "
        "a float label, hence –); `log_score` is the mean NLL, comparable **only between laws of the same likelihood "
        "kind** (a density, a pmf over counts, a mixed law with atoms, or soft BCE). Bold marks the best law on MSE, "
        "CRPS, calibration error, and the log score within each kind; \"tied\" means a paired t-test over seeds finds "
        "no difference at the 5% level (`ComparisonResult.recommend`)."
    )
    add("")

    # ---------------------------------------------------------------- per label kind
    def case_block(key: str, what: str) -> None:
        c = cases.get(key)
        if c is None:
            add(f"*(The {key} comparison was not run in this generation.)*")
            add("")
            return
        case: Case = c["case"]
        add(
            f"**{case.title}** — `ll.compare({case.data!r}, model={case.model!r}, seeds=3, epochs={case.epochs}, "
            f"patience={case.patience})`{' with trials=' + format(case.trials, 'g') if case.trials else ''}; "
            f"{c['runs']} runs, {c['diverged']} diverged. {what}"
        )
        add("")
        add(c["md_table"])
        add("")
        add(f"- Point accuracy (MSE): {describe(c['mse'], 'mse')}.")
        add(f"- Whole distribution (CRPS): {describe(c['crps'], 'crps')}.")
        if c["calibration"].get("best"):
            add(f"- Calibration error of the mean: {describe(c['calibration'], 'cal')}.")
        for kind, v in c["log_by_kind"].items():
            what_kind = (
                "the laws with a probability per grade (the pmf laws, and `binned` read as −log P(grade) = NLL − log w)"
                if kind == "pmf over the grades"
                else f"the {kind} laws"
            )
            add(f"- Log score among {what_kind}: {describe(v, 'log')}.")
        if c["density_log_skipped"]:
            add(
                "- Log scores of the density laws are not ranked: these labels sit exactly on 0, 1 or a grid, "
                "where a density can grow without bound, so a density's log score rewards piling mass on those "
                "points rather than fitting the labels (compare densities by CRPS here)."
            )
        if "reliability_png" in c:
            add("")
            add(f"![reliability diagrams, {case.data}](img/{c['reliability_png'].name})")
            add("")
            add(
                "Reliability diagrams of the pooled test predictions (3 seeds): mean prediction against mean float "
                "label per bin, with Wilson intervals and bin counts; the diagonal is perfect calibration."
            )
        add("")

    add("## 1. Soft labels with exact 0 and 1")
    add("")
    cif = cases.get("cifar")
    if cif is not None:
        rep = cif["labels"]
        add(
            f"CIFAR-10H's cat-vs-dog labels are the fraction of raters who said cat (median "
            f"{cif['facts'].get('median_trials', float('nan')):g} raters per image): {100 * rep.frac_zero:.0f}% are "
            f"exactly 0 and {100 * rep.frac_one:.0f}% exactly 1, the rest in between. Exact 0 and 1 rule out "
            "`beta` and `logit-normal` (their density is 0 or infinite there; clamping the labels invents a "
            "likelihood). What fits:"
        )
    add("")
    add(
        "- `bernoulli` — soft-label BCE. It is a proper loss for a float label: its expected value is minimised "
        "exactly at the label's mean (section [claims](#the-truth-about-common-claims)). It models the mean only: "
        "no spread, no atoms, no distribution over the label, so no CRPS and no intervals."
    )
    add(
        "- `zoib` — zero/one-inflated Beta: a probability of exactly 0, of exactly 1, and a Beta in between. It "
        "says how often raters agree unanimously, which BCE cannot."
    )
    add("- `continuous-bernoulli` — a proper density on the closed interval [0, 1] (one parameter). At a label of exactly 0 or 1 its NLL has no lower bound: the density there grows without limit as the logit goes to -inf or +inf, so training keeps pushing those logits outward. `torch.distributions.ContinuousBernoulli` clamps its probabilities and stops near |logit| = 16 in float32; losslab computes the exact NLL ([what that changes](performance.md#how-sure-is-the-winners-difference-later-on-2026-11-30)).")
    add("- `binomial` / `beta-binomial` when the counts are known (next section).")
    add("")
    case_block("cifar", "Images through a one-convolution CNN; CIFAR-10H has no fixed split, so one split is shared by the seeds.")

    add("## 2. Annotator counts (k of n)")
    add("")
    add(
        "When you know that 37 of 50 raters said cat, the label is a count, and `binomial` is its law: its NLL is "
        "n × soft BCE minus a constant, so a label backed by 50 raters weighs 50 times one backed by a single "
        "rater. `beta-binomial` adds overdispersion — items on which raters disagree more than coin flips with a "
        "common p would. Both are pmfs over k, so their log scores compare with each other (not with densities); "
        "the CRPS compares them with everything."
    )
    add("")
    for key in ("cifar", "digits"):
        c = cases.get(key)
        if c is None or "pmf" not in c["log_by_kind"]:
            continue
        v = c["log_by_kind"]["pmf"]
        vals = v["values"]
        bb, bi = vals.get("beta-binomial"), vals.get("binomial")
        if bb is not None and bi is not None:
            add(
                f"- {c['case'].data}: log score (pmf) `binomial` {f4(bi)}, `beta-binomial` {f4(bb)} "
                f"(difference {f4(bi - bb)} nats per label); best {describe(v, 'log')}."
            )
    add("")
    case_block(
        "digits",
        "32 outputs per row (a multi-output MLP); every pixel's label is k/16 ink, so trials = 16 for the count laws.",
    )

    add("## 3. Graded scores")
    add("")
    ret = cases.get("retina")
    if ret is not None:
        rep = ret["labels"]
        add(
            f"RetinaMNIST's label is a diabetic-retinopathy grade 0..4 divided by 4: five levels, "
            f"{100 * rep.frac_zero:.0f}% exactly 0 (no retinopathy), and bimodal. A grade is ordinal, not a "
            "probability: `binned` with one bin per grade (a softmax over the five grades, "
            "`binned:kind=onehot,n_bins=5,low=-0.125,high=1.125`) models it exactly; `binomial` with n = 4 "
            "reads the grade as 4 trials (a one-parameter ordinal model), `beta-binomial` relaxes it; "
            "`gaussian` is plain MSE on the grade."
        )
    add("")
    if ret is not None:
        case_block(
            "retina",
            f"The official MedMNIST split (train / val / test {ret['facts'].get('split', '?')}); seeds vary the "
            "initial weights and batch order.",
        )

    add("## 4. Bounded continuous labels in (0, 1)")
    add("")
    add(
        "None of the three real data sets has labels strictly inside (0, 1) without atoms, so the numbers here come "
        "from the known-truth study (`python -m benchmarks.recovery`, section [evidence](#evidence-known-truth-recovery)): "
        "Beta-distributed labels whose mean depends on x. There `beta` fits, and so do `logit-normal` and "
        "`continuous-bernoulli` (laws on the same interval with a different shape); `bernoulli` and `sigmoid-mse` "
        "estimate the mean but say nothing about the spread."
    )
    add("")
    if recovery is not None:
        add(recovery["beta_sentence"])
        add("")

    add("## 5. Unbounded real numbers")
    add("")
    add(
        "`gaussian` is MSE (a Gaussian with a fixed scale: its log score is not a fitted likelihood); "
        "`gaussian-hetero` learns a scale per input, `student-t` and `laplace-hetero` allow heavy tails, "
        "`binned` a free-form histogram over the label range."
    )
    add("")
    case_block("concrete", "An MLP on the 8 mix features; seed k uses the literature's fixed split k.")
    if recovery is not None:
        add(recovery["hetero_sentence"])
        add("")

    add("## 6. Multi-modal labels")
    add("")
    add(
        "A one-mode law (Gaussian, Beta, Student-t) fitted to labels with two modes given x puts its mean between "
        "them, where no label lies. Mixtures (`mixture-gaussian`, `mixture-beta`) and `binned` can place mass in "
        "both modes."
    )
    add("")
    if recovery is not None:
        add(recovery["mixture_sentence"])
        add("")
    if ret is not None:
        add(
            "RetinaMNIST's grades are bimodal too (section 3); there the per-grade softmax (`binned`) is the "
            "distributional law that can hold both modes."
        )
        add("")

    # ---------------------------------------------------------------- claims
    add("## The truth about common claims")
    add("")
    add("### \"BCE treats a label of 0.75 as if it were 1\" — no: soft BCE is minimised exactly at p = y")
    add("")
    add(
        "For a soft label y, BCE(p; y) = −y log p − (1 − y) log(1 − p). Its derivative −y/p + (1 − y)/(1 − p) "
        "vanishes only at p = y, and the minimum value is the label's entropy H(y), not 0. So BCE − H(y) = KL(y‖p) "
        "is the interpretable value: 0 at a perfect prediction (`law.excess` in losslab). Computed on a grid of "
        f"{claims['n_grid']} values of p:"
    )
    add("")
    t = soft.copy()
    t = pd.DataFrame(
        {
            "label y": [f"{v:g}" for v in t["y"]],
            "argmin over p": [f"{v:.4f}" for v in t["argmin_p"]],
            "min BCE": [f"{v:.6f}" for v in t["min_bce"]],
            "H(y)": [f"{v:.6f}" for v in t["entropy"]],
            "BCE at p = 0.999": [f"{v:.4f}" for v in t["bce_at_p_0999"]],
        }
    )
    add(_md(t))
    add("")
    add("![soft BCE curves](img/soft-bce.png)")
    add("")
    add(
        f"The seed article's own example (`y_true = [0.2, 0.8, 0.5, 0.9]`, `y_pred = [0.4, 0.7, 0.6, 0.85]`): "
        f"`nn.BCELoss` gives {seed['bce']:.4f}; its floor, the mean label entropy, is {seed['entropy_floor']:.4f} "
        f"(what `nn.BCELoss` returns for `y_pred = y_true`: {seed['bce_at_p_equal_y']:.4f}); the excess KL is "
        f"{seed['excess_kl']:.4f} (losslab's `bernoulli` law, `excess`: {seed['law_excess']:.4f}). The raw BCE "
        "value looks large only because of the floor. `nn.MSELoss` on the same numbers gives "
        f"{seed['mse']:.4f}."
    )
    add("")
    add(
        "And `nn.BCELoss` does **not** apply a sigmoid (the article's comment says it does): it takes probabilities. "
        f"`nn.BCELoss(p, y)` = {seed['bce']:.4f} = `binary_cross_entropy_with_logits(logit(p), y)` "
        f"= {seed['bce_with_logits_of_logit_p']:.4f}, while passing the probabilities as logits gives "
        f"{seed['bce_with_logits_of_p']:.4f}. Work from logits with the fused kernel "
        "(`F.binary_cross_entropy_with_logits`, which losslab's `bernoulli` uses): it is finite for any logit, "
        f"where `log(sigmoid(z))` in float32 is −inf from z = {claims['underflow']['z']:.2f} down (the fused "
        f"`logsigmoid` gives {claims['underflow']['logsigmoid']:.2f} there)."
    )
    add("")
    add("### \"MSE through a sigmoid gives finer gradients\" — it gives vanishing ones at saturation")
    add("")
    add(
        "With p = sigmoid(z), d/dz BCE = p − y, while d/dz (p − y)² = 2 (p − y) p (1 − p). Their ratio is "
        "2 p (1 − p), whatever the label: at most 1/2, and about 2 e^−|z| once the logit saturates. A network that "
        "is confidently wrong (z = −10 for a label 1) gets almost no gradient from MSE to correct itself. By "
        "autograd in float64, label y = 1:"
    )
    add("")
    g = pd.DataFrame(
        {
            "z": [f"{v:+g}" for v in grad["z"]],
            "sigmoid(z)": [f"{v:.6g}" for v in grad["sigmoid(z)"]],
            "d BCE / dz": [f"{v:.4g}" for v in grad["dBCE/dz"]],
            "d MSE / dz": [f"{v:.4g}" for v in grad["dMSE/dz"]],
            "ratio MSE / BCE": [f"{v:.3g}" for v in grad["ratio MSE/BCE"]],
        }
    )
    add(_md(g))
    add("")
    ratios = ", ".join(f"{v:.3g}" for v in grad_soft["ratio MSE/BCE"])
    add(
        f"With a soft label y = 0.75 the ratios at the same z are {ratios}: the same numbers, since the ratio "
        "does not depend on y. (`nn.MSELoss` averages (p − y)²; losslab's `sigmoid-mse` is the Gaussian NLL "
        "½ (p − y)², whose gradient is half of the column above.)"
    )
    add("")
    add("![gradients](img/sigmoid-mse-gradient.png)")
    add("")
    add("### When MSE still wins on point accuracy")
    add("")
    add(
        "MSE estimates the conditional mean, and so does every law whose expected loss is minimised by the mean "
        "(soft BCE and binomial included). If the mean is all you use and the model is flexible, the choice of law "
        "changes the point accuracy little; the comparisons bear this out:"
    )
    add("")
    for key, c in cases.items():
        v = c["mse"]
        mse_laws = [law for law in ("gaussian", "sigmoid-mse") if law in v.get("values", {})]
        if not mse_laws or not v.get("best"):
            continue
        parts = []
        for law in mse_laws:
            state = "best" if law == v["best"] else ("tied with the best" if law in v["tied"] else f"p = {v['p'][law]:.2g} vs the best")
            parts.append(f"`{law}` {f4(v['values'][law])} (rank {rank_of(v, law)}, {state})")
        add(f"- {c['case'].data}: best MSE {describe(v, 'mse')}; " + "; ".join(parts) + ".")
    if recovery is not None:
        add(f"- {recovery['point_sentence']}")
    add("")
    con = cases.get("concrete")
    if con is not None and {"gaussian", "gaussian-hetero", "gaussian-hetero(beta=0.5)"} <= set(con["mse"].get("values", {})):
        v = con["mse"]

        def vs_best(law: str) -> str:
            if law == v["best"]:
                return "the best"
            return "tied with the best" if law in v["tied"] else f"p = {v['p'][law]:.2g} against the best"

        add(
            f"The heteroscedastic laws show the other side. On UCI concrete, plain MSE (`gaussian`) reaches "
            f"{f4(v['values']['gaussian'])} ({vs_best('gaussian')}) and the learned-variance Gaussian "
            f"`gaussian-hetero` {f4(v['values']['gaussian-hetero'])} ({vs_best('gaussian-hetero')}): with a scale "
            "per input, the NLL lets the network explain hard rows away as noise instead of fitting their mean "
            "(Seitzer et al. 2022, \"On the Pitfalls of Heteroscedastic Uncertainty Estimation with Probabilistic "
            "Neural Networks\"). Their β-NLL, which weights each row's NLL by the detached σ^(2β), gives "
            f"`gaussian-hetero(beta=0.5)` {f4(v['values']['gaussian-hetero(beta=0.5)'])} "
            f"({vs_best('gaussian-hetero(beta=0.5)')}; three splits only, so the intervals are wide)."
        )
        add("")
    mse_ok = []
    for key, c in cases.items():
        v = c["mse"]
        mse_laws = [law for law in ("gaussian", "sigmoid-mse") if law in v.get("values", {})]
        if mse_laws and v.get("best"):
            mse_ok.append(any(law == v["best"] or law in v["tied"] for law in mse_laws))
    if mse_ok:
        add(
            f"In {sum(mse_ok)} of these {len(mse_ok)} comparisons an MSE-trained law (`gaussian` or `sigmoid-mse`) "
            "is the best or tied with the best on MSE. So MSE is a fine choice when the mean is all you need. What "
            "it cannot give is anything beyond the mean (next section), and through a sigmoid its gradient vanishes "
            "where the logits saturate (above), which matters when training starts from, or is pushed into, "
            "confident wrong outputs."
        )
    add("")
    add("### When a distributional law is worth its cost")
    add("")
    add(
        "A distributional law costs a few more outputs per target and, sometimes, slower training; what it buys "
        "is the predictive distribution: intervals, the probability of exactly 0 or 1, the spread of the raters. "
        "Measured here:"
    )
    add("")
    for key, c in cases.items():
        add(f"- {c['case'].data}: " + c["cost_sentence"])
    add("")
    one, free = [], []
    for key, c in cases.items():
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
    if one and free:
        lo, hi = min(v for _, v in free), max(v for _, v in free)
        add(
            "The one-parameter laws on [0, 1] (`binomial`, `continuous-bernoulli`) tie the spread to the mean, so "
            "their 90% intervals are right only where the labels happen to follow that tie: coverage "
            + ", ".join(one)
            + f". The laws with a free spread cover between {lo:.2f} and {hi:.2f}: "
            + ", ".join(t for t, _ in free)
            + "."
        )
        add("")
    add(
        "Worth it when the decision downstream uses more than the mean (an interval, a risk, the chance of a "
        "unanimous label), when the labels' spread varies with the input, or when the labels come with counts. "
        "Not worth it when the mean is all you report and the CRPS gain is within the seed noise."
    )
    add("")

    # ---------------------------------------------------------------- evidence
    add("## Evidence: known-truth recovery")
    add("")
    if recovery is None:
        add("*(docs/evidence/recovery.csv is missing: run `python -m benchmarks.recovery` first.)*")
    else:
        add(
            f"Does `compare` pick the law that generated the labels? `python -m benchmarks.recovery` draws "
            f"{recovery['draws']} data sets per generating law from `losslab.data.synthetic` with the true E[y|x] "
            "known, fits a linear model (a GLM per law, L-BFGS) on features in which the true predictor is "
            "representable, and uses 5-fold cross-validation folds as the seeds of a paired comparison. *True or "
            "tied*: the recommended law is the generating law or statistically tied with it. The log-score ranking "
            "is among candidates of the true law's likelihood kind; the CRPS ranking among all laws with a "
            "distribution over y; the primary column uses the log score, or the CRPS for `zoib` (the only law "
            "with atoms). Details, candidate sets and per-draw numbers: [docs/evidence/recovery.md](evidence/recovery.md)."
        )
        add("")
        add(recovery["rates_md"])
        add("")
        add(recovery["miss_sentence"])
    add("")
    add("## Regenerate")
    add("")
    add("```bash")
    add("export LOSSLAB_DATA=/path/to/data        # the folder with retinamnist/, cifar10h/, uci_gal/")
    add("python -m benchmarks.recovery           # docs/evidence/recovery.{md,csv}")
    add("python -m benchmarks.guide              # this page and docs/img/*.png")
    add("```")
    add("")
    return "\n".join(L)


FIXED_SCALE = ("gaussian", "sigmoid-mse")  # Gaussians with sigma = 1: their spread is not fitted


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
        fitted = [f"`{short(law)}` {cov[law]:.2f}" for law in cov.index if math.isfinite(cov[law]) and law not in FIXED_SCALE]
        fixed = [f"`{law}` {cov[law]:.2f}" for law in FIXED_SCALE if law in cov.index and math.isfinite(cov[law])]
        if fitted:
            parts.append("coverage of the central 90% predictive interval " + ", ".join(fitted))
        if fixed:
            parts.append("(fixed σ = 1, not a fitted spread: " + ", ".join(fixed) + ")")
    return "; ".join(parts) + "."


def recovery_numbers(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    df = pd.read_csv(path)
    rates, dist, misses = summarise_recovery(df)
    cols = ["generating law", "true law", "draws", "primary: true or tied", "log score: true or tied", "CRPS: true or tied"]
    out: dict[str, Any] = {"draws": int(df.drop_duplicates(["study", "draw"]).groupby("study").size().min())}
    out["rates_md"] = _md(rates[[c for c in cols if c in rates.columns]])

    def dist_sentence(study_prefix: str, laws: list[str]) -> str:
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

    out["beta_sentence"] = (
        f"Recovery on Beta labels: the generating law was recommended or tied in {rate('Beta')} of the draws by log "
        f"score ({rate('Beta', 'CRPS: true or tied')} by CRPS). RMSE of the mean prediction to the true E[y|x], "
        f"mean over draws: {dist_sentence('Beta', ['beta', 'bernoulli', 'sigmoid-mse', 'logit-normal', 'continuous-bernoulli', 'binned', 'gaussian-hetero'])}. "
        "With a linear model, a law whose mean goes through a sigmoid of the linear predictor (beta, bernoulli, "
        "sigmoid-mse) can represent the true mean; an identity link (gaussian-hetero) cannot, which its distance shows."
    )
    out["hetero_sentence"] = (
        f"Known truth, heteroscedastic Gaussian labels: recommended or tied in {rate('heteroscedastic')} of the draws "
        f"(log score), {rate('heteroscedastic', 'CRPS: true or tied')} (CRPS). RMSE to the true mean: "
        f"{dist_sentence('heteroscedastic', ['gaussian-hetero', 'gaussian', 'student-t', 'laplace-hetero', 'binned'])}."
    )
    out["mixture_sentence"] = (
        f"Known truth, a two-component Gaussian mixture whose weights depend on x (bimodal given x): the 2-component "
        f"mixture law was recommended or tied in {rate('bimodal')} of the draws (log score), "
        f"{rate('bimodal', 'CRPS: true or tied')} (CRPS). RMSE to the true mean: "
        f"{dist_sentence('bimodal', ['mixture-gaussian(n_components=2)', 'gaussian-hetero', 'student-t', 'laplace-hetero', 'gaussian', 'binned'])} "
        "— with a linear model only the mixture can represent a mean that moves between the modes."
    )
    out["point_sentence"] = (
        "Known truth (recovery study, linear models, RMSE of the mean prediction to the true E[y|x]): k/n labels: "
        f"{dist_sentence('k/n', ['binomial', 'bernoulli', 'sigmoid-mse', 'beta-binomial', 'continuous-bernoulli'])}; "
        f"Beta labels: {dist_sentence('Beta', ['beta', 'bernoulli', 'sigmoid-mse'])}; zero/one-inflated: "
        f"{dist_sentence('zero/one', ['zoib', 'bernoulli', 'sigmoid-mse', 'beta(clamp=0.001)'])}. The "
        "right law is closest, but the mean-minimising losses (soft BCE, MSE through a sigmoid) come near it."
    )
    if len(misses):
        out["miss_sentence"] = "Misses (the recommended law was neither the true one nor tied with it): " + "; ".join(
            f"{m['generating law']}, {m['ranking']}: {m['misses']} draw(s), recommended {m['recommended instead']}"
            for _, m in misses.iterrows()
        ) + ". See the evidence page for why."
    else:
        out["miss_sentence"] = "No misses: in every draw the generating law was recommended or tied, by both rankings."
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
    (out / "which-loss.md").write_text(text)
    print(f"wrote {out / 'which-loss.md'} and {img}/*.png in {(time.perf_counter() - t0) / 60:.1f} min")
    return {"claims": claims, "cases": cases, "recovery": recovery, "meta": meta}


if __name__ == "__main__":
    main()

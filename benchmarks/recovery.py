"""Known-truth recovery: does the comparison recommend the law that generated the labels?

Run ``python -m benchmarks.recovery`` (``--draws N``, ``--quick`` for a smoke run,
``--out DIR`` for the result files, ``--store PATH`` to keep runs between
invocations). For each generating law it draws ``--draws`` data sets from
:func:`losslab.data.synthetic` (a new ``eta(x)`` and new labels per draw, with the
true ``E[y | x]`` known), runs :func:`losslab.compare` over a candidate set that
holds the true law and plausible alternatives, and records

* whether the recommended law is the true one, or statistically tied with it
  (paired t-test over the folds, p >= 0.05), ranking by the **log score** among the
  candidates whose likelihood is of the true law's kind (density, pmf, mixed:
  log scores of different kinds are not on one scale), and by the **CRPS** among
  every candidate with a predictive distribution over ``y`` (a proper score on the
  label's own scale, so comparable across kinds);
* each law's distance to the truth: the RMSE of its mean prediction against
  ``E[y | x]`` over the test rows.

Design. Each draw is split into 5 folds; "seed" k trains on four folds (a random
15% of them held out for early stopping) and tests on fold k, so the paired test
over the 5 seeds sees sampling noise, not only initialisation noise, and every row
is a test row once. The model is linear (a generalised linear model per law),
fitted by full-batch L-BFGS, on the features ``x`` plus ``sin(2 x0)``: the generator's
predictor ``eta = 1.5 x.w + 0.5 sin(2 x0)`` is then exactly representable, so the
true law is the best law in the model class and a miss is the comparison's fault,
not the network's.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import losslab as ll
from losslab.data import from_arrays
from losslab.experiment.compare import ComparisonResult, law_label, parse_law_spec
from losslab.laws import law_class
from losslab.report.write import markdown_table


@dataclasses.dataclass(frozen=True)
class Study:
    """One generating law and the candidate laws compared on its draws."""

    name: str  # the row label in the tables
    generator: str  # a name of losslab.data.list_synthetic()
    options: dict  # the generator's options
    truth: str  # the candidate (law spec) that is the generating law
    laws: tuple[str, ...]  # candidate law specs, truth included


STUDIES: tuple[Study, ...] = (
    Study(
        "k/n fractions (binomial, n=16)",
        "bernoulli-fraction",
        {"trials": 16},
        "binomial",
        # pmf: binomial, beta-binomial; density: continuous-bernoulli, binned, gaussian-hetero, sigmoid-mse;
        # bernoulli (soft BCE) has no distribution over y: point metrics only.
        ("binomial", "beta-binomial", "continuous-bernoulli", "binned", "gaussian-hetero", "sigmoid-mse", "bernoulli"),
    ),
    Study(
        "Beta (precision 10)",
        "beta",
        {"concentration": 10.0},
        "beta",
        ("beta", "logit-normal", "continuous-bernoulli", "binned", "gaussian-hetero", "sigmoid-mse", "bernoulli"),
    ),
    Study(
        "zero/one-inflated Beta",
        "zoib",
        {"concentration": 10.0},
        "zoib",
        # zoib is the only "mixed" law: ranked against the others by CRPS. beta needs a clamp for exact 0/1.
        ("zoib", "beta:clamp=0.001", "continuous-bernoulli", "binned", "gaussian-hetero", "sigmoid-mse", "bernoulli"),
    ),
    Study(
        "heteroscedastic Gaussian",
        "gaussian-hetero",
        {"scale": 0.5},
        "gaussian-hetero",
        ("gaussian-hetero", "gaussian", "laplace-hetero", "student-t", "binned"),
    ),
    Study(
        "bimodal Gaussian mixture",
        "mixture-gaussian",
        {"separation": 2.0, "scale": 0.3},
        "mixture-gaussian:n_components=2",
        ("mixture-gaussian:n_components=2", "gaussian-hetero", "laplace-hetero", "student-t", "binned", "gaussian"),
    ),
)

N_FOLDS = 5


def _label(spec: str) -> str:
    return law_label(*parse_law_spec(spec))


def _kind(spec: str) -> str:
    return law_class(parse_law_spec(spec)[0]).likelihood


def make_data(study: Study, n: int, seed: int) -> ll.data.Dataset:
    """A draw of ``study``'s generator: features ``[x, sin(2 x0)]``, ``N_FOLDS`` fixed folds, the truth in meta."""
    ds = ll.data.synthetic(study.generator, n, seed=seed, **study.options)
    X = np.c_[ds.X, np.sin(2.0 * ds.X[:, 0])]
    folds = np.array_split(np.random.default_rng(seed + 7919).permutation(n), N_FOLDS)
    splits = [{"train": np.concatenate(folds[:k] + folds[k + 1 :]), "test": folds[k]} for k in range(N_FOLDS)]
    return from_arrays(X, ds.y, trials=ds.trials, name=ds.name, splits=splits, meta=ds.meta)


def _restrict(result: ComparisonResult, labels: list[str]) -> ComparisonResult:
    """The same runs seen as a comparison of ``labels`` only (for a ranking within one likelihood kind)."""
    cfg = dataclasses.replace(result.config, laws=[(n, o) for n, o in result.config.laws if law_label(n, o) in labels])
    runs = [r for r in result.runs if r["law"] in labels]
    return ComparisonResult(runs, cfg, data_meta=result.data_meta, labels=result.labels)


def _verdict(result: ComparisonResult, labels: list[str], truth: str, metric: str) -> dict[str, Any]:
    if len(labels) < 2:
        return {"recommended": None, "tied": None, "hit": None, "exact": None}
    rec = _restrict(result, labels).recommend(metric)
    return {
        "recommended": rec.law,
        "tied": ";".join(rec.tied),
        "hit": rec.law == truth or truth in rec.tied,
        "exact": rec.law == truth,
    }


def run_draw(study: Study, n: int, seed: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """One draw: compare the candidates; one row per law with its scores, its distance to the truth and the verdicts."""
    ds = make_data(study, n, seed)
    res = ll.compare(
        ds,
        laws=list(study.laws),
        model=args.model,
        seeds=N_FOLDS,
        primary_metric="crps",  # the log-score ranking below is within one likelihood kind (_restrict)
        epochs=args.epochs,
        optimizer="lbfgs" if args.model == "linear" else "adam",
        patience=5 if args.model == "linear" else 10,
        device="cpu",
        store=args.store,
    )
    truth = _label(study.truth)
    labels = [_label(s) for s in study.laws]
    true_kind = _kind(study.truth)
    same_kind = [lab for lab, s in zip(labels, study.laws) if _kind(s) == true_kind]
    table = res.table()
    with_crps = [lab for lab in labels if "crps" in table.columns and math.isfinite(table.loc[lab, "crps"])]
    by_log = _verdict(res, same_kind, truth, "log_score")
    by_crps = _verdict(res, with_crps, truth, "crps")

    true_mean = ds.meta["true_mean"]
    rows = []
    for lab in labels:
        sq, count = 0.0, 0
        for r in res.runs:
            if r["law"] != lab or r["status"] != "ok":
                continue
            test = np.sort(ds.splits[r["seed"] % N_FOLDS]["test"])  # the trainer's order: Dataset.split sorts
            pred = np.asarray(r["arrays"]["y_pred"], dtype=np.float64).reshape(-1)
            sq += float(((pred - true_mean[test]) ** 2).sum())
            count += test.size
        row = {
            "study": study.name,
            "draw": seed,
            "law": lab,
            "truth": truth,
            "kind": law_class(parse_law_spec(study.laws[labels.index(lab)])[0]).likelihood,
            "rmse_to_truth": math.sqrt(sq / count) if count else math.nan,
            "folds_ok": sum(1 for r in res.runs if r["law"] == lab and r["status"] == "ok"),
        }
        for m in ("log_score", "crps", "mean_squared_error"):
            row[m] = float(table.loc[lab, m]) if m in table.columns else math.nan
        row.update({f"log_{k}": v for k, v in by_log.items()})
        row.update({f"crps_{k}": v for k, v in by_crps.items()})
        rows.append(row)
    return rows


def _pct(values: pd.Series) -> str:
    v = values.dropna()
    return "n/a" if v.empty else f"{100 * v.astype(bool).mean():.0f}% ({int(v.astype(bool).sum())}/{len(v)})"


def summarise(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per study: the recovery rates; per study x law: mean RMSE to the truth; per study: what won the misses."""
    per_draw = df.drop_duplicates(["study", "draw"])
    rates = []
    for study, g in per_draw.groupby("study", sort=False):
        rates.append(
            {
                "generating law": study,
                "true law": g["truth"].iloc[0],
                "draws": len(g),
                "primary: true or tied": _pct(g["log_hit"] if g["log_hit"].notna().any() else g["crps_hit"]),
                "log score: true or tied": _pct(g["log_hit"]),
                "log score: true best": _pct(g["log_exact"]),
                "CRPS: true or tied": _pct(g["crps_hit"]),
                "CRPS: true best": _pct(g["crps_exact"]),
                "s/draw": f"{g['seconds'].mean():.1f}" if "seconds" in g else "–",
            }
        )
    dist = df.pivot_table(index="study", columns="law", values="rmse_to_truth", aggfunc="mean", sort=False)
    misses = []
    for study, g in per_draw.groupby("study", sort=False):
        for crit in ("log", "crps"):
            bad = g[g[f"{crit}_hit"].astype("boolean").fillna(True) == False]  # noqa: E712 - pandas mask
            if len(bad):
                misses.append(
                    {
                        "generating law": study,
                        "ranking": "log score" if crit == "log" else "CRPS",
                        "misses": len(bad),
                        "draws (seeds)": ", ".join(str(int(d)) for d in bad["draw"]),
                        "recommended instead": ", ".join(f"{k} ({v})" for k, v in bad[f"{crit}_recommended"].value_counts().items()),
                    }
                )
    return pd.DataFrame(rates), dist, pd.DataFrame(misses)


def _four(v: float) -> str:
    """A distance as the tables show it: four decimals, – where the law was not a candidate."""
    return "–" if not math.isfinite(v) else f"{v:.4f}"


def _clamp_sentence(df: pd.DataFrame) -> str:
    """What clamping exact 0/1 labels into a Beta did in the zoib study, from the numbers."""
    z = df[(df["truth"] == "zoib")]
    if z.empty or "beta(clamp=0.001)" not in set(z["law"]):
        return ""
    means = z.groupby("law")[["log_score", "rmse_to_truth", "crps"]].mean()
    dens = [law for law in means.index if law in set(z.loc[z["kind"] == "density", "law"])]
    best_log = means.loc[dens, "log_score"].idxmin()
    worst_dist = means["rmse_to_truth"].idxmax()
    c = means.loc["beta(clamp=0.001)"]
    return (
        f" Clamping the labels into the open interval, `beta(clamp=0.001)`: mean density log score {c['log_score']:.3f} "
        f"({'the best' if best_log == 'beta(clamp=0.001)' else 'not the best'} of the density laws), distance to the "
        f"true mean {c['rmse_to_truth']:.4f} ({'the largest' if worst_dist == 'beta(clamp=0.001)' else 'not the largest'} "
        f"of all laws), CRPS {c['crps']:.4f} against zoib's {means.loc['zoib', 'crps']:.4f}: a density can pile "
        "up at the clamped edges, which a log score rewards and the mean pays for."
    )


def write_outputs(df: pd.DataFrame, out: Path, args: argparse.Namespace, seconds: float) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    rates, dist, misses = summarise(df)
    paths = {"csv": out / "recovery.csv", "md": out / "recovery.md"}
    df.to_csv(paths["csv"], index=False)
    dist_t = dist.copy()
    dist_t.index.name = "generating law"
    text = [
        "# Known-truth recovery",
        "",
        f"Generated by `python -m benchmarks.recovery --draws {args.draws} --n {args.n}` "
        f"(losslab {ll.__version__}; {seconds / 60:.1f} min of wall time, single-threaded, on a machine whose 2 cores "
        "were shared with other jobs). Per-draw, per-law numbers: `recovery.csv`.",
        "",
        "Each draw: a data set from `losslab.data.synthetic(<generator>, n, seed=draw)` with the true `E[y|x]` known; "
        f"a linear model per law (GLM, L-BFGS) on `[x, sin(2 x0)]`, so the generator's predictor is representable; "
        f"{N_FOLDS}-fold cross-validation, the folds serving as the comparison's seeds (paired design). "
        "*True or tied*: the recommended law is the generating law, or the generating law is statistically tied "
        "with it (paired t-test over the folds, p ≥ 0.05). The **log-score** ranking is among candidates of the "
        "true law's likelihood kind only (log scores of a density, a pmf and a mixed law are not on one scale); "
        "the **CRPS** ranking is among every candidate with a predictive distribution over y. The *primary* "
        "column is the log-score ranking, or the CRPS ranking where the true law has no alternative of its kind "
        "(zoib is the only law with atoms at 0 and 1 plus a density inside).",
        "",
        "## Recovery rates",
        "",
        markdown_table(rates.set_index("generating law")),
        "",
        "## Distance to the true conditional mean",
        "",
        "RMSE of each law's mean prediction against `E[y|x]` on the test rows (each row once), mean over draws; "
        "– where the law is not a candidate for that generator.",
        "",
        markdown_table(dist_t.apply(lambda col: col.map(_four))),
        "",
        "## Candidate sets",
        "",
    ]
    for s in STUDIES:
        if s.name in set(df["study"]):
            kinds = ", ".join(f"{_label(x)} ({_kind(x)})" for x in s.laws)
            text.append(f"- **{s.name}** (`synthetic({s.generator!r}, **{s.options})`, truth `{_label(s.truth)}`): {kinds}")
    text += ["", "## Misses", ""]
    text.append(markdown_table(misses.set_index("generating law")) if len(misses) else "None: the generating law was recommended or tied in every draw, by both rankings.")
    text += ["", "## Reading the results", ""]
    text += [
        "- *Nested laws tie, as they should.* `beta-binomial` contains `binomial` (precision → ∞) and `student-t` "
        "contains the Gaussian (df → ∞): fitted to data from the smaller law they can match it, so the comparison "
        "rightly calls them tied, and which of the two comes first on the test folds is close to a coin flip. That "
        "is why *true best* can sit near 50% while *true or tied* stays high.",
        "- *The test's own error rate.* A tie is a paired t-test at the 5% level over 5 folds: between two laws that "
        "are equally good, about 1 draw in 20 is expected to show a \"significant\" difference by chance. A single "
        "miss in 20 draws against a nesting law is that rate, not a failure of the ranking.",
        "- *Well-specified, up to links.* With the features `[x, sin(2 x0)]` every generator's parameters are linear "
        "in the features through the true law's links, except the heteroscedastic Gaussian's scale: the generator "
        "draws `scale = 0.5 exp(0.6 x.v)` while `gaussian-hetero` links `scale = softplus(linear)`. The fit is "
        "close, not exact, which leaves room for a law with an extra shape parameter (`student-t`) to score as well.",
        "- *Distance to the truth depends on the link as much as on the law.* With a linear model, a law whose mean "
        "is the sigmoid of a linear predictor (binomial, bernoulli, beta, sigmoid-mse) can represent the true mean "
        "of the bounded generators; an identity link (gaussian-hetero) cannot, and a 51-bin `binned` law spreads its "
        "capacity over 51 logits. The mean-minimising losses (bernoulli, sigmoid-mse) land close to the true law's "
        "distance: if only the mean matters, they are nearly as good; the distributional laws win on CRPS and log score.",
        "- *Zero/one-inflated labels.* `zoib` is the only law with point masses at 0 and 1; a density law's log score "
        "there is on another scale (masses against densities), so the zoib study ranks by CRPS only."
        + _clamp_sentence(df),
    ]
    text.append("")
    paths["md"].write_text("\n".join(text))
    return paths


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=20, help="data sets per generating law")
    parser.add_argument("--n", type=int, default=1500, help="rows per data set")
    parser.add_argument("--epochs", type=int, default=30, help="L-BFGS passes (Adam epochs with --model mlp)")
    parser.add_argument("--model", default="linear", choices=("linear", "mlp"))
    parser.add_argument("--studies", default="", help="comma-separated generator names (default: all)")
    parser.add_argument("--store", default=None, help="SQLite store: finished runs are skipped when re-run")
    parser.add_argument("--out", default=None, help="folder for recovery.csv / recovery.md (default docs/evidence; none with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 2 draws, 300 rows, 3 generators")
    parser.add_argument("--from-csv", default=None, help="rewrite the tables from a recovery.csv without running anything")
    args = parser.parse_args(argv)
    if args.from_csv:
        df = pd.read_csv(args.from_csv)
        per_draw = df.drop_duplicates(["study", "draw"])
        args.draws = int(per_draw.groupby("study").size().min())
        seconds = float(per_draw["seconds"].sum())
        paths = write_outputs(df, Path(args.out) if args.out else Path(args.from_csv).parent, args, seconds)
        print("wrote " + ", ".join(str(p) for p in paths.values()))
        return df
    studies = list(STUDIES)
    if args.studies:
        want = [s.strip() for s in args.studies.split(",")]
        studies = [s for s in studies if s.generator in want]
    if args.quick:
        args.draws, args.n, args.epochs = 2, 300, 10
        if not args.studies:
            studies = [s for s in studies if s.generator in ("beta", "gaussian-hetero", "bernoulli-fraction")]
    out = Path(args.out) if args.out else (None if args.quick else Path("docs/evidence"))
    print(f"losslab {ll.__version__}: {len(studies)} generating laws x {args.draws} draws, n = {args.n}, model {args.model}")
    print(f"{'generating law':32s} {'draw':>4s} {'by log score':>34s} {'by CRPS':>34s} {'s':>5s}")
    t0 = time.perf_counter()
    rows: list[dict] = []
    for study in studies:
        for draw in range(args.draws):
            t = time.perf_counter()
            r = run_draw(study, args.n, draw, args)
            for row in r:
                row["seconds"] = time.perf_counter() - t
            rows += r

            def show(prefix: str) -> str:
                rec, hit = r[0][f"{prefix}_recommended"], r[0][f"{prefix}_hit"]
                return "-" if rec is None else f"{'ok ' if hit else 'MISS'} {rec}"

            print(f"{study.name:32s} {draw:4d} {show('log'):>34s} {show('crps'):>34s} {r[0]['seconds']:5.1f}", flush=True)
    seconds = time.perf_counter() - t0
    df = pd.DataFrame(rows)
    rates, dist, _ = summarise(df)
    print()
    print(rates.to_string(index=False))
    print()
    print("mean RMSE of each law's mean prediction to the true E[y|x]:")
    print(dist.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"\n{seconds / 60:.1f} min")
    if out is not None:
        paths = write_outputs(df, out, args, seconds)
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return df


if __name__ == "__main__":
    main()

"""Write docs/errors.md by running every bad-input case of tests/test_errors.py.

Run from the repository root: ``python docs/_make_errors_table.py``. Each case writes its data
into a fresh temporary folder, calls the library and the CLI, and the messages they give go into
the table as they are (only the temporary folder is cut from paths). Known gaps (cases marked
xfail in the tests) are listed with what happens today.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests" / "test_errors.py"
DOC = ROOT / "docs" / "errors.md"


def _load_cases():
    spec = importlib.util.spec_from_file_location("_losslab_error_cases", TESTS)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


def _clean(text: str, tmp: Path) -> str:
    return text.replace(str(tmp) + os.sep, "").replace(str(tmp), ".")


def _cell(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`"


def _what_happens(call) -> str:
    try:
        call()
    except Exception as e:  # noqa: BLE001 - a known gap: show whatever it raises
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return "no error"


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    te = _load_cases()
    rows, gaps = [], []
    for i, case in enumerate(te.CASES, 1):
        tmp = Path(tempfile.mkdtemp(prefix="losslab-errors-"))
        try:
            link = f"[`test_bad_input[{case.id}]`](../tests/test_errors.py)"
            if case.xfail:
                call, _ = case.build(tmp)
                now = _clean(_what_happens(call), tmp) if call is not None else "-"
                gaps.append(f"| {case.bad} | {_cell(now)} | {case.xfail} | {link} |")
                continue
            msg, line = te.run_case(case, tmp)
            msg = None if msg is None else _clean(msg, tmp)
            line = None if line is None else _clean(line, tmp)
            if msg is not None and line is not None and msg != line:
                text = f"library: {_cell(msg)}<br>CLI: {_cell('error: ' + line)}"
            elif msg is not None:
                text = _cell(msg) + ("" if line is not None else " (library only)")
            else:
                text = f"CLI: {_cell('error: ' + line)}"
            rows.append(f"| {len(rows) + 1} | {case.bad} | {text} | {link} |")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix="losslab-errors-"))
    try:
        note, line = te.constant_labels_note(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    out = [
        "# Bad input: what losslab says",
        "",
        "Every bad input gives **one line** that names the culprit (argument, file, column, row, law), what was",
        "found and what was expected. The library raises `losslab.LosslabError` (a `ValueError`); the `losslab`",
        "command prints `error: ` and the same kind of line and exits with status **2**, without a traceback",
        "(add `--debug` before the command to see one). Internal errors exit 1.",
        "",
        "The messages below are real: `python docs/_make_errors_table.py` runs each case of",
        "[`tests/test_errors.py`](../tests/test_errors.py) (library call and CLI call on data the case writes into a",
        "temporary folder, whose path is cut from the messages) and writes this page. Where the library and the",
        "CLI are given the same input and say the same, one message is shown. Row numbers are 0-based data rows",
        "(the CSV header is not counted). Run one case with",
        "`python -m pytest \"tests/test_errors.py::test_bad_input[nan-labels]\"`.",
        "",
        f"{len(rows)} classes of bad input:",
        "",
        "| # | bad input | message | test |",
        "|---|---|---|---|",
        *rows,
        "",
        "## Not an error: constant labels",
        "",
        "Labels that all have one value lie inside every law's support, and every law's NLL stays finite there",
        "(scale and concentration links have floors), so no law refuses them and `compare` runs; but a comparison",
        "of laws on constant labels says nothing. `losslab.inspect` and `losslab inspect` say so:",
        "",
        f"- library (`inspect(y).messages`): {_cell(note)}",
        f"- CLI (`losslab inspect DATA --target COL`, exit 0): {_cell(line)}",
        "",
        "Test: [`test_constant_labels_are_noted_not_refused`](../tests/test_errors.py) (also checks every law's",
        "loss and gradient are finite on constant labels).",
        "",
        "## Known gaps",
        "",
        "These cases are in the test file, marked `xfail`; each says what happens today and what closes it.",
        "",
        "| bad input | what happens today (library) | what is missing | test |",
        "|---|---|---|---|",
        *gaps,
        "",
    ]
    out += _fuzz_section()
    DOC.write_text("\n".join(out))
    print(f"wrote {DOC} ({len(rows)} classes, {len(gaps)} known gaps)")


def _fuzz_section() -> list[str]:
    """Run tests/laws/test_fuzz.py's harness on every law at the slow lane's budget and tabulate its counts."""
    import importlib
    import time

    sys.path.insert(0, str(ROOT))
    fuzz = importlib.import_module("tests.laws.test_fuzz")
    n = fuzz.FUZZ_SLOW_EXAMPLES
    rows, total = [], {}
    t0 = time.perf_counter()
    for name in fuzz.LAWS:
        tally = fuzz.run_law(name, n).as_dict()
        rows.append(f"| {name} | " + " | ".join(str(tally[k]) for k in ("examples", "rows", "values", "rejected", "unrepresentable", "failures")) + " |")
        for k, v in tally.items():
            total[k] = total.get(k, 0) + v
    minutes = (time.perf_counter() - t0) / 60
    rows.append("| **all** | " + " | ".join(f"**{total[k]}**" for k in ("examples", "rows", "values", "rejected", "unrepresentable", "failures")) + " |")
    return [
        "## Fuzzing: every law, every dtype, extreme inputs",
        "",
        "[`tests/laws/test_fuzz.py`](../tests/laws/test_fuzz.py) draws batches of raw outputs (specials from 0 and",
        "±3e-39 to ±3.4e38, uniform in ±1e4, log-uniform to float32's limit) and in-support labels (the support's",
        "edges and their neighbours, subnormals, ±1e4 to ±1e30 on real supports) for every law and option variant,",
        "in float32, float64, float16 and bfloat16, and checks the loss (both reductions), the NLL, the gradient,",
        "every point kind, the predictive mean and its log_prob. A non-finite result is a failure unless the exact",
        "value (the same computation in float64) is beyond its dtype (*unrepresentable*); a NaN always is; a",
        "refused input must be refused in one line (*rejected*). Half-precision inputs are computed in float32.",
        "",
        "What this promises, and its three limits:",
        "",
        "- **Never NaN**, for any finite input in any of the four dtypes (a NaN is the rounding of nothing; it used to",
        "  come from `0 * inf` where a link's slope underflows under an overflowing NLL derivative, from `inf - inf` in",
        "  mvn's forward substitution, and from `logsumexp` over components that are all infinitely unlikely).",
        "- **Finite within the house range** (raw outputs and labels within ±1e4), in all four dtypes, except (1) float16",
        "  gradients above 65504, which float16 cannot hold (the loss itself is float32, as under autocast), and (2) the",
        "  exponential law's mean and median `e^{-r}`, beyond every float once `r < -88.7` (float32) or `r < -709.8`",
        "  (float64); its NLL and `log_prob` stay finite there.",
        "- **Beyond the house range**, finite wherever the exact value fits the dtype with a margin of 1e8 (float32's",
        "  1e30); a gradient is held to that only where its row's loss fits too (the chain rule passes through",
        "  `d loss / d scale`, about `loss / scale`), as in [`tests/laws/test_numerics.py`](../tests/laws/test_numerics.py).",
        "",
        "Run it with `python -m pytest tests/laws/test_fuzz.py` (default lane) or `-m slow` (this budget).",
        "",
        f"Budget: {n} hypothesis examples per law (the slow lane's `FUZZ_SLOW_EXAMPLES`; the default lane runs",
        f"{fuzz.FUZZ_EXAMPLES}), derandomised; this table took {minutes:.1f} min when it was written.",
        "",
        "| law | examples | rows | values checked | rejected (one line) | unrepresentable | failures |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


if __name__ == "__main__":
    main()

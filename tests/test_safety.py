"""Safety: no unsafe deserialisation or code execution in the package, user strings escaped in the HTML
report, and report files written only inside the chosen output folder.

The scan parses every module under ``src/`` (``ast``, so ``model.eval()`` or a word in a comment
is not a hit) and fails on a risky call unless its line carries an allow-comment: ``# safety: <why>``,
or the matching ruff/bandit code (``# noqa: S301`` for pickle, ...), which says the line was reviewed.
"""

from __future__ import annotations

import ast
import html as htmllib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import losslab as ll
from losslab.cli import app

SRC = Path(__file__).resolve().parents[1] / "src" / "losslab"

#: (module, function) pairs that load or run arbitrary code, with the ruff/bandit code that allows a reviewed use
RISKY_CALLS = {
    ("pickle", "load"): "S301", ("pickle", "loads"): "S301", ("pickle", "Unpickler"): "S301",
    ("cPickle", "load"): "S301", ("dill", "load"): "S301", ("dill", "loads"): "S301",
    ("joblib", "load"): "S301", ("shelve", "open"): "S301", ("marshal", "load"): "S302", ("marshal", "loads"): "S302",
    ("torch", "load"): "S614", ("yaml", "load"): "S506", ("yaml", "unsafe_load"): "S506",
    ("os", "system"): "S605", ("os", "popen"): "S605", ("subprocess", "getoutput"): "S605",
    ("subprocess", "getstatusoutput"): "S605",
}
RISKY_BUILTINS = {"eval": "S307", "exec": "S102", "__import__": "S102", "compile": "S102"}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def risky_calls(source: str) -> list[tuple[int, int, str, str]]:
    """``(first line, last line, what, allow code)`` of every risky call in ``source``.

    >>> [r[2] for r in risky_calls("import pickle\\npickle.loads(b)\\nmodel.eval()\\nnp.load(p)")]
    ['pickle.loads']
    """
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> module, for "import numpy as np", "from pickle import load"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name is None:
            continue
        head, _, rest = name.partition(".")
        full = f"{aliases[head]}.{rest}" if head in aliases and rest else aliases.get(head, name)
        span = (node.lineno, node.end_lineno or node.lineno)
        if isinstance(node.func, ast.Name) and node.func.id in RISKY_BUILTINS and node.func.id not in aliases:
            found.append((*span, node.func.id, RISKY_BUILTINS[node.func.id]))
            continue
        parts = full.split(".")
        key = (parts[0], parts[-1]) if len(parts) >= 2 else None
        if key == ("torch", "load"):
            wo = _kw(node, "weights_only")
            if isinstance(wo, ast.Constant) and wo.value is True:
                continue
        if key in RISKY_CALLS:
            found.append((*span, full, RISKY_CALLS[key]))
        elif key == ("numpy", "load"):
            ap = _kw(node, "allow_pickle")
            if not (isinstance(ap, ast.Constant) and ap.value is False):
                found.append((*span, full + " without allow_pickle=False", "S301"))
        elif parts[0] == "subprocess" or full in ("os.spawnl", "os.execv"):
            shell = _kw(node, "shell")
            if isinstance(shell, ast.Constant) and shell.value is True:
                found.append((*span, full + "(shell=True)", "S602"))
        elif parts[-1] == "extractall" or full.endswith("tarfile.extractall"):
            found.append((*span, "extractall (paths in an archive can escape the folder)", "S202"))
    return found


def _allowed(lines: list[str], first: int, last: int, code: str) -> bool:
    text = " ".join(lines[first - 1 : last])
    return "# safety:" in text or (f"noqa: {code}" in text) or (f"noqa:{code}" in text)


def test_no_unreviewed_risky_call_in_the_package():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for first, last, what, code in risky_calls(source):
            if not _allowed(lines, first, last, code):
                offenders.append(f"{path.relative_to(SRC.parent)}:{first}: {what} (allow with '# safety: <why>' or '# noqa: {code}')")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize(
    "snippet, hit",
    [
        ("import pickle\npickle.load(f)", True),
        ("from pickle import loads\nloads(b)", True),
        ("import torch\ntorch.load(p)", True),
        ("import torch\ntorch.load(p, weights_only=False)", True),
        ("import torch\ntorch.load(p, weights_only=True)", False),
        ("import numpy as np\nnp.load(p)", True),
        ("import numpy as np\nnp.load(p, allow_pickle=True)", True),
        ("import numpy as np\nnp.load(p, allow_pickle=False)", False),
        ("eval('1')", True),
        ("exec(code)", True),
        ("model.eval()", False),
        ("import yaml\nyaml.load(s)", True),
        ("import yaml\nyaml.safe_load(s)", False),
        ("import subprocess\nsubprocess.run(cmd, shell=True)", True),
        ("import subprocess\nsubprocess.run([a, b])", False),
        ("import os\nos.system('ls')", True),
        ("import tarfile\nt.extractall(d)", True),
    ],
)
def test_the_scan_finds_what_it_should(snippet, hit):
    # The scan itself must be able to fail: each pattern once, and its safe neighbour.
    assert bool(risky_calls(snippet)) == hit, risky_calls(snippet)


# ---------------------------------------------------------------------------- HTML escaping and paths

EVIL_COLUMN = "<script>alert(1)</script>"
EVIL_FEATURE = '"><img src=x onerror=alert(2)>'
EVIL_FILE = "<svg onload=alert(3)>"


@pytest.fixture
def evil_report(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    y = np.round(1 / (1 + np.exp(-X[:, 0])) * 8) / 8
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    csv = data_dir / f"{EVIL_FILE}.csv"
    pd.DataFrame({EVIL_FEATURE: X[:, 0], "b": X[:, 1], EVIL_COLUMN: y}).to_csv(csv, index=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["compare", str(csv), "--target", EVIL_COLUMN, "--laws", "bernoulli", "--seeds", "2",
                                   "--epochs", "2", "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_user_strings_are_escaped_in_the_html_report(evil_report):

    page = (evil_report / "report.html").read_text()
    for raw in (EVIL_COLUMN, EVIL_FEATURE, EVIL_FILE, "<script", "<svg", "<img src=x"):
        assert raw not in page, raw
    # The file name and the feature name are shown, escaped: the check above is not vacuous.
    assert htmllib.escape(EVIL_FILE) in page and htmllib.escape(EVIL_FEATURE) in page


def test_report_files_stay_in_the_output_folder(tmp_path):
    """A data set named with ``../`` and a path separator cannot place a file outside ``out``."""
    from losslab.experiment import compare
    from losslab.report import write_report

    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 2)).astype(np.float32)
    y = (1 / (1 + np.exp(-X[:, 0]))).astype(np.float32)
    ds = ll.data.from_arrays(X, y, name="../../escaped/..\\evil")
    res = compare(ds, laws=["bernoulli"], seeds=2, epochs=2, batch_size=32)
    out = tmp_path / "deep" / "out"
    before = {p for p in tmp_path.rglob("*")}
    paths = write_report(res, out)
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(out in p.parents or p == out or p in out.parents for p in created), sorted(created)
    assert all(Path(os.path.realpath(p)).parent == Path(os.path.realpath(out)) for p in paths.values())


def test_user_strings_are_escaped_in_the_markdown_report(evil_report):
    md = (evil_report / "report.md").read_text()
    # Fenced code (the configuration, the command to reproduce) is shown verbatim by Markdown viewers: check the rest.
    # The report escapes the CommonMark way (a backslash before a '<' that could open a tag), so the test renders it
    # as a Markdown viewer would, raw HTML allowed (markdown-it's commonmark preset), and reads the HTML it makes.
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(md)
    prose = re.sub(r"<pre>.*?</pre>", "", rendered, flags=re.S)  # fenced code is shown verbatim, escaped by the renderer
    assert EVIL_FILE not in prose and "<svg" not in prose and "<script" not in prose
    # The file name is shown, as text: the check above is not vacuous.
    assert htmllib.escape(EVIL_FILE, quote=False) in prose

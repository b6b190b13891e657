"""report.html in a real browser: headless Chromium renders it, and we check what a person would see.

The report has no JavaScript, so the test opens a test-only copy with one appended
script that, on ``load``, writes what the page shows into a ``<pre id="losslab-probe">``
(visible text, each image's ``naturalWidth``, where the recommendation and the ranked table
sit, the page's width with its ``<details>`` closed and opened); ``chromium --dump-dom``
prints the DOM after the load, and the test parses the probe. A second run takes a 1400x1000
screenshot: the first screen a reader sees. The screenshots stay in the test's tmp folder
(printed, ``pytest -s`` shows the path) for CI to keep as artefacts.

Skips only when no Chromium is installed (``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

import losslab as ll
from losslab.report import write_report

#: the first screen a reviewer sees: a laptop's browser window
WIDTH, HEIGHT = 1400, 1000

#: the flags the issue asks for: no sandbox (containers, root), no GPU, nothing fetched from the network
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--window-size={WIDTH},{HEIGHT}",
    "--hide-scrollbars",
]

# A user-supplied name with markup in it: the report must show it as text, never run it.
HOSTILE = "<script>document.title='pwned'</script> & <b>bold</b>"

PROBE = """<script>
window.addEventListener('load', function () {
  var rec = document.getElementById('recommendation');
  var box = rec ? rec.getBoundingClientRect() : null;
  var ranked = document.getElementById('ranked');
  // The text of the elements whose top lies within the first screen (the viewport's top HEIGHT px).
  function firstScreen() {
    var parts = [];
    Array.prototype.forEach.call(document.body.querySelectorAll('h1,h2,p,td,th,summary,span'), function (el) {
      var r = el.getBoundingClientRect();
      if (r.height > 0 && r.top + window.scrollY < HEIGHT) { parts.push(el.innerText); }
    });
    return parts.join(String.fromCharCode(10));
  }
  var out = {
    text: document.body.innerText,
    title: document.title,
    scripts: document.scripts.length,
    images: Array.prototype.map.call(document.images, function (im) {
      return {alt: im.alt, complete: im.complete, naturalWidth: im.naturalWidth, naturalHeight: im.naturalHeight};
    }),
    recTop: box ? box.top + window.scrollY : null,
    recBottom: box ? box.bottom + window.scrollY : null,
    recText: rec ? rec.innerText : null,
    rankedTop: ranked ? ranked.getBoundingClientRect().top + window.scrollY : null,
    rankedBottom: ranked ? ranked.getBoundingClientRect().bottom + window.scrollY : null,
    rankedRight: ranked ? ranked.getBoundingClientRect().right : null,
    rankedText: ranked ? ranked.innerText : null,
    firstScreenText: firstScreen(),
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    detailsClosed: Array.prototype.every.call(document.querySelectorAll('details'), function (d) { return !d.open; }),
    details: document.querySelectorAll('details').length
  };
  // Opened, the full table and the configuration must still fit the page (a table may scroll inside its own box).
  Array.prototype.forEach.call(document.querySelectorAll('details'), function (d) { d.open = true; });
  out.scrollWidthOpen = document.documentElement.scrollWidth;
  // The full table fits its box: no scrolling inside it either (headers wrap, intervals sit under their means).
  var full = document.querySelector('table.full');
  out.fullRight = full ? full.getBoundingClientRect().right : null;
  out.fullBoxRight = full ? full.parentNode.getBoundingClientRect().right : null;
  var pre = document.createElement('pre');
  pre.id = 'losslab-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _find_chromium() -> str | None:
    explicit = os.environ.get("LOSSLAB_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = _find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not found (looked for chromium, chromium-browser on PATH, or LOSSLAB_CHROMIUM); "
    "install Debian's package as .ci/run does: apt-get install -y chromium",
)


def _chromium(args: list[str], profile: Path, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run headless Chromium with a fresh profile; on timeout kill its whole process group (renderers too)."""
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish within {timeout:.0f} s: {' '.join(cmd)}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A report of a tiny real comparison: 2 laws x 2 seeds on 200 synthetic Beta labels, 3 epochs."""
    out = tmp_path_factory.mktemp("report")
    result = ll.compare(ll.data.synthetic("beta", 200, seed=0), laws=["beta", "sigmoid-mse"], model="linear", seeds=2, epochs=3)
    result.data_meta["name"] = HOSTILE
    paths = write_report(result, out, command=f"losslab compare '{HOSTILE}'")
    return result, paths


@pytest.fixture(scope="module")
def probe(report, tmp_path_factory):
    result, paths = report
    page = paths["html"]
    # Beside the report, so relative image paths (if any) resolve as they do for the real file.
    copy = page.with_name("_probe.html")
    source = page.read_text()
    assert source.count("</body>") == 1
    copy.write_text(source.replace("</body>", PROBE.replace("HEIGHT", str(HEIGHT)) + "</body>"))
    profile = tmp_path_factory.mktemp("chromium-profile")
    res = _chromium(["--virtual-time-budget=10000", "--dump-dom", copy.as_uri()], profile)
    m = re.search(r'<pre id="losslab-probe">(.*?)</pre>', res.stdout, flags=re.S)
    assert m, f"the probe did not run (exit {res.returncode}); stderr tail: {res.stderr[-800:]}"
    return json.loads(html.unescape(m.group(1)))


def test_visible_text_states_the_recommendation(report, probe):
    result, _ = report
    rec = result.recommend()
    assert f"Recommended law: {rec.law}" in probe["text"]
    assert f"Recommended law: {rec.law}" in probe["recText"]
    # What it was compared on, inside the answer box.
    assert "Compared on" in probe["recText"] and "2 seeds" in probe["recText"]


def test_every_image_loaded(probe):
    images = probe["images"]
    assert len(images) >= 4, images  # metric dots, learning curves, scatter, labels at least
    broken = [im["alt"] for im in images if not (im["complete"] and im["naturalWidth"] > 0 and im["naturalHeight"] > 0)]
    assert not broken, f"images that did not load: {broken}"


def test_recommendation_is_on_the_first_screen(probe):
    assert probe["recTop"] is not None, "no element with id='recommendation'"
    assert 0 <= probe["recTop"] < probe["recBottom"] <= HEIGHT, (probe["recTop"], probe["recBottom"])


def test_ranked_table_is_on_the_first_screen(report, probe):
    result, _ = report
    rec = result.recommend()
    assert probe["rankedTop"] is not None, "no element with id='ranked'"
    # The whole compact table, header to last row, lies within the first screen, below the answer.
    assert probe["recBottom"] <= probe["rankedTop"] < probe["rankedBottom"] <= HEIGHT, (probe["rankedTop"], probe["rankedBottom"])
    assert probe["rankedRight"] <= WIDTH
    lines = probe["rankedText"].splitlines()
    header = lines[0].split("\t")
    # labels in (0, 1): the calibration metric is the soft-label calibration_error (a point metric, before the PIT's)
    assert header == ["rank", "law", result.config.primary_metric, "crps", "calibration_error", "p vs best"], header
    # Best first: the recommended law heads the table, with "best" in its p column, and every law has a row.
    first = lines[1].split("\t")
    assert first[1] == rec.law and first[-1] == "best", first
    assert {row.split("\t")[1] for row in lines[1:]} == set(result.laws)
    screen = probe["firstScreenText"]
    assert f"Recommended law: {rec.law}" in screen and "Laws ranked by" in screen, screen[:400]


def test_page_fits_1400_px_without_sideways_scroll(probe):
    assert probe["innerWidth"] == WIDTH
    assert probe["scrollWidth"] <= WIDTH, (probe["scrollWidth"], WIDTH)
    # The full table and the configuration are collapsed at first, and fit the page when opened.
    assert probe["details"] >= 2 and probe["detailsClosed"]
    assert probe["scrollWidthOpen"] <= WIDTH, (probe["scrollWidthOpen"], WIDTH)
    assert probe["fullRight"] is not None and probe["fullRight"] <= probe["fullBoxRight"] + 1, (probe["fullRight"], probe["fullBoxRight"])


def test_user_strings_render_as_text_not_markup(probe):
    # The hostile name shows up literally, and the only script on the page is the probe itself.
    assert HOSTILE in probe["text"]
    assert probe["scripts"] == 1
    assert probe["title"] == f"losslab report: {HOSTILE}"


def test_screenshot_of_the_first_screen_is_not_blank(report, tmp_path):
    from PIL import Image

    _, paths = report
    shot = tmp_path / "first-screen.png"  # kept in the test's tmp folder: CI uploads it as an artefact
    res = _chromium([f"--screenshot={shot}", paths["html"].as_uri()], tmp_path / "profile")
    assert shot.is_file(), f"no screenshot (exit {res.returncode}); stderr tail: {res.stderr[-800:]}"
    print(f"screenshot of the first screen: {shot}")
    with Image.open(shot) as im:
        assert im.size == (WIDTH, HEIGHT)
        px = np.asarray(im.convert("RGB"), dtype=np.int16)  # (HEIGHT, WIDTH, 3)
    non_white = float((px.min(axis=2) < 235).mean())
    assert non_white > 0.02, f"only {100 * non_white:.2f}% of the first screen is not white"
    colours = np.unique(px.reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"the screenshot has only {len(colours)} distinct colours"
    # The answer box's green border (#2e7d32 in the report's CSS) is drawn on the first screen.
    green = int((np.abs(px - np.array([0x2E, 0x7D, 0x32])).max(axis=2) < 12).sum())
    assert green > 300, f"the recommendation box's border is not on the first screen ({green} green pixels)"

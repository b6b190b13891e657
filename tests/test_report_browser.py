"""report.html in a real browser: headless Chromium renders it, and we check what a person would see.

The report has no JavaScript, so the test opens a test-only copy with one appended
script that, on ``load``, writes what the page shows into a ``<pre id="losslab-probe">``
(visible text, each image's ``naturalWidth``, where the recommendation sits);
``chromium --dump-dom`` prints the DOM after the load, and the test parses the probe.
A second run takes a 1280x900 screenshot: the first screen a reader sees.

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

WIDTH, HEIGHT = 1280, 900

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
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth
  };
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
    copy.write_text(source.replace("</body>", PROBE + "</body>"))
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
    # A wide metric table scrolls inside its own box; the page itself does not scroll sideways.
    assert probe["scrollWidth"] <= probe["innerWidth"], (probe["scrollWidth"], probe["innerWidth"])


def test_user_strings_render_as_text_not_markup(probe):
    # The hostile name shows up literally, and the only script on the page is the probe itself.
    assert HOSTILE in probe["text"]
    assert probe["scripts"] == 1
    assert probe["title"] == f"losslab report: {HOSTILE}"


def test_screenshot_of_the_first_screen_is_not_blank(report, tmp_path):
    from PIL import Image

    _, paths = report
    shot = tmp_path / "first-screen.png"
    res = _chromium([f"--screenshot={shot}", paths["html"].as_uri()], tmp_path / "profile")
    assert shot.is_file(), f"no screenshot (exit {res.returncode}); stderr tail: {res.stderr[-800:]}"
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

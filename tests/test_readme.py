"""README's set-up commands: exactly two, and CI runs the test one verbatim."""

import importlib.util
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _commands():
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", setup, flags=re.S)


def test_readme_has_exactly_two_setup_commands():
    cmds = _commands()
    assert len(cmds) == 2, cmds
    assert all("\n" not in c for c in cmds)
    assert all("torch==2.13.0" in c for c in cmds), "the install path must stay on the local CPU build"


def test_ci_runs_the_readme_test_command():
    test_cmd = _commands()[1]
    assert "pytest" in test_cmd
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci, "the README's test command must appear verbatim as a line of .ci/run"


def test_package_declares_a_torch_range_not_a_pin():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"torch>=2\.\d+"', text)


def test_readme_python_examples_run():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)\n```", text, flags=re.S)
    assert len(blocks) >= 2
    envs = []
    for code in blocks:
        if "losslab.keras" in code or "import keras" in code:
            continue  # the optional Keras extra has its own tests (tests/keras)
        if 'workers="ray"' in code and importlib.util.find_spec("ray") is None:
            continue  # the optional Ray extra (installed by .ci/run); tests/experiment/test_ray.py skips likewise
        env: dict = {}
        exec(compile(code, "README.md", "exec"), env)  # noqa: S102 - our own README, not user input
        envs.append(env)
    first = envs[0]
    assert float(first["kl"].detach().min()) >= 0 and first["loss"].requires_grad
    est = envs[1]["est"]
    # the README says the precision comes out near the one the labels were drawn with (40)
    assert 30 < est.constants_["precision"] < 50
    assert est.coef_["mean"].shape == (3,)
    # the median and the 90% interval of each of the five labels: low < median < high, inside (0, 1)
    low, high, median = envs[1]["low"], envs[1]["high"], est.predict(envs[1]["X"][:5], kind="median")
    assert low.shape == high.shape == (5,) and bool(np.all((0 < low) & (low < median) & (median < high) & (high < 1)))
    # "Your own network": the ResNet trunk (no out_features, a 4-d output) trained under both laws and seeds
    custom = next(env for env in envs if "resnet_trunk" in env)
    result = custom["result"]
    assert sorted((r["law"], r["seed"]) for r in result.runs) == [("bernoulli", 0), ("bernoulli", 1), ("beta", 0), ("beta", 1)]
    assert all(r["status"] == "ok" for r in result.runs)
    assert not hasattr(custom["resnet_trunk"]((1, 12, 12)), "out_features")
    # "How sure is the recommendation?": one seed and 30 test labels are both warned about; k-fold tests every row once
    sure = next(env for env in envs if "folds" in env)
    warned = " ".join(sure["rec"].warnings)
    assert "30" in warned and "seed" in warned and "nan" not in sure["rec"].reason
    folds = sure["folds"]
    assert sum(len(r["arrays"]["y_true"]) for r in folds.runs if r["law"] == "gaussian-hetero") == 150
    assert {"diff_low", "diff_high", "p_value"} <= set(folds.paired().columns)
    ray_env = next((env for env in envs if "ray_result" in env), None)
    if ray_env is not None:
        assert len(ray_env["ray_result"].runs) == 4 and all(r["status"] == "ok" for r in ray_env["ray_result"].runs)


def test_readme_keras_example_runs():
    """The Keras block, in a fresh process (Keras picks its backend once per process)."""
    import importlib.util
    import subprocess
    import sys

    import pytest

    if importlib.util.find_spec("keras") is None:
        pytest.skip("the optional Keras extra is not installed (pip install -e '.[keras]')")
    text = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)\n```", text, flags=re.S) if "losslab.keras" in b]
    assert len(blocks) == 1
    check = "\nimport numpy as _np\n_p = _np.asarray(loss.point(model.predict(X_train, verbose=0), 'mean'))\n" \
            "assert _p.shape == (256,) and ((_p > 0) & (_p < 1)).all(), _p\nprint('ok')\n"
    res = subprocess.run([sys.executable, "-c", blocks[0] + check], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-2000:]

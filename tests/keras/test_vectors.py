"""The shared test vectors are current, and the core package stays free of Keras (no Keras needed here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from . import make_vectors

HERE = Path(__file__).resolve().parent


def test_checked_in_vectors_match_the_pytorch_laws():
    """``vectors.npz`` is what ``make_vectors.py`` computes from today's PyTorch laws: rerun it after changing a law."""
    arrays, meta = make_vectors.build()
    with np.load(HERE / "vectors.npz", allow_pickle=False) as z:
        stored = {k: z[k] for k in z.files}
    assert json.loads(str(stored.pop("__meta__"))) == meta
    assert set(stored) == set(arrays), "rerun: python tests/keras/make_vectors.py"
    for key, v in arrays.items():
        if key.endswith(("/raw", "/y")):  # the inputs: exact
            rtol = atol = 0.0
        elif v.dtype == np.float64:  # the references: equal up to another CPU's rounding in its math library
            rtol = atol = 1e-12
        else:  # the PyTorch float32 yardsticks (``*32``): float32 results differ a little between CPU kernels
            rtol, atol = 1e-5, 1e-6
        np.testing.assert_allclose(stored[key], v, rtol=rtol, atol=atol, err_msg=f"{key}: rerun make_vectors.py")


def test_losslab_never_imports_keras_and_says_what_to_install():
    """``import losslab`` (and ``losslab.keras``) load no Keras; without Keras, first use names the extra."""
    code = (
        "import sys\n"
        "import losslab, losslab.keras as llk\n"
        "loaded = [m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "sys.modules['keras'] = None  # as if Keras were not installed\n"
        "try:\n"
        "    llk.get_loss('beta')\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "pip install 'losslab[keras]'" in proc.stdout

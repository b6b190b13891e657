"""compare()'s arguments: each bad one gets a one-line LosslabError naming it (issue 21, item 12), and a law given
as one string is one law, not its letters."""

from __future__ import annotations

import numpy as np
import pytest

import losslab as ll
from losslab.experiment import compare


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype("float32")
    return X, rng.uniform(0.1, 0.9, size=60).astype("float32")


BAD = [
    ("seeds", [2**70], "seed 1180591620717411303424 is out of range"),
    ("seeds", [-1], "seed -1 is out of range"),
    ("epochs", 1.5, "epochs=1.5 must be an integer"),
    ("epochs", True, "epochs=True must be an integer"),
    ("batch_size", 2.5, "batch_size=2.5 must be an integer"),
    ("lr", float("inf"), "lr=inf must be a positive number"),
    ("lr", "0.1", "lr='0.1' must be a positive number"),
    ("weight_decay", -1.0, "weight_decay=-1.0 must be a number >= 0"),
    ("weight_decay", float("nan"), "weight_decay=nan"),
    ("split_seed", "a", "split_seed='a' must be an integer"),
    ("split_seed", -3, "split_seed=-3"),
    ("val", "0.1", "val='0.1' must be a fraction in [0, 1)"),
    ("store", 5, "store=5; expected a path"),
    ("primary_metric", 3, "primary_metric=3; expected a metric name"),
    ("progress", 3, "progress=3; expected a callable"),
    ("laws", [3], "laws[0]=3; expected a law name"),
    ("laws", [("beta",)], "laws[0]=('beta',)"),
]


@pytest.mark.parametrize("name,value,message", BAD, ids=[f"{n}={v!r}" for n, v, _ in BAD])
def test_a_bad_argument_gets_one_line_naming_it(name, value, message):
    kw = dict(laws=["gaussian"], seeds=1, epochs=1)
    kw[name] = value
    with pytest.raises(ll.LosslabError) as err:
        compare(_data(), **kw)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_one_law_as_a_string_is_one_law():
    for laws in ("gaussian", "binned:kind=twohot,n_bins=11"):
        res = compare(_data(), laws=laws, seeds=1, epochs=1)
        assert len(res.laws) == 1 and len(res.runs) == 1


def test_laws_as_a_mapping_keep_their_options():
    res = compare(_data(), laws={"binned": {"kind": "twohot", "n_bins": 11}}, seeds=1, epochs=1)
    assert res.laws == ["binned(kind=twohot, n_bins=11)"]

"""Each law's support as a :class:`~losslab.laws.Support`: declared once, read by the label checks and by inspect."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
import torch

import losslab as ll
from losslab.laws import SUPPORTS, Support
from losslab.laws._support import INTERVAL_CLOSED, NONNEGATIVE, REAL, UNIT_INTERVAL, UNIT_INTERVAL_CLOSED


@pytest.mark.parametrize("name", ll.list_laws())
def test_every_law_declares_a_support_object(name):
    cls = ll.laws.law_class(name)
    assert isinstance(cls.support, Support), f"{name}: support is {cls.support!r}"
    # the name still works as a key and in comparisons (tables, configs, older code)
    assert SUPPORTS[cls.support] == cls.support.bounds


@pytest.mark.parametrize(
    "support, inside, outside, text",
    [
        (UNIT_INTERVAL, [1e-300, 0.5, 1 - 1e-16], [0.0, 1.0, -0.1, 1.1, math.nan], "(0, 1)"),
        (UNIT_INTERVAL_CLOSED, [0.0, 0.5, 1.0], [-1e-300, 1.0000001, math.nan], "[0, 1]"),
        (NONNEGATIVE, [0.0, 1e300], [-1e-300, math.inf, math.nan], "[0, inf)"),
        (REAL, [-1e300, 0.0, 1e300], [-math.inf, math.inf, math.nan], "(-inf, inf)"),
    ],
)
def test_check_contains_and_text(support, inside, outside, text):
    assert support.text == text
    assert support.check(np.array(inside)).all() and support.contains(inside)
    assert not support.check(np.array(outside)).any()
    assert not support.check(torch.tensor(outside, dtype=torch.float64)).any()  # tensors as well as arrays
    for x in outside:
        assert not support.contains([*inside, x])


def test_equality_hash_and_bounds_set_by_options():
    b = INTERVAL_CLOSED.with_bounds(-2.0, 3.0)
    assert b == "interval_closed" and b.bounds == (-2.0, 3.0, True, True) and b.set_by_options
    assert b != INTERVAL_CLOSED  # same name, other bounds: different supports
    assert hash(b) == hash("interval_closed") and {b: 1}["interval_closed"] == 1
    assert UNIT_INTERVAL.closure.bounds == (0.0, 1.0, True, True)
    assert UNIT_INTERVAL.within(UNIT_INTERVAL_CLOSED) and not UNIT_INTERVAL_CLOSED.within(UNIT_INTERVAL)
    assert UNIT_INTERVAL_CLOSED.within(NONNEGATIVE) and NONNEGATIVE.within(REAL) and not REAL.within(NONNEGATIVE)
    with pytest.raises(AttributeError, match="immutable"):
        UNIT_INTERVAL.low = -1.0
    with pytest.raises(ValueError, match="below high"):
        Support("empty", 1.0, 1.0, True, True)


def test_a_binned_law_carries_its_own_bounds_through_pickle_and_copy():
    law = ll.get_law("binned", low=-2.0, high=3.0)
    for other in (pickle.loads(pickle.dumps(law)), copy.deepcopy(law)):
        assert other.support == law.support and other.support_bounds == (-2.0, 3.0, True, True)
    assert type(law).support.bounds == (0.0, 1.0, True, True)  # the class keeps the default bounds


def test_a_law_declared_with_a_support_name_gets_the_object():
    class Old(ll.laws.ScalarLaw):
        support = "positive"

    assert isinstance(Old.support, Support) and Old.support.bounds == (0.0, math.inf, False, False)
    with pytest.raises(ll.LosslabError, match="support 'halfline' is unknown"):

        class Bad(ll.laws.ScalarLaw):
            support = "halfline"


def test_label_errors_read_the_support():
    # the message's interval is the support's text: "(0, 1)" for beta, "[0, 1]" for continuous-bernoulli
    beta = ll.get_law("beta")
    params = beta.link(torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ll.LosslabError, match=r"outside the support \(0, 1\)"):
        beta.nll(params, torch.tensor([0.5, 1.0, 0.2], dtype=torch.float64))
    cb = ll.get_law("continuous-bernoulli")
    with pytest.raises(ll.LosslabError, match=r"outside the support \[0, 1\]"):
        cb.nll(cb.link(torch.zeros(2, 1, dtype=torch.float64)), torch.tensor([0.5, 1.5], dtype=torch.float64))

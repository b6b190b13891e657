"""Input checks shared by laws, metrics and data readers.

Every check raises a one-line error that names the argument, what was found
and what was expected. Nothing here prints.
"""

from __future__ import annotations

import difflib
from typing import Iterable

import numpy as np
import torch


class LosslabError(ValueError):
    """Bad input or bad options: the message names the culprit. The CLI maps it to exit code 2."""


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """``" (did you mean 'a' or 'b'?)"`` or an empty string."""
    found = difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)
    if not found:
        return ""
    quoted = [repr(f) for f in found]
    return " (did you mean " + " or ".join(quoted) + "?)"


def first_rows(mask: torch.Tensor | np.ndarray, k: int = 5) -> list[int]:
    """Row indices (first axis) of the first ``k`` True entries of ``mask``."""
    m = mask.detach().cpu().numpy() if torch.is_tensor(mask) else np.asarray(mask)
    if m.ndim > 1:
        m = m.reshape(m.shape[0], -1).any(axis=1)
    return np.flatnonzero(m)[:k].tolist()


def check_finite(name: str, x: torch.Tensor) -> None:
    """Raise if ``x`` holds NaN or infinity, naming how many and the first rows."""
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        n = int(bad.sum())
        raise LosslabError(
            f"{name} contains {n} non-finite value(s) (NaN or inf), first at row(s) {first_rows(bad)}; "
            f"expected finite numbers"
        )


def shape_str(shape: Iterable[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(tuple(shape)) == 1 else "") + ")"

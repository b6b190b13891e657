"""Shared fixtures for the data tests: the shared real-data folder beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

# ../shared/data relative to the repository root: CI and the project machines keep the real
# data sets there (never inside the repository).
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(),
    reason=f"the shared real-data folder {SHARED} (../shared/data beside the repository) is absent; "
    "set it up as its README says to run the registry tests on RetinaMNIST, CIFAR-10H and UCI",
)


@pytest.fixture
def shared_data(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOSSLAB_DATA", str(SHARED))
    return SHARED

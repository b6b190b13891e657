"""Smoke test of the known-truth recovery study's quick mode (slow lane): it runs, and writes what it promises."""

import math

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def test_recovery_quick_mode_writes_tables(tmp_path):
    from benchmarks import recovery

    df = recovery.main(["--quick", "--out", str(tmp_path)])
    studies = set(df["study"])
    assert len(studies) == 3
    per_draw = df.drop_duplicates(["study", "draw"])
    assert len(per_draw) == 3 * 2  # 3 generating laws x 2 draws
    # Every candidate law of every draw has a finite distance to the true conditional mean.
    assert df["rmse_to_truth"].map(math.isfinite).all()
    # The three quick studies all have at least two laws of the true law's likelihood kind: a log-score verdict each.
    assert per_draw["log_hit"].notna().all() and per_draw["crps_hit"].notna().all()
    assert (per_draw["truth"].isin(df["law"])).all()
    saved = pd.read_csv(tmp_path / "recovery.csv")
    assert len(saved) == len(df)
    text = (tmp_path / "recovery.md").read_text()
    assert "## Recovery rates" in text and "## Distance to the true conditional mean" in text

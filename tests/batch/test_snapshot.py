"""The nightly run's fast snapshot read (driver cursor) equals the SQLAlchemy read."""

from __future__ import annotations

import pandas as pd
import pytest

from matching.store.snapshot import load_snapshot


def test_fast_snapshot_equals_sqlalchemy_rows(engine, territory):
    if engine.dialect.name != "sqlite":
        pytest.skip("lecture rapide propre à SQLite (les autres pilotes typent déjà les valeurs)")
    fast = load_snapshot(engine, as_of=territory.as_of, fast=True)
    reference = load_snapshot(engine, as_of=territory.as_of, fast=False)
    assert len(fast.jobseekers) and len(fast.needs) and len(fast.sessions)
    for name in reference.table_names():
        got, want = getattr(fast, name), getattr(reference, name)
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=name)
        for col in want.columns:  # same Python types too (dates, booleans, None)
            if want[col].dtype == object:
                assert list(map(type, got[col])) == list(map(type, want[col])), (name, col)

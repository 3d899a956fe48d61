"""Schema goes through Alembic; the engine's snapshot never reads identity data."""

from datetime import date

from sqlalchemy import inspect

from matching.store import models as m
from matching.store.db import session_scope
from matching.store.snapshot import ENGINE_JOBSEEKER_COLUMNS, load_snapshot


def test_all_tables_created_by_migrations(engine):
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in m.Base.metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


def test_snapshot_excludes_identity(engine):
    with session_scope(engine) as s:
        js = m.Jobseeker(
            ref="DE-1",
            home_commune_insee="80021",
            availability_date=date(2026, 1, 1),
            identity=m.JobseekerIdentity(
                first_name="Aïcha", last_name="Martin", gender="F", birth_date=date(1990, 5, 1)
            ),
        )
        s.add(js)
    snap = load_snapshot(engine)
    assert list(snap.jobseekers.columns) == list(ENGINE_JOBSEEKER_COLUMNS)
    flat = snap.jobseekers.astype(str).to_numpy().ravel().tolist()
    assert not any(v in ("Aïcha", "Martin", "F", "1990-05-01") for v in flat)
    forbidden = {"first_name", "last_name", "address", "phone", "email", "birth_date", "gender"}
    for name in snap.table_names():
        assert not forbidden & set(getattr(snap, name).columns), name

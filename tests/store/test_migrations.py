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


def test_models_match_the_migrations(engine):
    """Autogenerate finds nothing to add: the models and the revisions describe one schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), m.Base.metadata) == []


def test_shared_run_rows_migration_keeps_every_run_and_rank(engine):
    """Revision 0604 turns per-run copies into shared rows: each run still shows exactly its
    rows, in its order, and the downgrade gives the copies back."""
    from sqlalchemy import text

    from matching.services.nightly import read_results
    from matching.store.db import downgrade, upgrade

    downgrade(engine, "0603")
    lists = {  # run -> need -> [(jobseeker, score)] in rank order (ties broken by id)
        1: {10: [(5, 0.9), (3, 0.5), (4, 0.5)], 11: [(3, 0.7)]},
        2: {10: [(3, 0.8), (5, 0.6)]},
    }
    with engine.begin() as conn:
        for run in lists:
            conn.execute(
                text("INSERT INTO runs (id, status, model_name) VALUES (:r, 'complete', 'm')"),
                {"r": run},
            )
        for run, needs in lists.items():
            for need, rows in needs.items():
                for rank, (js, score) in enumerate(rows, 1):
                    conn.execute(
                        text(
                            "INSERT INTO run_shortlists (run_id, need_id, rank, jobseeker_id, "
                            "score, explanation) VALUES (:r, :n, :k, :j, :s, :e)"
                        ),
                        {
                            "r": run,
                            "n": need,
                            "k": rank,
                            "j": js,
                            "s": score,
                            "e": f'{{"j": {js}}}',
                        },
                    )
                    conn.execute(
                        text(
                            "INSERT INTO run_matches (run_id, jobseeker_id, rank, need_id, score) "
                            "VALUES (:r, :j, :k, :n, :s)"
                        ),
                        {"r": run, "n": need, "k": 1, "j": js * 100 + need, "s": score},
                    )
    upgrade(engine)

    def shown(run: int) -> dict[int, list[tuple[int, float, int]]]:
        frames, _ = read_results(engine, run)
        out: dict[int, list[tuple[int, float, int]]] = {}
        for row in frames.shortlists.itertuples():
            out.setdefault(row.need_id, []).append((row.jobseeker_id, row.score, row.rank))
        return out

    for run, needs in lists.items():
        expected = {n: [(j, s, k) for k, (j, s) in enumerate(rows, 1)] for n, rows in needs.items()}
        assert shown(run) == expected
        assert len(read_results(engine, run)[0].matches) == sum(map(len, needs.values()))
    downgrade(engine, "0603")
    with engine.connect() as conn:
        back = conn.execute(
            text("SELECT run_id, need_id, rank, jobseeker_id FROM run_shortlists")
        ).all()
    assert sorted(back) == sorted(
        (run, n, k, j)
        for run, needs in lists.items()
        for n, rows in needs.items()
        for k, (j, _) in enumerate(rows, 1)
    )
    upgrade(engine)

"""Nightly run: publication, exact incremental runs, parallel blocks, recovery, pruning, report."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from matching.batch import BatchOptions
from matching.exceptions import RunInProgressError
from matching.services.nightly import published_run_id, run_history, run_nightly, utcnow
from matching.store import models as m

from .conftest import edit_profiles, published
from .toy_engine import factory


def nightly(settings, engine, territory, **opts):
    keep = opts.pop("keep", 3)
    return run_nightly(
        settings,
        options=BatchOptions(block_size=opts.pop("block_size", 150), **opts),
        today=territory.as_of,
        engine_factory=factory,
        store=engine,
        keep=keep,
    )


def test_first_run_publishes_sorted_shortlists_and_lists(settings, engine, territory):
    res = nightly(settings, engine, territory)
    assert published_run_id(engine) == res.run_id
    pub = published(engine)
    by_need: dict[int, list] = {}
    for need, rank, js, score, _ in pub["shortlists"]:
        by_need.setdefault(need, []).append((rank, js, score))
    assert by_need, "aucune liste de candidats publiée"
    for rows in by_need.values():
        ranks = [r for r, _, _ in rows]
        assert ranks == list(range(1, len(rows) + 1)) and len(rows) <= 50
        keys = [(-s, j) for _, j, s in rows]
        assert keys == sorted(keys)  # by score, ties by jobseeker id
    per_js: dict[int, int] = {}
    for js, *_ in pub["matches"]:
        per_js[js] = per_js.get(js, 0) + 1
    assert max(per_js.values()) <= 20
    rep = res.report
    assert rep["kind"] == "full" and rep["counts"]["shortlist_rows"] == len(pub["shortlists"])
    assert set(rep["durations_s"]) >= {"snapshot", "fit", "match", "paths", "write"}
    assert rep["model"] == "jouet : couverture des compétences"
    assert all(p[2] in (True, False) for p in pub["paths"]) and pub["paths"]


def test_incremental_run_equals_full_run(settings, engine, territory, referential):
    nightly(settings, engine, territory)
    edit_profiles(engine, territory, referential, fraction=0.05)
    with engine.begin() as conn:  # a need closes, a need is edited
        conn.execute(text("UPDATE needs SET status = 'filled' WHERE id = 3"))
        conn.execute(
            text(
                "UPDATE needs SET driving_licence_required = NOT driving_licence_required WHERE id = 5"
            )
        )
    inc = nightly(settings, engine, territory)
    assert inc.report["kind"] == "incremental"
    assert inc.report["counts"]["jobseekers_recomputed"] < inc.report["counts"]["active_jobseekers"]
    assert inc.report["entities"]["jobseeker"]["changed"] > 0
    incremental = published(engine)
    nightly(settings, engine, territory, full=True)
    assert published(engine) == incremental


def test_parallel_blocks_equal_sequential(settings, engine, territory):
    nightly(settings, engine, territory, n_jobs=1, full=True)
    one = published(engine)
    nightly(settings, engine, territory, n_jobs=2, full=True, block_size=97)
    assert published(engine) == one


def _fake_running(engine, *, pid, host, beat):
    with engine.begin() as conn:
        return conn.execute(
            m.Run.__table__.insert()
            .values(
                status="running",
                pid=pid,
                host=host,
                heartbeat_at=beat,
                stage="match",
                model_name="",
            )
            .returning(m.Run.__table__.c.id)
        ).scalar_one()


def test_live_run_blocks_a_second_one(settings, engine, territory):
    _fake_running(engine, pid=os.getpid(), host=socket.gethostname(), beat=utcnow())
    with pytest.raises(RunInProgressError, match="déjà en cours"):
        nightly(settings, engine, territory)
    assert published_run_id(engine) is None
    with engine.connect() as conn:  # the refused run left no row behind
        assert conn.execute(select(m.Run.id)).scalars().all() == [1]


def test_dead_and_stale_runs_are_abandoned_and_cleaned(settings, engine, territory):
    first = nightly(settings, engine, territory)
    before = published(engine)
    dead = _fake_running(engine, pid=2**22 + 12345, host=socket.gethostname(), beat=utcnow())
    stale = _fake_running(engine, pid=1, host="autre-machine", beat=utcnow() - timedelta(hours=2))
    with engine.begin() as conn:  # partial rows a killed run would have left
        conn.execute(
            text(
                "INSERT INTO run_matches (jobseeker_id, need_id, score, from_run) "
                "VALUES (1, 1, 0.5, :r)"
            ),
            {"r": dead},
        )
        # ... and published rows it had closed (replaced by rows it never wrote)
        closed = conn.execute(
            text("UPDATE run_shortlists SET to_run = :r WHERE to_run IS NULL"), {"r": dead}
        ).rowcount
    assert closed > 0
    assert published(engine) == before  # readers never see the partial rows
    res = nightly(settings, engine, territory)
    assert sorted(res.abandoned) == [dead, stale]
    with engine.connect() as conn:
        status = dict(conn.execute(select(m.Run.id, m.Run.status)).all())
        assert status[dead] == status[stale] == "abandoned"
        assert status[first.run_id] == status[res.run_id] == "complete"
        left = conn.execute(
            text("SELECT count(*) FROM run_matches WHERE from_run = :r"), {"r": dead}
        )
        assert left.scalar() == 0
        still_closed = conn.execute(
            text("SELECT count(*) FROM run_shortlists WHERE to_run = :r"), {"r": dead}
        )
        assert still_closed.scalar() == 0  # reopened: the run that closed them never finished


def test_only_the_last_runs_keep_their_rows(settings, engine, territory):
    ids = [nightly(settings, engine, territory, keep=2).run_id for _ in range(4)]
    hist = {r["id"]: r for r in run_history(engine)}
    assert [hist[i]["shortlist_rows"] > 0 for i in ids] == [False, False, True, True]
    assert hist[ids[-1]]["published"]


def test_report_says_why_candidates_left(settings, engine, territory):
    nightly(settings, engine, territory)
    pub = published(engine)
    need_closed = pub["shortlists"][0][0]
    others = [r for r in pub["shortlists"] if r[0] != need_closed]
    hired, employed = others[0][2], others[-1][2]
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE needs SET status = 'cancelled' WHERE id = :n"), {"n": need_closed}
        )
        conn.execute(
            text(
                "INSERT INTO outcomes (jobseeker_id, need_id, event, event_date, by_user) "
                "VALUES (:j, :n, 'hired', :d, 'test')"
            ),
            {"j": hired, "n": need_closed, "d": territory.as_of},
        )
        conn.execute(
            update(m.Jobseeker).where(m.Jobseeker.id == employed).values(status="employed")
        )
    rep = nightly(settings, engine, territory).report
    reasons = rep["changes"]["left_by_reason"]
    assert reasons["need_closed"] == sum(1 for r in pub["shortlists"] if r[0] == need_closed)
    # the employed person left every other list, for having found a job
    assert reasons["found_job"] == sum(
        1 for r in pub["shortlists"] if r[2] == employed and r[0] != need_closed
    )
    assert reasons["found_job"] >= 1
    assert rep["changes"]["reasons"]["found_job"] == "a trouvé un emploi"


def test_explaining_final_shortlists_equals_explaining_in_blocks(settings, engine, territory):
    from .toy_engine import one_pass_factory

    res = nightly(settings, engine, territory, full=True)
    two_pass = published(engine)
    assert res.report["counts"]["explanations_computed"] == res.report["counts"]["shortlist_rows"]
    run_nightly(
        settings,
        options=BatchOptions(block_size=150, full=True),
        today=territory.as_of,
        engine_factory=one_pass_factory,
        store=engine,
    )
    assert published(engine) == two_pass


def test_incremental_run_copies_kept_rows_and_explains_only_new_ones(
    settings, engine, territory, referential
):
    nightly(settings, engine, territory)
    edit_profiles(engine, territory, referential, fraction=0.02)
    inc = nightly(settings, engine, territory).report
    assert inc["kind"] == "incremental"
    counts = inc["counts"]
    assert 0 < counts["explanations_computed"] < counts["shortlist_rows"]
    assert counts["paths_reused"] > 0
    with engine.connect() as conn:  # every published shortlist row has its explanation
        missing = conn.execute(
            select(func.count())
            .select_from(m.RunShortlist)
            .where(
                m.visible_at(m.RunShortlist, inc["run_id"]), m.RunShortlist.explanation.is_(None)
            )
        ).scalar()
        # the kept rows are shared with the previous run, not written again
        written = conn.execute(
            select(func.count())
            .select_from(m.RunShortlist)
            .where(m.RunShortlist.from_run == inc["run_id"])
        ).scalar()
    assert missing == 0
    changed = inc["rows_changed"]["run_shortlists"]
    assert written == changed["inserted"] < counts["shortlist_rows"] / 2
    assert 0 < changed["closed"] < counts["shortlist_rows"] / 2


def test_parallel_training_paths_equal_sequential(engine, territory, referential, monkeypatch):
    from matching.batch import paths as batch_paths
    from matching.store.snapshot import load_snapshot

    snap = load_snapshot(engine, as_of=territory.as_of)
    needs = snap.needs[snap.needs["status"] == "open"]["id"].to_numpy()[:20]
    js = snap.jobseekers[snap.jobseekers["status"] == "active"]["id"].to_numpy()[:40]
    import pandas as pd

    pairs = pd.DataFrame(
        [(int(n), int(j)) for n in needs for j in js], columns=["need_id", "jobseeker_id"]
    )
    sequential = batch_paths.compute_paths(snap, referential, pairs)
    monkeypatch.setattr(batch_paths, "PARALLEL_MIN_PAIRS", 0)
    parallel = batch_paths.compute_paths_parallel(snap, referential, pairs, n_jobs=2)
    assert len(sequential) > 0
    pd.testing.assert_frame_equal(parallel, sequential)


def test_successive_incremental_runs_complete_lists_from_reserves(
    settings, engine, territory, referential
):
    nightly(settings, engine, territory)
    runs = []
    for seed in (11, 12):
        edit_profiles(engine, territory, referential, fraction=0.02, seed=seed)
        runs.append(nightly(settings, engine, territory).report)
    for rep in runs:
        assert rep["kind"] == "incremental"
        counts = rep["counts"]
        # lists that lost a candidate were completed from their reserve, not ranked again
        assert counts["needs_completed"] > 0
        assert counts["needs_recomputed"] < counts["needs_completed"]
        assert counts["needs_copied"] + counts["needs_completed"] > 0
    incremental = published(engine)
    nightly(settings, engine, territory, full=True)
    assert published(engine) == incremental


def test_incremental_run_with_new_needs_equals_full_run(settings, engine, territory, referential):
    nightly(settings, engine, territory)
    with engine.begin() as conn:  # a new need, copied from an open one
        row = (
            conn.execute(text("SELECT * FROM needs WHERE status = 'open' LIMIT 1")).mappings().one()
        )
        new = {k: v for k, v in row.items() if k != "id"}
        new["ref"] = f"{row['ref']}-bis"
        cols = ", ".join(new)
        conn.execute(
            text(f"INSERT INTO needs ({cols}) VALUES ({', '.join(':' + c for c in new)})"), new
        )
        nid = conn.execute(text("SELECT id FROM needs WHERE ref = :r"), {"r": new["ref"]}).scalar()
        conn.execute(
            text(
                "INSERT INTO need_skills (need_id, skill_code, essential, level) "
                "SELECT :n, skill_code, essential, level FROM need_skills WHERE need_id = :o"
            ),
            {"n": nid, "o": row["id"]},
        )
    edit_profiles(engine, territory, referential, fraction=0.02, seed=5)
    inc = nightly(settings, engine, territory).report
    assert inc["kind"] == "incremental" and inc["entities"]["need"]["new"] == 1
    incremental = published(engine)
    assert any(r[0] == nid for r in incremental["shortlists"])
    nightly(settings, engine, territory, full=True)
    assert published(engine) == incremental

"""Changing a jobseeker's name, address (same commune), birth date or gender leaves every score
bit-identical, through the real path store -> snapshot -> engine."""

from datetime import date

from sqlalchemy import update

from matching.demo import DemoSizes
from matching.ranking.engine import MatchingEngine
from matching.services.demo import seed_demo
from matching.store import models as m
from matching.store.snapshot import load_snapshot

SMALL = DemoSizes(jobseekers=300, employers=8, needs=12, past_needs=10, courses=8, sessions=12)


def _all_scores(engine_db, referential):
    engine = MatchingEngine(referential=referential).fit(
        load_snapshot(engine_db, as_of=date(2026, 9, 1))
    )
    res = engine.block_results(engine.js_ids_, explain=False)
    return {
        (x.need_id, x.jobseeker_id, x.rank, x.score) for lst in res.shortlists.values() for x in lst
    }


def test_identity_changes_do_not_move_scores(engine, referential):
    seed_demo(engine, referential, seed=11, as_of=date(2026, 9, 1), sizes=SMALL)
    before = _all_scores(engine, referential)
    assert before
    with engine.begin() as conn:
        conn.execute(
            update(m.JobseekerIdentity).values(
                first_name="Autre",
                last_name="Nom",
                birth_date=date(1950, 1, 1),
                gender="X",
                address="1 rue Nouvelle, 80000 Amiens",
                phone="0000000000",
            )
        )
    assert _all_scores(engine, referential) == before

"""A small seeded demo territory with one published nightly run (shared by the fairness tests)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import update

from matching.demo import DemoSizes
from matching.services.demo import seed_demo
from matching.store import models as m

AS_OF = date(2026, 9, 1)
SMALL = DemoSizes(jobseekers=300, employers=8, needs=12, past_needs=40, courses=8, sessions=12)
#: A person with unique identity values, so that any trace of them can be searched for.
UNIQUE = dict(
    first_name="Zéphyrine",
    last_name="Quintal-Erasmus",
    address="7 impasse Unique-Essai, 80000 Amiens",
    phone="0699123457",
    email="zephyrine.quintal@example.org",
    birth_date=date(1987, 2, 28),
    gender="F",
)


@pytest.fixture
def seeded(engine, referential):
    seed_demo(engine, referential, seed=7, as_of=AS_OF, sizes=SMALL)
    return engine


@pytest.fixture
def published(seeded, settings):
    """The seeded store after one nightly run (coverage ranker), published."""
    from matching.services.nightly import run_nightly

    run_nightly(settings, store=seeded, today=AS_OF)
    return seeded


def give_unique_identity(engine, jobseeker_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(m.JobseekerIdentity)
            .where(m.JobseekerIdentity.jobseeker_id == jobseeker_id)
            .values(**UNIQUE)
        )

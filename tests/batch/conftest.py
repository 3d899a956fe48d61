"""Fixtures of the nightly-run tests: a small seeded synthetic territory in the test database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from matching.batch.synthetic import generate_territory
from matching.services.nightly import load_territory, published_run_id, read_results

SIZES = {"n_jobseekers": 600, "n_needs": 60, "n_courses": 25, "n_occupations": 25}


@pytest.fixture
def territory(engine, referential):
    terr = generate_territory(referential, seed=7, **SIZES)
    load_territory(engine, terr)
    return terr


def published(store):
    """The published run's rows as sorted plain tuples (what readers are served)."""
    rid = published_run_id(store)
    if rid is None:
        return None
    frames, paths = read_results(store, rid)

    def js(v):
        return json.dumps(json.loads(v) if isinstance(v, str) else v, sort_keys=True)

    sl = sorted(
        (
            int(r.need_id),
            int(r.rank),
            int(r.jobseeker_id),
            round(float(r.score), 9),
            js(r.explanation),
        )
        for r in frames.shortlists.itertuples()
    )
    mt = sorted(
        (int(r.jobseeker_id), int(r.rank), int(r.need_id), round(float(r.score), 9))
        for r in frames.matches.itertuples()
    )
    pt = sorted(
        (int(r.jobseeker_id), int(r.need_id), bool(r.feasible), js(r.path))
        for r in paths.itertuples()
    )
    return {"shortlists": sl, "matches": mt, "paths": pt}


def edit_profiles(store, territory, referential, *, fraction=0.05, seed=3):
    """Apply seeded profile edits (new skills, new commute limits) to the store."""
    from matching.batch.synthetic import perturb_profiles

    edits = perturb_profiles(referential, territory, fraction=fraction, seed=seed)
    with store.begin() as conn:
        for r in edits["skills"].itertuples():
            conn.execute(
                text(
                    "INSERT INTO jobseeker_skills (jobseeker_id, skill_code, level, source) "
                    "VALUES (:j, :s, :l, :o)"
                ),
                {
                    "j": int(r.jobseeker_id),
                    "s": int(r.skill_code),
                    "l": int(r.level),
                    "o": r.source,
                },
            )
        for r in edits["commute"].itertuples():
            conn.execute(
                text("UPDATE jobseekers SET max_commute_km = :k WHERE id = :i"),
                {"k": float(r.max_commute_km), "i": int(r.id)},
            )
    return edits

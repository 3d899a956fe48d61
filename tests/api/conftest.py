"""Fixtures of the API tests: a small seeded territory with a published nightly run, the app,
and clients logged in as each kind of account (demo password ``passerelle``)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from matching.demo import DemoSizes
from matching.services.demo import DEMO_PASSWORD, seed_demo
from matching.services.nightly import run_nightly
from matching.store import models as m

SMALL = DemoSizes(
    jobseekers=300, employers=8, needs=12, past_needs=10, courses=8, sessions=12, counsellors=3
)


def seed_territory(settings, engine, referential) -> dict:
    """Seed the small demo territory, publish a nightly run; return refs used by the tests."""
    seed_demo(engine, referential, seed=5, as_of=date.today(), sizes=SMALL)
    run_nightly(settings, store=engine)
    with engine.connect() as conn:
        users = dict(conn.execute(select(m.User.username, m.User.id)).all())
        mine = (
            conn.execute(
                select(m.Jobseeker.ref)
                .where(m.Jobseeker.counsellor_id == users["conseiller1"])
                .order_by(m.Jobseeker.ref)
            )
            .scalars()
            .first()
        )
        # A shortlisted candidate of BES0001 and their counsellor (for decisions).
        row = conn.execute(
            select(m.Jobseeker.ref, m.User.username)
            .join(m.RunShortlist, m.RunShortlist.jobseeker_id == m.Jobseeker.id)
            .join(m.User, m.User.id == m.Jobseeker.counsellor_id)
            .join(m.Need, m.Need.id == m.RunShortlist.need_id)
            .where(
                m.Need.ref == "BES0001",
                m.visible_at(m.RunShortlist, select(m.Publication.run_id).scalar_subquery()),
            )
            .order_by(m.RunShortlist.score.desc(), m.RunShortlist.jobseeker_id)
        ).first()
        employer = conn.execute(select(m.Employer.ref).order_by(m.Employer.ref)).scalars().first()
        course = conn.execute(select(m.Course.ref).order_by(m.Course.ref)).scalars().first()
        session = (
            conn.execute(select(m.CourseSession.ref).order_by(m.CourseSession.ref))
            .scalars()
            .first()
        )
    return {
        "my_jobseeker": mine,
        "candidate": row[0],
        "candidate_counsellor": row[1],
        "employer": employer,
        "course": course,
        "session": session,
    }


@pytest.fixture
def territory(settings, engine, referential):
    """Small demo territory with a published nightly run; returns refs used by the tests."""
    return seed_territory(settings, engine, referential)


@pytest.fixture
def app(settings, territory):
    return create_app(settings, preload=False)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def csrf_of(client: TestClient, path: str = "/connexion") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, f"pas de jeton CSRF sur {path}"
    return found.group(1)


def login(client: TestClient, username: str, password: str = DEMO_PASSWORD):
    return client.post(
        "/connexion",
        data={"identifiant": username, "mot_de_passe": password, "csrf_token": csrf_of(client)},
        follow_redirects=False,
    )


def bearer(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> dict:
    r = client.post("/api/v1/token", json={"identifiant": username, "mot_de_passe": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}

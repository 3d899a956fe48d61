"""Repository: upserts by natural key with created/updated/unchanged, child rows replaced
exactly, the priority-district flag derived from the address and never set by the caller."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from matching.exceptions import NotFoundError, ValidationError
from matching.store import models as m
from matching.store.checksum import database_checksum
from matching.store.db import session_scope
from matching.store.repository import (
    ExperienceSpec,
    NeedSkillSpec,
    PersonSkillSpec,
    Repository,
    load_priority_streets,
)

EMPLOYER = dict(
    name="Centre d'appels Nord",
    siret=None,
    naf_code="8220Z",
    sector="relation_client_numerique",
    commune_insee="80021",
)
NEED = dict(
    code_rome="D1408",
    title_typed="Téléconseiller(e)",
    positions=10,
    hiring_date=date(2027, 3, 1),
    contract_type="CDI",
    commune_insee="80021",
    status="open",
)
PROFILE = dict(home_commune_insee="80021", availability_date=date(2026, 10, 1))


def _with_repo(engine, referential, fn):
    with session_scope(engine) as s:
        return fn(Repository(s, referential=referential))


def test_statuses_created_unchanged_updated(engine, referential):
    def run(values):
        return _with_repo(engine, referential, lambda r: r.upsert_employer("E1", values)[1])

    assert run(EMPLOYER) == "created"
    before = database_checksum(engine)
    assert run(EMPLOYER) == "unchanged"
    assert database_checksum(engine) == before
    assert run({"name": "Centre d'appels Sud"}) == "updated"  # other attributes kept
    with engine.connect() as conn:
        row = conn.execute(select(m.Employer.name, m.Employer.naf_code)).one()
    assert tuple(row) == ("Centre d'appels Sud", "8220Z")


def test_need_skills_are_replaced_exactly(engine, referential):
    def run(skills):
        def go(r):
            r.upsert_employer("E1", EMPLOYER)
            return r.upsert_need("B1", NEED, employer_ref="E1", skills=skills)[1]

        return _with_repo(engine, referential, go)

    assert run([NeedSkillSpec(400557), NeedSkillSpec(483431, essential=False)]) == "created"
    assert run([NeedSkillSpec(483431, essential=False), NeedSkillSpec(400557)]) == "unchanged"
    assert run([NeedSkillSpec(400557, level=3), NeedSkillSpec(485132)]) == "updated"
    assert run(None) == "unchanged"  # None leaves the skills alone
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.NeedSkill.skill_code, m.NeedSkill.essential, m.NeedSkill.level).order_by(
                m.NeedSkill.skill_code
            )
        ).all()
    assert [tuple(r) for r in rows] == [(400557, True, 3), (485132, True, 2)]
    assert run([]) == "updated"
    with engine.connect() as conn:
        assert conn.execute(select(m.NeedSkill)).first() is None


def test_need_of_an_unknown_employer(engine, referential):
    with pytest.raises(NotFoundError, match="employeur inconnu\\(e\\) : référence 'E9'"):
        _with_repo(engine, referential, lambda r: r.upsert_need("B1", NEED, employer_ref="E9"))


def _jobseeker(engine, referential, address, **kw):
    return _with_repo(
        engine,
        referential,
        lambda r: r.upsert_jobseeker(
            "DE1", PROFILE, identity={"last_name": "Benali", "address": address}, **kw
        )[1],
    )


def _flag(engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(m.Jobseeker.priority_district)).scalar_one()


def test_priority_flag_follows_the_address(engine, referential):
    load_priority_streets(
        engine,
        [{"commune_insee": "80021", "street": "Rue Saint-Roch", "district": "Amiens Nord"}],
        referential=referential,
    )
    assert _jobseeker(engine, referential, "14 r. St Roch 80000 Amiens") == "created"
    assert _flag(engine) is True  # abbreviations expanded, street found in the table
    assert _jobseeker(engine, referential, "2 place Gambetta 80000 Amiens") == "updated"
    assert _flag(engine) is False
    assert _jobseeker(engine, referential, "Bât. C, résidence Étouvie, 80080 Amiens") == "updated"
    assert _flag(engine) is True  # the district's name in the address
    with engine.connect() as conn:
        assert conn.execute(select(m.JobseekerIdentity.postcode)).scalar_one() == "80080"


def test_the_flag_cannot_be_set_by_the_caller(engine, referential):
    with pytest.raises(ValidationError, match="priority_district"):
        _with_repo(
            engine,
            referential,
            lambda r: r.upsert_jobseeker("DE1", {**PROFILE, "priority_district": True}),
        )


def test_jobseeker_checks_commune_and_counsellor(engine, referential):
    with pytest.raises(ValidationError, match="commune inconnue '75056'"):
        _with_repo(
            engine,
            referential,
            lambda r: r.upsert_jobseeker("DE1", {**PROFILE, "home_commune_insee": "75056"}),
        )
    with pytest.raises(NotFoundError, match="compte conseiller inconnu 'marie'"):
        _jobseeker(engine, referential, "", counsellor="marie")


def test_jobseeker_children_are_replaced_exactly(engine, referential):
    def run(**kw):
        return _with_repo(
            engine, referential, lambda r: r.upsert_jobseeker("DE1", PROFILE, **kw)[1]
        )

    first = dict(
        skills=[PersonSkillSpec(400557, 2), PersonSkillSpec(483431, 3, "validated")],
        experiences=[ExperienceSpec("D1408", 18), ExperienceSpec("N1103", 6, date(2025, 6, 30))],
        programmes=["PLIE", "RSA"],
    )
    assert run(**first) == "created"
    assert run(**first) == "unchanged"
    assert run(skills=[PersonSkillSpec(400557, 3, "certified")]) == "updated"
    assert run(experiences=[ExperienceSpec("D1408", 18)], programmes=["PLIE"]) == "updated"
    with engine.connect() as conn:
        skills = conn.execute(
            select(m.JobseekerSkill.skill_code, m.JobseekerSkill.level, m.JobseekerSkill.source)
        ).all()
        exps = conn.execute(
            select(m.JobseekerExperience.code_rome, m.JobseekerExperience.months)
        ).all()
        progs = conn.execute(select(m.JobseekerProgramme.programme)).scalars().all()
    assert [tuple(s) for s in skills] == [(400557, 3, "certified")]
    assert [tuple(e) for e in exps] == [("D1408", 18)]
    assert progs == ["PLIE"]


def test_course_roles_are_replaced_independently(engine, referential):
    def run(**kw):
        def go(r):
            r.upsert_provider("OF1", {"name": "AFPA"})
            return r.upsert_course(
                "F1", {"title": "Relation client", "hours": 420.0}, provider_ref="OF1", **kw
            )[1]

        return _with_repo(engine, referential, go)

    assert run(taught=[400557, 483431], prerequisites=[485132]) == "created"
    assert run(taught=[483431, 400557]) == "unchanged"
    assert run(prerequisites=[]) == "updated"
    with engine.connect() as conn:
        rows = conn.execute(select(m.CourseSkill.skill_code, m.CourseSkill.role)).all()
    assert sorted(tuple(r) for r in rows) == [(400557, "taught"), (483431, "taught")]


def test_outcomes_are_keyed_by_jobseeker_need_event_date(engine, referential):
    def run(by_user):
        def go(r):
            r.upsert_employer("E1", EMPLOYER)
            r.upsert_need("B1", NEED, employer_ref="E1")
            r.upsert_jobseeker("DE1", PROFILE)
            return r.upsert_outcome(
                jobseeker_ref="DE1",
                need_ref="B1",
                event="proposed",
                event_date=date(2026, 10, 5),
                by_user=by_user,
            )[1]

        return _with_repo(engine, referential, go)

    assert run("conseiller1") == "created"
    assert run("conseiller1") == "unchanged"
    assert run("conseiller2") == "updated"
    with engine.connect() as conn:
        assert conn.execute(select(m.Outcome.by_user)).scalars().all() == ["conseiller2"]


def test_loading_streets_rederives_flags_and_is_idempotent(engine, referential):
    _jobseeker(engine, referential, "5 avenue de l'Europe 80080 Amiens")
    assert _flag(engine) is False
    rows = [{"commune_insee": "80021", "street": "Avenue de l'Europe", "district": "Étouvie"}]
    counts = load_priority_streets(engine, rows, referential=referential)
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "flags_changed": 1}
    assert _flag(engine) is True
    before = database_checksum(engine)
    counts = load_priority_streets(engine, rows, referential=referential)
    assert counts == {"created": 0, "updated": 0, "unchanged": 1, "flags_changed": 0}
    assert database_checksum(engine) == before

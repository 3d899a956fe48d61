"""Planning through the store: services and the ``passerelle path`` / ``passerelle plan`` commands."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from typer.testing import CliRunner

from matching.cli import app, exit_code_for, register_all
from matching.exceptions import NoTrainingPathError
from matching.services.planning import path_for, plan_for
from matching.store import models as m
from matching.store.db import session_scope

TODAY = date(2026, 1, 5)
#: Real ROME 4.0 skills of D1408 (conseiller clientèle à distance).
CALLS, CONFIDENTIAL, ANSWER = 400557, 483431, 485132
runner = CliRunner()


def d(days: int) -> date:
    return TODAY + timedelta(days=days)


def seed(engine) -> None:
    with session_scope(engine) as s:
        employer = m.Employer(
            ref="EMP1",
            name="Centre d'appels",
            naf_code="8220Z",
            sector="relation_client_numerique",
            commune_insee="80021",
        )
        s.add(employer)
        s.flush()
        need = m.Need(
            ref="BES-CALL",
            employer_id=employer.id,
            code_rome="D1408",
            title_typed="Conseiller clientèle à distance",
            positions=5,
            hiring_date=d(180),
            contract_type="CDI",
            commune_insee="80021",
            status="open",
            skills=[
                m.NeedSkill(skill_code=CALLS, essential=True, level=2),
                m.NeedSkill(skill_code=ANSWER, essential=True, level=2),
            ],
        )
        far = m.Need(
            ref="BES-SOON",
            employer_id=employer.id,
            code_rome="D1408",
            title_typed="Conseiller urgent",
            positions=1,
            hiring_date=d(20),
            contract_type="CDD",
            commune_insee="80021",
            status="open",
            skills=[m.NeedSkill(skill_code=CONFIDENTIAL, essential=True, level=2)],
        )
        s.add_all([need, far])
        for i in range(1, 9):
            js = m.Jobseeker(
                ref=f"DE{i:03d}",
                home_commune_insee="80021",
                availability_date=d(0),
                max_commute_km=20,
                status="active",
            )
            js.skills = [m.JobseekerSkill(skill_code=CALLS, level=2, source="declared")]
            if i <= 2:
                js.skills.append(m.JobseekerSkill(skill_code=ANSWER, level=2, source="validated"))
            s.add(js)
        provider = m.Provider(ref="AFPA", name="AFPA Amiens")
        s.add(provider)
        s.flush()
        course = m.Course(
            ref="AFPA-CRCD",
            provider_id=provider.id,
            title="Conseiller relation client à distance",
            hours=420,
            cost_eur=4200,
            skills=[
                m.CourseSkill(skill_code=ANSWER, role="taught"),
                m.CourseSkill(skill_code=CONFIDENTIAL, role="taught"),
            ],
        )
        s.add(course)
        s.flush()
        s.add(
            m.CourseSession(
                ref="SES-1",
                course_id=course.id,
                start_date=d(14),
                end_date=d(100),
                seats=12,
                seats_taken=10,
                commune_insee="80021",
            )
        )


@pytest.fixture
def seeded(settings, engine):
    seed(engine)
    register_all()
    return settings


def test_path_service_and_command(seeded):
    path = path_for(seeded, "DE005", "BES-CALL", as_of=TODAY)
    assert [s.session_ref for s in path.steps] == ["SES-1"]
    result = runner.invoke(app, ["path", "DE005", "BES-CALL", "--date", "2026-01-05"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "Répondre aux appels téléphoniques, mails, tchat et renseigner les clients" in output
    assert "formation, 4 200 €, prêt(e) le 15 avril 2026" in output
    out = runner.invoke(
        app, ["path", "DE005", "BES-CALL", "--date", "2026-01-05", "--format", "json"]
    )
    assert json.loads(out.stdout)["steps"][0]["session_ref"] == "SES-1"


def test_no_path_is_an_error_with_reason(seeded):
    with pytest.raises(NoTrainingPathError) as info:
        path_for(seeded, "DE005", "BES-SOON", as_of=TODAY)
    assert info.value.reasons == [
        "la seule session de « Conseiller relation client à distance » finit après la date "
        "d'embauche (15 avril 2026 ; embauche le 25 janvier 2026)"
    ]
    assert exit_code_for(info.value) == 5


def test_plan_command_table_csv_json_and_chart(seeded, tmp_path):
    plan = plan_for(seeded, ["BES-CALL"], as_of=TODAY, scorer="couverture")
    (n,) = plan.needs
    assert (n.ready, n.trained, n.commissioned, n.unfilled) == (2, 2, 1, 0)
    png = tmp_path / "plan.png"
    result = runner.invoke(
        app,
        ["plan", "BES-CALL", "--date", "2026-01-05", "--score", "couverture", "--chart", str(png)],
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "2 candidat(s) prêt(s), 2 via 1 session(s) existante(s), 1 poste(s) restant(s)" in output
    assert "optimum prouvé" in output
    assert png.read_bytes()[:4] == b"\x89PNG"
    csv = runner.invoke(
        app,
        ["plan", "BES-CALL", "--date", "2026-01-05", "--score", "couverture", "--format", "csv"],
    )
    assert csv.stdout.splitlines()[0].startswith("besoin,demandeur,voie")
    assert len(csv.stdout.splitlines()) == 1 + 5
    js = runner.invoke(
        app, ["plan", "--tous", "--date", "2026-01-05", "--score", "couverture", "--format", "json"]
    )
    payload = json.loads(js.stdout)
    assert {x["need_ref"] for x in payload["needs"]} == {"BES-CALL", "BES-SOON"}
    # planned together: nobody is counted twice
    people = [a["jobseeker_id"] for a in payload["assignments"]]
    assert len(people) == len(set(people))


def test_plan_refuses_unknown_need(seeded):
    result = runner.invoke(app, ["plan", "NOPE", "--date", "2026-01-05"])
    assert result.exit_code != 0

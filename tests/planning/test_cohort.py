"""Cohort plans: ready / trained / to-commission parts, shared seats and candidates, invariants."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.exceptions import ValidationError
from matching.planning.cohort import plan_cohort, select_needs
from tests.planning.toy import course, day, need, person, session, world


def call_centre_world():
    ready = [person(i, skills={1: 2, 2: 2}) for i in range(1, 3)]
    to_train = [person(i, skills={1: 2}) for i in range(3, 9)]
    return world(
        ready + to_train,
        [need(1, essential={1: 2, 2: 2}, positions=6, hire=200, title="Conseiller client")],
        [course(1, teaches={2}, title="Conseiller relation client à distance", seats=3, days=28)],
        [session(1, 1, 10, 40, seats=12, taken=10)],
        labels={1: "Accueillir", 2: "Traiter une réclamation"},
    )


def test_plan_has_ready_trained_and_commissioned_parts():
    data = call_centre_world()
    plan = plan_cohort(data, [1])
    (n,) = plan.needs
    assert (n.ready, n.trained, n.existing_sessions) == (2, 2, 1)
    assert n.remaining_after_existing == 2
    (c,) = plan.commissions
    assert c.course_title == "Conseiller relation client à distance"
    assert c.sessions == 1 and c.seats_per_session == 3 and c.trainees == 2
    assert c.end_by == day(199) and c.start_by == day(199) - timedelta(days=27)
    assert n.commissioned == 2 and n.unfilled == 0
    summary = plan.summary()
    assert (
        "2 candidat(s) prêt(s), 2 via 1 session(s) existante(s), 2 poste(s) restant(s)" in summary
    )
    assert "ouvrir 1 session(s) de « Conseiller relation client à distance » avant le" in summary
    assert all(r.optimal for r in plan.solver)
    frame = plan.needs_frame()
    assert frame.loc[0, "prêts"] == 2 and frame.loc[0, "non pourvus"] == 0
    assert len(plan.assignments_frame()) == 6


def test_scorer_decides_who_takes_the_scarce_seats():
    data = call_centre_world()
    favourite = {5, 6}

    def scorer(need_ids, jobseeker_ids):
        return np.array([0.9 if j in favourite else 0.3 for j in jobseeker_ids])

    plan = plan_cohort(data, [1], scorer=scorer, commission=False)
    trained = {a.jobseeker_id for a in plan.assignments if a.kind == "formation"}
    assert trained == favourite
    assert plan.needs[0].unfilled == 2


def test_two_needs_never_count_on_the_same_seats_or_people():
    people = [person(i, skills={1: 2}) for i in range(1, 6)]
    data = world(
        people,
        [
            need(1, essential={1: 2, 2: 2}, positions=3, hire=100),
            need(2, essential={1: 2, 2: 2}, positions=3, hire=120, sector="logistique"),
        ],
        [course(1, teaches={2})],
        [session(1, 1, 10, 40, seats=4, taken=0)],
    )
    plan = plan_cohort(data, [1, 2], commission=False)
    assert len(plan.assignments) == 4  # four seats for six positions
    assert max(Counter(a.jobseeker_id for a in plan.assignments).values()) == 1
    (use,) = plan.session_uses
    assert use.used == 4 and set(use.need_refs) == {"B0001", "B0002"}
    assert sum(n.unfilled for n in plan.needs) == 2


def test_certification_nobody_delivers_in_time_is_commissioned():
    data = world(
        [person(i, licence=True) for i in range(1, 30)],
        [
            need(
                1,
                cert="RNCP35888",
                licence=True,
                positions=20,
                hire=150,
                title="Agent d'entretien autoroutier",
            )
        ],
        [course(1, rncp="RNCP35888", title="CAP Constructeur de routes", seats=12, days=60)],
        [session(1, 1, 100, 250, seats=12)],
        certs={"RNCP35888": "CONSTRUCTEUR DE ROUTES (CAP)"},
    )
    plan = plan_cohort(data, [1])
    (n,) = plan.needs
    assert n.ready == 0 and n.trained == 0
    (c,) = plan.commissions
    assert (c.sessions, c.trainees) == (2, 20)
    assert c.start_by == day(149) - timedelta(days=59)
    assert n.unfilled == 0


def test_infeasible_need_reports_its_reason():
    data = world(
        [person(i) for i in range(1, 4)],
        [need(1, essential={7: 2}, positions=2, hire=60)],
        [course(1, teaches={1})],
        [session(1, 1, 5, 20)],
        labels={7: "Souder à l'arc"},
    )
    plan = plan_cohort(data, [1])
    (n,) = plan.needs
    assert n.unfilled == 2
    assert "aucune formation n'enseigne la compétence « Souder à l'arc »" in n.notes
    assert "2 poste(s) sans solution" in plan.summary()


def test_commissioning_too_late_is_said():
    data = world(
        [person(1)],
        [need(1, essential={1: 2}, positions=1, hire=20)],
        [course(1, teaches={1}, title="Longue", days=60)],
        [],
    )
    plan = plan_cohort(data, [1])
    assert plan.needs[0].unfilled == 1
    assert any(
        note.startswith("trop tard pour commander « Longue »") for note in plan.needs[0].notes
    )


def test_select_needs_by_sector_and_refuses_past_needs():
    data = world(
        [],
        [
            need(1, sector="logistique"),
            need(2, sector="tourisme"),
            need(3, hire=-5, sector="logistique"),
        ],
    )
    assert [n.id for n in select_needs(data, sector="logistique")] == [1]
    assert [n.id for n in select_needs(data, all_open=True)] == [1, 2]
    with pytest.raises(ValidationError, match="déjà passée"):
        select_needs(data, ["B0003"])


@st.composite
def small_worlds(draw):
    courses = [
        course(c, teaches={c}, seats=draw(st.integers(1, 3)), days=draw(st.integers(5, 40)))
        for c in (1, 2, 3)
    ]
    sessions = []
    for sid in range(1, draw(st.integers(1, 6)) + 1):
        start = draw(st.integers(1, 60))
        sessions.append(
            session(
                sid,
                draw(st.integers(1, 3)),
                start,
                start + draw(st.integers(3, 30)),
                seats=draw(st.integers(0, 3)),
            )
        )
    people = [
        person(
            i,
            skills={k: 2 for k in draw(st.frozensets(st.integers(1, 3)))},
            avail=draw(st.integers(0, 30)),
        )
        for i in range(1, draw(st.integers(1, 9)) + 1)
    ]
    needs = [
        need(
            n,
            essential={k: 2 for k in draw(st.frozensets(st.integers(1, 3), min_size=1))},
            positions=draw(st.integers(1, 4)),
            hire=draw(st.integers(30, 120)),
        )
        for n in range(1, draw(st.integers(1, 3)) + 1)
    ]
    return world(people, needs, courses, sessions)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_worlds())
def test_plan_invariants(data):
    plan = plan_cohort(data, list(data.needs), min_pool=5)
    assert all(r.optimal for r in plan.solver)
    per_person = Counter(a.jobseeker_id for a in plan.assignments)
    assert not per_person or max(per_person.values()) == 1
    per_need = Counter(a.need_id for a in plan.assignments)
    seat_use = Counter()
    for a in plan.assignments:
        n = data.needs[a.need_id]
        assert per_need[n.id] <= n.positions
        prev = None
        for step in a.path.steps:
            assert step.end < n.hiring_date
            assert (
                step.start > data.today
                and step.start >= data.people[a.jobseeker_id].availability_date
            )
            assert prev is None or step.start > prev
            prev = step.end
            if not step.virtual:
                seat_use[step.session_id] += 1
        assert (a.kind == "pret") == (not a.path.steps)
    for sid, used in seat_use.items():
        assert used <= data.sessions[sid].seats_left
    for c in plan.commissions:
        assert c.trainees <= c.sessions * c.seats_per_session
        assert c.start_by > data.today
    for n in plan.needs:
        assert n.ready + n.trained + n.commissioned + n.unfilled == n.positions

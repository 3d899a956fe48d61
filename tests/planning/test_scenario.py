"""The call-centre and motorway situations, on the real referential (seeded scenario, reduced size)."""

from __future__ import annotations

import pytest

from matching.planning.cohort import plan_cohort
from matching.planning.data import PlanningData
from matching.planning.scenario import MOTORWAY_RNCP, build_scenario


@pytest.fixture(scope="module")
def data(referential):
    snap = build_scenario(referential, n_jobseekers=1500, n_needs=30, n_sessions=40)
    return PlanningData.from_snapshot(snap, referential)


@pytest.mark.slow
def test_call_centre_plan_has_ready_trained_and_commissioned_parts(data):
    plan = plan_cohort(data, ["BES-CENTRE-APPELS"])
    (n,) = plan.needs
    assert n.positions == 300
    assert n.ready > 0 and n.trained > 0 and n.commissioned > 0
    assert n.ready + n.trained + n.commissioned + n.unfilled == 300
    (c,) = plan.commissions
    assert c.course_title == "Conseiller relation client à distance"
    # must start by the hiring date minus the course duration, and end before hiring
    assert (c.end_by - c.start_by).days + 1 == c.days and (n.hiring_date - c.end_by).days == 1
    assert "ouvrir" in plan.summary() and all(r.optimal for r in plan.solver)


@pytest.mark.slow
def test_motorway_need_commissions_a_dedicated_certificate_session(data):
    plan = plan_cohort(data, ["BES-AUTOROUTE"])
    (n,) = plan.needs
    assert n.positions == 20 and n.ready == 0 and n.trained == 0
    assert plan.commissions and all(c.course_ref == "FORM-F1702" for c in plan.commissions)
    assert sum(c.trainees for c in plan.commissions) == n.commissioned > 0
    # Every trainee's path ends with the commissioned session delivering the certification.
    for a in plan.assignments:
        assert a.path.steps[-1].virtual and MOTORWAY_RNCP in a.path.steps[-1].gains


@pytest.mark.slow
def test_all_needs_together_share_seats_and_people(data):
    plan = plan_cohort(data, list(data.needs))
    people = [a.jobseeker_id for a in plan.assignments]
    assert len(people) == len(set(people))
    for u in plan.session_uses:
        assert u.used <= u.seats_free_before

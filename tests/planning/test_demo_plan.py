"""On the demo territory: the call centre (300 positions) gets ready-now, trained and
to-commission parts; the motorway centre (20 positions) gets a dedicated certificate session."""

from datetime import date

import pytest

from matching.demo import MOTORWAY_CERT_TITLE, DemoSizes
from matching.services.demo import seed_demo
from matching.services.planning import plan_for

AS_OF = date(2026, 9, 1)


@pytest.mark.slow
def test_demo_call_centre_and_motorway_plans(settings, engine, referential):
    seed_demo(engine, referential, seed=42, as_of=AS_OF, sizes=DemoSizes(jobseekers=2500))
    plan = plan_for(settings, ["BES0001", "BES0002"], as_of=AS_OF, store=engine)
    by_ref = {n.need_ref: n for n in plan.needs}
    call, road = by_ref["BES0001"], by_ref["BES0002"]
    assert call.positions == 300
    assert call.ready > 0 and call.trained > 0 and call.commissioned > 0
    assert road.positions == 20 and road.trained == 0
    road_commissions = [c for c in plan.commissions if c.need_ref == "BES0002"]
    assert road_commissions and all(c.course_ref for c in road_commissions)
    # The dedicated certificate course of the precedent (Titre professionnel RNCP38080).
    assert {c.course_title for c in road_commissions} == {MOTORWAY_CERT_TITLE.removesuffix(" (TP)")}
    assert sum(c.trainees for c in road_commissions) == 20
    hiring = {n.need_ref: n.hiring_date for n in plan.needs}
    for c in plan.commissions:
        assert c.end_by <= hiring[c.need_ref]

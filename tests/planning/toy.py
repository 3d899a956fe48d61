"""Tiny hand-made planning worlds (people, needs, courses, sessions) for the planning tests."""

from __future__ import annotations

from datetime import date, timedelta
from types import MappingProxyType

from matching.planning.data import (
    LICENCE,
    CourseInfo,
    NeedInfo,
    PersonInfo,
    PlanningData,
    SessionInfo,
)

TODAY = date(2026, 1, 5)


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def person(
    pid,
    *,
    skills=None,
    qual=None,
    licence=False,
    avail=0,
    commune="80021",
    status="active",
    certs=(),
):
    return PersonInfo(
        id=pid,
        ref=f"DE{pid:04d}",
        qualification_level=qual,
        driving_licence=licence,
        availability_date=day(avail),
        home_commune=commune,
        max_commute_km=20.0,
        status=status,
        skills=MappingProxyType(dict(skills or {})),
        certifications=frozenset(certs),
    )


def need(
    nid,
    *,
    essential=None,
    optional=None,
    positions=1,
    hire=90,
    licence=False,
    qual=None,
    cert=None,
    sector="relation_client_numerique",
    title=None,
):
    return NeedInfo(
        id=nid,
        ref=f"B{nid:04d}",
        title=title or f"Besoin {nid}",
        code_rome="D1408",
        positions=positions,
        hiring_date=day(hire),
        commune="80021",
        sector=sector,
        status="open",
        driving_licence_required=licence,
        min_qualification_level=qual,
        required_certification=cert,
        essential=MappingProxyType(dict(essential or {})),
        optional=MappingProxyType(dict(optional or {})),
    )


def course(
    cid,
    *,
    teaches=(),
    prereq=(),
    min_qual=None,
    grants=None,
    rncp=None,
    licence=False,
    cost=1000.0,
    hours=70.0,
    title=None,
    seats=12,
    days=14,
):
    toks = set(teaches)
    if licence:
        toks.add(LICENCE)
    if rncp:
        toks.add(rncp)
    return CourseInfo(
        id=cid,
        ref=f"F{cid:03d}",
        title=title or f"Formation {cid}",
        hours=hours,
        cost_eur=cost,
        teaches=frozenset(toks),
        prerequisites=frozenset(prereq),
        min_qualification_level=min_qual,
        grants_level=grants,
        code_rncp=rncp,
        typical_seats=seats,
        typical_days=days,
    )


def session(sid, cid, start, end, *, seats=10, taken=0):
    return SessionInfo(
        id=sid,
        ref=f"S{sid:03d}",
        course_id=cid,
        start=day(start),
        end=day(end),
        seats=seats,
        seats_taken=taken,
    )


def world(people=(), needs=(), courses=(), sessions=(), *, labels=None, certs=None) -> PlanningData:
    return PlanningData(
        today=TODAY,
        people={p.id: p for p in people},
        needs={n.id: n for n in needs},
        courses={c.id: c for c in courses},
        sessions={s.id: s for s in sessions},
        skill_labels=labels or {},
        certification_titles=certs or {},
    )

"""Reading published nightly results for the API and pages (readers only see the published run)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Engine, select

from matching.exceptions import NotFoundError
from matching.store import models as m


@dataclass(frozen=True)
class ShortlistRow:
    rank: int
    jobseeker_ref: str
    score: float
    explanation: dict | None


@dataclass(frozen=True)
class NeedSummary:
    id: int
    ref: str
    title: str
    code_rome: str
    positions: int
    hiring_date: str
    commune_insee: str
    employer: str
    status: str


def list_needs(
    store: Engine, *, status: str | None = "open", limit: int = 50, offset: int = 0
) -> list[NeedSummary]:
    stmt = (
        select(m.Need, m.Employer.name)
        .join(m.Employer, m.Employer.id == m.Need.employer_id)
        .order_by(m.Need.hiring_date, m.Need.id)
        .limit(limit)
        .offset(offset)
    )
    if status:
        stmt = stmt.where(m.Need.status == status)
    from matching.store.db import session_factory

    with session_factory(store)() as s:
        return [
            NeedSummary(
                n.id,
                n.ref,
                n.title_typed,
                n.code_rome,
                n.positions,
                n.hiring_date.isoformat(),
                n.commune_insee,
                emp,
                n.status,
            )
            for n, emp in s.execute(stmt).all()
        ]


def need_by_ref(store: Engine, ref: str) -> NeedSummary:
    from matching.store.db import session_factory

    with session_factory(store)() as s:
        row = s.execute(
            select(m.Need, m.Employer.name).join(m.Employer).where(m.Need.ref == ref)
        ).first()
    if row is None:
        raise NotFoundError(f"besoin {ref!r} introuvable")
    n, emp = row
    return NeedSummary(
        n.id,
        n.ref,
        n.title_typed,
        n.code_rome,
        n.positions,
        n.hiring_date.isoformat(),
        n.commune_insee,
        emp,
        n.status,
    )


def published_shortlist(store: Engine, need_id: int) -> tuple[int | None, list[ShortlistRow]]:
    """(run id, rows) of the published shortlist of a need; (None, []) when nothing is published."""
    with store.connect() as conn:
        run_id = conn.execute(
            select(m.Publication.run_id).where(m.Publication.id == 1)
        ).scalar_one_or_none()
        if run_id is None:
            return None, []
        rows = conn.execute(
            select(
                m.Jobseeker.ref,
                m.RunShortlist.score,
                m.RunShortlist.explanation,
            )
            .join(m.Jobseeker, m.Jobseeker.id == m.RunShortlist.jobseeker_id)
            .where(m.RunShortlist.need_id == need_id, m.visible_at(m.RunShortlist, run_id))
            .order_by(m.RunShortlist.score.desc(), m.RunShortlist.jobseeker_id)
        ).all()
    out = []
    for rank, (ref, score, expl) in enumerate(rows, 1):  # ranks are positions, not stored
        if isinstance(expl, str):
            expl = json.loads(expl)
        out.append(ShortlistRow(int(rank), ref, float(score), expl))
    return int(run_id), out

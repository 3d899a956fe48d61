"""Opening the configured store and counting what it holds."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
from sqlalchemy import Engine, func, select

from matching.config import Settings
from matching.store import models as m
from matching.store.db import make_engine, upgrade


def open_store(settings: Settings, *, migrate: bool = True) -> Engine:
    """Engine on the configured database, migrated to the latest schema when ``migrate``."""
    engine = make_engine(settings.effective_database_url)
    if migrate:
        upgrade(engine)
    return engine


@lru_cache(maxsize=8)
def _cached_engine(url: str) -> Engine:
    engine = make_engine(url)
    upgrade(engine)
    return engine


def shared_engine(settings: Settings) -> Engine:
    """One migrated engine per database URL per process (API, long-lived commands)."""
    return _cached_engine(settings.effective_database_url)


ENTITY_TABLES = {
    "employeurs": m.Employer,
    "besoins": m.Need,
    "demandeurs": m.Jobseeker,
    "organismes": m.Provider,
    "formations": m.Course,
    "sessions": m.CourseSession,
    "evenements": m.Outcome,
    "comptes": m.User,
}


def entity_counts(engine: Engine) -> dict[str, int]:
    """Row counts per business entity (French keys, as printed by ``passerelle stats``)."""
    with engine.connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(model)).scalar_one())
            for name, model in ENTITY_TABLES.items()
        }


def sector_counts(engine: Engine) -> pd.DataFrame:
    """Employers, needs, open positions and jobseekers' past occupations per priority sector."""
    stmt = (
        select(
            m.Employer.sector,
            func.count(func.distinct(m.Employer.id)),
            func.count(m.Need.id),
            func.coalesce(func.sum(m.Need.positions), 0),
        )
        .select_from(m.Employer)
        .outerjoin(m.Need, m.Need.employer_id == m.Employer.id)
        .group_by(m.Employer.sector)
        .order_by(m.Employer.sector)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame(
        [tuple(r) for r in rows], columns=["secteur", "employeurs", "besoins", "postes"]
    )

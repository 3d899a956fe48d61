"""Identity-free snapshot of the store: the only way the engine reads data.

:func:`load_snapshot` returns plain pandas tables (one per entity, keyed by integer ids) built from
explicit column lists. The ``jobseeker_identities`` table (name, address, phone, birth date,
gender) is never selected here, which is what makes the non-discrimination guarantee checkable:
``ENGINE_JOBSEEKER_COLUMNS`` is the complete list of jobseeker attributes the engine can see.

A :class:`Snapshot` can also be built directly from DataFrames (tests, benchmarks, CSV files),
so the engine packages stay free of SQL.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field, fields
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Integer, select

from matching.store import models as m

#: Every jobseeker attribute the engine may read. Identity and protected attributes are absent.
ENGINE_JOBSEEKER_COLUMNS = (
    "id",
    "ref",
    "qualification_level",
    "driving_licence",
    "has_vehicle",
    "max_commute_km",
    "home_commune_insee",
    "availability_date",
    "unemployed_since",
    "desired_hours_per_week",
    "status",
    "updated_at",
)
#: Used only by the explicit priority-district re-ranking lever and the fairness audit, never by
#: features or the ranker.
POLICY_JOBSEEKER_COLUMNS = ("id", "priority_district", "counsellor_id")

NEED_COLUMNS = (
    "id",
    "ref",
    "employer_id",
    "code_rome",
    "title_typed",
    "description",
    "positions",
    "hiring_date",
    "contract_type",
    "hours_per_week",
    "commune_insee",
    "driving_licence_required",
    "min_qualification_level",
    "required_certification",
    "status",
    "updated_at",
)
COURSE_COLUMNS = (
    "id",
    "ref",
    "provider_id",
    "title",
    "formacode",
    "code_rncp",
    "certification",
    "code_rome",
    "hours",
    "cost_eur",
    "min_qualification_level",
    "grants_driving_licence",
    "updated_at",
)
SESSION_COLUMNS = (
    "id",
    "ref",
    "course_id",
    "start_date",
    "end_date",
    "seats",
    "seats_taken",
    "commune_insee",
    "funding",
)


def _empty(columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass
class Snapshot:
    """Plain tables the engine works on. Dates are ``datetime.date``; ids are ints.

    Attributes
    ----------
    needs : one row per need (``NEED_COLUMNS``) plus ``employer_sector`` and ``naf_code``.
    need_skills : need_id, skill_code, essential, level.
    jobseekers : ``ENGINE_JOBSEEKER_COLUMNS``.
    jobseeker_skills : jobseeker_id, skill_code, level, source.
    experiences : jobseeker_id, code_rome, months, ended_on.
    programmes : jobseeker_id, programme.
    courses : ``COURSE_COLUMNS``; course_skills : course_id, skill_code, role.
    sessions : ``SESSION_COLUMNS``.
    outcomes : jobseeker_id, need_id, event, event_date.
    policy : ``POLICY_JOBSEEKER_COLUMNS`` (re-ranking lever and audit only).
    as_of : the date the snapshot describes ("today" for availability and unemployment spells).
    """

    needs: pd.DataFrame = field(default_factory=lambda: _empty([*NEED_COLUMNS, "employer_sector"]))
    need_skills: pd.DataFrame = field(
        default_factory=lambda: _empty(["need_id", "skill_code", "essential", "level"])
    )
    jobseekers: pd.DataFrame = field(default_factory=lambda: _empty(ENGINE_JOBSEEKER_COLUMNS))
    jobseeker_skills: pd.DataFrame = field(
        default_factory=lambda: _empty(["jobseeker_id", "skill_code", "level", "source"])
    )
    experiences: pd.DataFrame = field(
        default_factory=lambda: _empty(["jobseeker_id", "code_rome", "months", "ended_on"])
    )
    programmes: pd.DataFrame = field(default_factory=lambda: _empty(["jobseeker_id", "programme"]))
    courses: pd.DataFrame = field(default_factory=lambda: _empty(COURSE_COLUMNS))
    course_skills: pd.DataFrame = field(
        default_factory=lambda: _empty(["course_id", "skill_code", "role"])
    )
    sessions: pd.DataFrame = field(default_factory=lambda: _empty(SESSION_COLUMNS))
    outcomes: pd.DataFrame = field(
        default_factory=lambda: _empty(["jobseeker_id", "need_id", "event", "event_date"])
    )
    policy: pd.DataFrame = field(default_factory=lambda: _empty(POLICY_JOBSEEKER_COLUMNS))
    as_of: date = field(default_factory=date.today)

    def table_names(self) -> list[str]:
        return [f.name for f in fields(self) if f.name != "as_of"]


def _read_frame(engine: Engine, stmt, columns, *, fast: bool | None = None) -> pd.DataFrame:
    """Rows of ``stmt`` as a DataFrame named ``columns``.

    On SQLite (``fast``) the rows come from the driver's cursor and each column goes once
    through the result processor SQLAlchemy would apply (text to ``date``, 0/1 to ``bool``...):
    the same values as through SQLAlchemy's rows (``tests/store`` checks it), in a third of the
    time (the snapshot of 100,000 profiles is read at every nightly run).
    """
    # other drivers return typed values already (and their processors need the column's type
    # code from the cursor): the fast path is SQLite's only
    fast = (True if fast is None else fast) and engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if fast:
            dialect = engine.dialect
            sql = str(stmt.compile(dialect=dialect))
            raw = conn.connection.driver_connection
            assert raw is not None  # a checked-out connection always has its driver connection
            cur = raw.cursor()  # plain tuples, no Row objects
            try:
                rows = cur.execute(sql).fetchall()
            finally:
                cur.close()
            procs = [
                c.type.dialect_impl(dialect).result_processor(dialect, None)
                for c in stmt.selected_columns
            ]
        else:
            rows = conn.execute(stmt).all()
            procs = [None] * len(columns)
    if not rows:
        return _empty(list(columns))
    integer = [isinstance(c.type, Integer) for c in stmt.selected_columns]
    data = {}
    for name, proc, is_int, values in zip(
        columns, procs, integer, zip(*rows, strict=True), strict=True
    ):
        data[name] = values if proc is None else [proc(v) for v in values]
        if is_int and proc is None:
            # integers straight to int64: pandas' type inference over a tuple of 675,000 ints
            # costs more than reading them; a None (nullable column) keeps the inference
            with contextlib.suppress(TypeError, OverflowError):
                data[name] = np.fromiter(values, dtype=np.int64, count=len(values))
    return pd.DataFrame(data)


def load_snapshot(
    engine: Engine, *, as_of: date | None = None, fast: bool | None = None
) -> Snapshot:
    """Read the store into a :class:`Snapshot` without ever touching identity data.

    ``fast``: read through the driver's cursor (default on SQLite; see :func:`_frame`).
    """
    _frame = functools.partial(_read_frame, fast=fast)
    need_cols = [getattr(m.Need, c) for c in NEED_COLUMNS]
    needs = _frame(
        engine,
        select(*need_cols, m.Employer.sector, m.Employer.naf_code).join(
            m.Employer, m.Employer.id == m.Need.employer_id
        ),
        [*NEED_COLUMNS, "employer_sector", "naf_code"],
    )
    js_cols = [getattr(m.Jobseeker, c) for c in ENGINE_JOBSEEKER_COLUMNS]
    snap = Snapshot(
        needs=needs,
        need_skills=_frame(
            engine,
            select(
                m.NeedSkill.need_id,
                m.NeedSkill.skill_code,
                m.NeedSkill.essential,
                m.NeedSkill.level,
            ),
            ["need_id", "skill_code", "essential", "level"],
        ),
        jobseekers=_frame(engine, select(*js_cols), ENGINE_JOBSEEKER_COLUMNS),
        jobseeker_skills=_frame(
            engine,
            select(
                m.JobseekerSkill.jobseeker_id,
                m.JobseekerSkill.skill_code,
                m.JobseekerSkill.level,
                m.JobseekerSkill.source,
            ),
            ["jobseeker_id", "skill_code", "level", "source"],
        ),
        experiences=_frame(
            engine,
            select(
                m.JobseekerExperience.jobseeker_id,
                m.JobseekerExperience.code_rome,
                m.JobseekerExperience.months,
                m.JobseekerExperience.ended_on,
            ),
            ["jobseeker_id", "code_rome", "months", "ended_on"],
        ),
        programmes=_frame(
            engine,
            select(m.JobseekerProgramme.jobseeker_id, m.JobseekerProgramme.programme),
            ["jobseeker_id", "programme"],
        ),
        courses=_frame(
            engine, select(*[getattr(m.Course, c) for c in COURSE_COLUMNS]), COURSE_COLUMNS
        ),
        course_skills=_frame(
            engine,
            select(m.CourseSkill.course_id, m.CourseSkill.skill_code, m.CourseSkill.role),
            ["course_id", "skill_code", "role"],
        ),
        sessions=_frame(
            engine, select(*[getattr(m.CourseSession, c) for c in SESSION_COLUMNS]), SESSION_COLUMNS
        ),
        outcomes=_frame(
            engine,
            select(
                m.Outcome.jobseeker_id, m.Outcome.need_id, m.Outcome.event, m.Outcome.event_date
            ),
            ["jobseeker_id", "need_id", "event", "event_date"],
        ),
        policy=_frame(
            engine,
            select(*[getattr(m.Jobseeker, c) for c in POLICY_JOBSEEKER_COLUMNS]),
            POLICY_JOBSEEKER_COLUMNS,
        ),
        as_of=as_of or date.today(),
    )
    return snap

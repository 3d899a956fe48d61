"""SQLAlchemy 2.0 storage model of Passerelle (the only place that defines tables).

Design rules:

* Every business entity has an integer surrogate key ``id`` and a unique natural key ``ref``
  (the key imports are idempotent on).
* The identity of a jobseeker (name, address, phone, birth date, gender) lives in
  :class:`JobseekerIdentity`, a separate table. The engine reads profiles through
  :mod:`matching.store.snapshot`, which never selects that table; only the fairness audit, the
  GDPR export and the counsellor pages read it.
* Enumerations are stored as short strings with CHECK constraints (portable between SQLite and
  PostgreSQL, readable in SQL).
* Schema changes go through Alembic revisions in ``matching/store/migrations``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SECTORS = (
    "relation_client_numerique",
    "metallurgie_btp",
    "logistique",
    "agroalimentaire_biotech_sante",
    "tourisme",
    "energie",
    "autre",
)
NEED_STATUSES = ("draft", "open", "filled", "cancelled")
CONTRACT_TYPES = ("CDI", "CDD", "interim", "alternance", "CDDI", "saisonnier")
SKILL_SOURCES = ("declared", "validated", "certified")
JOBSEEKER_STATUSES = ("active", "employed", "inactive")
OUTCOME_EVENTS = ("proposed", "interviewed", "hired", "rejected", "withdrawn")
ROLES = ("counsellor", "desk", "admin")
COURSE_SKILL_ROLES = ("taught", "prerequisite")
RUN_STATUSES = ("running", "complete", "failed", "abandoned")
GENDERS = ("F", "M", "X")


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, server_default=func.now(), onupdate=func.now(), index=True
    )


# --- accounts ---------------------------------------------------------------------------------
class User(TimestampMixin, Base):
    """An account: PLIE counsellor, business-desk officer or administrator."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class WebSession(Base):
    """A signed-in browser session (revision 0702). The cookie carries a random key; only its
    SHA-256 is stored, so the table alone opens no session. Logging out deletes the row, so a
    copied cookie stops working at once; a password change or a deactivation deletes all of the
    account's rows."""

    __tablename__ = "web_sessions"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class AuditEntry(Base):
    """One read or change of personal data: who, what, when, why."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now(), index=True)
    username: Mapped[str] = mapped_column(String(80), index=True)
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_ref: Mapped[str] = mapped_column(String(80), index=True)
    reason_code: Mapped[str] = mapped_column(String(40), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class LoginAttempt(Base):
    """One failed or successful login (revision 0701): the rate limit counts recent failures per
    username and client address in the database, so it holds across several server workers."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key", "username", "ip", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime)
    success: Mapped[bool] = mapped_column(Boolean, default=False)


# --- employers and needs ----------------------------------------------------------------------
class Employer(TimestampMixin, Base):
    __tablename__ = "employers"
    __table_args__ = (CheckConstraint(_in("sector", SECTORS), name="sector"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    siret: Mapped[str | None] = mapped_column(String(14), unique=True)
    naf_code: Mapped[str] = mapped_column(String(6))
    sector: Mapped[str] = mapped_column(String(40))
    commune_insee: Mapped[str] = mapped_column(String(5))

    needs: Mapped[list[Need]] = relationship(back_populates="employer")


class Need(TimestampMixin, Base):
    """An employer's need (vacancy), captured by the business desk, possibly months ahead."""

    __tablename__ = "needs"
    __table_args__ = (
        CheckConstraint(_in("status", NEED_STATUSES), name="status"),
        CheckConstraint(_in("contract_type", CONTRACT_TYPES), name="contract_type"),
        CheckConstraint("positions >= 1", name="positions"),
        CheckConstraint("hours_per_week > 0 AND hours_per_week <= 48", name="hours"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    employer_id: Mapped[int] = mapped_column(ForeignKey("employers.id"), index=True)
    code_rome: Mapped[str] = mapped_column(String(5), index=True)
    title_typed: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    positions: Mapped[int] = mapped_column(Integer)
    hiring_date: Mapped[date] = mapped_column(Date)
    contract_type: Mapped[str] = mapped_column(String(20))
    hours_per_week: Mapped[float] = mapped_column(Float, default=35.0)
    commune_insee: Mapped[str] = mapped_column(String(5))
    driving_licence_required: Mapped[bool] = mapped_column(Boolean, default=False)
    min_qualification_level: Mapped[int | None] = mapped_column(Integer)
    required_certification: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    captured_by: Mapped[str] = mapped_column(String(80), default="")
    captured_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())

    employer: Mapped[Employer] = relationship(back_populates="needs")
    skills: Mapped[list[NeedSkill]] = relationship(
        back_populates="need", cascade="all, delete-orphan", order_by="NeedSkill.skill_code"
    )


class NeedSkill(Base):
    __tablename__ = "need_skills"
    __table_args__ = (CheckConstraint("level BETWEEN 1 AND 3", name="level"),)

    need_id: Mapped[int] = mapped_column(
        ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True
    )
    skill_code: Mapped[int] = mapped_column(Integer, primary_key=True)
    essential: Mapped[bool] = mapped_column(Boolean, default=True)
    level: Mapped[int] = mapped_column(Integer, default=2)

    need: Mapped[Need] = relationship(back_populates="skills")


# --- jobseekers -------------------------------------------------------------------------------
class Jobseeker(TimestampMixin, Base):
    """A jobseeker's profile under a pseudonymous ``ref``: what the engine may read."""

    __tablename__ = "jobseekers"
    __table_args__ = (
        CheckConstraint(
            "qualification_level IS NULL OR qualification_level BETWEEN 3 AND 8",
            name="qualification_level",
        ),
        CheckConstraint(_in("status", JOBSEEKER_STATUSES), name="status"),
        CheckConstraint("max_commute_km >= 0", name="max_commute"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    qualification_level: Mapped[int | None] = mapped_column(Integer)
    driving_licence: Mapped[bool] = mapped_column(Boolean, default=False)
    has_vehicle: Mapped[bool] = mapped_column(Boolean, default=False)
    max_commute_km: Mapped[float] = mapped_column(Float, default=15.0)
    home_commune_insee: Mapped[str] = mapped_column(String(5), index=True)
    priority_district: Mapped[bool] = mapped_column(Boolean, default=False)
    availability_date: Mapped[date] = mapped_column(Date)
    unemployed_since: Mapped[date | None] = mapped_column(Date)
    desired_hours_per_week: Mapped[float | None] = mapped_column(Float)
    counsellor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    consent_date: Mapped[date | None] = mapped_column(Date)
    retention_until: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)

    identity: Mapped[JobseekerIdentity | None] = relationship(
        back_populates="jobseeker", cascade="all, delete-orphan", uselist=False
    )
    skills: Mapped[list[JobseekerSkill]] = relationship(
        back_populates="jobseeker",
        cascade="all, delete-orphan",
        order_by="JobseekerSkill.skill_code",
    )
    experiences: Mapped[list[JobseekerExperience]] = relationship(
        back_populates="jobseeker", cascade="all, delete-orphan", order_by="JobseekerExperience.id"
    )
    programmes: Mapped[list[JobseekerProgramme]] = relationship(
        back_populates="jobseeker", cascade="all, delete-orphan"
    )


class JobseekerIdentity(Base):
    """Directly identifying and protected data. Never read by the engine."""

    __tablename__ = "jobseeker_identities"
    __table_args__ = (
        CheckConstraint(f"gender IS NULL OR {_in('gender', GENDERS)}", name="gender"),
    )

    jobseeker_id: Mapped[int] = mapped_column(
        ForeignKey("jobseekers.id", ondelete="CASCADE"), primary_key=True
    )
    first_name: Mapped[str] = mapped_column(String(120), default="")
    last_name: Mapped[str] = mapped_column(String(120), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    postcode: Mapped[str] = mapped_column(String(5), default="")
    phone: Mapped[str] = mapped_column(String(30), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    birth_date: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(1))

    jobseeker: Mapped[Jobseeker] = relationship(back_populates="identity")


class JobseekerSkill(Base):
    __tablename__ = "jobseeker_skills"
    __table_args__ = (
        CheckConstraint(_in("source", SKILL_SOURCES), name="source"),
        CheckConstraint("level BETWEEN 1 AND 3", name="level"),
    )

    jobseeker_id: Mapped[int] = mapped_column(
        ForeignKey("jobseekers.id", ondelete="CASCADE"), primary_key=True
    )
    skill_code: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[int] = mapped_column(Integer, default=2)
    source: Mapped[str] = mapped_column(String(20), default="declared")

    jobseeker: Mapped[Jobseeker] = relationship(back_populates="skills")


class JobseekerExperience(Base):
    __tablename__ = "jobseeker_experiences"
    __table_args__ = (CheckConstraint("months >= 0", name="months"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jobseeker_id: Mapped[int] = mapped_column(
        ForeignKey("jobseekers.id", ondelete="CASCADE"), index=True
    )
    code_rome: Mapped[str] = mapped_column(String(5))
    months: Mapped[int] = mapped_column(Integer)
    ended_on: Mapped[date | None] = mapped_column(Date)

    jobseeker: Mapped[Jobseeker] = relationship(back_populates="experiences")


class JobseekerProgramme(Base):
    """Support programme the person takes part in (PLIE, RSA, JEUNES, ...)."""

    __tablename__ = "jobseeker_programmes"

    jobseeker_id: Mapped[int] = mapped_column(
        ForeignKey("jobseekers.id", ondelete="CASCADE"), primary_key=True
    )
    programme: Mapped[str] = mapped_column(String(20), primary_key=True)

    jobseeker: Mapped[Jobseeker] = relationship(back_populates="programmes")


# --- training ---------------------------------------------------------------------------------
class Provider(TimestampMixin, Base):
    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))

    courses: Mapped[list[Course]] = relationship(back_populates="provider")


class Course(TimestampMixin, Base):
    __tablename__ = "courses"
    __table_args__ = (
        CheckConstraint("hours > 0", name="hours"),
        CheckConstraint("cost_eur >= 0", name="cost"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    formacode: Mapped[str | None] = mapped_column(String(10))
    code_rncp: Mapped[str | None] = mapped_column(String(20))
    certification: Mapped[str | None] = mapped_column(String(300))
    code_rome: Mapped[str | None] = mapped_column(String(5))
    hours: Mapped[float] = mapped_column(Float)
    cost_eur: Mapped[float] = mapped_column(Float, default=0.0)
    min_qualification_level: Mapped[int | None] = mapped_column(Integer)
    grants_driving_licence: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")

    provider: Mapped[Provider] = relationship(back_populates="courses")
    skills: Mapped[list[CourseSkill]] = relationship(
        back_populates="course", cascade="all, delete-orphan", order_by="CourseSkill.skill_code"
    )
    sessions: Mapped[list[CourseSession]] = relationship(
        back_populates="course", cascade="all, delete-orphan", order_by="CourseSession.start_date"
    )


class CourseSkill(Base):
    __tablename__ = "course_skills"
    __table_args__ = (CheckConstraint(_in("role", COURSE_SKILL_ROLES), name="role"),)

    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    skill_code: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)

    course: Mapped[Course] = relationship(back_populates="skills")


class CourseSession(TimestampMixin, Base):
    __tablename__ = "course_sessions"
    __table_args__ = (
        CheckConstraint("end_date >= start_date", name="dates"),
        CheckConstraint("seats >= 0 AND seats_taken >= 0 AND seats_taken <= seats", name="seats"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    seats: Mapped[int] = mapped_column(Integer)
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    commune_insee: Mapped[str] = mapped_column(String(5))
    funding: Mapped[str] = mapped_column(String(80), default="")

    course: Mapped[Course] = relationship(back_populates="sessions")


# --- outcomes (what the ranker learns from) ---------------------------------------------------
class Outcome(Base):
    __tablename__ = "outcomes"
    __table_args__ = (
        CheckConstraint(_in("event", OUTCOME_EVENTS), name="event"),
        UniqueConstraint("jobseeker_id", "need_id", "event", "event_date", name="natural_key"),
        Index("ix_outcomes_need_event", "need_id", "event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    jobseeker_id: Mapped[int] = mapped_column(
        ForeignKey("jobseekers.id", ondelete="CASCADE"), index=True
    )
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(20))
    event_date: Mapped[date] = mapped_column(Date, index=True)
    by_user: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())


class OutcomeAggregate(Base):
    """Anonymised counts of outcomes kept after a profile is purged (GDPR retention)."""

    __tablename__ = "outcome_aggregates"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    code_rome: Mapped[str] = mapped_column(String(5))
    event: Mapped[str] = mapped_column(String(20))
    count: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (UniqueConstraint("month", "code_rome", "event", name="key"),)


class PriorityStreet(Base):
    """Street -> priority district (QPV) table from which the store derives the jobseeker's flag.

    Loaded from the official street list of the QPV perimeters (ANCT) by the partnership; the demo
    loads its own synthetic streets. See :mod:`matching.store.geo`.
    """

    __tablename__ = "priority_streets"

    commune_insee: Mapped[str] = mapped_column(String(5), primary_key=True)
    street_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    street: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(120))


# --- taxonomy corrections ---------------------------------------------------------------------
class NormalisationCorrection(Base):
    """A human choice for a free-text phrase; it wins over the automatic match next time."""

    __tablename__ = "normalisation_corrections"
    __table_args__ = (UniqueConstraint("kind", "phrase_key", name="phrase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # occupation | job_title | skill
    phrase_key: Mapped[str] = mapped_column(String(300))  # normalised phrase
    phrase: Mapped[str] = mapped_column(String(300))  # as typed the first time
    code: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(300), default="")
    by_user: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, server_default=func.now(), onupdate=func.now()
    )


# --- nightly runs and their published results -------------------------------------------------
class Run(Base):
    """One nightly (or on-demand) matching run. Readers use the published one only."""

    __tablename__ = "runs"
    __table_args__ = (CheckConstraint(_in("status", RUN_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    model_name: Mapped[str] = mapped_column(String(200), default="")
    report: Mapped[dict | None] = mapped_column(JSON)
    # Liveness of a running run (revision 0601): a run whose process is gone (same host, dead
    # pid) or whose heartbeat is stale is marked ``abandoned`` by the next nightly run.
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    stage: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str | None] = mapped_column(String(20))  # full | incremental
    # First run of the generation this run's rows belong to (revision 0604): itself for a full
    # run, the previous run's base for an incremental one. See :func:`visible_at`.
    base_run_id: Mapped[int | None] = mapped_column(Integer)


class RunFingerprint(Base):
    """Content hash of one entity (jobseeker, need, course) as a run saw it (revision 0601).

    The next nightly run compares today's hashes with those of the last complete run to know what
    changed (incremental runs, "what changed" report). Kept per run, so a run killed half-way
    never alters the baseline of the next one.
    """

    __tablename__ = "run_fingerprints"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)  # jobseeker | need | course
    entity_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[int] = mapped_column(BigInteger)


class Publication(Base):
    """Single-row pointer to the published run: switching it is the atomic publication."""

    __tablename__ = "publication"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    published_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())


def _closed_index(table: str) -> Index:
    """Index of the closed rows only (few): pruning and discarding a run find them by it."""
    closed = text("to_run IS NOT NULL")
    return Index(f"ix_{table}_to_run", "to_run", sqlite_where=closed, postgresql_where=closed)


class _RunRows:
    """Result rows shared by successive runs (revision 0604).

    A row is written once, by run ``from_run``, and stays valid until run ``to_run`` replaces
    or removes it (``NULL``: still valid). A run sees the rows of its *generation* (the full
    run it descends from, ``runs.base_run_id``) that it has not closed; see
    :func:`visible_at`. An incremental run therefore writes only what changed: the rows it
    keeps are neither copied nor rewritten. Ranks are not stored: a list is its visible rows
    ordered by score (descending), ties by the other id (ascending), the order the batch
    ranks them in (:func:`matching.batch.compute.top_k`).
    """

    # last in the table, so the primary key reads (list, member, from_run)
    from_run: Mapped[int] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True, sort_order=10
    )
    to_run: Mapped[int | None] = mapped_column(Integer, sort_order=10)


class RunShortlist(_RunRows, Base):
    """Shortlist row: a candidate for a need, with their score and explanation."""

    __tablename__ = "run_shortlists"
    __table_args__ = (
        _closed_index("run_shortlists"),
        # covering index of the lists an incremental run reads (ids and scores, not the
        # explanations, which make up most of each row)
        Index("ix_run_shortlists_lists", "need_id", "from_run", "to_run", "jobseeker_id", "score"),
    )

    need_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jobseeker_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[dict | None] = mapped_column(JSON, sort_order=20)  # last: large


class RunMatch(_RunRows, Base):
    """A need among the top needs of a jobseeker."""

    __tablename__ = "run_matches"
    __table_args__ = (_closed_index("run_matches"),)

    jobseeker_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    need_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    score: Mapped[float] = mapped_column(Float)


class RunReserve(_RunRows, Base):
    """Candidate ranked after a need's shortlist, kept for the next incremental run only
    (revision 0602); readers never read it."""

    __tablename__ = "run_reserves"
    __table_args__ = (_closed_index("run_reserves"),)

    need_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jobseeker_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    score: Mapped[float] = mapped_column(Float)


class RunPath(_RunRows, Base):
    """Suggested training path for a shortlisted candidate with a skill gap."""

    __tablename__ = "run_paths"
    __table_args__ = (_closed_index("run_paths"),)

    jobseeker_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    need_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feasible: Mapped[bool] = mapped_column(Boolean)
    path: Mapped[dict | None] = mapped_column(JSON, sort_order=20)


#: Tables of rows shared by runs, with the key of a row within a run and the list it belongs to.
RUN_ROW_TABLES: dict[str, tuple[str, str]] = {
    "run_shortlists": ("need_id", "jobseeker_id"),
    "run_reserves": ("need_id", "jobseeker_id"),
    "run_matches": ("jobseeker_id", "need_id"),
    "run_paths": ("jobseeker_id", "need_id"),
}


def _base_of(run_id: Any) -> Any:
    return select(Run.base_run_id).where(Run.id == run_id).scalar_subquery()


def visible_at(model: Any, run_id: Any) -> Any:
    """SQL condition: the rows of ``model`` that run ``run_id`` (an int or a bind parameter)
    shows. The run's generation starts at ``runs.base_run_id``."""
    return and_(
        model.from_run >= _base_of(run_id),
        model.from_run <= run_id,
        or_(model.to_run.is_(None), model.to_run > run_id),
    )


def shortlist_rank() -> Any:
    """SQL: a shortlist row's rank among the rows selected with it (same need)."""
    return (
        func.row_number()
        .over(
            partition_by=RunShortlist.need_id,
            order_by=(RunShortlist.score.desc(), RunShortlist.jobseeker_id),
        )
        .label("rank")
    )


def match_rank() -> Any:
    """SQL: a per-jobseeker row's rank among the rows selected with it (same jobseeker)."""
    return (
        func.row_number()
        .over(
            partition_by=RunMatch.jobseeker_id,
            order_by=(RunMatch.score.desc(), RunMatch.need_id),
        )
        .label("rank")
    )


def visible_sql(alias: str, run: str) -> str:
    """:func:`visible_at` as SQL text, for a table alias and a run parameter (``:r``...)."""
    return (
        f"{alias}.from_run >= (SELECT base_run_id FROM runs WHERE id = {run}) "
        f"AND {alias}.from_run <= {run} "
        f"AND ({alias}.to_run IS NULL OR {alias}.to_run > {run})"
    )

"""Planning view of a snapshot: people, needs, courses and sessions indexed for gap and path search.

:class:`PlanningData` is built once from a :class:`~matching.store.snapshot.Snapshot` (and the
referential, for labels, occupation core skills, certification levels and distances) and then
shared by :mod:`~matching.planning.gaps`, :mod:`~matching.planning.paths` and
:mod:`~matching.planning.cohort`. It holds no database or web state and never reads identity.

Modelling decisions (documented once, here):

* **What a person holds.** A skill counts as held when it is in ``jobseeker_skills`` (declared,
  validated or certified, at its recorded level) or when it is a core skill ("cœur de métier") of
  an occupation the person practised for at least :data:`EXPERIENCE_MONTHS_FOR_SKILL` months in
  total; such experience-implied skills are held at level :data:`EXPERIENCE_SKILL_LEVEL`. The
  ranking engine also credits non-core skills of past occupations at a discount for *scoring*;
  the *gap* is stricter because it decides who is sent to training.
* **What a course gives.** ``course_skills`` rows with role ``taught`` are acquired at any level
  the need asks (the catalogue records no level); a course with ``grants_driving_licence`` gives
  the licence; a course with an RNCP code gives that certification and, when the referential
  knows its level, that qualification level.
* **Certifications held.** The store records no certification held by a jobseeker; when a
  snapshot carries a ``certifications`` table (jobseeker_id, code_rncp) it is read, otherwise a
  need's required certification must be obtained through a course delivering it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from matching.exceptions import NotFoundError

#: Months of practice of an occupation after which its core skills count as held.
EXPERIENCE_MONTHS_FOR_SKILL = 12
#: Level at which experience-implied core skills are held (1 notions, 2 practice, 3 expertise).
EXPERIENCE_SKILL_LEVEL = 2
#: Seats assumed for a commissioned session of a course that has no session on record.
DEFAULT_SEATS = 12
#: Token standing for the driving licence in skill sets.
LICENCE = "permis B"


def is_certification_token(token: Any) -> bool:
    return isinstance(token, str) and token != LICENCE


@dataclass(frozen=True)
class PersonInfo:
    """What planning reads of a jobseeker (no identity)."""

    id: int
    ref: str
    qualification_level: int | None
    driving_licence: bool
    availability_date: date
    home_commune: str
    max_commute_km: float
    status: str
    skills: MappingProxyType  # skill code -> level held (declared, or implied by experience)
    certifications: frozenset[str] = frozenset()

    def holds(self) -> frozenset:
        """Tokens held: skill codes, the licence token and RNCP codes."""
        tokens: set = set(self.skills)
        if self.driving_licence:
            tokens.add(LICENCE)
        tokens.update(self.certifications)
        return frozenset(tokens)


@dataclass(frozen=True)
class NeedInfo:
    """What planning reads of an employer's need."""

    id: int
    ref: str
    title: str
    code_rome: str
    positions: int
    hiring_date: date
    commune: str
    sector: str
    status: str
    driving_licence_required: bool
    min_qualification_level: int | None
    required_certification: str | None
    essential: MappingProxyType  # skill code -> level required
    optional: MappingProxyType


@dataclass(frozen=True)
class CourseInfo:
    """A course of the catalogue as the path search sees it."""

    id: int
    ref: str
    title: str
    hours: float
    cost_eur: float
    teaches: frozenset  # skill codes, LICENCE, RNCP code
    prerequisites: frozenset[int]
    min_qualification_level: int | None
    grants_level: int | None
    code_rncp: str | None
    typical_seats: int
    typical_days: int


@dataclass(frozen=True)
class SessionInfo:
    """One dated session of a course (``virtual`` ones are sessions the plan proposes to commission)."""

    id: int
    ref: str
    course_id: int
    start: date
    end: date
    seats: int
    seats_taken: int
    virtual: bool = False

    @property
    def seats_left(self) -> int:
        return max(int(self.seats) - int(self.seats_taken), 0)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _as_date(value: Any) -> date:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, date):
        return value if type(value) is date else date(value.year, value.month, value.day)
    return pd.Timestamp(value).date()


def _opt_int(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return int(value)


def _opt_str(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


@dataclass
class PlanningData:
    """Indexed planning view of one snapshot.

    Build it with :meth:`from_snapshot`; the attributes are plain dictionaries keyed by id.
    """

    today: date
    people: dict[int, PersonInfo]
    needs: dict[int, NeedInfo]
    courses: dict[int, CourseInfo]
    sessions: dict[int, SessionInfo]
    skill_labels: dict[int, str] = field(default_factory=dict)
    certification_titles: dict[str, str] = field(default_factory=dict)
    referential: Any = None
    sessions_by_course: dict[int, list[SessionInfo]] = field(default_factory=dict)
    courses_teaching: dict[Any, list[int]] = field(default_factory=dict)
    people_by_ref: dict[str, int] = field(default_factory=dict)
    needs_by_ref: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        by_course: dict[int, list[SessionInfo]] = defaultdict(list)
        for s in self.sessions.values():
            by_course[s.course_id].append(s)
        self.sessions_by_course = {
            c: sorted(v, key=lambda s: (s.start, s.end, s.id)) for c, v in by_course.items()
        }
        teaching: dict[Any, list[int]] = defaultdict(list)
        for c in sorted(self.courses.values(), key=lambda c: c.id):
            for tok in c.teaches:
                teaching[tok].append(c.id)
        self.courses_teaching = dict(teaching)
        self.people_by_ref = {p.ref: p.id for p in self.people.values()}
        self.needs_by_ref = {n.ref: n.id for n in self.needs.values()}

    # Lookups ---------------------------------------------------------------------------------
    def person(self, key: int | str) -> PersonInfo:
        """Jobseeker by id or ref (``NotFoundError`` otherwise)."""
        pid = self._resolve(key, self.people, self.people_by_ref)
        if pid is None:
            raise NotFoundError(
                f"demandeur d'emploi introuvable : {key!r} (attendu : id ou référence)"
            )
        return self.people[pid]

    def need(self, key: int | str) -> NeedInfo:
        """Need by id or ref (``NotFoundError`` otherwise)."""
        nid = self._resolve(key, self.needs, self.needs_by_ref)
        if nid is None:
            raise NotFoundError(f"besoin introuvable : {key!r} (attendu : id ou référence)")
        return self.needs[nid]

    @staticmethod
    def _resolve(key, table, by_ref) -> int | None:
        if isinstance(key, str) and key in by_ref:
            return by_ref[key]
        try:
            k = int(key)
        except (TypeError, ValueError):
            return None
        return k if k in table else None

    def skill_label(self, code: int) -> str:
        return self.skill_labels.get(int(code), f"compétence {code}")

    def token_label(self, token: Any) -> str:
        """French label of a token (skill, licence or certification)."""
        if token == LICENCE:
            return "permis de conduire B"
        if is_certification_token(token):
            title = self.certification_titles.get(token)
            return f"certification {token}" + (f" ({title})" if title else "")
        return f"« {self.skill_label(token)} »"

    def distance_km(self, insee_a: str, insee_b: str) -> float | None:
        """Estimated road distance, or ``None`` when a commune is unknown (or no referential)."""
        ref = self.referential
        if ref is None:
            return None
        idx = ref.commune_index
        if insee_a not in idx or insee_b not in idx:
            return None
        return float(ref.distance_matrix_km[idx[insee_a], idx[insee_b]])

    def earliest_start(self, person: PersonInfo) -> date:
        """First day a session may start for this person: on/after availability, after today."""
        return max(person.availability_date, self.today + timedelta(days=1))

    # Construction ----------------------------------------------------------------------------
    @classmethod
    def from_snapshot(cls, snapshot, referential=None) -> PlanningData:
        """Index a snapshot for planning.

        Parameters
        ----------
        snapshot : matching.store.snapshot.Snapshot
        referential : matching.taxonomy.referential.Referential, optional
            Gives skill labels, occupations' core skills (experience-implied skills),
            certification titles and levels, and commune distances. Without it those are
            absent (codes as labels, no experience-implied skills, no commute check).
        """
        today = snapshot.as_of
        skill_labels: dict[int, str] = {}
        cert_titles: dict[str, str] = {}
        cert_levels: dict[str, int] = {}
        if referential is not None:
            skill_labels = referential.skill_labels
            certs = referential.table("certifications")
            cert_titles = dict(zip(certs["code_rncp"], certs["title"], strict=True))
            cert_levels = {
                k: int(v) for k, v in zip(certs["code_rncp"], certs["level"], strict=True)
            }

        people = _people(snapshot, referential)
        needs = _needs(snapshot)
        courses, sessions = _courses(snapshot, cert_levels)
        return cls(
            today=today,
            people=people,
            needs=needs,
            courses=courses,
            sessions=sessions,
            skill_labels=skill_labels,
            certification_titles=cert_titles,
            referential=referential,
        )


def _people(snapshot, referential) -> dict[int, PersonInfo]:
    held: dict[int, dict[int, int]] = defaultdict(dict)
    js = snapshot.jobseeker_skills
    if len(js):
        for jid, code, level in zip(
            js["jobseeker_id"].astype(int),
            js["skill_code"].astype(int),
            js["level"].astype(int),
            strict=True,
        ):
            d = held[jid]
            d[code] = max(d.get(code, 0), level)
    exp = snapshot.experiences
    if referential is not None and len(exp):
        months = exp.groupby(["jobseeker_id", "code_rome"], sort=True)["months"].sum()
        months = months[months >= EXPERIENCE_MONTHS_FOR_SKILL]
        core_cache: dict[str, list[int]] = {}
        for (jid, rome), _m in months.items():
            core = core_cache.get(rome)
            if core is None:
                core = core_cache[rome] = referential.occupation_skill_codes(rome, core_only=True)
            d = held[int(jid)]
            for code in core:
                if d.get(code, 0) < EXPERIENCE_SKILL_LEVEL:
                    d[code] = EXPERIENCE_SKILL_LEVEL
    certs: dict[int, set[str]] = defaultdict(set)
    cert_table = getattr(snapshot, "certifications", None)
    if cert_table is not None and len(cert_table):
        for jid, code in zip(cert_table["jobseeker_id"], cert_table["code_rncp"], strict=True):
            certs[int(jid)].add(str(code))
    people = {}
    j = snapshot.jobseekers
    for row in j.itertuples(index=False):
        pid = int(row.id)
        people[pid] = PersonInfo(
            id=pid,
            ref=str(row.ref),
            qualification_level=_opt_int(row.qualification_level),
            driving_licence=bool(row.driving_licence),
            availability_date=_as_date(row.availability_date),
            home_commune=str(row.home_commune_insee),
            max_commute_km=float(row.max_commute_km),
            status=str(row.status),
            skills=MappingProxyType(held.get(pid, {})),
            certifications=frozenset(certs.get(pid, ())),
        )
    return people


def _needs(snapshot) -> dict[int, NeedInfo]:
    ess: dict[int, dict[int, int]] = defaultdict(dict)
    opt: dict[int, dict[int, int]] = defaultdict(dict)
    ns = snapshot.need_skills
    if len(ns):
        for nid, code, essential, level in zip(
            ns["need_id"].astype(int),
            ns["skill_code"].astype(int),
            ns["essential"].astype(bool),
            ns["level"].astype(int),
            strict=True,
        ):
            (ess if essential else opt)[nid][code] = level
    needs = {}
    for row in snapshot.needs.itertuples(index=False):
        nid = int(row.id)
        needs[nid] = NeedInfo(
            id=nid,
            ref=str(row.ref),
            title=str(row.title_typed),
            code_rome=str(row.code_rome),
            positions=int(row.positions),
            hiring_date=_as_date(row.hiring_date),
            commune=str(row.commune_insee),
            sector=str(getattr(row, "employer_sector", "") or ""),
            status=str(row.status),
            driving_licence_required=bool(row.driving_licence_required),
            min_qualification_level=_opt_int(row.min_qualification_level),
            required_certification=_opt_str(row.required_certification),
            essential=MappingProxyType(ess.get(nid, {})),
            optional=MappingProxyType(opt.get(nid, {})),
        )
    return needs


def _courses(snapshot, cert_levels) -> tuple[dict[int, CourseInfo], dict[int, SessionInfo]]:
    taught: dict[int, set] = defaultdict(set)
    prereq: dict[int, set[int]] = defaultdict(set)
    cs = snapshot.course_skills
    if len(cs):
        for cid, code, role in zip(
            cs["course_id"].astype(int), cs["skill_code"].astype(int), cs["role"], strict=True
        ):
            (taught if role == "taught" else prereq)[cid].add(code)
    sessions: dict[int, SessionInfo] = {}
    by_course: dict[int, list[SessionInfo]] = defaultdict(list)
    for row in snapshot.sessions.itertuples(index=False):
        s = SessionInfo(
            id=int(row.id),
            ref=str(row.ref),
            course_id=int(row.course_id),
            start=_as_date(row.start_date),
            end=_as_date(row.end_date),
            seats=int(row.seats),
            seats_taken=int(row.seats_taken),
        )
        sessions[s.id] = s
        by_course[s.course_id].append(s)
    courses = {}
    for row in snapshot.courses.itertuples(index=False):
        cid = int(row.id)
        rncp = _opt_str(row.code_rncp)
        teaches = set(taught.get(cid, ()))
        if bool(row.grants_driving_licence):
            teaches.add(LICENCE)
        if rncp:
            teaches.add(rncp)
        own = by_course.get(cid, [])
        hours = float(row.hours)
        if own:
            typical_seats = int(np.median([s.seats for s in own]))
            typical_days = int(np.median([s.days for s in own]))
        else:
            # 35 hours of training per week when the course has never been scheduled.
            typical_seats = DEFAULT_SEATS
            typical_days = max(int(np.ceil(hours / 35.0 * 7.0)), 1)
        courses[cid] = CourseInfo(
            id=cid,
            ref=str(row.ref),
            title=str(row.title),
            hours=hours,
            cost_eur=float(row.cost_eur or 0.0),
            teaches=frozenset(teaches),
            prerequisites=frozenset(prereq.get(cid, ())),
            min_qualification_level=_opt_int(row.min_qualification_level),
            grants_level=cert_levels.get(rncp) if rncp else None,
            code_rncp=rncp,
            typical_seats=max(typical_seats, 1),
            typical_days=max(typical_days, 1),
        )
    return courses, sessions

"""Create / read / update / list use cases of the business entities for the API and the pages:
employers, needs, jobseekers (profile without identity; identity read separately and audited),
courses and course sessions.

Writes go through :class:`matching.store.repository.Repository` (the same upserts as the
importer), so an entity created by the web form and one imported from a file are stored the same
way (priority-district flag derived from the address, child rows replaced exactly). Who may do
what is checked here with the :class:`~matching.services.accounts.Principal`: counsellors only
reach the jobseekers of their own caseload (``jobseekers.counsellor_id``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import selectinload

from matching.exceptions import NotFoundError, PermissionDeniedError, ValidationError
from matching.services import audit
from matching.services.accounts import Principal
from matching.store import models as m
from matching.store.db import session_factory, session_scope
from matching.store.repository import (
    ExperienceSpec,
    NeedSkillSpec,
    PersonSkillSpec,
    Repository,
)


class AlreadyExistsError(ValidationError):
    """Creating an entity whose reference is already taken."""


@dataclass(frozen=True)
class Page:
    total: int
    items: list


# --- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SkillRef:
    code: int
    label: str


@dataclass(frozen=True)
class NeedSkillOut:
    code: int
    label: str
    essential: bool
    level: int


@dataclass(frozen=True)
class EmployerOut:
    ref: str
    name: str
    siret: str | None
    naf_code: str
    sector: str
    commune_insee: str
    open_needs: int = 0


@dataclass(frozen=True)
class NeedOut:
    id: int
    ref: str
    title: str
    code_rome: str
    occupation_label: str
    employer_ref: str
    employer_name: str
    positions: int
    hiring_date: date
    contract_type: str
    hours_per_week: float
    commune_insee: str
    driving_licence_required: bool
    min_qualification_level: int | None
    required_certification: str | None
    status: str
    description: str
    captured_by: str
    skills: list[NeedSkillOut] = field(default_factory=list)


@dataclass(frozen=True)
class PersonSkillOut:
    code: int
    label: str
    level: int
    source: str


@dataclass(frozen=True)
class ExperienceOut:
    code_rome: str
    label: str
    months: int
    ended_on: date | None


@dataclass(frozen=True)
class JobseekerOut:
    id: int
    ref: str
    qualification_level: int | None
    driving_licence: bool
    has_vehicle: bool
    max_commute_km: float
    home_commune_insee: str
    availability_date: date
    unemployed_since: date | None
    desired_hours_per_week: float | None
    counsellor: str | None
    status: str
    skills: list[PersonSkillOut] = field(default_factory=list)
    experiences: list[ExperienceOut] = field(default_factory=list)
    programmes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class IdentityOut:
    ref: str
    first_name: str
    last_name: str
    address: str
    postcode: str
    phone: str
    email: str
    birth_date: date | None
    gender: str | None


@dataclass(frozen=True)
class CourseOut:
    ref: str
    provider_ref: str
    provider_name: str
    title: str
    code_rome: str | None
    code_rncp: str | None
    certification: str | None
    formacode: str | None
    hours: float
    cost_eur: float
    min_qualification_level: int | None
    grants_driving_licence: bool
    taught: list[SkillRef] = field(default_factory=list)
    prerequisites: list[SkillRef] = field(default_factory=list)


@dataclass(frozen=True)
class SessionOut:
    ref: str
    course_ref: str
    course_title: str
    start_date: date
    end_date: date
    seats: int
    seats_taken: int
    commune_insee: str
    funding: str


class Catalogue:
    """Use cases bound to one store and one referential (built once by the API lifespan)."""

    def __init__(self, store: Engine, referential: Any) -> None:
        self.store = store
        self.referential = referential
        self._sessions = session_factory(store)

    # -- helpers ----------------------------------------------------------------------------
    def _skill(self, code: int) -> str:
        return self.referential.skill_labels.get(int(code), f"compétence {code}")

    def _occupation(self, code: str | None) -> str:
        return self.referential.occupation_labels.get(code or "", code or "")

    def _check_codes(
        self,
        *,
        code_rome: str | None = None,
        skills: Sequence[int] = (),
        commune: str | None = None,
        where: str = "",
    ) -> None:
        problems = []
        if code_rome is not None and not self.referential.has_occupation(code_rome):
            problems.append(f"code ROME inconnu {code_rome!r}")
        bad = [c for c in skills if not self.referential.has_skill(int(c))]
        if bad:
            problems.append(f"compétence(s) inconnue(s) du référentiel : {bad}")
        if commune is not None and commune not in self.referential.commune_index:
            problems.append(f"commune INSEE inconnue {commune!r} (Amiens Métropole attendue)")
        if problems:
            raise ValidationError(f"{where} : " + " ; ".join(problems))

    @staticmethod
    def _page(session, stmt, *, limit: int, offset: int):
        total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        return int(total), session.execute(stmt.limit(limit).offset(offset)).scalars().all()

    # -- employers --------------------------------------------------------------------------
    def _employer_out(self, e: m.Employer, open_needs: int = 0) -> EmployerOut:
        return EmployerOut(
            e.ref, e.name, e.siret, e.naf_code, e.sector, e.commune_insee, open_needs
        )

    def list_employers(
        self, *, sector: str | None = None, search: str | None = None, limit=50, offset=0
    ) -> Page:
        stmt = select(m.Employer).order_by(m.Employer.name, m.Employer.id)
        if sector:
            stmt = stmt.where(m.Employer.sector == sector)
        if search:
            stmt = stmt.where(m.Employer.name.ilike(f"%{search}%"))
        with self._sessions() as s:
            total, rows = self._page(s, stmt, limit=limit, offset=offset)
            counts = dict(
                s.execute(
                    select(m.Need.employer_id, func.count())
                    .where(m.Need.status == "open", m.Need.employer_id.in_([e.id for e in rows]))
                    .group_by(m.Need.employer_id)
                ).all()
            )
            return Page(total, [self._employer_out(e, counts.get(e.id, 0)) for e in rows])

    def get_employer(self, ref: str) -> EmployerOut:
        with self._sessions() as s:
            e = s.execute(select(m.Employer).where(m.Employer.ref == ref)).scalar_one_or_none()
            if e is None:
                raise NotFoundError(f"employeur {ref!r} introuvable")
            n = s.execute(
                select(func.count()).where(m.Need.employer_id == e.id, m.Need.status == "open")
            ).scalar_one()
            return self._employer_out(e, int(n))

    def save_employer(self, ref: str, values: Mapping[str, Any], *, create: bool) -> EmployerOut:
        """Create (``create=True``, the ref must be free) or update an employer."""
        values = {k: v for k, v in values.items() if k != "ref"}
        if values.get("sector") is not None and values["sector"] not in m.SECTORS:
            raise ValidationError(
                f"employeur {ref} : secteur attendu parmi {', '.join(m.SECTORS)}, "
                f"reçu {values['sector']!r}"
            )
        self._check_codes(commune=values.get("commune_insee"), where=f"employeur {ref}")
        with session_scope(self.store) as s:
            repo = Repository(s, referential=self.referential)
            self._exists(repo, m.Employer, ref, create=create, label="employeur")
            repo.upsert_employer(ref, values)
        return self.get_employer(ref)

    @staticmethod
    def _exists(repo: Repository, model, ref: str, *, create: bool, label: str) -> None:
        found = repo.get(model, ref) is not None
        if create and found:
            raise AlreadyExistsError(f"{label} {ref!r} existe déjà (utilisez la modification)")
        if not create and not found:
            raise NotFoundError(f"{label} {ref!r} introuvable")

    # -- needs ------------------------------------------------------------------------------
    def _need_out(self, n: m.Need) -> NeedOut:
        return NeedOut(
            id=n.id,
            ref=n.ref,
            title=n.title_typed,
            code_rome=n.code_rome,
            occupation_label=self._occupation(n.code_rome),
            employer_ref=n.employer.ref,
            employer_name=n.employer.name,
            positions=n.positions,
            hiring_date=n.hiring_date,
            contract_type=n.contract_type,
            hours_per_week=n.hours_per_week,
            commune_insee=n.commune_insee,
            driving_licence_required=n.driving_licence_required,
            min_qualification_level=n.min_qualification_level,
            required_certification=n.required_certification,
            status=n.status,
            description=n.description or "",
            captured_by=n.captured_by or "",
            skills=[
                NeedSkillOut(k.skill_code, self._skill(k.skill_code), k.essential, k.level)
                for k in n.skills
            ],
        )

    def list_needs(
        self,
        *,
        status: str | None = None,
        employer: str | None = None,
        code_rome: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        stmt = (
            select(m.Need)
            .options(selectinload(m.Need.employer), selectinload(m.Need.skills))
            .order_by(m.Need.hiring_date, m.Need.id)
        )
        if status:
            stmt = stmt.where(m.Need.status == status)
        if code_rome:
            stmt = stmt.where(m.Need.code_rome == code_rome)
        if employer:
            stmt = stmt.join(m.Employer).where(m.Employer.ref == employer)
        with self._sessions() as s:
            total, rows = self._page(s, stmt, limit=limit, offset=offset)
            return Page(total, [self._need_out(n) for n in rows])

    def get_need(self, ref: str) -> NeedOut:
        with self._sessions() as s:
            n = s.execute(
                select(m.Need)
                .options(selectinload(m.Need.employer), selectinload(m.Need.skills))
                .where(m.Need.ref == ref)
            ).scalar_one_or_none()
            if n is None:
                raise NotFoundError(f"besoin {ref!r} introuvable")
            return self._need_out(n)

    def next_ref(self, model, prefix: str) -> str:
        """The next free ``<prefix>NNNN`` reference (web intake without a ref)."""
        with self._sessions() as s:
            refs = s.execute(select(model.ref).where(model.ref.like(f"{prefix}%"))).scalars()
            nums = [int(r[len(prefix) :]) for r in refs if r[len(prefix) :].isdigit()]
        return f"{prefix}{(max(nums, default=0) + 1):04d}"

    def save_need(
        self,
        ref: str | None,
        values: Mapping[str, Any],
        *,
        employer_ref: str | None,
        skills: Sequence[NeedSkillSpec] | None,
        by: Principal,
        create: bool,
    ) -> NeedOut:
        """Create or update a need. On creation without skills, the occupation's core skills of
        the referential become the need's essential skills (the desk can change them later)."""
        ref = ref or self.next_ref(m.Need, "BES")
        values = dict(values)
        for key in ("status", "contract_type"):
            allowed = m.NEED_STATUSES if key == "status" else m.CONTRACT_TYPES
            if values.get(key) is not None and values[key] not in allowed:
                raise ValidationError(
                    f"besoin {ref} : {key} attendu parmi {', '.join(allowed)}, reçu {values[key]!r}"
                )
        self._check_codes(
            code_rome=values.get("code_rome"),
            skills=[k.code for k in skills or ()],
            commune=values.get("commune_insee"),
            where=f"besoin {ref}",
        )
        if create:
            if employer_ref is None:
                raise ValidationError(f"besoin {ref} : employeur attendu")
            values.setdefault("captured_by", by.username)
            values.setdefault("status", "open")
            if not skills and values.get("code_rome"):
                codes = self.referential.occupation_skill_codes(values["code_rome"], core_only=True)
                skills = [NeedSkillSpec(code=c) for c in sorted({int(c) for c in codes})]
        with session_scope(self.store) as s:
            repo = Repository(s, referential=self.referential)
            self._exists(repo, m.Need, ref, create=create, label="besoin")
            repo.upsert_need(ref, values, employer_ref=employer_ref, skills=skills)
        return self.get_need(ref)

    # -- jobseekers -------------------------------------------------------------------------
    def _js_query(self):
        return select(m.Jobseeker).options(
            selectinload(m.Jobseeker.skills),
            selectinload(m.Jobseeker.experiences),
            selectinload(m.Jobseeker.programmes),
        )

    def _js_out(self, j: m.Jobseeker, counsellors: Mapping[int, str]) -> JobseekerOut:
        return JobseekerOut(
            id=j.id,
            ref=j.ref,
            qualification_level=j.qualification_level,
            driving_licence=j.driving_licence,
            has_vehicle=j.has_vehicle,
            max_commute_km=j.max_commute_km,
            home_commune_insee=j.home_commune_insee,
            availability_date=j.availability_date,
            unemployed_since=j.unemployed_since,
            desired_hours_per_week=j.desired_hours_per_week,
            counsellor=counsellors.get(j.counsellor_id) if j.counsellor_id else None,
            status=j.status,
            skills=[
                PersonSkillOut(k.skill_code, self._skill(k.skill_code), k.level, k.source)
                for k in j.skills
            ],
            experiences=[
                ExperienceOut(e.code_rome, self._occupation(e.code_rome), e.months, e.ended_on)
                for e in j.experiences
            ],
            programmes=sorted(p.programme for p in j.programmes),
        )

    def _counsellors(self, s) -> dict[int, str]:
        return dict(s.execute(select(m.User.id, m.User.username)).all())

    def may_read_person(self, who: Principal, counsellor_id: int | None) -> bool:
        """Admins read everyone; counsellors their own caseload; the desk nobody."""
        return who.role == "admin" or (who.role == "counsellor" and counsellor_id == who.id)

    def _owned(self, s, who: Principal, ref: str) -> m.Jobseeker:
        j = s.execute(self._js_query().where(m.Jobseeker.ref == ref)).scalar_one_or_none()
        if j is None:
            raise NotFoundError(f"demandeur {ref!r} introuvable")
        if not self.may_read_person(who, j.counsellor_id):
            raise PermissionDeniedError(
                f"le demandeur {ref} n'est pas suivi par le compte {who.username!r}"
            )
        return j

    def check_caseload(self, who: Principal, ref: str) -> int:
        """Id of jobseeker ``ref`` if ``who`` may read them, else PermissionDeniedError."""
        with self._sessions() as s:
            return self._owned(s, who, ref).id

    def list_jobseekers(
        self,
        who: Principal,
        *,
        status: str | None = None,
        commune: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        stmt = self._js_query().order_by(m.Jobseeker.ref)
        if who.role == "counsellor":
            stmt = stmt.where(m.Jobseeker.counsellor_id == who.id)
        elif who.role != "admin":
            raise PermissionDeniedError("liste des demandeurs réservée aux conseiller·ères")
        if status:
            stmt = stmt.where(m.Jobseeker.status == status)
        if commune:
            stmt = stmt.where(m.Jobseeker.home_commune_insee == commune)
        with self._sessions() as s:
            total, rows = self._page(s, stmt, limit=limit, offset=offset)
            names = self._counsellors(s)
            return Page(total, [self._js_out(j, names) for j in rows])

    def get_jobseeker(self, who: Principal, ref: str) -> JobseekerOut:
        with self._sessions() as s:
            return self._js_out(self._owned(s, who, ref), self._counsellors(s))

    def read_identity(self, who: Principal, ref: str, *, reason_code: str | None) -> IdentityOut:
        """The identity of a person of ``who``'s caseload; the read is written to the audit log
        with the reason code given by the reader."""
        reason = audit.check_reason(reason_code)
        with self._sessions() as s:
            j = self._owned(s, who, ref)
            i = s.get(m.JobseekerIdentity, j.id)
        audit.record(
            self.store,
            username=who.username,
            action="lecture_identite",
            entity_refs=[ref],
            reason_code=reason,
            detail="consultation de l'identité",
        )
        if i is None:
            return IdentityOut(ref, "", "", "", "", "", "", None, None)
        return IdentityOut(
            ref, i.first_name, i.last_name, i.address, i.postcode, i.phone, i.email,
            i.birth_date, i.gender,
        )  # fmt: skip

    def save_jobseeker(
        self,
        who: Principal,
        ref: str | None,
        values: Mapping[str, Any],
        *,
        identity: Mapping[str, Any] | None,
        counsellor: str | None,
        skills: Sequence[PersonSkillSpec] | None,
        experiences: Sequence[ExperienceSpec] | None,
        programmes: Sequence[str] | None,
        create: bool,
    ) -> JobseekerOut:
        """Create or update a profile. A counsellor creates in (and keeps to) their caseload."""
        ref = ref or self.next_ref(m.Jobseeker, "DE")
        if who.role == "counsellor":
            if counsellor not in (None, who.username):
                raise PermissionDeniedError(
                    "un·e conseiller·ère ne peut pas confier un demandeur à un autre compte"
                )
            counsellor = who.username if create else None
            if not create:
                self.check_caseload(who, ref)
        elif who.role != "admin":
            raise PermissionDeniedError("saisie des demandeurs réservée aux conseiller·ères")
        self._check_codes(
            skills=[k.code for k in skills or ()],
            commune=values.get("home_commune_insee"),
            where=f"demandeur {ref}",
        )
        for e in experiences or ():
            self._check_codes(code_rome=e.code_rome, where=f"demandeur {ref}, expérience")
        with session_scope(self.store) as s:
            repo = Repository(s, referential=self.referential)
            self._exists(repo, m.Jobseeker, ref, create=create, label="demandeur")
            repo.upsert_jobseeker(
                ref,
                values,
                identity=identity,
                counsellor=counsellor,
                skills=skills,
                experiences=experiences,
                programmes=programmes,
            )
        if identity:
            audit.record(
                self.store,
                username=who.username,
                action="saisie_identite",
                entity_refs=[ref],
                reason_code="suivi",
                detail="création" if create else "modification",
            )
        with self._sessions() as s:
            j = s.execute(self._js_query().where(m.Jobseeker.ref == ref)).scalar_one()
            return self._js_out(j, self._counsellors(s))

    # -- courses and sessions ---------------------------------------------------------------
    def _course_out(self, c: m.Course) -> CourseOut:
        def role(r):
            return [
                SkillRef(k.skill_code, self._skill(k.skill_code)) for k in c.skills if k.role == r
            ]

        return CourseOut(
            c.ref, c.provider.ref, c.provider.name, c.title, c.code_rome, c.code_rncp,
            c.certification, c.formacode, c.hours, c.cost_eur, c.min_qualification_level,
            c.grants_driving_licence, role("taught"), role("prerequisite"),
        )  # fmt: skip

    def _course_query(self):
        return select(m.Course).options(
            selectinload(m.Course.provider), selectinload(m.Course.skills)
        )

    def list_courses(
        self, *, code_rome: str | None = None, search: str | None = None, limit=50, offset=0
    ) -> Page:
        stmt = self._course_query().order_by(m.Course.ref)
        if code_rome:
            stmt = stmt.where(m.Course.code_rome == code_rome)
        if search:
            stmt = stmt.where(m.Course.title.ilike(f"%{search}%"))
        with self._sessions() as s:
            total, rows = self._page(s, stmt, limit=limit, offset=offset)
            return Page(total, [self._course_out(c) for c in rows])

    def get_course(self, ref: str) -> CourseOut:
        with self._sessions() as s:
            c = s.execute(self._course_query().where(m.Course.ref == ref)).scalar_one_or_none()
            if c is None:
                raise NotFoundError(f"formation {ref!r} introuvable")
            return self._course_out(c)

    def save_course(
        self,
        ref: str,
        values: Mapping[str, Any],
        *,
        provider_ref: str | None,
        taught: Sequence[int] | None,
        prerequisites: Sequence[int] | None,
        create: bool,
    ) -> CourseOut:
        self._check_codes(
            code_rome=values.get("code_rome"),
            skills=[*(taught or ()), *(prerequisites or ())],
            where=f"formation {ref}",
        )
        if create and provider_ref is None:
            raise ValidationError(f"formation {ref} : organisme attendu")
        with session_scope(self.store) as s:
            repo = Repository(s, referential=self.referential)
            self._exists(repo, m.Course, ref, create=create, label="formation")
            if provider_ref is not None and repo.get(m.Provider, provider_ref) is None:
                repo.upsert_provider(provider_ref, {"name": provider_ref})
            repo.upsert_course(
                ref, values, provider_ref=provider_ref, taught=taught, prerequisites=prerequisites
            )
        return self.get_course(ref)

    def _session_out(self, x: m.CourseSession) -> SessionOut:
        return SessionOut(
            x.ref, x.course.ref, x.course.title, x.start_date, x.end_date, x.seats,
            x.seats_taken, x.commune_insee, x.funding or "",
        )  # fmt: skip

    def list_sessions(
        self,
        *,
        course: str | None = None,
        starting_after: date | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        stmt = (
            select(m.CourseSession)
            .options(selectinload(m.CourseSession.course))
            .order_by(m.CourseSession.start_date, m.CourseSession.id)
        )
        if course:
            stmt = stmt.join(m.Course).where(m.Course.ref == course)
        if starting_after:
            stmt = stmt.where(m.CourseSession.start_date >= starting_after)
        with self._sessions() as s:
            total, rows = self._page(s, stmt, limit=limit, offset=offset)
            return Page(total, [self._session_out(x) for x in rows])

    def get_session(self, ref: str) -> SessionOut:
        with self._sessions() as s:
            x = s.execute(
                select(m.CourseSession)
                .options(selectinload(m.CourseSession.course))
                .where(m.CourseSession.ref == ref)
            ).scalar_one_or_none()
            if x is None:
                raise NotFoundError(f"session {ref!r} introuvable")
            return self._session_out(x)

    def save_session(
        self, ref: str, values: Mapping[str, Any], *, course_ref: str | None, create: bool
    ) -> SessionOut:
        self._check_codes(commune=values.get("commune_insee"), where=f"session {ref}")
        start, end = values.get("start_date"), values.get("end_date")
        if start and end and end < start:
            raise ValidationError(f"session {ref} : fin ({end}) avant le début ({start})")
        if create and course_ref is None:
            raise ValidationError(f"session {ref} : formation attendue")
        with session_scope(self.store) as s:
            repo = Repository(s, referential=self.referential)
            self._exists(repo, m.CourseSession, ref, create=create, label="session")
            repo.upsert_session(ref, values, course_ref=course_ref)
        return self.get_session(ref)

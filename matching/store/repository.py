"""Writes of business entities by natural key: the importer, the demo and the API use these.

Every ``upsert_*`` method of :class:`Repository` finds the entity by its natural key (``ref``;
outcomes by jobseeker, need, event and date; priority streets by commune and street key), creates
it when absent, otherwise changes only the values that differ, and returns the entity with a
status ``"created"``, ``"updated"`` or ``"unchanged"``. Writing the same values twice therefore
changes nothing (idempotent imports).

Conventions shared by the methods:

* ``values`` holds model attribute names (English, as in :mod:`matching.store.models`); an
  attribute absent from ``values`` keeps its stored value (a create uses the model default);
* a child collection (skills, experiences, programmes, course skills) given as a list replaces
  the stored rows exactly; ``None`` leaves them untouched;
* the jobseeker's ``priority_district`` flag is never taken from the caller: it is derived from
  the identity address (:func:`matching.store.geo.resolve_priority_district`, streets of the
  ``priority_streets`` table then district names of the referential), and the home commune must
  be one of the referential's communes.

The methods never commit: the caller owns the transaction (one transaction per imported file).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, Literal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from matching.exceptions import NotFoundError, ValidationError
from matching.store import models as m
from matching.store.db import session_scope
from matching.store.geo import resolve_priority_district, street_key

Status = Literal["created", "updated", "unchanged"]
_CHUNK = 500
_POSTCODE = re.compile(r"\b(\d{5})\b")


@dataclass(frozen=True)
class NeedSkillSpec:
    code: int
    essential: bool = True
    level: int = 2


@dataclass(frozen=True)
class PersonSkillSpec:
    code: int
    level: int = 2
    source: str = "declared"


@dataclass(frozen=True)
class ExperienceSpec:
    code_rome: str
    months: int
    ended_on: date | None = None


def _merge(a: Status, changed: bool) -> Status:
    return "updated" if changed and a == "unchanged" else a


def _assign(obj: Any, values: Mapping[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def _check_keys(model: Any, values: Mapping[str, Any], forbidden: Iterable[str] = ()) -> None:
    columns = set(model.__table__.columns.keys()) - {"id", "ref", "created_at", "updated_at"}
    columns -= set(forbidden)
    unknown = sorted(set(values) - columns)
    if unknown:
        raise ValidationError(
            f"{model.__tablename__} : attribut(s) inconnu(s) ou interdit(s) {unknown} "
            f"(attendus parmi {sorted(columns)})"
        )


class Repository:
    """Upserts by natural key inside one session (the caller commits or rolls back).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; nothing is committed here.
    referential : Referential
        Needed for jobseekers (commune check and priority-district names).

    Examples
    --------
    >>> with session_scope(engine) as s:  # doctest: +SKIP
    ...     repo = Repository(s, referential=ref)
    ...     employer, status = repo.upsert_employer("EMP-1", {"name": "Acme", ...})
    """

    def __init__(self, session: Session, *, referential: Any = None) -> None:
        self.session = session
        self.referential = referential
        self._cache: dict[type, dict[str, Any]] = {}
        self._complete: set[type] = set()
        self._streets: dict[tuple[str, str], str] | None = None
        self._district_names: dict[str, list[str]] | None = None

    # -- lookups ---------------------------------------------------------------------------------
    _CHILDREN: ClassVar[dict[type, tuple]] = {
        m.Need: (m.Need.skills,),
        m.Jobseeker: (
            m.Jobseeker.identity,
            m.Jobseeker.skills,
            m.Jobseeker.experiences,
            m.Jobseeker.programmes,
        ),
        m.Course: (m.Course.skills,),
    }

    def prefetch(self, model: Any, refs: Iterable[str]) -> None:
        """Load the entities of these refs (and their children) in a few queries."""
        cache = self._cache.setdefault(model, {})
        wanted = sorted({r for r in refs if r not in cache})
        options = [selectinload(rel) for rel in self._CHILDREN.get(model, ())]
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            stmt = select(model).where(model.ref.in_(chunk)).options(*options)
            found = {obj.ref: obj for obj in self.session.execute(stmt).scalars()}
            for ref in chunk:
                cache[ref] = found.get(ref)

    def get(self, model: Any, ref: str) -> Any | None:
        """The entity of ``model`` with this ``ref``, or ``None``."""
        cache = self._cache.setdefault(model, {})
        if ref not in cache:
            self.prefetch(model, [ref])
        return cache[ref]

    def id_of(self, model: Any, ref: str, *, label: str) -> int:
        obj = self.get(model, ref)
        if obj is None:
            raise NotFoundError(f"{label} inconnu(e) : référence '{ref}'")
        if obj.id is None:
            self.session.flush()
        return obj.id

    def _upsert(self, model: Any, ref: str, values: Mapping[str, Any]) -> tuple[Any, Status]:
        obj = self.get(model, ref)
        if obj is None:
            obj = model(ref=ref, **values)
            self.session.add(obj)
            self._cache[model][ref] = obj
            return obj, "created"
        return obj, "updated" if _assign(obj, values) else "unchanged"

    @staticmethod
    def _sync(current: list, wanted: Sequence, key, make, update=None) -> bool:
        """Make ``current`` hold exactly ``wanted`` (by key), editing rows in place."""
        by_key = {key(c): c for c in current}
        wanted_keys = [key(w) for w in wanted]
        if len(set(wanted_keys)) != len(wanted_keys):
            raise ValidationError(f"élément présent deux fois : {wanted_keys}")
        changed = False
        for c in list(current):
            if key(c) not in set(wanted_keys):
                current.remove(c)
                changed = True
        for w, k in zip(wanted, wanted_keys, strict=True):
            if k in by_key:
                if update is not None:
                    changed |= _assign(by_key[k], update(w))
            else:
                current.append(make(w))
                changed = True
        return changed

    # -- employers, needs ------------------------------------------------------------------------
    def upsert_employer(self, ref: str, values: Mapping[str, Any]) -> tuple[m.Employer, Status]:
        """``values``: name, siret, naf_code, sector, commune_insee."""
        _check_keys(m.Employer, values)
        return self._upsert(m.Employer, ref, values)

    def upsert_need(
        self,
        ref: str,
        values: Mapping[str, Any],
        *,
        employer_ref: str | None = None,
        skills: Sequence[NeedSkillSpec] | None = None,
    ) -> tuple[m.Need, Status]:
        """``values``: code_rome, title_typed, positions, hiring_date, contract_type...;
        ``employer_ref`` names the employer by its natural key; ``skills`` replaces the need's
        skills exactly."""
        _check_keys(m.Need, values, forbidden=("employer_id", "captured_at"))
        values = dict(values)
        if employer_ref is not None:
            values["employer_id"] = self.id_of(m.Employer, employer_ref, label="employeur")
        need, status = self._upsert(m.Need, ref, values)
        if skills is not None:
            changed = self._sync(
                need.skills,
                sorted(skills, key=lambda s: s.code),
                key=lambda x: x.skill_code if isinstance(x, m.NeedSkill) else x.code,
                make=lambda s: m.NeedSkill(skill_code=s.code, essential=s.essential, level=s.level),
                update=lambda s: {"essential": s.essential, "level": s.level},
            )
            status = _merge(status, changed)
        return need, status

    # -- jobseekers ------------------------------------------------------------------------------
    def _priority_inputs(self) -> tuple[dict, dict]:
        if self._streets is None:
            rows = self.session.execute(
                select(
                    m.PriorityStreet.commune_insee,
                    m.PriorityStreet.street_key,
                    m.PriorityStreet.district,
                )
            ).all()
            self._streets = {(c, k): d for c, k, d in rows}
        if self._district_names is None:
            names: dict[str, list[str]] = {}
            if self.referential is not None:
                table = self.referential.table("priority_districts")
                for commune, name in zip(table["code_insee"], table["name"], strict=True):
                    names.setdefault(str(commune), []).append(name)
            self._district_names = names
        return self._streets, self._district_names

    def priority_district_of(self, address: str, commune_insee: str) -> str | None:
        """Name of the priority district of this address (see :mod:`matching.store.geo`)."""
        streets, names = self._priority_inputs()
        return resolve_priority_district(
            address or "", commune_insee, streets=streets, district_names=names
        )

    def upsert_jobseeker(
        self,
        ref: str,
        values: Mapping[str, Any],
        *,
        identity: Mapping[str, Any] | None = None,
        counsellor: str | None = None,
        skills: Sequence[PersonSkillSpec] | None = None,
        experiences: Sequence[ExperienceSpec] | None = None,
        programmes: Sequence[str] | None = None,
    ) -> tuple[m.Jobseeker, Status]:
        """Profile ``values`` (never ``priority_district``: derived), ``identity`` columns
        (first_name, last_name, address, phone, email, birth_date, gender; the postcode is read
        from the address), counsellor login ("" for none), child lists replacing the stored ones.
        """
        if self.referential is None:
            raise ValidationError("upsert_jobseeker : le référentiel est nécessaire")
        _check_keys(m.Jobseeker, values, forbidden=("priority_district", "counsellor_id"))
        values = dict(values)
        commune = values.get("home_commune_insee")
        if commune is not None and commune not in self.referential.commune_index:
            raise ValidationError(
                f"demandeur {ref} : commune inconnue '{commune}' "
                "(une des communes d'Amiens Métropole attendue)"
            )
        if counsellor is not None:
            values["counsellor_id"] = (
                self.session.execute(
                    select(m.User.id).where(m.User.username == counsellor)
                ).scalar_one_or_none()
                if counsellor
                else None
            )
            if counsellor and values["counsellor_id"] is None:
                raise NotFoundError(f"compte conseiller inconnu '{counsellor}'")
        js, status = self._upsert(m.Jobseeker, ref, values)
        if identity is not None:
            ident = dict(identity)
            _check_keys(m.JobseekerIdentity, ident, forbidden=("jobseeker_id", "postcode"))
            if "address" in ident:
                found = _POSTCODE.search(ident["address"] or "")
                ident["postcode"] = found.group(1) if found else ""
            if js.identity is None:
                js.identity = m.JobseekerIdentity(**ident)
                status = _merge(status, True)
            else:
                status = _merge(status, _assign(js.identity, ident))
        address = js.identity.address if js.identity is not None else ""
        flag = self.priority_district_of(address, js.home_commune_insee) is not None
        if js.priority_district != flag:
            js.priority_district = flag
            status = _merge(status, True)
        if skills is not None:
            status = _merge(
                status,
                self._sync(
                    js.skills,
                    sorted(skills, key=lambda s: s.code),
                    key=lambda x: x.skill_code if isinstance(x, m.JobseekerSkill) else x.code,
                    make=lambda s: m.JobseekerSkill(
                        skill_code=s.code, level=s.level, source=s.source
                    ),
                    update=lambda s: {"level": s.level, "source": s.source},
                ),
            )
        if experiences is not None:
            have = [(e.code_rome, e.months, e.ended_on) for e in js.experiences]
            want = [(e.code_rome, e.months, e.ended_on) for e in experiences]
            if have != want:
                js.experiences.clear()
                js.experiences.extend(
                    m.JobseekerExperience(code_rome=c, months=n, ended_on=d) for c, n, d in want
                )
                status = _merge(status, True)
        if programmes is not None:
            status = _merge(
                status,
                self._sync(
                    js.programmes,
                    sorted(set(programmes)),
                    key=lambda x: x.programme if isinstance(x, m.JobseekerProgramme) else x,
                    make=lambda p: m.JobseekerProgramme(programme=p),
                ),
            )
        return js, status

    # -- training --------------------------------------------------------------------------------
    def upsert_provider(self, ref: str, values: Mapping[str, Any]) -> tuple[m.Provider, Status]:
        _check_keys(m.Provider, values)
        return self._upsert(m.Provider, ref, values)

    def upsert_course(
        self,
        ref: str,
        values: Mapping[str, Any],
        *,
        provider_ref: str | None = None,
        taught: Sequence[int] | None = None,
        prerequisites: Sequence[int] | None = None,
    ) -> tuple[m.Course, Status]:
        """``taught`` / ``prerequisites`` skill codes replace the stored ones (each list given
        replaces the skills of that role only)."""
        _check_keys(m.Course, values, forbidden=("provider_id",))
        values = dict(values)
        if provider_ref is not None:
            values["provider_id"] = self.id_of(m.Provider, provider_ref, label="organisme")
        course, status = self._upsert(m.Course, ref, values)
        for role, codes in (("taught", taught), ("prerequisite", prerequisites)):
            if codes is None:
                continue
            wanted = sorted(set(codes))
            have = sorted(s.skill_code for s in course.skills if s.role == role)
            if have == wanted:
                continue
            for s in [s for s in course.skills if s.role == role and s.skill_code not in wanted]:
                course.skills.remove(s)
            for code in sorted(set(wanted) - set(have)):
                course.skills.append(m.CourseSkill(skill_code=code, role=role))
            status = _merge(status, True)
        return course, status

    def upsert_session(
        self, ref: str, values: Mapping[str, Any], *, course_ref: str | None = None
    ) -> tuple[m.CourseSession, Status]:
        _check_keys(m.CourseSession, values, forbidden=("course_id",))
        values = dict(values)
        if course_ref is not None:
            values["course_id"] = self.id_of(m.Course, course_ref, label="formation")
        return self._upsert(m.CourseSession, ref, values)

    # -- outcomes --------------------------------------------------------------------------------
    def upsert_outcome(
        self,
        *,
        jobseeker_ref: str,
        need_ref: str,
        event: str,
        event_date: date,
        by_user: str = "",
    ) -> tuple[m.Outcome, Status]:
        """Natural key (jobseeker, need, event, date); ``by_user`` is the only mutable value."""
        if event not in m.OUTCOME_EVENTS:
            raise ValidationError(
                f"événement invalide '{event}' (attendu : {', '.join(m.OUTCOME_EVENTS)})"
            )
        js = self.id_of(m.Jobseeker, jobseeker_ref, label="demandeur")
        need = self.id_of(m.Need, need_ref, label="besoin")
        found = self.session.execute(
            select(m.Outcome).where(
                m.Outcome.jobseeker_id == js,
                m.Outcome.need_id == need,
                m.Outcome.event == event,
                m.Outcome.event_date == event_date,
            )
        ).scalar_one_or_none()
        if found is None:
            found = m.Outcome(
                jobseeker_id=js, need_id=need, event=event, event_date=event_date, by_user=by_user
            )
            self.session.add(found)
            return found, "created"
        return found, "updated" if _assign(found, {"by_user": by_user}) else "unchanged"

    # -- priority streets ------------------------------------------------------------------------
    def upsert_priority_street(
        self, *, commune_insee: str, street: str, district: str
    ) -> tuple[m.PriorityStreet, Status]:
        """Key (commune, :func:`~matching.store.geo.street_key` of ``street``)."""
        key = street_key(street)
        if not key:
            raise ValidationError(f"rue vide après normalisation : '{street}'")
        obj = self.session.get(m.PriorityStreet, (commune_insee, key))
        self._streets = None  # the derivation must see the new street
        if obj is None:
            obj = m.PriorityStreet(
                commune_insee=commune_insee, street_key=key, street=street, district=district
            )
            self.session.add(obj)
            return obj, "created"
        changed = _assign(obj, {"street": street, "district": district})
        return obj, "updated" if changed else "unchanged"

    def refresh_priority_flags(self) -> int:
        """Re-derive every jobseeker's flag (after the street list changed); returns changes."""
        self.session.flush()
        changed = 0
        stmt = select(m.Jobseeker).options(selectinload(m.Jobseeker.identity))
        for js in self.session.execute(stmt).scalars():
            address = js.identity.address if js.identity is not None else ""
            flag = self.priority_district_of(address, js.home_commune_insee) is not None
            if js.priority_district != flag:
                js.priority_district = flag
                changed += 1
        return changed


def load_priority_streets(
    engine: Engine, rows: Iterable[Mapping[str, str]], *, referential: Any = None
) -> dict[str, int]:
    """Upsert ``(commune_insee, street, district)`` rows and re-derive the jobseekers' flags.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        Migrated store.
    rows : iterable of mappings
        Keys ``commune_insee``, ``street`` and ``district``.
    referential : Referential, optional
        For the district names used when no street matches.

    Returns
    -------
    dict
        Counts ``created``, ``updated``, ``unchanged`` and ``flags_changed``.
    """
    counts = {"created": 0, "updated": 0, "unchanged": 0, "flags_changed": 0}
    with session_scope(engine) as session:
        repo = Repository(session, referential=referential)
        for row in rows:
            _, status = repo.upsert_priority_street(
                commune_insee=str(row["commune_insee"]),
                street=str(row["street"]),
                district=str(row["district"]),
            )
            counts[status] += 1
        counts["flags_changed"] = repo.refresh_priority_flags()
    return counts

"""Skill gap between a jobseeker and an employer's need, and the hard constraints planning checks.

The gap lists what training must close before the hiring date:

* **essential skills missing**: ``need_skills`` rows with ``essential=True`` that the person does
  not hold at the required level. *Held* means recorded in ``jobseeker_skills`` (declared,
  validated or certified) or being a core skill of an occupation practised for at least 12 months
  (held at level 2); see :mod:`matching.planning.data`. Non-core skills of past occupations,
  which the ranking engine credits at a discount when it *scores*, do not close a gap: the gap
  decides who goes to training, so it only trusts what the person holds;
* **qualification**: ``need.min_qualification_level`` above the person's level (unknown level =
  no diploma recorded);
* **driving licence** when the need requires it and the person has none;
* **certification**: ``need.required_certification`` (an RNCP code) the person does not hold.

Constraints that training cannot change (availability after the hiring date, commute beyond the
person's maximum, profile not active) make a person *ineligible* instead; see
:func:`eligibility`.
"""

from __future__ import annotations

from dataclasses import dataclass

from matching.planning.data import LICENCE, NeedInfo, PersonInfo, PlanningData


@dataclass(frozen=True)
class MissingSkill:
    """An essential skill the person lacks (``held_level`` 0 when not held at all)."""

    code: int
    label: str
    required_level: int
    held_level: int


@dataclass(frozen=True)
class SkillGap:
    """What separates a jobseeker from a need. Empty when the person is ready now.

    Attributes
    ----------
    missing_skills : essential skills not held at the required level.
    qualification_required, qualification_held : levels (3 = CAP ... 8 = doctorat); the gap
        exists when the required level is above the held one (``None`` held = no diploma known).
    licence_missing : the need requires a driving licence the person does not hold.
    certification_missing : RNCP code required and not held (``None`` otherwise).
    """

    jobseeker_id: int
    need_id: int
    missing_skills: tuple[MissingSkill, ...] = ()
    qualification_required: int | None = None
    qualification_held: int | None = None
    licence_missing: bool = False
    certification_missing: str | None = None
    certification_title: str | None = None

    @property
    def qualification_missing(self) -> bool:
        return (
            self.qualification_required is not None
            and (self.qualification_held or 0) < self.qualification_required
        )

    @property
    def is_empty(self) -> bool:
        return not (
            self.missing_skills
            or self.qualification_missing
            or self.licence_missing
            or self.certification_missing
        )

    @property
    def tokens(self) -> frozenset:
        """What training must give: skill codes, the licence token, the RNCP code."""
        toks: set = {m.code for m in self.missing_skills}
        if self.licence_missing:
            toks.add(LICENCE)
        if self.certification_missing:
            toks.add(self.certification_missing)
        return frozenset(toks)

    def describe(self) -> list[str]:
        """French lines describing the gap (empty list when ready)."""
        lines = [
            f"compétence essentielle manquante : « {m.label} » "
            f"(niveau {m.required_level} demandé, {m.held_level or 'non'} acquis)"
            for m in self.missing_skills
        ]
        if self.qualification_missing:
            held = self.qualification_held
            lines.append(
                f"niveau de qualification {self.qualification_required} demandé "
                f"(la personne : {held if held is not None else 'aucun diplôme connu'})"
            )
        if self.licence_missing:
            lines.append("permis de conduire B demandé, non détenu")
        if self.certification_missing:
            title = f" ({self.certification_title})" if self.certification_title else ""
            lines.append(f"certification {self.certification_missing}{title} exigée, non détenue")
        return lines

    def to_dict(self) -> dict:
        return {
            "jobseeker_id": self.jobseeker_id,
            "need_id": self.need_id,
            "missing_skills": [
                {
                    "code": m.code,
                    "label": m.label,
                    "required_level": m.required_level,
                    "held_level": m.held_level,
                }
                for m in self.missing_skills
            ],
            "qualification_required": self.qualification_required,
            "qualification_held": self.qualification_held,
            "qualification_missing": self.qualification_missing,
            "licence_missing": self.licence_missing,
            "certification_missing": self.certification_missing,
            "ready": self.is_empty,
            "description": self.describe(),
        }


def skill_gap(
    data: PlanningData, person: PersonInfo | int | str, need: NeedInfo | int | str
) -> SkillGap:
    """Compute the gap of one jobseeker for one need.

    Parameters
    ----------
    data : PlanningData
    person, need : the entities or their id / ref.

    Returns
    -------
    SkillGap

    Examples
    --------
    >>> from datetime import date
    >>> from matching.planning.data import PlanningData, PersonInfo, NeedInfo
    >>> from types import MappingProxyType as M
    >>> p = PersonInfo(1, "P1", 3, False, date(2025, 1, 1), "80021", 20.0, "active", M({10: 2}))
    >>> n = NeedInfo(7, "N7", "Agent", "D1408", 1, date(2025, 6, 1), "80021", "autre", "open",
    ...              True, None, None, M({10: 2, 11: 1}), M({}))
    >>> g = skill_gap(PlanningData(date(2025, 1, 1), {1: p}, {7: n}, {}, {}), 1, 7)
    >>> sorted(g.tokens, key=str)
    [11, 'permis B']
    """
    if not isinstance(person, PersonInfo):
        person = data.person(person)
    if not isinstance(need, NeedInfo):
        need = data.need(need)
    missing = []
    for code in sorted(need.essential):
        required = int(need.essential[code])
        held = int(person.skills.get(code, 0))
        if held < required:
            missing.append(MissingSkill(code, data.skill_label(code), required, held))
    cert = need.required_certification
    cert_missing = cert if cert and cert not in person.certifications else None
    return SkillGap(
        jobseeker_id=person.id,
        need_id=need.id,
        missing_skills=tuple(missing),
        qualification_required=need.min_qualification_level,
        qualification_held=person.qualification_level,
        licence_missing=bool(need.driving_licence_required and not person.driving_licence),
        certification_missing=cert_missing,
        certification_title=data.certification_titles.get(cert_missing) if cert_missing else None,
    )


def eligibility(data: PlanningData, person: PersonInfo, need: NeedInfo) -> list[str]:
    """Constraints training cannot change; returns the French reasons of ineligibility (empty = ok).

    Availability after the hiring date, commute beyond the person's maximum (estimated road
    distance between communes; not checked when a commune is unknown to the referential), and a
    profile that is not active.
    """
    reasons = []
    if person.status != "active":
        reasons.append(f"profil non actif ({person.status})")
    if person.availability_date > need.hiring_date:
        reasons.append(
            f"disponible le {person.availability_date:%d/%m/%Y}, "
            f"après la date d'embauche ({need.hiring_date:%d/%m/%Y})"
        )
    dist = data.distance_km(person.home_commune, need.commune)
    if dist is not None and dist > person.max_commute_km:
        reasons.append(
            f"trajet estimé {dist:.0f} km, au-delà du maximum accepté ({person.max_commute_km:.0f} km)"
        )
    return reasons

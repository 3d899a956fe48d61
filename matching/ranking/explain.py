"""Typed results of the engine and their French explanations for counsellors."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SkillItem:
    code: int
    label: str


@dataclass(frozen=True)
class MissingSkill:
    code: int
    label: str
    courses: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConstraintCheck:
    name: str
    label: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Contribution:
    feature: str
    label: str
    value: float


@dataclass(frozen=True)
class Explanation:
    """Why a candidate is where they are for a need (French text)."""

    matched_skills: tuple[SkillItem, ...]
    missing_essential: tuple[MissingSkill, ...]
    constraints: tuple[ConstraintCheck, ...]
    contributions: tuple[Contribution, ...]
    ranker: str
    summary: str

    def to_dict(self) -> dict:
        """Equal to ``dataclasses.asdict(self)`` (tested), built directly: ``asdict`` deep-copies
        every leaf, which took longer than ranking and explaining a fresh shortlist."""
        return {
            "matched_skills": tuple(
                {"code": s.code, "label": s.label} for s in self.matched_skills
            ),
            "missing_essential": tuple(
                {"code": s.code, "label": s.label, "courses": tuple(s.courses)}
                for s in self.missing_essential
            ),
            "constraints": tuple(
                {"name": c.name, "label": c.label, "ok": c.ok, "detail": c.detail}
                for c in self.constraints
            ),
            "contributions": tuple(
                {"feature": c.feature, "label": c.label, "value": c.value}
                for c in self.contributions
            ),
            "ranker": self.ranker,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class Match:
    """One (need, jobseeker) result. ``score`` in 0..1, higher is better."""

    need_id: int
    jobseeker_id: int
    rank: int
    score: float
    explanation: Explanation | None = None


@dataclass
class BlockResult:
    """Results of one block of jobseekers: per need its best candidates of the block, per
    jobseeker of the block its best needs (both sorted by score then id)."""

    shortlists: dict[int, list[Match]] = field(default_factory=dict)
    matches: dict[int, list[Match]] = field(default_factory=dict)


def summary_sentence(n_matched: int, n_essential: int, missing: int, ok: bool) -> str:
    if n_essential == 0:
        base = "Aucune compétence essentielle renseignée pour ce besoin"
    else:
        base = f"{n_matched} compétence(s) essentielle(s) sur {n_essential} détenue(s)"
    if missing:
        base += f", {missing} à acquérir"
    return base + ("" if ok else " ; une contrainte n'est pas respectée") + "."

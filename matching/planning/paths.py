"""Training paths: the cheapest sequence of real course sessions that closes a skill gap in time.

Method
------
An exact **Dijkstra search over an implicit state graph**. A state is ``(tokens acquired, qualification
level, end date of the last session)``; an edge is "attend session *s* next", allowed when *s*
starts after the previous session ends (the first one on/after the person's availability and after
today), ends before the hiring date, has seats left, and its course's prerequisites (skills with
role ``prerequisite``, minimum qualification level) are met by what the person holds or acquired
earlier in the path. Edge cost is lexicographic (training days, then euro cents), encoded exactly
as one Python integer ``days * 10**10 + cents`` so ordinary Dijkstra applies (all costs positive).

Why hand-written rather than ``networkx.dijkstra_path``: networkx needs the graph materialised,
and this state graph is exponential in the number of courses, while a lazy search expands only
the states cheaper than the answer and stops at the first goal. Two exact reductions keep it
small: only courses that teach something still needed (the gap, or a prerequisite of a useful
course, transitively) are considered, and an edge must bring something new (a course giving
nothing new can be removed from any path, which stays valid and gets cheaper). A state is pruned
when an already-settled state with the same tokens and level ended no later (it is at least as
cheap, popped earlier, and can do everything this one can). The tests check the search against a
brute-force enumeration of all session sequences on random small catalogues.

When no path exists, :class:`~matching.exceptions.NoTrainingPathError` lists why, in French:
no course teaches a skill, the only session ends after the hiring date, no seats left, a
prerequisite cannot be met, or the sessions cannot be chained in time.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from matching.exceptions import NoTrainingPathError
from matching.planning.data import (
    LICENCE,
    CourseInfo,
    NeedInfo,
    PersonInfo,
    PlanningData,
    SessionInfo,
    is_certification_token,
)
from matching.planning.gaps import SkillGap, eligibility, skill_gap

#: Lexicographic cost encoding: days weigh more than any realistic euro amount (in cents).
DAY_WEIGHT = 10**10


def fr_date(d: date) -> str:
    """``3 mars 2026``."""
    months = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ]
    return f"{d.day} {months[d.month - 1]} {d.year}"


@dataclass(frozen=True)
class PathStep:
    """One session attended along a path."""

    session_id: int
    session_ref: str
    course_id: int
    course_ref: str
    course_title: str
    start: date
    end: date
    hours: float
    cost_eur: float
    gains: tuple = ()
    gains_labels: tuple[str, ...] = ()
    virtual: bool = False

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def to_dict(self) -> dict:
        return {
            "session_id": self.session_id,
            "session_ref": self.session_ref,
            "course_id": self.course_id,
            "course_ref": self.course_ref,
            "course_title": self.course_title,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "hours": self.hours,
            "cost_eur": self.cost_eur,
            "gains": [str(g) for g in self.gains],
            "gains_labels": list(self.gains_labels),
            "to_commission": self.virtual,
        }


@dataclass(frozen=True)
class TrainingPath:
    """A feasible training path (possibly empty when the person is ready now).

    ``total_weeks`` counts training weeks (sum of session lengths, calendar days / 7), the first
    criterion minimised; ``total_eur`` the second; ``ready_date`` is the end of the last session
    (or the person's first possible day when no training is needed).
    """

    jobseeker_id: int
    need_id: int
    hiring_date: date
    gap: SkillGap
    steps: tuple[PathStep, ...] = ()
    ready_date: date | None = None

    @property
    def total_days(self) -> int:
        return sum(s.days for s in self.steps)

    @property
    def total_weeks(self) -> float:
        return round(self.total_days / 7.0, 1)

    @property
    def total_eur(self) -> float:
        return round(sum(s.cost_eur for s in self.steps), 2)

    @property
    def total_hours(self) -> float:
        return sum(s.hours for s in self.steps)

    @property
    def session_ids(self) -> tuple[int, ...]:
        return tuple(s.session_id for s in self.steps)

    def summary(self) -> str:
        """One French sentence."""
        if not self.steps:
            return "Aucune formation nécessaire : la personne est prête pour ce poste."
        titles = " puis ".join(f"« {s.course_title} »" for s in self.steps)
        euros = f"{self.total_eur:,.0f}".replace(",", " ")
        return (
            f"{len(self.steps)} session(s) : {titles} ; {self.total_weeks:g} semaine(s) de "
            f"formation, {euros} €, prêt(e) le {fr_date(self.ready_date or self.hiring_date)} pour une embauche le "
            f"{fr_date(self.hiring_date)}."
        )

    def to_dict(self) -> dict:
        return {
            "jobseeker_id": self.jobseeker_id,
            "need_id": self.need_id,
            "hiring_date": self.hiring_date.isoformat(),
            "ready_date": self.ready_date.isoformat() if self.ready_date else None,
            "total_weeks": self.total_weeks,
            "total_eur": self.total_eur,
            "total_hours": self.total_hours,
            "steps": [s.to_dict() for s in self.steps],
            "gap": self.gap.to_dict(),
            "summary": self.summary(),
        }


@dataclass(frozen=True)
class _Problem:
    goal: frozenset
    held: frozenset
    qual: int
    need_qual: int
    earliest: date
    deadline: date


@dataclass
class PathFinder:
    """Exact path search over a catalogue, with optional seat overrides and extra sessions.

    Parameters
    ----------
    data : PlanningData
    seats_left : mapping session id -> seats still free (defaults to ``seats - seats_taken``).
    extra_sessions : sessions to add to the catalogue (e.g. sessions the plan would commission).
    """

    data: PlanningData
    seats_left: Mapping[int, int] | None = None
    extra_sessions: Iterable[SessionInfo] = ()
    _sessions: list[SessionInfo] = field(init=False, repr=False)
    _starts: list[int] = field(init=False, repr=False)
    _cache: dict = field(init=False, repr=False, default_factory=dict)
    _universe: frozenset = field(init=False, repr=False)
    _by_course: dict[int, list[SessionInfo]] = field(init=False, repr=False)
    _position: dict[int, int] = field(init=False, repr=False)
    _teachers: dict = field(init=False, repr=False)
    _granting: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        sessions = list(self.data.sessions.values()) + list(self.extra_sessions)
        sessions.sort(key=lambda s: (s.start, s.end, s.id))
        self._sessions = sessions
        self._starts = [s.start.toordinal() for s in sessions]
        self._by_course = {}
        for s in sessions:
            self._by_course.setdefault(s.course_id, []).append(s)
        self._position = {id(s): i for i, s in enumerate(sessions)}
        universe: set = set()
        teachers: dict = {}
        for c in self.data.courses.values():
            universe |= c.teaches | c.prerequisites
            for t in c.teaches:
                teachers.setdefault(t, []).append(c.id)
        self._universe = frozenset(universe)
        # Indexes for _relevant (speed only): token -> courses teaching it, courses granting a
        # qualification level.
        self._teachers = {t: tuple(sorted(ids)) for t, ids in teachers.items()}
        self._granting = tuple(sorted(c.id for c in self.data.courses.values() if c.grants_level))

    # ------------------------------------------------------------------------------------------
    def left(self, s: SessionInfo) -> int:
        if self.seats_left is not None and s.id in self.seats_left:
            return int(self.seats_left[s.id])
        return s.seats_left

    def _problem(self, person: PersonInfo, need: NeedInfo, gap: SkillGap) -> _Problem:
        held = person.holds()
        need_qual = gap.qualification_required if gap.qualification_missing else 0
        return _Problem(
            goal=gap.tokens,
            held=held,
            qual=int(person.qualification_level or 0),
            need_qual=int(need_qual or 0),
            earliest=self.data.earliest_start(person),
            deadline=need.hiring_date,
        )

    def _key(self, pb: _Problem) -> tuple:
        # Sessions usable from `earliest` are those starting on/after it: quantise to the next
        # session start, so people differing only by availability share one search.
        i = bisect.bisect_left(self._starts, pb.earliest.toordinal())
        nxt = self._starts[i] if i < len(self._starts) else None
        return (
            pb.goal,
            pb.held & (self._universe | pb.goal),
            pb.qual,
            pb.need_qual,
            nxt,
            pb.deadline,
        )

    def paths(
        self,
        person: PersonInfo | int | str,
        need: NeedInfo | int | str,
        *,
        gap: SkillGap | None = None,
        k: int = 1,
    ) -> list[TrainingPath]:
        """Up to ``k`` cheapest feasible paths (distinct in their last session), cheapest first.

        An empty list means no path; :meth:`best` explains why.
        """
        if not isinstance(person, PersonInfo):
            person = self.data.person(person)
        if not isinstance(need, NeedInfo):
            need = self.data.need(need)
        if gap is None:
            gap = skill_gap(self.data, person, need)
        pb = self._problem(person, need, gap)
        if gap.is_empty:
            ready = max(pb.earliest - timedelta(days=1), person.availability_date)
            return [TrainingPath(person.id, need.id, need.hiring_date, gap, (), ready)]
        key = (*self._key(pb), k)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._search(pb, k)
        return [self._build(person, need, gap, pb, seq) for seq in found]

    def best(
        self,
        person: PersonInfo | int | str,
        need: NeedInfo | int | str,
        *,
        gap: SkillGap | None = None,
    ) -> TrainingPath:
        """The cheapest feasible path, or :class:`NoTrainingPathError` with the French reasons."""
        if not isinstance(person, PersonInfo):
            person = self.data.person(person)
        if not isinstance(need, NeedInfo):
            need = self.data.need(need)
        if gap is None:
            gap = skill_gap(self.data, person, need)
        found = self.paths(person, need, gap=gap, k=1)
        if found:
            return found[0]
        reasons = self.diagnose(person, need, gap)
        raise NoTrainingPathError(
            f"aucun parcours de formation ne prépare {person.ref} au besoin {need.ref} "
            f"avant le {fr_date(need.hiring_date)} : " + " ; ".join(reasons),
            reasons=reasons,
        )

    # ------------------------------------------------------------------------------------------
    def _usable(self, s: SessionInfo, pb: _Problem) -> bool:
        return s.start >= pb.earliest and s.end < pb.deadline and self.left(s) > 0

    def _relevant(self, pb: _Problem) -> tuple[set[int], frozenset]:
        """Courses worth considering (exact closure) and the tokens that matter.

        The closure is the least set of *usable* courses (a session in the window with seats)
        that teach a needed token, or grant a qualification level above the person's while some
        level threshold is above it; a relevant course's missing prerequisites become needed and
        its minimum level a threshold. Usefulness only grows with ``needed`` and the thresholds,
        so the fixed point does not depend on the visiting order: a worklist visits only the
        courses teaching a needed token (index token -> courses) and, once a threshold is above
        the person's level, the granting courses, instead of scanning the whole catalogue.
        """
        data = self.data
        usable: dict[int, bool] = {}

        def is_usable(cid: int) -> bool:
            ok = usable.get(cid)
            if ok is None:
                ok = usable[cid] = cid in data.courses and any(
                    self._usable(s, pb) for s in self._by_course.get(cid, ())
                )
            return ok

        needed = set(pb.goal)
        thresholds = pb.need_qual > pb.qual
        relevant: set[int] = set()
        todo: list[int] = []
        for t in needed:
            todo.extend(self._teachers.get(t, ()))
        granting_queued = False
        while True:
            if thresholds and not granting_queued:
                granting_queued = True
                todo.extend(
                    cid for cid in self._granting if (data.courses[cid].grants_level or 0) > pb.qual
                )
            if not todo:
                break
            cid = todo.pop()
            if cid in relevant or not is_usable(cid):
                continue
            relevant.add(cid)
            c = data.courses[cid]
            for t in c.prerequisites - pb.held:
                if t not in needed:
                    needed.add(t)
                    todo.extend(self._teachers.get(t, ()))
            if c.min_qualification_level and c.min_qualification_level > pb.qual:
                thresholds = True
        return relevant, frozenset(needed | pb.goal)

    def _search(self, pb: _Problem, k: int) -> list[tuple[SessionInfo, ...]]:
        data = self.data
        relevant, tokens = self._relevant(pb)
        if not relevant:
            return []
        sessions = sorted(
            (s for cid in relevant for s in self._by_course.get(cid, ()) if self._usable(s, pb)),
            key=lambda s: self._position[id(s)],
        )
        starts = [s.start.toordinal() for s in sessions]
        courses = {cid: data.courses[cid] for cid in relevant}
        missing_prereq = {cid: c.prerequisites - pb.held for cid, c in courses.items()}
        start_tokens = frozenset((pb.held - pb.goal) & tokens)
        goal = pb.goal

        def is_goal(toks: frozenset, q: int) -> bool:
            return goal <= toks and q >= pb.need_qual

        heap: list = [(0, pb.earliest.toordinal() - 1, (), start_tokens, pb.qual)]
        settled: dict[tuple, list[int]] = {}
        results: list[tuple[SessionInfo, ...]] = []
        seen_last: set[int] = set()
        by_id = {s.id: s for s in sessions}
        while heap:
            cost, end, seq, toks, q = heapq.heappop(heap)
            if seq and is_goal(toks, q):
                if seq[-1] not in seen_last:
                    seen_last.add(seq[-1])
                    results.append(tuple(by_id[i] for i in seq))
                    if len(results) >= k:
                        break
                continue
            ends = settled.setdefault((toks, q), [])
            if any(e <= end for e in ends):
                continue
            ends.append(end)
            for idx in range(bisect.bisect_right(starts, end), len(sessions)):
                s = sessions[idx]
                c = courses[s.course_id]
                if c.min_qualification_level and c.min_qualification_level > q:
                    continue
                if not missing_prereq[c.id] <= toks:
                    continue
                gain = (c.teaches & tokens) - toks
                new_q = max(q, c.grants_level or 0)
                if not gain and new_q == q:
                    continue
                step = s.days * DAY_WEIGHT + round(c.cost_eur * 100)
                heapq.heappush(
                    heap, (cost + step, s.end.toordinal(), (*seq, s.id), toks | gain, new_q)
                )
        return results

    def _build(self, person, need, gap, pb: _Problem, seq) -> TrainingPath:
        data = self.data
        toks = set(pb.held - gap.tokens)
        q = pb.qual
        steps = []
        for s in seq:
            c = data.courses[s.course_id]
            gains = sorted((c.teaches & (gap.tokens | _prereq_union(data, seq))) - toks, key=str)
            if c.grants_level and c.grants_level > q:
                q = c.grants_level
            toks |= set(gains)
            steps.append(
                PathStep(
                    session_id=s.id,
                    session_ref=s.ref,
                    course_id=c.id,
                    course_ref=c.ref,
                    course_title=c.title,
                    start=s.start,
                    end=s.end,
                    hours=c.hours,
                    cost_eur=c.cost_eur,
                    gains=tuple(gains),
                    gains_labels=tuple(data.token_label(g) for g in gains),
                    virtual=s.virtual,
                )
            )
        return TrainingPath(person.id, need.id, need.hiring_date, gap, tuple(steps), seq[-1].end)

    # ------------------------------------------------------------------------------------------
    def diagnose(self, person: PersonInfo, need: NeedInfo, gap: SkillGap) -> list[str]:
        """French reasons why no path exists (call after the search found none)."""
        data = self.data
        pb = self._problem(person, need, gap)
        reasons: list[str] = [r for r in eligibility(data, person, need) if "trajet" not in r]
        if pb.earliest >= pb.deadline:
            return reasons or [
                f"plus le temps de se former : première date possible le {fr_date(pb.earliest)}, "
                f"embauche le {fr_date(pb.deadline)}"
            ]
        for tok in sorted(pb.goal, key=str):
            teaching = data.courses_teaching.get(tok, [])
            if not teaching:
                reasons.append(_nothing_teaches(data, tok))
                continue
            if not any(self._usable(s, pb) for c in teaching for s in self._by_course.get(c, [])):
                for cid in teaching:
                    reasons.append(self._session_reason(data.courses[cid], pb))
        if pb.need_qual > pb.qual:
            granting = [
                c
                for c in data.courses.values()
                if c.grants_level and c.grants_level >= pb.need_qual
            ]
            if not granting:
                reasons.append(
                    f"aucune formation ne délivre un titre de niveau {pb.need_qual} "
                    f"(demandé ; la personne : {pb.qual or 'aucun diplôme connu'})"
                )
            elif not any(
                self._usable(s, pb) for c in granting for s in self._by_course.get(c.id, [])
            ):
                reasons.extend(self._session_reason(c, pb) for c in granting)
        if reasons:
            return _unique(reasons)
        # Every missing element has a usable session: prerequisites or chaining block the path.
        relevant, _ = self._relevant(pb)
        reachable = set(pb.held)
        for cid in relevant:
            reachable |= data.courses[cid].teaches
        for cid in sorted(relevant):
            c = data.courses[cid]
            for p in sorted(c.prerequisites - reachable, key=str):
                reasons.append(
                    f"prérequis non satisfait : « {c.title} » demande {data.token_label(p)}, "
                    "que la personne n'a pas et qu'aucune session accessible n'enseigne avant"
                )
            if c.min_qualification_level and c.min_qualification_level > pb.qual:
                raisable = any(
                    (data.courses[o].grants_level or 0) >= c.min_qualification_level
                    for o in relevant
                )
                if not raisable:
                    reasons.append(
                        f"prérequis non satisfait : « {c.title} » demande le niveau de "
                        f"qualification {c.min_qualification_level} "
                        f"(la personne : {pb.qual or 'aucun diplôme connu'})"
                    )
        if reasons:
            return _unique(reasons)
        titles = ", ".join(f"« {data.courses[c].title} »" for c in sorted(relevant))
        return [
            "les sessions nécessaires ne peuvent pas s'enchaîner (prérequis puis formation) "
            f"avant la date d'embauche ({fr_date(need.hiring_date)}) : {titles}"
        ]

    def _session_reason(self, c: CourseInfo, pb: _Problem) -> str:
        sessions = self._by_course.get(c.id, [])
        hire = fr_date(pb.deadline)
        if not sessions:
            return f"aucune session programmée de « {c.title} »"
        timely = [s for s in sessions if s.end < pb.deadline]
        if not timely:
            if len(sessions) == 1:
                return (
                    f"la seule session de « {c.title} » finit après la date d'embauche "
                    f"({fr_date(sessions[0].end)} ; embauche le {hire})"
                )
            return (
                f"les {len(sessions)} sessions de « {c.title} » finissent après la date "
                f"d'embauche ({hire})"
            )
        open_ = [s for s in timely if self.left(s) > 0]
        if not open_:
            suffix = " qui finissent avant l'embauche" if len(timely) < len(sessions) else ""
            return f"plus de place dans les sessions de « {c.title} »{suffix}"
        return (
            f"les sessions de « {c.title} » encore ouvertes et finissant à temps commencent "
            f"avant la disponibilité de la personne ({fr_date(pb.earliest)})"
        )


def _nothing_teaches(data: PlanningData, tok) -> str:
    if tok == LICENCE:
        return "aucune formation ne prépare le permis de conduire B"
    if is_certification_token(tok):
        return f"aucune formation ne délivre la {data.token_label(tok)}"
    return f"aucune formation n'enseigne la compétence {data.token_label(tok)}"


def _prereq_union(data: PlanningData, seq) -> frozenset:
    out: set = set()
    for s in seq:
        out |= data.courses[s.course_id].prerequisites
    return frozenset(out)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def find_training_path(
    data: PlanningData,
    jobseeker: PersonInfo | int | str,
    need: NeedInfo | int | str,
    *,
    seats_left: Mapping[int, int] | None = None,
) -> TrainingPath:
    """Cheapest path of real sessions closing the gap of ``jobseeker`` for ``need`` in time.

    Parameters
    ----------
    data : PlanningData
    jobseeker, need : entity, id or ref.
    seats_left : optional override of the seats still free per session id.

    Returns
    -------
    TrainingPath
        Empty (no step) when the person is ready now.

    Raises
    ------
    NoTrainingPathError
        With ``reasons``: French sentences saying precisely why no path exists.
    """
    return PathFinder(data, seats_left=seats_left).best(jobseeker, need)

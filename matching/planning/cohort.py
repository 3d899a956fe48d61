"""Cohort recruitment plans: who is ready, who trains in which session, what to commission.

:func:`plan_cohort` plans one or several needs **together** (a sector, or the whole territory), so
that two employers never count on the same seats or the same candidates.

Method
------
1. **Candidates.** For each need, the people who satisfy the constraints training cannot change
   (active, available by the hiring date, commute within their maximum; see
   :func:`~matching.planning.gaps.eligibility`) are ranked by the scorer, and scanned in that order
   until ``pool_factor x positions`` of them have an *option*: ready now (empty gap), or one of the
   ``k_paths`` cheapest training paths of real sessions (:mod:`~matching.planning.paths`).
2. **Stage 1: existing sessions (exact integer programme).** One binary variable per option;
   at most ``positions`` people per need, one option per person over all needs (so one need and
   one session at a time), at most the free seats per session (shared by every need planned).
   The objective maximises the expected number of positions filled, the sum of the scorer's
   probabilities of the chosen people, with training length as a tie-breaker worth at most
   ``1e-4`` of a hire per person. Solved by HiGHS through :func:`scipy.optimize.milp` to a
   relative gap of ``1e-9``; the status, gap and bound are reported (:class:`SolverReport`).
   Needs of one occupation compete for the same top candidates, so when positions stay open
   the pools of those needs are widened and the programme solved again (``max_rounds``).
3. **Stage 2: sessions to commission.** For needs with positions left, each course teaching
   something the need asks is offered as a *virtual* session ending the day before the hiring
   date and lasting the course's typical length (median of its sessions), with its typical
   number of seats; it must therefore start by ``hiring date - duration``. A second integer
   programme assigns the remaining candidates (paths may combine free seats of existing sessions
   and one commissioned session) and an integer number of sessions per (need, course):
   lexicographically, fill as many positions as possible, then open as few sessions as
   possible, then prefer higher scores (weights 1, 0.5, and less than 0.4 in total).

The optimisation is exact over the enumerated options; the option set is restricted to the
``k_paths`` cheapest paths per pair (distinct in their last session), which covers every session
of a course when a single course closes the gap and ``k_paths`` is at least its number of
sessions.

Scores
------
A scorer is ``scorer(need_ids, jobseeker_ids) -> np.ndarray`` over aligned arrays (one score per
pair, 0..1, the probability of a positive outcome), the contract of
``MatchingEngine.score_pairs``. Without one, :func:`coverage_scorer` is used: the weighted share
of the need's skills the person holds (essential x2, optional x1; a skill held below the required
level counts half).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from matching.exceptions import ValidationError
from matching.planning.data import LICENCE, NeedInfo, PersonInfo, PlanningData, SessionInfo
from matching.planning.gaps import skill_gap
from matching.planning.paths import PathFinder, TrainingPath, fr_date

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Weight of training length in stage 1 (a tie-breaker: at most this much of a hire per person).
TRAINING_TIE_BREAK = 1e-4
#: Smaller still: prefer the lower jobseeker id between otherwise equal options.
ID_TIE_BREAK = 1e-7
#: Relative optimality gap asked of HiGHS (default 1e-4 would allow visible sub-optimality).
MIP_REL_GAP = 1e-9
VIRTUAL_SEATS = 10**6
KIND_LABELS = {
    "pret": "prêt maintenant",
    "formation": "formation (session existante)",
    "a_commander": "formation (session à commander)",
}


# --- results ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SolverReport:
    """What the solver says about one stage: status, optimality proof or remaining gap."""

    stage: str
    status: str
    optimal: bool
    objective: float | None
    dual_bound: float | None
    mip_gap: float | None
    n_variables: int
    n_constraints: int
    seconds: float
    message: str

    def describe(self) -> str:
        if self.n_variables == 0:
            return f"{self.stage} : rien à optimiser"
        gap = f"{self.mip_gap:.2e}" if self.mip_gap is not None else "n/d"
        state = "optimum prouvé" if self.optimal else f"non prouvé ({self.message})"
        return (
            f"{self.stage} : {state}, écart relatif {gap}, {self.n_variables} variables, "
            f"{self.n_constraints} contraintes, {self.seconds:.2f} s (HiGHS)"
        )


@dataclass(frozen=True)
class Assignment:
    """One candidate put forward for one need, and how they get ready."""

    need_id: int
    need_ref: str
    jobseeker_id: int
    jobseeker_ref: str
    kind: str  # "pret" | "formation" | "a_commander"
    score: float
    path: TrainingPath


@dataclass(frozen=True)
class SessionUse:
    """Seats of an existing session the plan uses."""

    session_id: int
    session_ref: str
    course_id: int
    course_title: str
    start: date
    end: date
    seats_free_before: int
    used: int
    need_refs: tuple[str, ...]


@dataclass(frozen=True)
class Commission:
    """Extra sessions of a course to commission for a need."""

    need_id: int
    need_ref: str
    course_id: int
    course_ref: str
    course_title: str
    sessions: int
    seats_per_session: int
    trainees: int
    start_by: date
    end_by: date
    days: int


@dataclass(frozen=True)
class NeedPlan:
    """The plan of one need."""

    need_id: int
    need_ref: str
    title: str
    sector: str
    positions: int
    hiring_date: date
    eligible: int
    ready: int
    trained: int
    existing_sessions: int
    commissioned: int
    unfilled: int
    expected_hires: float
    notes: tuple[str, ...] = ()

    @property
    def remaining_after_existing(self) -> int:
        return self.positions - self.ready - self.trained


@dataclass(frozen=True)
class CohortPlan:
    """A recruitment plan for one or several needs planned together."""

    as_of: date
    needs: tuple[NeedPlan, ...]
    assignments: tuple[Assignment, ...]
    session_uses: tuple[SessionUse, ...]
    commissions: tuple[Commission, ...]
    solver: tuple[SolverReport, ...]
    scorer_name: str = ""
    parameters: dict = field(default_factory=dict)

    # Tables ----------------------------------------------------------------------------------
    def needs_frame(self) -> pd.DataFrame:
        """One row per need (French column names, as shown to the business desk)."""
        rows = [
            {
                "besoin": n.need_ref,
                "intitulé": n.title,
                "secteur": n.sector,
                "postes": n.positions,
                "embauche": n.hiring_date,
                "éligibles": n.eligible,
                "prêts": n.ready,
                "formés (sessions existantes)": n.trained,
                "sessions existantes": n.existing_sessions,
                "restants": n.remaining_after_existing,
                "via sessions à commander": n.commissioned,
                "non pourvus": n.unfilled,
                "embauches attendues": round(n.expected_hires, 1),
            }
            for n in self.needs
        ]
        return pd.DataFrame(rows)

    def assignments_frame(self) -> pd.DataFrame:
        """One row per candidate put forward (pseudonymous refs only)."""
        rows = []
        for a in self.assignments:
            p = a.path
            rows.append(
                {
                    "besoin": a.need_ref,
                    "demandeur": a.jobseeker_ref,
                    "voie": KIND_LABELS[a.kind],
                    "score": round(a.score, 4),
                    "sessions": " ; ".join(
                        f"{s.session_ref} {s.course_title} ({s.start:%d/%m/%Y}–{s.end:%d/%m/%Y})"
                        for s in p.steps
                    ),
                    "semaines": p.total_weeks,
                    "coût (€)": p.total_eur,
                    "prêt le": p.ready_date,
                }
            )
        columns = [
            "besoin",
            "demandeur",
            "voie",
            "score",
            "sessions",
            "semaines",
            "coût (€)",
            "prêt le",
        ]
        return pd.DataFrame(rows, columns=columns)

    def sessions_frame(self) -> pd.DataFrame:
        rows = [
            {
                "session": u.session_ref,
                "formation": u.course_title,
                "début": u.start,
                "fin": u.end,
                "places libres": u.seats_free_before,
                "places utilisées": u.used,
                "besoins": ", ".join(u.need_refs),
            }
            for u in self.session_uses
        ]
        rows += [
            {
                "session": f"à commander ×{c.sessions}",
                "formation": c.course_title,
                "début": c.start_by,
                "fin": c.end_by,
                "places libres": c.sessions * c.seats_per_session,
                "places utilisées": c.trainees,
                "besoins": c.need_ref,
            }
            for c in self.commissions
        ]
        return pd.DataFrame(
            rows,
            columns=[
                "session",
                "formation",
                "début",
                "fin",
                "places libres",
                "places utilisées",
                "besoins",
            ],
        )

    def table(self) -> pd.DataFrame:
        """Alias of :meth:`needs_frame` (the plan as a table)."""
        return self.needs_frame()

    # Text ------------------------------------------------------------------------------------
    def need_summary(self, need_id: int) -> str:
        """One French sentence for one need."""
        n = next(x for x in self.needs if x.need_id == need_id)
        head = (
            f"{n.title} ({n.need_ref}, {n.positions} poste(s), embauche le {fr_date(n.hiring_date)}) : "
            f"{n.ready} candidat(s) prêt(s), {n.trained} via {n.existing_sessions} session(s) "
            f"existante(s), {n.remaining_after_existing} poste(s) restant(s)"
        )
        comms = [c for c in self.commissions if c.need_id == need_id]
        if comms:
            parts = [
                f"{c.sessions} session(s) de « {c.course_title} » avant le {fr_date(c.start_by)}"
                for c in comms
            ]
            head += " : ouvrir " + " et ".join(parts)
            head += f" ({n.commissioned} personne(s) à y former)"
        if n.unfilled:
            head += f" ; {n.unfilled} poste(s) sans solution"
            if n.notes:
                head += " (" + " ; ".join(n.notes) + ")"
        elif n.remaining_after_existing == 0:
            head += " : tous les postes sont couverts"
        return head + "."

    def summary(self) -> str:
        """French summary: one sentence per need, then the totals."""
        lines = [self.need_summary(n.need_id) for n in self.needs]
        if len(self.needs) > 1:
            tot = lambda attr: sum(getattr(n, attr) for n in self.needs)  # noqa: E731
            lines.append(
                f"Total : {tot('positions')} postes, {tot('ready')} prêts, {tot('trained')} via "
                f"{len(self.session_uses)} sessions existantes, {tot('commissioned')} via "
                f"{sum(c.sessions for c in self.commissions)} sessions à commander, "
                f"{tot('unfilled')} sans solution."
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "scorer": self.scorer_name,
            "parameters": self.parameters,
            "summary": self.summary(),
            "needs": [
                {**n.__dict__, "hiring_date": n.hiring_date.isoformat(), "notes": list(n.notes)}
                for n in self.needs
            ],
            "assignments": [
                {
                    "need_id": a.need_id,
                    "need_ref": a.need_ref,
                    "jobseeker_id": a.jobseeker_id,
                    "jobseeker_ref": a.jobseeker_ref,
                    "kind": a.kind,
                    "score": a.score,
                    "path": a.path.to_dict(),
                }
                for a in self.assignments
            ],
            "session_uses": [
                {
                    **u.__dict__,
                    "start": u.start.isoformat(),
                    "end": u.end.isoformat(),
                    "need_refs": list(u.need_refs),
                }
                for u in self.session_uses
            ],
            "commissions": [
                {**c.__dict__, "start_by": c.start_by.isoformat(), "end_by": c.end_by.isoformat()}
                for c in self.commissions
            ],
            "solver": [s.__dict__ for s in self.solver],
        }


# --- scoring and eligibility (vectorised over people) -----------------------------------------
class _PeopleArrays:
    def __init__(self, data: PlanningData) -> None:
        self.data = data
        people = sorted(data.people.values(), key=lambda p: p.id)
        self.ids = np.array([p.id for p in people], dtype=np.int64)
        self.row = {int(i): k for k, i in enumerate(self.ids)}
        self.avail = np.array([p.availability_date.toordinal() for p in people], dtype=np.int64)
        self.active = np.array([p.status == "active" for p in people], dtype=bool)
        self.max_km = np.array([p.max_commute_km for p in people], dtype=np.float64)
        ref = data.referential
        if ref is not None:
            idx = ref.commune_index
            self.commune = np.array([idx.get(p.home_commune, -1) for p in people], dtype=np.int64)
        else:
            self.commune = np.full(len(people), -1, dtype=np.int64)
        codes = sorted({c for n in data.needs.values() for c in (*n.essential, *n.optional)})
        self.col = {c: k for k, c in enumerate(codes)}
        levels = np.zeros((len(people), len(codes)), dtype=np.int8)
        for r, p in enumerate(people):
            for code, lvl in p.skills.items():
                k = self.col.get(code)
                if k is not None:
                    levels[r, k] = lvl
        self.levels = levels

    def eligible_mask(self, need: NeedInfo) -> np.ndarray:
        mask = self.active & (self.avail <= need.hiring_date.toordinal())
        ref = self.data.referential
        if ref is not None and need.commune in ref.commune_index:
            j = ref.commune_index[need.commune]
            known = self.commune >= 0
            dist = np.zeros(len(self.ids))
            dist[known] = ref.distance_matrix_km[self.commune[known], j]
            mask &= ~known | (dist <= self.max_km)
        return mask

    def coverage(self, need: NeedInfo, rows: np.ndarray) -> np.ndarray:
        skills = [(c, lvl, 2.0) for c, lvl in need.essential.items()] + [
            (c, lvl, 1.0) for c, lvl in need.optional.items()
        ]
        if not skills:
            return np.ones(len(rows))
        cols = np.array([self.col[c] for c, _, _ in skills])
        req = np.array([lvl for _, lvl, _ in skills])
        w = np.array([w for _, _, w in skills])
        held = self.levels[np.ix_(rows, cols)]
        credit = np.where(held >= req, 1.0, np.where(held > 0, 0.5, 0.0))
        return credit @ w / w.sum()


def coverage_scorer(data: PlanningData) -> Scorer:
    """Transparent default scorer: weighted share of the need's skills held (0..1).

    Essential skills weigh 2, optional ones 1; a skill held below the required level counts
    half. Used until a trained ranker is available through ``MatchingEngine.score_pairs``.
    """
    arrays = _PeopleArrays(data)

    def score(need_ids: np.ndarray, jobseeker_ids: np.ndarray) -> np.ndarray:
        need_ids = np.asarray(need_ids)
        jobseeker_ids = np.asarray(jobseeker_ids)
        out = np.zeros(len(need_ids))
        for nid in np.unique(need_ids):
            sel = need_ids == nid
            rows = np.array([arrays.row[int(j)] for j in jobseeker_ids[sel]], dtype=np.int64)
            out[sel] = arrays.coverage(data.needs[int(nid)], rows)
        return out

    score.__name__ = "couverture des compétences (aucun modèle entraîné)"
    return score


# --- the plan ---------------------------------------------------------------------------------
@dataclass
class _Option:
    person: int
    need: int
    kind: str
    score: float
    path: TrainingPath
    sessions: tuple[int, ...]


def select_needs(
    data: PlanningData,
    needs: Iterable[int | str] = (),
    *,
    sector: str | None = None,
    all_open: bool = False,
) -> list[NeedInfo]:
    """Needs to plan: the ones named (id or ref), plus the open needs of ``sector`` or all of them.

    Only needs whose hiring date is after the snapshot date and that are not filled or cancelled
    are planned; naming one that is not plannable raises :class:`ValidationError`.
    """
    chosen: dict[int, NeedInfo] = {}
    for key in needs:
        n = data.need(key)
        if n.status in ("filled", "cancelled"):
            raise ValidationError(f"besoin {n.ref} : statut « {n.status} », rien à planifier")
        if n.hiring_date <= data.today:
            raise ValidationError(
                f"besoin {n.ref} : date d'embauche {fr_date(n.hiring_date)} déjà passée "
                f"(aujourd'hui : {fr_date(data.today)})"
            )
        chosen[n.id] = n
    if sector or all_open:
        for n in data.needs.values():
            if (
                n.status == "open"
                and n.hiring_date > data.today
                and (all_open or n.sector == sector)
            ):
                chosen[n.id] = n
    if not chosen:
        what = f"du secteur « {sector} »" if sector else "demandé"
        raise ValidationError(f"aucun besoin ouvert à planifier {what}")
    return [chosen[k] for k in sorted(chosen)]


def plan_cohort(
    data: PlanningData,
    needs: Iterable[NeedInfo | int | str],
    *,
    scorer: Scorer | None = None,
    pool_factor: float = 2.0,
    min_pool: int = 20,
    k_paths: int = 4,
    commission: bool = True,
    time_limit: float = 120.0,
    max_rounds: int = 6,
) -> CohortPlan:
    """Plan several needs together (see the module docstring for the method).

    Parameters
    ----------
    data : PlanningData
    needs : needs (or ids / refs) to plan together; they share seats and candidates.
    scorer : pairwise scorer ``(need_ids, jobseeker_ids) -> scores`` (0..1); defaults to
        :func:`coverage_scorer`. Pass ``engine.score_pairs`` to use the trained ranker.
    pool_factor, min_pool : per need, scan candidates by decreasing score until
        ``max(min_pool, pool_factor x positions)`` have an option (ready or a path).
    k_paths : alternative training paths considered per (candidate, need).
    commission : also plan extra sessions for positions left open.
    time_limit : seconds allowed to HiGHS per stage (the report says if it was reached).
    max_rounds : stage-1 solves at most; between two, the pools of needs with open positions
        are widened (needs of one occupation compete for the same top candidates).

    Returns
    -------
    CohortPlan
    """
    need_list = [n if isinstance(n, NeedInfo) else data.need(n) for n in needs]
    need_list = sorted({n.id: n for n in need_list}.values(), key=lambda n: n.id)
    if not need_list:
        raise ValidationError("aucun besoin à planifier")
    scorer = scorer or coverage_scorer(data)
    arrays = _PeopleArrays(data)
    finder = PathFinder(data)
    options: list[_Option] = []
    eligible_count: dict[int, int] = {}
    ranked: dict[int, list[tuple[int, float]]] = {}
    for n in need_list:
        mask = arrays.eligible_mask(n)
        ids = arrays.ids[mask]
        eligible_count[n.id] = len(ids)
        if len(ids) == 0:
            ranked[n.id] = []
            continue
        scores = np.asarray(scorer(np.full(len(ids), n.id), ids), dtype=float)
        order = np.lexsort((ids, -scores))
        ranked[n.id] = [(int(ids[i]), float(scores[i])) for i in order]

    scanned = {n.id: 0 for n in need_list}

    def extend(n: NeedInfo, target: int) -> int:
        """Scan further down the need's ranking until ``target`` more people have an option."""
        found = 0
        ranking = ranked[n.id]
        while found < target and scanned[n.id] < len(ranking):
            pid, sc = ranking[scanned[n.id]]
            scanned[n.id] += 1
            new = _options_for(data, finder, data.people[pid], n, sc, k_paths, virtual_ok=False)
            if new:
                found += 1
                options.extend(new)
        return found

    def target_for(open_positions: int) -> int:
        return max(min_pool, int(np.ceil(pool_factor * open_positions)))

    for n in need_list:
        extend(n, target_for(n.positions))
    free = {sid: s.seats_left for sid, s in data.sessions.items()}
    # Needs of the same occupation share their best candidates: when positions stay open,
    # widen those needs' pools and solve again (exact over the final pools).
    rounds = 0
    while True:
        rounds += 1
        chosen1, report1 = _solve_stage1(options, need_list, free, time_limit)
        filled: dict[int, int] = defaultdict(int)
        for o in chosen1:
            filled[o.need] += 1
        grown = 0
        if rounds < max_rounds:
            for n in need_list:
                if filled[n.id] < n.positions:
                    grown += extend(n, target_for(n.positions - filled[n.id]))
        if not grown:
            break
    reports = [report1]
    assigned = {o.person: o for o in chosen1}
    used: dict[int, int] = defaultdict(int)
    for o in chosen1:
        for sid in o.sessions:
            used[sid] += 1
    left = {sid: free[sid] - used.get(sid, 0) for sid in free}

    chosen2: list[_Option] = []
    commissions: list[Commission] = []
    notes: dict[int, list[str]] = defaultdict(list)
    count1: dict[int, int] = defaultdict(int)
    for o in chosen1:
        count1[o.need] += 1
    open_needs = [n for n in need_list if n.positions - count1[n.id] > 0]
    if commission and open_needs:
        virtual, too_late, vneed = _virtual_sessions(data, open_needs)
        for nid, msg in too_late:
            notes[nid].append(msg)
        finder2 = PathFinder(
            data,
            seats_left={**left, **{v.id: VIRTUAL_SEATS for v in virtual}},
            extra_sessions=virtual,
        )
        options2: list[_Option] = []
        for n in open_needs:
            remaining = n.positions - count1[n.id]
            target = max(min_pool, int(np.ceil(pool_factor * remaining)))
            found = 0
            for pid, sc in ranked[n.id]:
                if found >= target:
                    break
                if pid in assigned:
                    continue
                new = _options_for(
                    data, finder2, data.people[pid], n, sc, k_paths, virtual_ok=True, vneed=vneed
                )
                if new:
                    found += 1
                    options2.extend(new)
        vmap = {v.id: v for v in virtual}
        chosen2, y, report2 = _solve_stage2(
            options2,
            {n.id: n.positions - count1[n.id] for n in open_needs},
            left,
            vmap,
            vneed,
            data,
            time_limit,
        )
        reports.append(report2)
        trainees: dict[int, int] = defaultdict(int)
        for o in chosen2:
            for sid in o.sessions:
                if sid in vmap:
                    trainees[sid] += 1
        for vid, count in sorted(y.items()):
            if count <= 0:
                continue
            v = vmap[vid]
            c = data.courses[v.course_id]
            nid = vneed[vid]
            commissions.append(
                Commission(
                    need_id=nid,
                    need_ref=data.needs[nid].ref,
                    course_id=c.id,
                    course_ref=c.ref,
                    course_title=c.title,
                    sessions=int(count),
                    seats_per_session=c.typical_seats,
                    trainees=trainees[vid],
                    start_by=v.start,
                    end_by=v.end,
                    days=v.days,
                )
            )
        for o in chosen2:
            for sid in o.sessions:
                if sid in left:
                    left[sid] -= 1

    # Assemble per-need results -----------------------------------------------------------
    all_chosen = [*chosen1, *chosen2]
    by_need: dict[int, list[_Option]] = defaultdict(list)
    for o in all_chosen:
        by_need[o.need].append(o)
    session_needs: dict[int, set[str]] = defaultdict(set)
    session_used: dict[int, int] = defaultdict(int)
    for o in all_chosen:
        for sid in o.sessions:
            if sid in data.sessions:
                session_needs[sid].add(data.needs[o.need].ref)
                session_used[sid] += 1
    need_plans = []
    for n in need_list:
        mine = by_need[n.id]
        ready = sum(o.kind == "pret" for o in mine)
        trained = [o for o in mine if o.kind == "formation"]
        comm = sum(o.kind == "a_commander" for o in mine)
        unfilled = n.positions - len(mine)
        if unfilled > 0:
            notes[n.id].extend(_why_unfilled(data, n, ranked[n.id], assigned, chosen2, finder))
        need_plans.append(
            NeedPlan(
                need_id=n.id,
                need_ref=n.ref,
                title=n.title,
                sector=n.sector,
                positions=n.positions,
                hiring_date=n.hiring_date,
                eligible=eligible_count[n.id],
                ready=ready,
                trained=len(trained),
                existing_sessions=len({sid for o in trained for sid in o.sessions}),
                commissioned=comm,
                unfilled=unfilled,
                expected_hires=float(sum(o.score for o in mine)),
                notes=tuple(dict.fromkeys(notes[n.id])),
            )
        )
    assignments = tuple(
        Assignment(
            need_id=o.need,
            need_ref=data.needs[o.need].ref,
            jobseeker_id=o.person,
            jobseeker_ref=data.people[o.person].ref,
            kind=o.kind,
            score=o.score,
            path=o.path,
        )
        for o in sorted(
            all_chosen,
            key=lambda o: (
                o.need,
                ["pret", "formation", "a_commander"].index(o.kind),
                -o.score,
                o.person,
            ),
        )
    )
    uses = tuple(
        SessionUse(
            session_id=sid,
            session_ref=data.sessions[sid].ref,
            course_id=data.sessions[sid].course_id,
            course_title=data.courses[data.sessions[sid].course_id].title,
            start=data.sessions[sid].start,
            end=data.sessions[sid].end,
            seats_free_before=free[sid],
            used=session_used[sid],
            need_refs=tuple(sorted(session_needs[sid])),
        )
        for sid in sorted(session_used, key=lambda s: (data.sessions[s].start, s))
    )
    return CohortPlan(
        as_of=data.today,
        needs=tuple(need_plans),
        assignments=assignments,
        session_uses=uses,
        commissions=tuple(commissions),
        solver=tuple(reports),
        scorer_name=getattr(scorer, "__name__", type(scorer).__name__),
        parameters={
            "pool_factor": pool_factor,
            "min_pool": min_pool,
            "k_paths": k_paths,
            "commission": commission,
            "candidates_scanned": {data.needs[k].ref: v for k, v in scanned.items()},
            "stage1_rounds": rounds,
        },
    )


def _virtual_sessions(
    data: PlanningData, needs: list[NeedInfo]
) -> tuple[list[SessionInfo], list[tuple[int, str]], dict[int, int]]:
    """One virtual session per (need, course teaching something the need asks).

    Returns the sessions (negative ids), the "too late" notes and virtual id -> need id.
    """
    out: list[SessionInfo] = []
    vneed: dict[int, int] = {}
    too_late: list[tuple[int, str]] = []
    for n in needs:
        wanted: set = set(n.essential)
        if n.driving_licence_required:
            wanted.add(LICENCE)
        if n.required_certification:
            wanted.add(n.required_certification)
        cids = sorted({cid for tok in wanted for cid in data.courses_teaching.get(tok, [])})
        if n.min_qualification_level:
            cids = sorted(
                set(cids)
                | {
                    c.id
                    for c in data.courses.values()
                    if c.grants_level and c.grants_level >= n.min_qualification_level
                }
            )
        for cid in cids:
            c = data.courses[cid]
            end = n.hiring_date - timedelta(days=1)
            start = end - timedelta(days=c.typical_days - 1)
            if start <= data.today:
                too_late.append(
                    (
                        n.id,
                        f"trop tard pour commander « {c.title} » ({c.typical_days} jours) : "
                        f"il aurait fallu commencer au plus tard le {fr_date(start)}",
                    )
                )
                continue
            vid = -(len(out) + 1)
            vneed[vid] = n.id
            out.append(
                SessionInfo(
                    id=vid,
                    ref=f"À COMMANDER {c.ref} ({n.ref})",
                    course_id=cid,
                    start=start,
                    end=end,
                    seats=c.typical_seats,
                    seats_taken=0,
                    virtual=True,
                )
            )
    return out, too_late, vneed


def _options_for(
    data: PlanningData,
    finder: PathFinder,
    person: PersonInfo,
    need: NeedInfo,
    score: float,
    k: int,
    *,
    virtual_ok: bool,
    vneed: dict[int, int] | None = None,
) -> list[_Option]:
    gap = skill_gap(data, person, need)
    if gap.is_empty:
        # In stage 2 too: a ready person outside the stage-1 pool may fill a position left open.
        path = finder.paths(person, need, gap=gap, k=1)[0]
        return [_Option(person.id, need.id, "pret", score, path, ())]
    out = []
    for path in finder.paths(person, need, gap=gap, k=k):
        virtual = any(s.virtual for s in path.steps)
        if virtual and (vneed or {}).get(path.steps[-1].session_id) != need.id:
            continue  # a need's commissioned session is dated for that need's hiring date
        kind = "a_commander" if virtual else "formation"
        out.append(_Option(person.id, need.id, kind, score, path, path.session_ids))
    return out


def _report(stage: str, res, n_var: int, n_con: int, seconds: float) -> SolverReport:
    status_names = {
        0: "optimal",
        1: "limite atteinte",
        2: "infaisable",
        3: "non borné",
        4: "autre",
    }
    optimal = res.status == 0
    return SolverReport(
        stage=stage,
        status=status_names.get(res.status, str(res.status)),
        optimal=optimal,
        objective=float(res.fun) if res.fun is not None else None,
        dual_bound=float(getattr(res, "mip_dual_bound", np.nan))
        if getattr(res, "mip_dual_bound", None) is not None
        else None,
        mip_gap=float(getattr(res, "mip_gap", np.nan))
        if getattr(res, "mip_gap", None) is not None
        else None,
        n_variables=n_var,
        n_constraints=n_con,
        seconds=seconds,
        message=str(res.message),
    )


def _empty_report(stage: str) -> SolverReport:
    return SolverReport(stage, "optimal", True, 0.0, 0.0, 0.0, 0, 0, 0.0, "aucune variable")


def _build_rows(options: list[_Option], groups: list[tuple[Callable, dict]]) -> tuple:
    """Sparse rows ``sum of x over the options of a group <= cap``, one row per group key.

    Returns (row indices, column indices, capacities, number of rows, key -> row).
    """
    rows: list[int] = []
    cols: list[int] = []
    caps: list[float] = []
    index: dict = {}
    for key_of, cap_of in groups:
        for i, o in enumerate(options):
            for key in key_of(o):
                if key not in index:
                    index[key] = len(caps)
                    caps.append(cap_of[key])
                rows.append(index[key])
                cols.append(i)
    return rows, cols, caps, len(caps), index


def _solve_stage1(options, needs, free, time_limit) -> tuple[list[_Option], SolverReport]:
    stage = "Étape 1 (sessions existantes)"
    if not options:
        return [], _empty_report(stage)
    t0 = time.perf_counter()
    n = len(options)
    max_days = max((o.path.total_days for o in options), default=0) or 1
    # Ties between equal scores go to the lower jobseeker id (reproducible, like the engine).
    rank = {p: k for k, p in enumerate(sorted({o.person for o in options}))}
    c = -np.array(
        [
            o.score
            - TRAINING_TIE_BREAK * o.path.total_days / max_days
            - ID_TIE_BREAK * rank[o.person] / len(rank)
            for o in options
        ]
    )
    people = {o.person: 1 for o in options}
    rows, cols, caps, r, _ = _build_rows(
        options,
        [
            (lambda o: [("n", o.need)], {("n", x.id): x.positions for x in needs}),
            (lambda o: [("p", o.person)], {("p", p): 1 for p in people}),
            (lambda o: [("s", s) for s in o.sessions], {("s", s): v for s, v in free.items()}),
        ],
    )
    a = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(r, n))
    res = milp(
        c,
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
        constraints=LinearConstraint(a, -np.inf, np.array(caps, dtype=float)),
        options={"mip_rel_gap": MIP_REL_GAP, "time_limit": time_limit},
    )
    report = _report(stage, res, n, r, time.perf_counter() - t0)
    if res.x is None:
        return [], report
    chosen = [options[i] for i in np.flatnonzero(res.x > 0.5)]
    return chosen, report


def _solve_stage2(options, remaining, left, vmap, vneed, data, time_limit):
    stage = "Étape 2 (sessions à commander)"
    if not options:
        return [], {}, _empty_report(stage)
    t0 = time.perf_counter()
    vids = sorted({sid for o in options for sid in o.sessions if sid in vmap})
    n_x, n_y = len(options), len(vids)
    delta = 0.4 / (sum(remaining.values()) + 1)
    rank = {p: k for k, p in enumerate(sorted({o.person for o in options}))}
    value = [o.score - ID_TIE_BREAK * rank[o.person] / len(rank) for o in options]
    c = np.concatenate([-(1.0 + delta * np.array(value)), np.full(n_y, 0.5)])
    people = {o.person: 1 for o in options}
    rows, cols, caps, r, row_of = _build_rows(
        options,
        [
            (lambda o: [("n", o.need)], {("n", k): v for k, v in remaining.items()}),
            (lambda o: [("p", o.person)], {("p", p): 1 for p in people}),
            (
                lambda o: [("s", s) for s in o.sessions if s not in vmap],
                {("s", s): v for s, v in left.items()},
            ),
            # "trainees of virtual session v - seats x y_v <= 0" (y coefficients added below)
            (lambda o: [("v", s) for s in o.sessions if s in vmap], {("v", v): 0 for v in vids}),
        ],
    )
    vals = [1.0] * len(rows)
    for j, vid in enumerate(vids):
        rows.append(row_of[("v", vid)])
        cols.append(n_x + j)
        vals.append(-float(data.courses[vmap[vid].course_id].typical_seats))
    a = sparse.csr_matrix((vals, (rows, cols)), shape=(r, n_x + n_y))
    upper_y = [
        np.ceil(remaining[vneed[v]] / data.courses[vmap[v].course_id].typical_seats) for v in vids
    ]
    res = milp(
        c,
        integrality=np.ones(n_x + n_y),
        bounds=Bounds(np.zeros(n_x + n_y), np.concatenate([np.ones(n_x), upper_y])),
        constraints=LinearConstraint(a, -np.inf, np.array(caps, dtype=float)),
        options={"mip_rel_gap": MIP_REL_GAP, "time_limit": time_limit},
    )
    report = _report(stage, res, n_x + n_y, r, time.perf_counter() - t0)
    if res.x is None:
        return [], {}, report
    x = res.x
    chosen = [options[i] for i in np.flatnonzero(x[:n_x] > 0.5)]
    y = {vid: round(x[n_x + j]) for j, vid in enumerate(vids)}
    return chosen, y, report


def _why_unfilled(data, need, ranked, assigned, chosen2, finder) -> list[str]:
    """French notes on why positions stay open after both stages."""
    taken2 = {o.person for o in chosen2}
    free_people = [pid for pid, _ in ranked if pid not in assigned and pid not in taken2]
    notes = []
    if not ranked:
        return ["aucun candidat éligible (disponibilité, trajet)"]
    if not free_people:
        notes.append(f"tous les {len(ranked)} candidat(s) éligible(s) sont déjà retenus")
        return notes
    # Explain with the best-ranked candidate left without a plan.
    person = data.people[free_people[0]]
    gap = skill_gap(data, person, need)
    if not gap.is_empty and not finder.paths(person, need, gap=gap, k=1):
        notes.extend(finder.diagnose(person, need, gap))
    return notes

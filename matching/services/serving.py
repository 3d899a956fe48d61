"""Serving use cases behind the API and the pages: shortlists (published run or fresh engine)
with pseudonymisation per role, a jobseeker's matches, training paths, recruitment plans,
counsellor / employer decisions, exports (CSV / Excel), free-text suggestions, run reports.

Pseudonymisation rule: a shortlist shows pseudonymous references only. The business desk (and
an administrator) additionally sees the name of a candidate once a counsellor has proposed that
person for that need (an ``outcomes`` row ``proposed`` exists); each such display is written to
the audit log (reason ``proposition``). Counsellors see which candidates are in their own
caseload and open the person's page (identity read with a reason code) from there.

What is kept between requests, and what never is: the ranked rows of the published run (per run
and need) and of the fitted engine (per engine, need and ``top``), with their explanations
already encoded as JSON, are kept, since neither can change; who the candidates are, whose
caseload they are in, the decisions and the names are read on every request, so that an
erasure, a decision or a deactivation shows at once, and every display of a name is audited.
"""

from __future__ import annotations

import functools
import gc
import io
import json
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from sqlalchemy import Engine, bindparam, func, select

from matching.config import Settings
from matching.exceptions import NotFoundError, PermissionDeniedError, ValidationError
from matching.services import audit
from matching.services.accounts import Principal
from matching.store import models as m

#: Events each role may record (admin: all). Counsellors only for their own caseload; the desk
#: only for a candidate already proposed for that need.
DECISION_EVENTS = {
    "counsellor": ("proposed", "rejected", "withdrawn"),
    "desk": ("interviewed", "hired", "rejected"),
    "admin": m.OUTCOME_EVENTS,
}
EVENT_LABELS = {
    "proposed": "proposé·e",
    "interviewed": "en entretien",
    "hired": "embauché·e",
    "rejected": "écarté·e",
    "withdrawn": "retiré·e",
}


# --- the fitted engine, once per process --------------------------------------------------------
class EngineCache:
    """A fitted :class:`~matching.ranking.engine.MatchingEngine` kept between requests.

    It is refitted when the data it was fitted on changed: a cheap fingerprint (row counts and
    last update times of needs, jobseekers, courses, sessions and their skills) is read at most
    every ``check_every_s`` seconds. Refits are serialised by a lock; readers keep using the
    previous engine meanwhile.
    """

    def __init__(self, settings: Settings, store: Engine, *, referential: Any = None,
                 check_every_s: float = 2.0) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.referential = referential
        self.check_every_s = check_every_s
        self._engine = None
        self._fingerprint: tuple | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def fingerprint(self) -> tuple:
        parts: list[Any] = []
        with self.store.connect() as conn:
            for model in (m.Need, m.Jobseeker, m.Course, m.CourseSession):
                parts.extend(conn.execute(select(func.count(), func.max(model.updated_at))).one())
            for link in (m.NeedSkill, m.JobseekerSkill, m.CourseSkill):
                parts.append(conn.execute(select(func.count()).select_from(link)).scalar())
        return tuple(str(p) for p in parts)

    def get(self):
        now = time.monotonic()
        if self._engine is not None and now - self._checked < self.check_every_s:
            return self._engine
        fp = self.fingerprint()
        if self._engine is not None and fp == self._fingerprint:
            self._checked = now
            return self._engine
        with self._lock:
            if self._engine is None or fp != self._fingerprint:
                from matching.services.matching import load_engine
                from matching.store.snapshot import load_snapshot

                engine = load_engine(self.settings, referential=self.referential)
                self._engine = engine.fit(load_snapshot(self.store))
                self._fingerprint = fp
                # the engine's objects live until the next refit: out of the collector's full
                # passes (see api.main.freeze_loaded). A replaced engine is still freed by
                # reference counting; only objects of its reference cycles, if any, would stay.
                gc.freeze()
            self._checked = time.monotonic()
        return self._engine


# --- shortlists ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CandidateView:
    rank: int
    jobseeker_ref: str
    score: float
    explanation: dict | None
    status: str | None = None  # last decision for this need (outcomes.event)
    name: str | None = None  # only once proposed, for the desk and admins
    in_my_caseload: bool = False
    #: ``explanation`` already encoded as JSON (UTF-8), when it comes from a published run:
    #: encoded once per (run, need) instead of once per request (see :class:`_PublishedShortlists`).
    explanation_json: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ShortlistView:
    need_ref: str
    need_id: int
    source: str  # "publication" | "calcul immédiat"
    run_id: int | None
    candidates: list[CandidateView] = field(default_factory=list)
    #: With ``shortlist_view(..., audit_now=False)``: the audit-log write that showing these
    #: names requires, for the caller to run (off its event loop) before answering; else None.
    pending_audit: Callable[[], None] | None = None


def unit_score(value: float) -> float:
    """A score clipped to its documented 0..1 range: rankers compute in float32, so a perfect
    match can be stored as 1.0000009, which the API schema (``le=1``) would refuse with a 500."""
    return min(max(float(value), 0.0), 1.0)


def _need_id(store: Engine, ref: str) -> int:
    with store.connect() as conn:
        found = conn.execute(_NEED_ID_BY_REF, {"ref": ref}).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"besoin {ref!r} introuvable")
    return int(found)


def published_run_id(store: Engine) -> int | None:
    with store.connect() as conn:
        return conn.execute(
            select(m.Publication.run_id).where(m.Publication.id == 1)
        ).scalar_one_or_none()


# Statements of the shortlist hot path, built once: building a ``select`` and its cache key
# costs more than SQLite running it (profiled under load: ~20 % of a published request).
_NEED_ID_BY_REF = select(m.Need.id).where(m.Need.ref == bindparam("ref"))
_PEOPLE = select(m.Jobseeker.id, m.Jobseeker.ref, m.Jobseeker.counsellor_id).where(
    m.Jobseeker.id.in_(bindparam("ids", expanding=True))
)
# The published path joins the run's rows instead: an expanding ``IN`` of 50 ids is compiled
# again on every call (~0.1 ms, more than the query).
_NEED_AND_RUN = select(
    m.Need.id, select(m.Publication.run_id).where(m.Publication.id == 1).scalar_subquery()
).where(m.Need.ref == bindparam("ref"))
_PUBLISHED_PEOPLE = (
    select(m.Jobseeker.id, m.Jobseeker.ref, m.Jobseeker.counsellor_id)
    .join(m.RunShortlist, m.RunShortlist.jobseeker_id == m.Jobseeker.id)
    .where(
        m.RunShortlist.need_id == bindparam("need_id"),
        m.visible_at(m.RunShortlist, bindparam("run_id")),
    )
)
_OUTCOMES = (
    select(m.Outcome.jobseeker_id, m.Outcome.event)
    .where(m.Outcome.need_id == bindparam("need_id"))
    .order_by(m.Outcome.event_date, m.Outcome.id)
)
_NAMES = select(
    m.JobseekerIdentity.jobseeker_id,
    m.JobseekerIdentity.first_name,
    m.JobseekerIdentity.last_name,
).where(m.JobseekerIdentity.jobseeker_id.in_(bindparam("ids", expanding=True)))
# A list is its rows ordered by score, ties by id: the rank is the position (not stored).
_SHORTLIST_ROWS = (
    select(
        m.RunShortlist.jobseeker_id,
        m.RunShortlist.score,
        m.RunShortlist.explanation,
    )
    .where(
        m.RunShortlist.need_id == bindparam("need_id"),
        m.visible_at(m.RunShortlist, bindparam("run_id")),
    )
    .order_by(m.RunShortlist.score.desc(), m.RunShortlist.jobseeker_id)
)


def _outcomes(conn, need_id: int) -> tuple[dict[int, str], set[int]]:
    """(last event per jobseeker, jobseekers ever proposed) for a need, in one query; events are
    ordered by date then insertion order."""
    rows = conn.execute(_OUTCOMES, {"need_id": need_id}).all()
    return {int(j): e for j, e in rows}, {int(j) for j, e in rows if e == "proposed"}


def _proposed(conn, need_id: int) -> set[int]:
    return set(
        conn.execute(
            select(m.Outcome.jobseeker_id).where(
                m.Outcome.need_id == need_id, m.Outcome.event == "proposed"
            )
        ).scalars()
    )


def _encode(explanation: Any) -> bytes | None:
    """An explanation (dict, or the engine's dataclass, which orjson encodes natively to the
    same bytes) as JSON (UTF-8), as the API sends it (see ``CandidateView``)."""
    if explanation is None:
        return None
    return orjson.dumps(explanation, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


class _PublishedShortlists:
    """Shortlists of the published run, decoded and re-encoded once, kept per (run id, need id).

    A published run never changes (a new nightly run gets a new id and the publication pointer
    switches to it), so its rows can be kept once read: each row is ``(rank, jobseeker id,
    score, explanation dict, explanation as JSON bytes)``. Decoding the 50 JSON explanations,
    then encoding them again for the answer, was most of the cost of a published shortlist
    request. Only the current run's entries are kept, at most ``max_needs`` of them. Identity,
    caseload and decisions are NOT cached (they change, and an erased person must disappear at
    once): :func:`shortlist_view` reads them per request. An entry takes ~0.4 MB (50 explained
    candidates, decoded and encoded), hence the bound.
    """

    def __init__(self, max_needs: int = 1_000) -> None:
        self.max_needs = max_needs
        self._run_id: int | None = None
        self._rows: dict[int, list[tuple]] = {}
        self._lock = threading.Lock()

    def get(self, conn, run_id: int, need_id: int) -> list[tuple]:
        rows = self._rows.get(need_id) if self._run_id == run_id else None
        if rows is not None:
            return rows
        rows = []
        for rank, (j, score, expl) in enumerate(
            conn.execute(_SHORTLIST_ROWS, {"run_id": run_id, "need_id": need_id}).all(), 1
        ):
            if isinstance(expl, str):
                expl = json.loads(expl)
            rows.append((int(rank), int(j), unit_score(score), expl, _encode(expl)))
        with self._lock:
            if self._run_id != run_id:
                self._run_id, self._rows = run_id, {}
            if len(self._rows) < self.max_needs:
                self._rows[need_id] = rows
        return rows


# One cache per store (an Engine object): tests and tools may serve several databases in one
# process, and run ids restart in each.
_published: weakref.WeakKeyDictionary[Engine, _PublishedShortlists] = weakref.WeakKeyDictionary()
_published_lock = threading.Lock()


def _published_cache(store: Engine) -> _PublishedShortlists:
    cache = _published.get(store)
    if cache is None:
        with _published_lock:
            cache = _published.setdefault(store, _PublishedShortlists())
    return cache


_openmp = threading.local()


def _one_openmp_thread() -> None:
    """Let the ranker use one OpenMP thread in this (request) thread, and BLAS one thread.

    scikit-learn's HistGradientBoosting opens an OpenMP parallel region per tree; on the few
    hundred pairs of one fresh shortlist the threads' synchronisation costs far more than the
    trees (measured on the demo: 54-80 ms per shortlist with the default, 13-17 ms with one
    thread), and concurrent requests already use the cores. The OpenMP limit is per thread
    (OpenMP keeps it per thread), so it is set once per thread of the server's pool; OpenBLAS
    keeps one process-wide setting, which one thread per call also suits in a server whose
    requests (and worker processes) already occupy every core.
    """
    if not getattr(_openmp, "limited", False):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="openmp")
        threadpool_limits(limits=1, user_api="blas")
        _openmp.limited = True


class _LazyExplanation(Mapping):
    """An engine :class:`~matching.ranking.explain.Explanation` read as its ``to_dict()``,
    converted on first access: the API answers with the encoded JSON and never needs the dict
    (building it was an eighth of a fresh shortlist's CPU); pages and exports read it."""

    __slots__ = ("_dict", "_explanation")

    def __init__(self, explanation: Any) -> None:
        self._explanation = explanation
        self._dict: dict | None = None

    def _data(self) -> dict:
        if self._dict is None:
            self._dict = self._explanation.to_dict()
        return self._dict

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self):
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


class _FreshShortlists:
    """Fresh shortlists computed by one fitted engine, kept per (need id, top).

    ``MatchingEngine.shortlist`` is a pure function of the fitted engine (its data snapshot and
    reference date are fixed at fit time): computing it again for the same need, while the
    same engine is current, gives the same list. The engine is replaced as soon as the data
    changes (:class:`EngineCache` compares a fingerprint every ``check_every_s`` seconds), and so
    is this memo, which is held by the engine object itself. Identity, caseload and decisions
    are never kept: :func:`shortlist_view` reads them per request.
    """

    def __init__(self, max_entries: int = 128) -> None:
        self.max_entries = max_entries
        self._rows: dict[tuple[int, int], list[tuple]] = {}

    def get(self, engine: Any, need_id: int, top: int) -> list[tuple]:
        key = (need_id, top)
        rows = self._rows.get(key)
        if rows is not None:
            return rows
        # No semaphore in front of the cores: measured on 2 cores with 20 concurrent fresh
        # requests, 2 slots gave 35 req/s and none 45 (numpy and the trees release the GIL).
        found = engine.shortlist(need_id, top=top, explain=True)
        rows = []
        for x in found:
            # The API sends the JSON, encoded from the dataclass by orjson (the same bytes as
            # from its dict); the dict itself is only built if a page or an export reads it.
            expl = _LazyExplanation(x.explanation) if x.explanation else None
            encoded = _encode(x.explanation) if x.explanation else None
            rows.append((int(x.rank), int(x.jobseeker_id), unit_score(x.score), expl, encoded))
        if len(self._rows) >= self.max_entries:  # ~0.4 MB each (50 explained candidates)
            self._rows = {}
        self._rows[key] = rows  # dict operations are atomic: no lock needed
        return rows


_fresh: weakref.WeakKeyDictionary[Any, _FreshShortlists] = weakref.WeakKeyDictionary()
_fresh_lock = threading.Lock()


def _fresh_shortlist(engine: Any, need_id: int, top: int) -> list[tuple]:
    memo = _fresh.get(engine)
    if memo is None:
        with _fresh_lock:
            memo = _fresh.setdefault(engine, _FreshShortlists())
    return memo.get(engine, need_id, top)


def shortlist_view(
    store: Engine,
    who: Principal,
    need_ref: str,
    *,
    fresh: bool = False,
    top: int = 50,
    engines: EngineCache | None = None,
    audit_now: bool = True,
) -> ShortlistView:
    """A need's shortlist as ``who`` may see it (see the module docstring).

    The display of names is written to the audit log before returning, or, with
    ``audit_now=False``, handed to the caller as ``pending_audit``, which it must run before it
    shows the list (the API runs the reads on its event loop and the write in its thread pool).

    Published: one connection, five small indexed reads (need, publication, the people shown,
    the need's decisions, names if any), the ranked rows coming from the per-run cache.
    ``fresh``: the engine ranks now (CPU-bound, 10-20 ms on the demo territory; the caller runs
    this function in a worker thread), then the same per-person reads.
    """
    if fresh:
        need_id = _need_id(store, need_ref)
        if engines is None:
            raise ValidationError("calcul immédiat indisponible : moteur non chargé")
        _one_openmp_thread()
        raw = _fresh_shortlist(engines.get(), int(need_id), int(top))
        run_id = None
    source = "calcul immédiat" if fresh else "publication"
    with store.connect() as conn:
        if not fresh:
            found = conn.execute(_NEED_AND_RUN, {"ref": need_ref}).first()
            if found is None:
                raise NotFoundError(f"besoin {need_ref!r} introuvable")
            need_id, run_id = int(found[0]), found[1]
            raw = (
                []
                if run_id is None
                else _published_cache(store).get(conn, int(run_id), int(need_id))[:top]
            )
        ids = [r[1] for r in raw]
        if fresh:
            found_people = conn.execute(_PEOPLE, {"ids": ids}).all()
        elif raw:
            found_people = conn.execute(
                _PUBLISHED_PEOPLE, {"run_id": int(run_id), "need_id": need_id}
            ).all()
        else:
            found_people = []
        people = {int(i): (ref, c) for i, ref, c in found_people}
        decisions, proposed = _outcomes(conn, need_id)
        names: dict[int, str] = {}
        if who.role in ("desk", "admin"):
            shown = sorted(proposed.intersection(ids))
            if shown:
                names = {
                    int(j): f"{f} {last}".strip()
                    for j, f, last in conn.execute(_NAMES, {"ids": shown}).all()
                }
    pending = None
    if names:
        pending = functools.partial(
            audit.record,
            store,
            username=who.username,
            action="lecture_nom_liste",
            entity_refs=[people[j][0] for j in sorted(names)],
            reason_code="proposition",
            detail=f"nom affiché dans la liste du besoin {need_ref} (candidat·e proposé·e)",
        )
        if audit_now:
            pending()
            pending = None
    counsellor_id = who.id if who.role == "counsellor" else None
    out = []
    for rank, j, score, expl, encoded in raw:
        person = people.get(j)
        if person is None:  # erased since the run: skip, ranks stay as published
            continue
        out.append(
            CandidateView(
                rank=int(rank),
                jobseeker_ref=person[0],
                score=score,
                explanation=expl,
                status=decisions.get(j),
                name=names.get(j),
                in_my_caseload=counsellor_id is not None and person[1] == counsellor_id,
                explanation_json=encoded,
            )
        )
    return ShortlistView(need_ref, int(need_id), source, None if fresh else run_id, out, pending)


# --- a jobseeker's matches ------------------------------------------------------------------
@dataclass(frozen=True)
class MatchView:
    rank: int
    need_ref: str
    title: str
    employer: str
    hiring_date: date
    score: float
    explanation: dict | None = None


def matches_view(
    store: Engine, jobseeker_id: int, *, fresh: bool = False, top: int = 20,
    engines: EngineCache | None = None,
) -> tuple[str, int | None, list[MatchView]]:  # fmt: skip
    """(source, run id, top needs) of a jobseeker: the published run's, or computed now."""
    if fresh:
        if engines is None:
            raise ValidationError("calcul immédiat indisponible : moteur non chargé")
        _one_openmp_thread()
        found = engines.get().matches_for_jobseeker(jobseeker_id, top=top, explain=True)
        raw = [
            (x.rank, x.need_id, x.score, x.explanation.to_dict() if x.explanation else None)
            for x in found
        ]
        source, run_id = "calcul immédiat", None
    else:
        source, run_id = "publication", published_run_id(store)
        raw = []
        if run_id is not None:
            with store.connect() as conn:
                raw = [
                    (rank, *r, None)
                    for rank, r in enumerate(
                        conn.execute(
                            select(m.RunMatch.need_id, m.RunMatch.score)
                            .where(
                                m.RunMatch.jobseeker_id == jobseeker_id,
                                m.visible_at(m.RunMatch, run_id),
                            )
                            .order_by(m.RunMatch.score.desc(), m.RunMatch.need_id)
                            .limit(top)
                        ).all(),
                        1,
                    )
                ]
    with store.connect() as conn:
        needs = {
            int(i): (ref, t, d, e)
            for i, ref, t, d, e in conn.execute(
                select(
                    m.Need.id, m.Need.ref, m.Need.title_typed, m.Need.hiring_date, m.Employer.name
                )
                .join(m.Employer)
                .where(m.Need.id.in_([int(r[1]) for r in raw]))
            ).all()
        }
    out = [
        MatchView(
            int(rank), *needs[int(n)][:2], needs[int(n)][3], needs[int(n)][2], unit_score(s), ex
        )
        for rank, n, s, ex in raw
        if int(n) in needs
    ]
    return source, run_id, out


# --- training paths -----------------------------------------------------------------------------
def path_view(settings: Settings, store: Engine, jobseeker_id: int, need_ref: str) -> dict:
    """The training path of a jobseeker towards a need: the published run's when it computed
    one, else computed now (:func:`matching.services.planning.path_for`). Raises
    :class:`~matching.exceptions.NoTrainingPathError` when none exists before the hiring date."""
    need_id = _need_id(store, need_ref)
    run_id = published_run_id(store)
    if run_id is not None:
        with store.connect() as conn:
            row = conn.execute(
                select(m.RunPath.feasible, m.RunPath.path).where(
                    m.RunPath.jobseeker_id == jobseeker_id,
                    m.RunPath.need_id == need_id,
                    m.visible_at(m.RunPath, run_id),
                )
            ).first()
        if row is not None and row.feasible and row.path:
            path = json.loads(row.path) if isinstance(row.path, str) else row.path
            if "summary" in path and "steps" in path:
                return {**path, "source": "publication", "run_id": run_id}
    from matching.services.planning import path_for

    return {**path_for(settings, jobseeker_id, need_id, store=store).to_dict(),
            "source": "calcul immédiat", "run_id": None}  # fmt: skip


# --- recruitment plans --------------------------------------------------------------------------
def plans_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "plans"


def make_plan(
    settings: Settings, store: Engine, need_refs: list[str], *, by: str, as_of: date | None = None
) -> dict:
    """Plan needs together (cohort plan), save its JSON and its timeline chart (PNG) under
    ``data_dir/plans/<id>``; returns the plan dict with ``id``, ``need_refs`` and ``by``."""
    from matching.services.planning import plan_for

    if not need_refs:
        raise ValidationError("plan : au moins un besoin attendu")
    for ref in need_refs:
        _need_id(store, ref)
    plan_id = uuid.uuid4().hex[:12]
    folder = plans_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    plan = plan_for(settings, need_refs, as_of=as_of, store=store, chart=folder / f"{plan_id}.png")
    data = {"id": plan_id, "need_refs": list(need_refs), "by": by, **plan.to_dict()}
    (folder / f"{plan_id}.json").write_text(json.dumps(data, ensure_ascii=False, default=str))
    return data


def _plan_file(settings: Settings, plan_id: str, suffix: str) -> Path:
    if not plan_id.isalnum():
        raise NotFoundError(f"plan {plan_id!r} introuvable")
    path = plans_dir(settings) / f"{plan_id}{suffix}"
    if not path.exists():
        raise NotFoundError(f"plan {plan_id!r} introuvable")
    return path


def load_plan(settings: Settings, plan_id: str) -> dict:
    return json.loads(_plan_file(settings, plan_id, ".json").read_text())


def plan_chart(settings: Settings, plan_id: str) -> bytes:
    return _plan_file(settings, plan_id, ".png").read_bytes()


# --- decisions ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DecisionOut:
    need_ref: str
    jobseeker_ref: str
    event: str
    event_date: date
    by_user: str
    status: str  # created | unchanged


def record_decision(
    store: Engine,
    who: Principal,
    *,
    need_ref: str,
    jobseeker_ref: str,
    event: str,
    event_date: date | None = None,
) -> DecisionOut:
    """Write a decision to ``outcomes`` (what the ranker learns from), checking who may."""
    from matching.store.db import session_scope
    from matching.store.repository import Repository

    if event not in m.OUTCOME_EVENTS:
        raise ValidationError(
            f"décision attendue parmi {', '.join(m.OUTCOME_EVENTS)}, reçu {event!r}"
        )
    allowed = DECISION_EVENTS.get(who.role, ())
    if event not in allowed:
        raise PermissionDeniedError(
            f"le rôle {who.role_label} ne peut pas enregistrer « {EVENT_LABELS[event]} » "
            f"(autorisé : {', '.join(EVENT_LABELS[e] for e in allowed) or 'rien'})"
        )
    need_id = _need_id(store, need_ref)
    with store.connect() as conn:
        js = conn.execute(
            select(m.Jobseeker.id, m.Jobseeker.counsellor_id).where(
                m.Jobseeker.ref == jobseeker_ref
            )
        ).first()
        if js is None:
            raise NotFoundError(f"demandeur {jobseeker_ref!r} introuvable")
        if who.role == "counsellor" and js.counsellor_id != who.id:
            raise PermissionDeniedError(
                f"le demandeur {jobseeker_ref} n'est pas suivi par le compte {who.username!r}"
            )
        if who.role == "desk" and js.id not in _proposed(conn, need_id):
            raise PermissionDeniedError(
                f"{jobseeker_ref} n'a pas été proposé·e pour {need_ref} par un·e conseiller·ère"
            )
    when = event_date or date.today()
    with session_scope(store) as s:
        _, status = Repository(s).upsert_outcome(
            jobseeker_ref=jobseeker_ref, need_ref=need_ref, event=event, event_date=when,
            by_user=who.username,
        )  # fmt: skip
    return DecisionOut(need_ref, jobseeker_ref, event, when, who.username,
                       "unchanged" if status == "unchanged" else "created")  # fmt: skip


# --- exports ------------------------------------------------------------------------------
EXPORT_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _table_bytes(frame: pd.DataFrame, fmt: str, sheet: str) -> bytes:
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"format attendu parmi {', '.join(EXPORT_FORMATS)}, reçu {fmt!r}")
    buf = io.BytesIO()
    if fmt == "csv":
        buf.write(frame.to_csv(index=False, sep=";").encode("utf-8-sig"))
    else:
        with pd.ExcelWriter(buf, engine="openpyxl") as xl:
            frame.to_excel(xl, index=False, sheet_name=sheet[:31])
    return buf.getvalue()


def shortlist_export(view: ShortlistView, fmt: str) -> bytes:
    """A shortlist as CSV (``;``, UTF-8 with BOM for Excel) or .xlsx: references only, plus the
    names the viewer is already allowed to see (:func:`shortlist_view`)."""
    rows = []
    for c in view.candidates:
        e = c.explanation or {}
        rows.append(
            {
                "besoin": view.need_ref,
                "rang": c.rank,
                "demandeur": c.jobseeker_ref,
                "nom": c.name or "",
                "score": round(c.score, 4),
                "décision": EVENT_LABELS.get(c.status or "", ""),
                "résumé": e.get("summary", ""),
                "compétences manquantes": " ; ".join(
                    s.get("label", "") for s in e.get("missing_essential", [])
                ),
            }
        )
    cols = ["besoin", "rang", "demandeur", "nom", "score", "décision", "résumé",
            "compétences manquantes"]  # fmt: skip
    return _table_bytes(pd.DataFrame(rows, columns=cols), fmt, f"Liste {view.need_ref}")


def plan_export(plan: dict, fmt: str) -> bytes:
    """The assignments of a plan (pseudonymous references only)."""
    rows = [
        {
            "besoin": a["need_ref"],
            "demandeur": a["jobseeker_ref"],
            "type": a["kind"],
            "score": round(float(a["score"]), 4),
            "prêt le": (a.get("path") or {}).get("ready_date") or "",
            "formations": " puis ".join(
                s.get("course_title", "") for s in (a.get("path") or {}).get("steps", [])
            ),
            "coût (€)": (a.get("path") or {}).get("total_eur", 0),
        }
        for a in plan.get("assignments", [])
    ]
    cols = ["besoin", "demandeur", "type", "score", "prêt le", "formations", "coût (€)"]
    return _table_bytes(pd.DataFrame(rows, columns=cols), fmt, "Plan")


# --- suggestions (intake) -----------------------------------------------------------------
@dataclass(frozen=True)
class Suggestion:
    code: str
    label: str
    score: float
    code_rome: str | None
    corrected: bool


def suggestions(store: Engine, normaliser: Any, text: str, *, kind: str, top: int = 8):
    """(decision, candidates) for a free-text phrase; ``kind`` is ``metier`` or ``competence``.

    Occupations come from job titles (appellations, mapped to their ROME fiche) and fiches;
    stored human corrections come first (:mod:`matching.services.normalise`)."""
    from matching.services.normalise import normalise_phrases

    text = (text or "").strip()
    if len(text) < 2:
        return "unknown", []
    kinds = {"metier": "occupation", "competence": "skill"}
    if kind not in kinds:
        raise ValidationError(f"type attendu parmi metier, competence ; reçu {kind!r}")
    (res,) = normalise_phrases(store, normaliser, [text[:300]], kind=kinds[kind], top_k=top)
    return res.decision, [
        Suggestion(c.code, c.label, float(c.score), c.code_rome, bool(res.corrected and i == 0))
        for i, c in enumerate(res.candidates)
    ]


# --- nightly run report -------------------------------------------------------------------
def last_run_report(store: Engine) -> dict | None:
    """The published run (id, status, dates, model, report) plus recent runs, or ``None``."""
    from matching.services.nightly import run_history

    history = run_history(store, limit=10)
    run_id = published_run_id(store)
    if run_id is None and not history:
        return None
    with store.connect() as conn:
        run = conn.execute(select(m.Run).where(m.Run.id == run_id)).first() if run_id else None
    report = None
    if run is not None:
        report = run.report if not isinstance(run.report, str) else json.loads(run.report)
    return {
        "published": asdict_run(run) if run is not None else None,
        "report": report or {},
        "history": history,
    }


def asdict_run(run) -> dict:
    return {
        "id": run.id,
        "status": run.status,
        "kind": run.kind,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "model_name": run.model_name,
    }

"""Nightly run orchestration (no SQL here): blocks, backends, incremental plan, merge, paths.

The store side of a run (run rows, heartbeat, bulk writes, atomic publication, pruning) lives in
:mod:`matching.services.nightly`; this package computes the results of a run from a fitted engine
and a snapshot, given what the previous complete run produced:

* :mod:`matching.batch.compute`: blocks of jobseekers through ``MatchingEngine.block_results``,
  on joblib processes or a Dask cluster, merged into per-need shortlists and per-jobseeker lists;
* :mod:`matching.batch.changes`: entity fingerprints, change sets, shortlist departures and why;
* :mod:`matching.batch.incremental`: exact incremental recomputation;
* :mod:`matching.batch.paths`: training paths for shortlisted candidates with a gap;
* :mod:`matching.batch.synthetic`: seeded synthetic territories (tests, benchmarks).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from matching.batch.changes import EntityChanges, diff_fingerprints, in_scope
from matching.batch.compute import (
    BlockFrames,
    BlockTask,
    EngineFile,
    ExplainTask,
    ProgressFn,
    TextSpool,
    explains_pairs,
    merge_frames,
    run_tasks,
    split_blocks,
)
from matching.batch.incremental import (
    IncrementalPlan,
    affected_jobseekers,
    complete_need_lists,
    merge_jobseeker_lists,
    promotable_jobseekers,
    reuse_explanations,
    scoped_k,
    scoped_snapshot,
    split_lists,
)
from matching.batch.paths import DEFAULT_PATHS_PER_NEED

__all__ = [
    "BatchOptions",
    "BlockFrames",
    "ComputeOutcome",
    "EngineSource",
    "PreviousRun",
    "compute_results",
]


@dataclass(frozen=True)
class BatchOptions:
    """How a nightly run computes (keyword-only construction recommended).

    Attributes
    ----------
    top_per_need : shortlist length per open need (50).
    top_per_jobseeker : needs listed per active jobseeker (20).
    paths_per_need : shortlisted candidates per need examined for a training path (10).
    block_size : jobseekers per block (2,000).
    n_jobs : processes for the local backend (scikit-learn meaning).
    backend : ``"local"`` (joblib) or ``"dask"``.
    scheduler : Dask scheduler address for ``backend="dask"``.
    explain : store explanations with shortlists.
    full : recompute everything even when an incremental run is possible.
    reserve_per_need : candidates kept after each shortlist for the next incremental run (a
        need losing shortlisted candidates is completed from them instead of being ranked
        again; 0 disables it). Does not change published results.
    """

    top_per_need: int = 50
    top_per_jobseeker: int = 20
    paths_per_need: int = DEFAULT_PATHS_PER_NEED
    block_size: int = 2000
    n_jobs: int = 1
    backend: str = "local"
    scheduler: str | None = None
    explain: bool = True
    full: bool = False
    reserve_per_need: int = 25

    @property
    def list_length(self) -> int:
        """Candidates kept per need: the shortlist and its reserve."""
        return self.top_per_need + max(self.reserve_per_need, 0)

    def result_settings(self) -> dict[str, Any]:
        """Options that change results (part of the context fingerprint)."""
        return {
            "top_per_need": self.top_per_need,
            "top_per_jobseeker": self.top_per_jobseeker,
            "paths_per_need": self.paths_per_need,
            "explain": self.explain,
        }


@dataclass
class PreviousRun:
    """What the last complete run left: its context, fingerprints and results.

    ``lists`` holds each need's shortlist and reserve (need_id, jobseeker_id, score, rank;
    ranks after ``top_per_need`` are the reserve), without explanations. The per-jobseeker
    lists are read on demand (``read_matches``), for the few jobseekers concerned only.
    """

    run_id: int
    context: str | None
    fingerprints: pd.DataFrame
    lists: pd.DataFrame
    paths: pd.DataFrame  # jobseeker_id, need_id, feasible (path text left in the database)
    #: ``(jobseeker_ids=None, need_ids=None) -> DataFrame`` of previous per-jobseeker rows
    #: (jobseeker_id, need_id, score, rank) of those jobseekers, or holding those needs.
    read_matches: Callable[..., pd.DataFrame] | None = None

    def shortlists(self, top_per_need: int) -> pd.DataFrame:
        """The previous shortlists (the lists without their reserve)."""
        return self.lists[self.lists["rank"] <= top_per_need]


class EngineSource:
    """Fitted engines of a run: the full one, or engines fitted on scoped snapshots.

    ``make() -> unfitted engine`` (the run's factory). Engines are cached by scope; asking for
    another one releases the previous ones (one fitted engine in memory at a time).
    """

    def __init__(self, make: Callable[[], Any], snapshot: Any) -> None:
        self._make = make
        self.snapshot = snapshot
        self._cache: dict[Any, Any] = {}
        self.fits: list[tuple[str, float]] = []  # (scope, seconds), for the report

    def _get(self, key: Any, snapshot: Any, retrieve: dict | None) -> Any:
        if key not in self._cache:
            self._cache.clear()
            t = time.perf_counter()
            engine = self._make()
            for attr, (part, whole) in (retrieve or {}).items():
                k = getattr(engine, attr, None)
                if isinstance(k, int) and not isinstance(k, bool):
                    setattr(engine, attr, scoped_k(k, part, whole))
            self._cache[key] = engine.fit(snapshot)
            self.fits.append((key[0], round(time.perf_counter() - t, 3)))
        return self._cache[key]

    def full(self) -> Any:
        return self._get(("full",), self.snapshot, None)

    def scoped(
        self,
        *,
        jobseekers: np.ndarray | None = None,
        needs: np.ndarray | None = None,
        retrieve: dict[str, tuple[int, int]] | None = None,
    ) -> Any:
        """Engine fitted with only ``jobseekers`` active and ``needs`` open (see
        :func:`matching.batch.incremental.scoped_snapshot`). ``retrieve`` maps a retrieval
        depth hyperparameter of the engine (``retrieve_k``...) to (scoped, total) counts of the
        pool it draws from, to scale it (:func:`matching.batch.incremental.scoped_k`)."""
        key = (
            "scoped",
            None if jobseekers is None else np.asarray(jobseekers, np.int64).tobytes(),
            None if needs is None else np.asarray(needs, np.int64).tobytes(),
        )
        if key in self._cache:
            return self._cache[key]
        snap = scoped_snapshot(self.snapshot, jobseekers=jobseekers, needs=needs)
        return self._get(key, snap, retrieve)

    def clear(self) -> None:
        self._cache.clear()


@dataclass
class ComputeOutcome:
    """Results of a run before they are written."""

    kind: str  # full | incremental
    results: BlockFrames
    changes: dict[str, EntityChanges] = field(default_factory=dict)
    plan_counts: dict[str, int] = field(default_factory=dict)
    blocks: int = 0
    reason_full: str = ""
    explained: int = 0  # pairs explained by this run (the others were carried over)
    durations: dict[str, float] = field(default_factory=dict)  # score / explain seconds


#: Pairs per explanation task (the texts of one task are held at once when written).
EXPLAIN_CHUNK = 10_000


def explain_missing(
    engine: Any,
    shortlists: pd.DataFrame,
    *,
    chunk: int = EXPLAIN_CHUNK,
    rows: np.ndarray | None = None,
    spool: TextSpool | None = None,
    **run_opts: Any,
) -> tuple[pd.DataFrame, int, TextSpool | None]:
    """Explain the final shortlist rows computed by this run (not carried over).

    Rows carried over from the previous run (``prev_rank`` set) keep theirs (copied in SQL at
    write time). The pairs go out in chunks on the same backend as the blocks; the texts go to
    a :class:`~matching.batch.compute.TextSpool` on disk (written by the local workers
    themselves), and the rows explained are flagged ``spooled``: the run never holds every
    explanation in memory. ``rows`` (boolean mask) restricts the rows explained by this call;
    ``spool`` appends to an existing spool (the frame's rows must then come after those
    already spooled).
    """
    todo = shortlists["explanation"].isna().to_numpy().copy()
    if "prev_rank" in shortlists:
        todo &= shortlists["prev_rank"].isna().to_numpy()
    if rows is not None:
        todo &= rows
    spooled = (
        shortlists["spooled"].to_numpy(dtype=bool)
        if "spooled" in shortlists
        else np.zeros(len(shortlists), bool)
    )
    idx = np.flatnonzero(todo)
    if not len(idx):
        return shortlists, 0, spool
    nid = shortlists["need_id"].to_numpy(np.int64)[idx]
    jid = shortlists["jobseeker_id"].to_numpy(np.int64)[idx]
    own = spool is None
    spool = spool or TextSpool()
    starts = range(0, len(idx), chunk)
    paths = spool.reserve(len(starts))
    local = run_opts.get("backend", "local") == "local"
    tasks = [
        ExplainTask(nid[a : a + chunk], jid[a : a + chunk], out=paths[i] if local else None)
        for i, a in enumerate(starts)
    ]

    def keep(i: int, out: Any) -> None:
        if not isinstance(out, int):  # texts sent back (Dask): spooled here
            TextSpool.write_chunk(paths[i], out)

    try:
        run_tasks(engine, tasks, on_result=keep, **run_opts)
    except BaseException:
        if own:
            spool.close()
        raise
    return shortlists.assign(spooled=spooled | todo), len(idx), spool


def _run(engine: Any, tasks: list, run_opts: dict[str, Any], *, in_process: bool = False) -> list:
    """Run tasks against ``engine``: in this process, or with its own dump for the pool."""
    if in_process:
        opts = {**run_opts, "n_jobs": 1, "engine_file": None}
        if opts["backend"] != "local":
            opts["backend"] = "local"
        return run_tasks(engine, tasks, **opts)
    engine_file = EngineFile(engine) if run_opts["backend"] == "local" else None
    try:
        return run_tasks(engine, tasks, **{**run_opts, "engine_file": engine_file})
    finally:
        if engine_file is not None:
            engine_file.close()


def incremental_scope(
    previous: PreviousRun | None,
    fingerprints: pd.DataFrame,
    snapshot: Any,
    options: BatchOptions,
) -> tuple[dict[str, EntityChanges], np.ndarray, np.ndarray] | None:
    """What an incremental run would rank again, or ``None`` when the run must be full.

    Returns the change sets, the jobseekers ranked again against every open need, and the
    scope of the engine fitted for them (those people and the reserve candidates who may move
    up into a shortlist). The context (model, referential...) is checked after the fit.
    """
    if options.full or previous is None:
        return None
    _, js_ids = in_scope(snapshot)
    changes = diff_fingerprints(previous.fingerprints, fingerprints)
    dirty_needs = changes["need"].dirty
    hit = np.zeros(0, np.int64)
    if len(dirty_needs) and previous.read_matches is not None:
        hit = previous.read_matches(need_ids=dirty_needs)["jobseeker_id"].to_numpy(np.int64)
    affected = affected_jobseekers(jobseekers=changes["jobseeker"], hit=hit, jobseeker_ids=js_ids)
    promote = promotable_jobseekers(
        previous.lists,
        dirty_jobseekers=changes["jobseeker"].dirty,
        top_per_need=options.top_per_need,
    )
    scope = np.intersect1d(np.union1d(affected, promote), js_ids)
    if not len(scope) and len(js_ids):
        scope = js_ids[:1]  # an engine needs someone to fit on; nobody is ranked
    return changes, affected, scope


def scoped_engine(engines: EngineSource, snapshot: Any, scope: np.ndarray) -> Any:
    """The engine of an incremental run's people (the same call as the run's fit stage)."""
    _, js_ids = in_scope(snapshot)
    return engines.scoped(jobseekers=scope, retrieve={"retrieve_k": (len(scope), len(js_ids))})


def compute_results(
    engines: EngineSource,
    snapshot: Any,
    *,
    fingerprints: pd.DataFrame,
    context: str,
    previous: PreviousRun | None,
    options: BatchOptions,
    scope: tuple[dict[str, EntityChanges], np.ndarray, np.ndarray] | None = None,
    client: Any = None,
    progress: ProgressFn | None = None,
) -> ComputeOutcome:
    """Shortlists and per-jobseeker lists for everything in scope, incrementally when possible.

    Parameters
    ----------
    engines : :class:`EngineSource` (fitted engines: full, or scoped for incremental runs).
    snapshot : the snapshot the engines are fitted on.
    fingerprints : today's entity fingerprints (:func:`matching.batch.changes.entity_fingerprints`).
    context : today's context fingerprint.
    previous : the last complete run, or ``None``.
    options : :class:`BatchOptions`.
    scope : :func:`incremental_scope` of this run (computed when ``None``).
    client : an existing ``distributed.Client`` for the Dask backend (tests).
    progress : called with (blocks done, blocks total).
    """
    need_ids, js_ids = in_scope(snapshot)
    run_opts = {
        "backend": options.backend,
        "n_jobs": options.n_jobs,
        "scheduler": options.scheduler,
        "client": client,
        "progress": progress,
    }
    reason = ""
    if options.full:
        reason = "recalcul complet demandé"
    elif previous is None:
        reason = "aucune exécution complète précédente"
    elif previous.context != context:
        reason = "contexte modifié (modèle, référentiel, corrections, catalogue, date ou options)"
    if reason:
        return _full(
            engines.full(), previous, fingerprints, js_ids, need_ids, options, run_opts, reason
        )
    assert previous is not None
    if scope is None:
        scope = incremental_scope(previous, fingerprints, snapshot, options)
    assert scope is not None
    return _incremental(
        engines,
        snapshot,
        previous,
        scope=scope,
        need_ids=need_ids,
        js_ids=js_ids,
        options=options,
        run_opts=run_opts,
    )


def _full(engine, previous, fingerprints, js_ids, need_ids, options, run_opts, reason):
    # Score the blocks without explanations, then explain only the final shortlists (when the
    # engine can explain given pairs; see matching.batch.compute.explains_pairs).
    two_pass = options.explain and explains_pairs(engine)
    block_explain = options.explain and not two_pass
    # need_ids=None: "every open need" in the engine contract. The engine then ranks the pairs
    # of its all-pairs retrieval (done once at fit); an explicit list of needs makes it
    # retrieve each need again over the whole pool, for every block.
    tasks = [
        BlockTask(b, None, options.list_length, options.top_per_jobseeker, block_explain)
        for b in split_blocks(js_ids, options.block_size)
    ]
    t = time.perf_counter()
    engine_file = EngineFile(engine) if options.backend == "local" else None
    run_opts = {**run_opts, "engine_file": engine_file}
    try:
        frames = run_tasks(engine, tasks, **run_opts)
        merged = merge_frames(
            frames, top_per_need=options.list_length, top_per_jobseeker=options.top_per_jobseeker
        )
        del frames
        shortlists, reserves = split_lists(merged.shortlists, top_per_need=options.top_per_need)
        results = BlockFrames(shortlists=shortlists, matches=merged.matches, reserves=reserves)
        durations = {"score": time.perf_counter() - t}
        explained = 0
        if two_pass:
            t = time.perf_counter()
            run_opts["progress"] = None
            results.shortlists, explained, results.explanations = explain_missing(
                engine, results.shortlists, **run_opts
            )
            durations["explain"] = time.perf_counter() - t
    finally:
        if engine_file is not None:
            engine_file.close()
    changes = diff_fingerprints(
        previous.fingerprints if previous is not None else fingerprints.iloc[0:0],
        fingerprints,
    )
    return ComputeOutcome(
        kind="full",
        results=results,
        changes=changes,
        plan_counts={"jobseekers_recomputed": len(js_ids), "needs_recomputed": len(need_ids)},
        blocks=len(tasks),
        reason_full=reason,
        explained=explained,
        durations={k: round(v, 3) for k, v in durations.items()},
    )


def _previous_ids(previous: PreviousRun, kind: str) -> np.ndarray:
    """Ids of one kind in the previous run's scope (the only ones its rows can hold)."""
    fps = previous.fingerprints
    return np.unique(fps.loc[fps["kind"] == kind, "entity_id"].to_numpy(np.int64))


#: An incremental run ranks this many people or fewer in this process (starting the worker
#: processes, which import the package and load the engine, costs more than it saves).
IN_PROCESS_JOBSEEKERS = 10_000


def _incremental(
    engines: EngineSource,
    snapshot: Any,
    previous: PreviousRun,
    *,
    scope: tuple[dict[str, EntityChanges], np.ndarray, np.ndarray],
    need_ids: np.ndarray,
    js_ids: np.ndarray,
    options: BatchOptions,
    run_opts: dict[str, Any],
) -> ComputeOutcome:
    changes, affected, people = scope
    jsc, nc = changes["jobseeker"], changes["need"]
    top, length, k_js = options.top_per_need, options.list_length, options.top_per_jobseeker
    durations = {"score": 0.0, "explain": 0.0}
    explained = 0
    spool: TextSpool | None = None
    blocks = 0
    try:
        # 1. people new, changed or listing a changed need, against every open need
        t = time.perf_counter()
        engine = scoped_engine(engines, snapshot, people)
        two_pass = options.explain and explains_pairs(engine)
        block_explain = options.explain and not two_pass
        tasks = [
            BlockTask(b, None, length, k_js, block_explain)
            for b in split_blocks(affected, options.block_size)
        ]
        blocks += len(tasks)
        small = len(affected) <= IN_PROCESS_JOBSEEKERS
        frames = _run(engine, tasks, run_opts, in_process=small) if tasks else []
        fresh_rows = merge_frames(frames, top_per_need=length, top_per_jobseeker=k_js)
        del frames
        lists = complete_need_lists(
            previous.lists,
            fresh_rows.shortlists,
            dirty_jobseekers=jsc.dirty,
            need_ids=need_ids,
            fresh_needs=nc.fresh,
            top_per_need=top,
            keep=length,
            explained_ranks=top,
        )
        touched_sl, touched_res = split_lists(lists.lists, top_per_need=top)
        durations["score"] += time.perf_counter() - t
        if two_pass:  # explained now: the next engine does not hold these people
            t = time.perf_counter()
            touched_sl, n, spool = explain_missing(
                engine, touched_sl, **{**run_opts, "progress": None, "n_jobs": 1}
            )
            explained += n
            durations["explain"] += time.perf_counter() - t

        # 2. needs new, changed or whose reserve ran out, over every active jobseeker
        fresh_needs = np.intersect1d(nc.fresh, need_ids)
        redo = BlockFrames()
        if len(lists.recompute):
            t = time.perf_counter()
            engine = engines.scoped(
                needs=lists.recompute,
                retrieve={"retrieve_k_jobseeker": (len(lists.recompute), len(need_ids))},
            )
            tasks = [
                BlockTask(b, None, length, k_js if len(fresh_needs) else 0, block_explain)
                for b in split_blocks(js_ids, options.block_size)
            ]
            blocks += len(tasks)
            redo = merge_frames(
                _run(engine, tasks, run_opts), top_per_need=length, top_per_jobseeker=k_js
            )
            durations["score"] += time.perf_counter() - t
        redo_sl, redo_res = split_lists(redo.shortlists, top_per_need=top)
        redo_sl = reuse_explanations(
            redo_sl, previous.lists, jobseekers=jsc, needs=nc, explained_ranks=top
        )
        if two_pass and len(redo_sl):
            t = time.perf_counter()
            redo_sl, n, spool = explain_missing(
                engine, redo_sl, spool=spool, **{**run_opts, "progress": None}
            )
            explained += n
            durations["explain"] += time.perf_counter() - t

        # copied needs: their rows stay as they were (also listed, for the report and paths)
        old = previous.lists
        copied_sl = old[old["need_id"].isin(lists.copied) & (old["rank"] <= top)]
        copied_sl = copied_sl.assign(
            explanation=None, prev_rank=copied_sl["rank"].astype(np.float64), spooled=False
        )
        frames_sl = [touched_sl, redo_sl, copied_sl]
        cols = ["need_id", "jobseeker_id", "score", "rank", "explanation", "prev_rank", "spooled"]
        shortlists = pd.concat(
            [f.reindex(columns=cols) for f in frames_sl if len(f)]
            or [touched_sl.reindex(columns=cols)],
            ignore_index=True,
        )
        shortlists["spooled"] = shortlists["spooled"].eq(True)  # missing: not spooled
        reserves = pd.concat([touched_res, redo_res], ignore_index=True)

        # per jobseeker: affected people's new lists; others completed with new or edited needs
        extra = redo.matches
        extra = extra[
            extra["need_id"].isin(fresh_needs).to_numpy()
            & ~extra["jobseeker_id"].isin(affected).to_numpy()
        ]
        touched_js = np.unique(extra["jobseeker_id"].to_numpy(np.int64))
        before = (
            previous.read_matches(jobseeker_ids=touched_js)
            if len(touched_js) and previous.read_matches is not None
            else None
        )
        matches = merge_jobseeker_lists([fresh_rows.matches, extra], before, top_per_jobseeker=k_js)
        copied_js = np.setdiff1d(js_ids, np.union1d(affected, touched_js))
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    finally:
        engines.clear()
    results = BlockFrames(
        shortlists=shortlists,
        matches=matches,
        explanations=spool,
        reserves=reserves,
        copied_needs=lists.copied,
        copied_jobseekers=copied_js,
        uncopied_needs=np.setdiff1d(_previous_ids(previous, "need"), lists.copied),
        uncopied_jobseekers=np.setdiff1d(_previous_ids(previous, "jobseeker"), copied_js),
    )
    plan = IncrementalPlan(jobseekers=affected, needs=lists.recompute)
    return ComputeOutcome(
        kind="incremental",
        results=results,
        changes=changes,
        plan_counts={
            **plan.counts(),
            "needs_completed": len(lists.lists["need_id"].unique()) if len(lists.lists) else 0,
            "needs_copied": len(lists.copied),
            "jobseekers_copied": len(copied_js),
        },
        blocks=blocks,
        explained=explained,
        durations={k: round(v, 3) for k, v in durations.items()},
    )

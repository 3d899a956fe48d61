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
from matching.batch.incremental import combine, incremental_tasks, plan_incremental
from matching.batch.paths import DEFAULT_PATHS_PER_NEED

__all__ = [
    "BatchOptions",
    "BlockFrames",
    "ComputeOutcome",
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
    """What the last complete run left: its context, fingerprints and results."""

    run_id: int
    context: str | None
    fingerprints: pd.DataFrame
    results: BlockFrames  # shortlists with rank and explanation, matches with rank
    paths: pd.DataFrame  # jobseeker_id, need_id, feasible, path


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
    engine: Any, shortlists: pd.DataFrame, *, chunk: int = EXPLAIN_CHUNK, **run_opts: Any
) -> tuple[pd.DataFrame, int, TextSpool | None]:
    """Explain the final shortlist rows computed by this run (not carried over).

    Rows carried over from the previous run (``prev_rank`` set) keep theirs (copied in SQL at
    write time). The pairs go out in chunks on the same backend as the blocks; the texts go to
    a :class:`~matching.batch.compute.TextSpool` on disk (written by the local workers
    themselves), and the rows explained are flagged ``spooled``: the run never holds every
    explanation in memory.
    """
    todo = shortlists["explanation"].isna().to_numpy().copy()
    if "prev_rank" in shortlists:
        todo &= shortlists["prev_rank"].isna().to_numpy()
    idx = np.flatnonzero(todo)
    if not len(idx):
        return shortlists, 0, None
    nid = shortlists["need_id"].to_numpy(np.int64)[idx]
    jid = shortlists["jobseeker_id"].to_numpy(np.int64)[idx]
    spool = TextSpool()
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
        spool.close()
        raise
    return shortlists.assign(spooled=todo), len(idx), spool


def compute_results(
    engine: Any,
    snapshot: Any,
    *,
    fingerprints: pd.DataFrame,
    context: str,
    previous: PreviousRun | None,
    options: BatchOptions,
    client: Any = None,
    progress: ProgressFn | None = None,
) -> ComputeOutcome:
    """Shortlists and per-jobseeker lists for everything in scope, incrementally when possible.

    Parameters
    ----------
    engine : fitted engine (``block_results`` contract).
    snapshot : the snapshot the engine was fitted on.
    fingerprints : today's entity fingerprints (:func:`matching.batch.changes.entity_fingerprints`).
    context : today's context fingerprint.
    previous : the last complete run, or ``None``.
    options : :class:`BatchOptions`.
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

    # Score the blocks without explanations, then explain only the final shortlists (when the
    # engine can explain given pairs; see matching.batch.compute.explains_pairs).
    two_pass = options.explain and explains_pairs(engine)
    block_explain = options.explain and not two_pass
    engine_file = EngineFile(engine) if options.backend == "local" else None
    run_opts["engine_file"] = engine_file
    try:
        if reason:
            # need_ids=None: "every open need" in the engine contract. The engine then ranks the
            # pairs of its all-pairs retrieval (done once at fit); an explicit list of needs
            # makes it retrieve each need again over the whole pool, for every block.
            tasks = [
                BlockTask(b, None, options.top_per_need, options.top_per_jobseeker, block_explain)
                for b in split_blocks(js_ids, options.block_size)
            ]
            t = time.perf_counter()
            frames = run_tasks(engine, tasks, **run_opts)
            results = merge_frames(
                frames,
                top_per_need=options.top_per_need,
                top_per_jobseeker=options.top_per_jobseeker,
            )
            durations = {"score": time.perf_counter() - t}
            explained = 0
            if two_pass:
                t = time.perf_counter()
                run_opts["progress"] = None
                results.shortlists, explained, results.explanations = explain_missing(
                    engine, results.shortlists, **run_opts
                )
                durations["explain"] = time.perf_counter() - t
            changes = diff_fingerprints(
                previous.fingerprints if previous is not None else fingerprints.iloc[0:0],
                fingerprints,
            )
            return ComputeOutcome(
                kind="full",
                results=results,
                changes=changes,
                plan_counts={
                    "jobseekers_recomputed": len(js_ids),
                    "needs_recomputed": len(need_ids),
                },
                blocks=len(tasks),
                reason_full=reason,
                explained=explained,
                durations={k: round(v, 3) for k, v in durations.items()},
            )
        return _incremental(
            engine,
            previous,
            fingerprints=fingerprints,
            need_ids=need_ids,
            js_ids=js_ids,
            options=options,
            block_explain=block_explain,
            two_pass=two_pass,
            run_opts=run_opts,
        )
    finally:
        if engine_file is not None:
            engine_file.close()


def _incremental(
    engine: Any,
    previous: PreviousRun | None,
    *,
    fingerprints: pd.DataFrame,
    need_ids: np.ndarray,
    js_ids: np.ndarray,
    options: BatchOptions,
    block_explain: bool,
    two_pass: bool,
    run_opts: dict[str, Any],
) -> ComputeOutcome:
    assert previous is not None
    changes = diff_fingerprints(previous.fingerprints, fingerprints)
    plan = plan_incremental(
        previous=previous.results,
        jobseekers=changes["jobseeker"],
        needs=changes["need"],
        need_ids=need_ids,
        jobseeker_ids=js_ids,
    )
    tasks = incremental_tasks(
        plan,
        jobseeker_ids=js_ids,
        need_ids=need_ids,
        fresh_needs=changes["need"].fresh,
        block_size=options.block_size,
        top_per_need=options.top_per_need,
        top_per_jobseeker=options.top_per_jobseeker,
        explain=block_explain,
    )
    t = time.perf_counter()
    frames = run_tasks(engine, tasks, **run_opts)
    results = combine(
        frames,
        previous.results,
        plan,
        jobseekers=changes["jobseeker"],
        needs=changes["need"],
        need_ids=need_ids,
        jobseeker_ids=js_ids,
        top_per_need=options.top_per_need,
        top_per_jobseeker=options.top_per_jobseeker,
    )
    durations = {"score": time.perf_counter() - t}
    explained = 0
    if two_pass:
        t = time.perf_counter()
        run_opts["progress"] = None
        results.shortlists, explained, results.explanations = explain_missing(
            engine, results.shortlists, **run_opts
        )
        durations["explain"] = time.perf_counter() - t
    return ComputeOutcome(
        kind="incremental",
        results=results,
        changes=changes,
        plan_counts=plan.counts(),
        blocks=len(tasks),
        explained=explained,
        durations={k: round(v, 3) for k, v in durations.items()},
    )

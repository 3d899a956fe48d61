"""Exact incremental recomputation: which blocks to run again, and how to combine with the last run.

Scores are pairwise (a pair's score depends on that jobseeker and that need only, given the
context: model, referential, catalogue, date; see :mod:`matching.batch.changes`). Let *D_js* be
jobseekers changed or removed since the last complete run, *D_n* needs changed or removed. Then:

* a need whose previous shortlist holds nobody of *D_js* keeps an exact previous shortlist among
  unchanged people: its new shortlist is the top of (previous shortlist ∪ fresh scores of new or
  changed people). Otherwise (one of its candidates changed or left) it is **recomputed over all
  jobseekers**; so is every new or edited need;
* symmetrically, a jobseeker whose previous top needs hold none of *D_n* gets the top of
  (previous list ∪ fresh scores against new or edited needs); otherwise it is recomputed against
  all needs, as are new or edited profiles.

This gives two kinds of tasks, both expressed with the engine contract's ``block_results``:
blocks of the affected jobseekers against all needs, and blocks of all jobseekers against the
affected needs only (``need_ids=``). The result EQUALS a full run's (``tests/batch`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.batch.changes import EntityChanges
from matching.batch.compute import BlockFrames, BlockTask, merge_frames, split_blocks


@dataclass
class IncrementalPlan:
    """Jobseekers to rank against all needs, needs to rank over all jobseekers."""

    jobseekers: np.ndarray
    needs: np.ndarray

    def counts(self) -> dict[str, int]:
        return {"jobseekers_recomputed": len(self.jobseekers), "needs_recomputed": len(self.needs)}


def plan_incremental(
    *,
    previous: BlockFrames,
    jobseekers: EntityChanges,
    needs: EntityChanges,
    need_ids: np.ndarray,
    jobseeker_ids: np.ndarray,
) -> IncrementalPlan:
    """Affected jobseekers and needs (restricted to those in scope today)."""
    sl, mt = previous.shortlists, previous.matches
    hit_needs = sl.loc[sl["jobseeker_id"].isin(jobseekers.dirty), "need_id"].to_numpy(np.int64)
    hit_js = mt.loc[mt["need_id"].isin(needs.dirty), "jobseeker_id"].to_numpy(np.int64)
    aff_needs = np.intersect1d(np.union1d(needs.fresh, hit_needs), need_ids)
    aff_js = np.intersect1d(np.union1d(jobseekers.fresh, hit_js), jobseeker_ids)
    return IncrementalPlan(jobseekers=aff_js, needs=aff_needs)


#: Jobseeker x need cells per "all jobseekers x some needs" task (bounds the engine's dense
#: score block: 25 M float32 = 100 MB).
CELLS_PER_NEED_TASK = 25_000_000


def incremental_tasks(
    plan: IncrementalPlan,
    *,
    jobseeker_ids: np.ndarray,
    need_ids: np.ndarray,
    fresh_needs: np.ndarray | None = None,
    block_size: int,
    top_per_need: int,
    top_per_jobseeker: int,
    explain: bool,
) -> list[BlockTask]:
    """Blocks of affected jobseekers x all needs, then all jobseekers x chunks of affected needs.

    The second kind is cut by needs, not by jobseekers: with explicit ``need_ids`` the engine
    retrieves each need's candidates over the whole pool, so cutting the jobseekers would redo
    that retrieval once per block. Needs recomputed only because one of their candidates changed
    (not new or edited themselves) need no per-jobseeker side (``top_per_jobseeker=0``): their
    scores with unchanged people are those of the previous run, already in the kept lists.
    """
    tasks = [
        # need_ids=None: every open need (the engine's precomputed retrieval)
        BlockTask(b, None, top_per_need, top_per_jobseeker, explain)
        for b in split_blocks(plan.jobseekers, block_size)
    ]
    if not len(plan.needs) or not len(jobseeker_ids):
        return tasks
    fresh = plan.needs if fresh_needs is None else np.intersect1d(plan.needs, fresh_needs)
    hit_only = np.setdiff1d(plan.needs, fresh)
    width = max(1, CELLS_PER_NEED_TASK // len(jobseeker_ids))
    everyone = np.unique(np.asarray(jobseeker_ids, dtype=np.int64))
    for needs, k_js in ((fresh, top_per_jobseeker), (hit_only, 0)):
        tasks += [
            BlockTask(everyone, chunk, top_per_need, k_js, explain)
            for chunk in split_blocks(needs, width)
        ]
    return tasks


def combine(
    fresh: list[BlockFrames],
    previous: BlockFrames,
    plan: IncrementalPlan,
    *,
    jobseekers: EntityChanges,
    needs: EntityChanges,
    need_ids: np.ndarray,
    jobseeker_ids: np.ndarray,
    top_per_need: int,
    top_per_jobseeker: int,
) -> BlockFrames:
    """Fresh block outputs first, then the previous rows still valid; top-k per need/jobseeker."""
    sl, mt = previous.shortlists, previous.matches
    keep_sl = (
        sl["need_id"].isin(need_ids)
        & ~sl["need_id"].isin(plan.needs)
        & ~sl["jobseeker_id"].isin(jobseekers.dirty)
    )
    keep_mt = (
        mt["jobseeker_id"].isin(jobseeker_ids)
        & ~mt["jobseeker_id"].isin(plan.jobseekers)
        & ~mt["need_id"].isin(needs.dirty)
    )
    kept = sl.loc[keep_sl, ["need_id", "jobseeker_id", "score", "explanation", "rank"]]
    old = BlockFrames(
        # prev_rank: the row is copied from the previous run at write time (explanation
        # included, which is therefore not read back)
        shortlists=kept.rename(columns={"rank": "prev_rank"}),
        matches=mt.loc[keep_mt, ["jobseeker_id", "need_id", "score"]],
    )
    merged = merge_frames(
        [*fresh, old], top_per_need=top_per_need, top_per_jobseeker=top_per_jobseeker
    )
    # A recomputed row whose pair was already shortlisted, with need and person unchanged, has
    # the same score and explanation as then (both are functions of the pair and the context):
    # point it at its previous row so the explanation is copied, not computed again.
    out = merged.shortlists
    if len(out) and "explanation" in out:
        clean = sl.loc[
            ~sl["jobseeker_id"].isin(jobseekers.dirty) & ~sl["need_id"].isin(needs.dirty),
            ["need_id", "jobseeker_id", "rank"],
        ].rename(columns={"rank": "old_rank"})
        todo = out["explanation"].isna()
        if "prev_rank" in out:
            todo &= out["prev_rank"].isna()
        else:
            out = out.assign(prev_rank=np.nan)
        hit = out.loc[todo, ["need_id", "jobseeker_id"]].merge(clean, how="left")
        prev_rank = out["prev_rank"].to_numpy(dtype=np.float64).copy()
        prev_rank[np.flatnonzero(todo.to_numpy())] = hit["old_rank"].to_numpy(dtype=np.float64)
        merged.shortlists = out.assign(prev_rank=prev_rank)
    return merged


def reusable_pairs(
    previous_shortlists: pd.DataFrame,
    *,
    jobseekers: EntityChanges,
    needs: EntityChanges,
    per_need: int,
) -> pd.DataFrame:
    """(need_id, jobseeker_id) pairs whose training path (or absence of gap) is still valid.

    A path depends on the pair and the catalogue; incremental runs only happen when the catalogue
    and the date are unchanged, so a pair examined last time (rank within ``per_need``) whose
    need and jobseeker are unchanged keeps its result.
    """
    sl = previous_shortlists
    ok = (
        (sl["rank"] <= per_need)
        & ~sl["jobseeker_id"].isin(jobseekers.dirty)
        & ~sl["need_id"].isin(needs.dirty)
    )
    return sl.loc[ok, ["need_id", "jobseeker_id"]].astype(np.int64)

"""Incremental recomputation: what to rank again, and how to complete the previous run's lists.

Scores are pairwise (a pair's score depends on that jobseeker and that need only, given the
context: model, referential, catalogue, date; see :mod:`matching.batch.changes`). Let *D_js* be
jobseekers changed or removed since the last complete run, *D_n* needs changed or removed.

**Per need.** A run keeps, beyond each need's shortlist (top ``top_per_need``), a *reserve*
of the next candidates (``run_reserves``): the need's list *P* holds its best ``top_per_need +
reserve`` candidates. Every candidate outside *P* ranks after the last of *P*. Today, with
*K* = *P* minus *D_js* and *F* the fresh scores of new or changed people for that need, the
list *K* ∪ *F*, sorted, is exact down to the last row of *K* (people outside *P* and unchanged
rank after it). When that exact part still holds ``top_per_need`` rows, the new shortlist and
reserve are read from it; otherwise (or for a new or edited need) the need is ranked again
over every active jobseeker. A list shorter than ``top_per_need`` was complete (the need had no
more candidates) and stays complete. A need with no change at all in its list keeps its rows,
which are copied in SQL.

**Per jobseeker.** A jobseeker new, changed, or whose previous top needs hold one of *D_n* is
ranked again against every open need; the others keep their list, completed with fresh scores
against new or edited needs.

The engines are fitted on *scoped* snapshots (:func:`scoped_snapshot`): the same tables, with
only the jobseekers (needs) to rank marked active (open), so that fitting costs what is ranked,
not the whole territory, while every learned statistic (skill IDF over all profiles and needs,
text vocabulary over all needs) is the same as a full fit's. The result equals a full run's
for engines scoring every pair (``tests/batch`` checks it); with the real engine, which ranks
only the most similar candidates, see ``docs/operations.md`` (exactness).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from matching.batch.changes import EntityChanges
from matching.batch.compute import BlockFrames, top_k

#: Status given to the entities a scoped fit must leave out (any status but active/open would do).
SCOPED_OUT = "hors-perimetre"


def scoped_snapshot(
    snapshot: Any, *, jobseekers: np.ndarray | None = None, needs: np.ndarray | None = None
) -> Any:
    """The snapshot with only ``jobseekers`` active and only ``needs`` open (``None``: as is).

    Every table keeps its rows (the vectorisers learn their statistics over all profiles and
    needs); only the statuses change, and the experiences and programmes of people left out are
    dropped (the engine reads them for the active people only).
    """
    out = {}
    if jobseekers is not None:
        js = snapshot.jobseekers
        keep = js["id"].isin(np.asarray(jobseekers, dtype=np.int64)).to_numpy()
        active = (js["status"] == "active").to_numpy()
        status = js["status"].to_numpy(dtype=object).copy()
        status[active & ~keep] = SCOPED_OUT
        out["jobseekers"] = js.assign(status=status)
        ids = js["id"].to_numpy()[active & keep]
        for name in ("experiences", "programmes"):
            df = getattr(snapshot, name)
            out[name] = df[df["jobseeker_id"].isin(ids)] if len(df) else df
    if needs is not None:
        nd = snapshot.needs
        keep = nd["id"].isin(np.asarray(needs, dtype=np.int64)).to_numpy()
        status = nd["status"].to_numpy(dtype=object).copy()
        status[(status == "open") & ~keep] = SCOPED_OUT
        out["needs"] = nd.assign(status=status)
    return replace(snapshot, **out)


def scoped_k(k: int, part: int, whole: int, *, margin: float = 1.5, extra: int = 3) -> int:
    """Retrieval depth for a scoped fit holding ``part`` of ``whole`` candidates.

    An engine that ranks only its ``k`` most similar candidates per need would, on a pool
    scoped to changed people, rank far more of them than a full fit does (its ``k`` most
    similar *changed* people instead of the changed people among its ``k`` most similar);
    ranking cost and results would drift. ``k × part / whole`` is the expected number of scoped
    candidates among the full pool's ``k`` best; the margin keeps the rare needs where changed
    people cluster among the most similar.
    """
    if whole <= 0 or part >= whole:
        return k
    return int(min(k, math.ceil(k * margin * part / whole) + extra))


@dataclass
class IncrementalPlan:
    """Jobseekers ranked again against all needs, needs ranked again over all jobseekers."""

    jobseekers: np.ndarray
    needs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def counts(self) -> dict[str, int]:
        return {"jobseekers_recomputed": len(self.jobseekers), "needs_recomputed": len(self.needs)}


def affected_jobseekers(
    *, jobseekers: EntityChanges, hit: np.ndarray, jobseeker_ids: np.ndarray
) -> np.ndarray:
    """New or changed people, and people whose previous list holds a changed or removed need."""
    return np.intersect1d(
        np.union1d(jobseekers.fresh, np.asarray(hit, dtype=np.int64)), jobseeker_ids
    )


@dataclass
class NeedLists:
    """Per-need outcome of completing the previous lists (see :func:`complete_need_lists`)."""

    lists: pd.DataFrame  # need_id, jobseeker_id, score, rank, prev_rank (touched needs)
    copied: np.ndarray  # needs whose shortlist and reserve stay as they were
    recompute: np.ndarray  # needs to rank again over every jobseeker


def _group_starts(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start index of each row's group and the position of each row in it (sorted groups)."""
    if not len(groups):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    first = np.r_[True, groups[1:] != groups[:-1]]
    starts = np.flatnonzero(first)
    start_of_row = np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    return start_of_row, np.arange(len(groups)) - start_of_row


def complete_need_lists(
    previous: pd.DataFrame,
    fresh: pd.DataFrame,
    *,
    dirty_jobseekers: np.ndarray,
    need_ids: np.ndarray,
    fresh_needs: np.ndarray,
    top_per_need: int,
    keep: int,
    explained_ranks: int,
) -> NeedLists:
    """Complete each unchanged need's previous list with the fresh scores of changed people.

    Parameters
    ----------
    previous : the previous run's lists (shortlist and reserve): need_id, jobseeker_id, score,
        rank.
    fresh : scores of the people ranked again (need_id, jobseeker_id, score).
    dirty_jobseekers : people changed or removed (their previous rows are void).
    need_ids : open needs today; fresh_needs : new or changed needs (ranked again anyway).
    top_per_need : shortlist length; keep : list length kept (shortlist and reserve).
    explained_ranks : previous ranks that have a stored explanation (the shortlist's).
    """
    need_ids = np.asarray(need_ids, dtype=np.int64)
    targets = np.setdiff1d(need_ids, fresh_needs)
    prev = previous[previous["need_id"].isin(targets)]
    void = prev["jobseeker_id"].isin(dirty_jobseekers).to_numpy()
    hit = np.unique(prev["need_id"].to_numpy(np.int64)[void])
    sizes = prev.groupby("need_id").size()
    complete = np.setdiff1d(
        targets, sizes.index[sizes.to_numpy() >= top_per_need].to_numpy(np.int64)
    )
    kept = prev[~void]
    prev_rank = kept["rank"].to_numpy(np.float64)
    rows = pd.concat(
        [
            pd.DataFrame(
                {
                    "need_id": kept["need_id"].to_numpy(np.int64),
                    "jobseeker_id": kept["jobseeker_id"].to_numpy(np.int64),
                    "score": kept["score"].to_numpy(np.float64),
                    "explanation": None,
                    "known": True,
                    "prev_rank": np.where(prev_rank <= explained_ranks, prev_rank, np.nan),
                }
            ),
            pd.DataFrame(
                {
                    "need_id": fresh["need_id"].to_numpy(np.int64),
                    "jobseeker_id": fresh["jobseeker_id"].to_numpy(np.int64),
                    "score": fresh["score"].to_numpy(np.float64),
                    "explanation": fresh["explanation"].to_numpy(dtype=object)
                    if "explanation" in fresh
                    else None,
                    "known": False,
                    "prev_rank": np.nan,
                }
            ),
        ],
        ignore_index=True,
    )
    rows = rows[rows["need_id"].isin(targets).to_numpy()]
    rows = rows.drop_duplicates(subset=["need_id", "jobseeker_id"], keep="first")
    order = np.lexsort(
        (rows["jobseeker_id"].to_numpy(), -rows["score"].to_numpy(), rows["need_id"].to_numpy())
    )
    rows = rows.iloc[order].reset_index(drop=True)
    g = rows["need_id"].to_numpy(np.int64)
    start, pos = _group_starts(g)
    known = rows["known"].to_numpy(bool)
    # position of the last known row of each group (-1: none), broadcast to the group's rows
    last_known = np.full(len(rows), -1, np.int64)
    if len(rows):
        idx = np.where(known, pos, -1)
        per_group = pd.Series(idx).groupby(start).max()
        last_known = per_group.reindex(start).to_numpy(np.int64)
    is_complete = np.isin(g, complete)
    exact = is_complete | (pos <= last_known)
    rows = rows[exact]
    g = g[exact]
    exact_len = pd.Series(1, index=g).groupby(level=0).sum() if len(g) else pd.Series(dtype=int)
    new_in = (
        pd.Series(~rows["known"].to_numpy(bool), index=g).groupby(level=0).any()
        if len(g)
        else pd.Series(dtype=bool)
    )
    lengths = exact_len.reindex(targets, fill_value=0).to_numpy()
    changed = new_in.reindex(targets, fill_value=False).to_numpy(bool) | np.isin(targets, hit)
    short = (lengths < top_per_need) & ~np.isin(targets, complete)
    copied = targets[~changed & ~short]
    touched = targets[changed & ~short]
    recompute = np.union1d(np.intersect1d(fresh_needs, need_ids), targets[short])
    lists = rows[rows["need_id"].isin(touched).to_numpy()]
    lists = top_k(lists.drop(columns="known"), group="need_id", other="jobseeker_id", k=keep)
    return NeedLists(lists=lists, copied=copied, recompute=recompute)


def promotable_jobseekers(
    previous: pd.DataFrame, *, dirty_jobseekers: np.ndarray, top_per_need: int
) -> np.ndarray:
    """Unchanged people of a reserve who may move up into a shortlist today.

    A need losing ``m`` shortlisted candidates promotes at most its first ``m`` valid reserve
    rows. Their explanation is computed today, so the engine that explains them must hold them.
    """
    void = previous["jobseeker_id"].isin(dirty_jobseekers).to_numpy()
    if not void.any():
        return np.zeros(0, np.int64)
    ranks = previous["rank"].to_numpy()
    lost = (
        pd.Series(void & (ranks <= top_per_need), index=previous["need_id"].to_numpy())
        .groupby(level=0)
        .sum()
    )
    lost = lost[lost > 0]
    res = previous[(ranks > top_per_need) & ~void]
    res = res[res["need_id"].isin(lost.index)].sort_values(["need_id", "rank"])
    order = res.groupby("need_id").cumcount().to_numpy()
    limit = lost.reindex(res["need_id"]).to_numpy()
    return np.unique(res["jobseeker_id"].to_numpy(np.int64)[order < limit])


def split_lists(lists: pd.DataFrame, *, top_per_need: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(shortlists: rank <= top_per_need, reserves: the rest) of ranked need lists."""
    if "rank" not in lists:  # nothing ranked
        lists = lists.assign(rank=pd.Series(dtype="int64"))
    short = lists["rank"].to_numpy() <= top_per_need
    reserves = lists.loc[~short, ["need_id", "jobseeker_id", "score", "rank"]]
    return lists[short].reset_index(drop=True), reserves.reset_index(drop=True)


def reuse_explanations(
    shortlists: pd.DataFrame,
    previous: pd.DataFrame,
    *,
    jobseekers: EntityChanges,
    needs: EntityChanges,
    explained_ranks: int,
) -> pd.DataFrame:
    """Point recomputed rows at their previous row when the pair was shortlisted unchanged.

    A recomputed row whose pair was already shortlisted, with need and person unchanged, has
    the same score and explanation as then (both are functions of the pair and the context):
    its explanation is copied at write time instead of computed again (``prev_rank``).
    """
    out = shortlists if "prev_rank" in shortlists else shortlists.assign(prev_rank=np.nan)
    if not len(out):
        return out
    sl = previous[previous["rank"] <= explained_ranks]
    clean = sl.loc[
        ~sl["jobseeker_id"].isin(jobseekers.dirty) & ~sl["need_id"].isin(needs.dirty),
        ["need_id", "jobseeker_id", "rank"],
    ].rename(columns={"rank": "old_rank"})
    todo = out["prev_rank"].isna().to_numpy().copy()
    if "explanation" in out:
        todo &= out["explanation"].isna().to_numpy()
    hit = out.loc[todo, ["need_id", "jobseeker_id"]].merge(clean, how="left")
    prev_rank = out["prev_rank"].to_numpy(dtype=np.float64).copy()
    prev_rank[np.flatnonzero(todo)] = hit["old_rank"].to_numpy(dtype=np.float64)
    return out.assign(prev_rank=prev_rank)


def merge_jobseeker_lists(
    fresh: list[pd.DataFrame], previous: pd.DataFrame | None, *, top_per_jobseeker: int
) -> pd.DataFrame:
    """Top needs per jobseeker from fresh rows first, then previous rows (duplicates: first)."""
    parts = [f for f in fresh if len(f)]
    if previous is not None and len(previous):
        parts.append(previous[["jobseeker_id", "need_id", "score"]])
    if not parts:
        return BlockFrames().matches.assign(rank=pd.Series(dtype="int64"))
    df = pd.concat(parts, ignore_index=True)
    return top_k(df, group="jobseeker_id", other="need_id", k=top_per_jobseeker)


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

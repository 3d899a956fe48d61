"""Training-path suggestions for shortlisted candidates with a skill gap (nightly run).

For each open need, the candidates ranked within the first ``per_need`` places of its shortlist
are examined (the cap keeps the nightly run bounded: 10,000 needs x 50 candidates would be
500,000 path searches; the default examines the first 10, which is what a counsellor reviews
first). A candidate with an empty gap needs no path and gets no row; otherwise a row holds the
cheapest feasible path (:meth:`matching.planning.paths.PathFinder.best`) or, when none exists,
``feasible = False`` and the French reasons.

Only the jobseekers concerned are indexed for planning (a filtered snapshot), and one
:class:`~matching.planning.paths.PathFinder` is shared by all pairs so identical search problems
are solved once.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from matching.exceptions import NoTrainingPathError
from matching.store.snapshot import Snapshot

#: Default number of shortlisted candidates per need examined for a training path.
DEFAULT_PATHS_PER_NEED = 10


def restrict_snapshot(snapshot: Snapshot, jobseeker_ids: np.ndarray) -> Snapshot:
    """Same snapshot with only the given jobseekers (and their child rows)."""
    keep = set(int(i) for i in jobseeker_ids)

    def only(df: pd.DataFrame, col: str) -> pd.DataFrame:
        return df[df[col].isin(keep)] if len(df) else df

    return Snapshot(
        needs=snapshot.needs,
        need_skills=snapshot.need_skills,
        jobseekers=only(snapshot.jobseekers, "id"),
        jobseeker_skills=only(snapshot.jobseeker_skills, "jobseeker_id"),
        experiences=only(snapshot.experiences, "jobseeker_id"),
        programmes=only(snapshot.programmes, "jobseeker_id"),
        courses=snapshot.courses,
        course_skills=snapshot.course_skills,
        sessions=snapshot.sessions,
        outcomes=only(snapshot.outcomes, "jobseeker_id"),
        policy=only(snapshot.policy, "id"),
        as_of=snapshot.as_of,
    )


def path_pairs(shortlists: pd.DataFrame, *, per_need: int) -> pd.DataFrame:
    """(need_id, jobseeker_id) pairs of the shortlists ranked within ``per_need``."""
    sl = shortlists[shortlists["rank"] <= per_need]
    return sl[["need_id", "jobseeker_id"]].astype(np.int64).reset_index(drop=True)


def compute_paths(snapshot: Snapshot, referential: Any, pairs: pd.DataFrame) -> pd.DataFrame:
    """Rows (jobseeker_id, need_id, feasible, path) for the pairs that have a gap.

    Parameters
    ----------
    snapshot : today's snapshot.
    referential : the referential (labels, core skills of occupations, certification levels).
    pairs : need_id, jobseeker_id.
    """
    from matching.planning.data import PlanningData
    from matching.planning.gaps import skill_gap
    from matching.planning.paths import PathFinder

    cols = ["jobseeker_id", "need_id", "feasible", "path"]
    if pairs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    sub = restrict_snapshot(snapshot, pairs["jobseeker_id"].unique())
    data = PlanningData.from_snapshot(sub, referential)
    finder = PathFinder(data)
    rows = []
    for nid, jid in zip(pairs["need_id"].tolist(), pairs["jobseeker_id"].tolist(), strict=True):
        if jid not in data.people or nid not in data.needs:
            continue
        person, need = data.people[jid], data.needs[nid]
        gap = skill_gap(data, person, need)
        if gap.is_empty:
            continue
        try:
            path = finder.best(person, need, gap=gap)
            rows.append((jid, nid, True, path.to_dict()))
        except NoTrainingPathError as exc:
            rows.append((jid, nid, False, {"gap": gap.to_dict(), "reasons": list(exc.reasons)}))
    return pd.DataFrame(rows, columns=cols)


#: Below this many pairs the paths are computed in the calling process.
PARALLEL_MIN_PAIRS = 5_000


def compute_paths_parallel(
    snapshot: Snapshot, referential: Any, pairs: pd.DataFrame, *, n_jobs: int = 1
) -> pd.DataFrame:
    """:func:`compute_paths` on ``n_jobs`` processes: the pairs cut in contiguous chunks.

    Each process gets the snapshot restricted to its chunk's jobseekers and builds its own
    planning data and path finder; a path depends only on its pair and the catalogue, and the
    chunks are concatenated in order, so the rows equal the sequential ones.
    """
    import joblib

    n = joblib.effective_n_jobs(n_jobs)
    if n == 1 or len(pairs) < PARALLEL_MIN_PAIRS:
        return compute_paths(snapshot, referential, pairs)
    bounds = np.linspace(0, len(pairs), n + 1).astype(int)
    chunks = [pairs.iloc[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    parts = joblib.Parallel(n_jobs=n, backend="loky")(
        joblib.delayed(compute_paths)(
            restrict_snapshot(snapshot, c["jobseeker_id"].unique()), referential, c
        )
        for c in chunks
    )
    return pd.concat(parts, ignore_index=True)

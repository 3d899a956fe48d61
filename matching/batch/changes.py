"""What changed since the last complete run: entity fingerprints, change sets, shortlist departures.

Change detection
----------------
Each run stores one 64-bit **content fingerprint per entity** in scope (open needs, active
jobseekers, courses): a hash of every column the engine reads for that entity *and* of its child
rows (a need's skills and employer sector; a jobseeker's skills, experiences and programmes; a
course's skills and sessions, seats included). ``updated_at`` is deliberately not used: child
tables (skills, sessions) have no timestamp of their own, and a touch that changes nothing would
look like a change. Hashes are computed with :func:`pandas.util.hash_pandas_object`, vectorised;
rows of a child table are combined per entity by a wrapping sum of row hashes, which is
independent of row order.

A separate **context fingerprint** covers what affects every result at once: the model used, the
referential version, the taxonomy corrections, the whole course catalogue (explanations list
courses for missing skills; training paths use sessions and seats) and, when the engine scores
relative to "today", the date. When the context differs from the previous complete run's, the
run is full; otherwise only what changed is recomputed (see :mod:`matching.batch.incremental`).

Departures
----------
:func:`shortlist_changes` compares two published shortlists and says why each candidate who left
a shortlist left it, in this order: the need was closed (filled or cancelled), the person found a
job (an outcome *hired* recorded, or the profile status *employed*), the profile is no longer
active (inactive or deleted), the person is no longer available before the hiring date, the
profile was edited, else the person was out-ranked by other candidates.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from matching.store.snapshot import Snapshot

KINDS = ("jobseeker", "need", "course")

#: Reasons a candidate left a shortlist (code -> French label), in the order they are tested.
DEPARTURE_REASONS = {
    "need_closed": "besoin clos (pourvu ou annulé)",
    "found_job": "a trouvé un emploi",
    "no_longer_active": "profil inactif ou supprimé",
    "unavailable": "plus disponible avant la date d'embauche",
    "profile_changed": "profil modifié",
    "outranked": "dépassé(e) par d'autres candidats",
}


def _row_hash(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    if df.empty:
        return np.zeros(0, dtype=np.uint64)
    sub = df[columns].copy()
    for c in columns:
        # One canonical text form per value so int/float/None/date variants of equal values
        # (SQLite vs PostgreSQL drivers, pandas upcasts) hash the same.
        sub[c] = _canon_column(sub[c])
    return pd.util.hash_pandas_object(sub, index=False).to_numpy(dtype=np.uint64)


def _canon_column(col: pd.Series) -> pd.Series:
    """:func:`_canon` of every value, by dtype where possible (same texts, fewer calls)."""
    kind = col.dtype.kind
    if kind == "b":
        texts = np.where(col.to_numpy(dtype=bool), "1", "0").tolist()
    elif kind in "iu":
        return col.astype(str)  # vectorised str(); same texts, same hashes
    elif kind == "f":
        texts = [
            "" if v != v else (str(int(v)) if v.is_integer() else repr(v)) for v in col.tolist()
        ]
    else:
        inferred = pd.api.types.infer_dtype(col, skipna=True)
        if inferred == "string" and isinstance(col.dtype, pd.StringDtype):
            return col.fillna("")  # text is its own canonical form (same hashes as _canon's)
        if inferred == "date":  # datetime.date values, missing ones included
            texts = [
                v.isoformat() if isinstance(v, date) and not isinstance(v, datetime) else _canon(v)
                for v in col.tolist()
            ]
        else:
            return col.map(_canon)
    return pd.Series(texts, index=col.index, dtype=object)


def _canon(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return str(int(f)) if f.is_integer() else repr(f)
    if hasattr(v, "isoformat"):
        return v.isoformat()[:10] if not hasattr(v, "hour") else v.isoformat()
    return str(v)


def _child_sum(df: pd.DataFrame, key: str, columns: list[str], ids: np.ndarray) -> np.ndarray:
    """Order-independent combination (wrapping sum) of child-row hashes per entity id."""
    out = np.zeros(len(ids), dtype=np.uint64)
    if df.empty or not len(ids):
        return out
    h = _row_hash(df, columns)
    keys = df[key].to_numpy(dtype=np.int64)
    pos = np.searchsorted(ids, keys)
    ok = (pos < len(ids)) & (ids[np.minimum(pos, len(ids) - 1)] == keys)
    with np.errstate(over="ignore"):
        np.add.at(out, pos[ok], h[ok])
    return out


def _combine(ids: np.ndarray, *parts: np.ndarray) -> np.ndarray:
    frame = pd.DataFrame({f"p{i}": p for i, p in enumerate((ids.astype(np.uint64), *parts))})
    return pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64).view(np.int64)


def in_scope(snapshot: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the open needs and of the active jobseekers (sorted)."""
    needs = snapshot.needs
    js = snapshot.jobseekers
    need_ids = np.sort(needs.loc[needs["status"] == "open", "id"].to_numpy(dtype=np.int64))
    js_ids = np.sort(js.loc[js["status"] == "active", "id"].to_numpy(dtype=np.int64))
    return need_ids, js_ids


def entity_fingerprints(snapshot: Snapshot) -> pd.DataFrame:
    """One row per entity in scope: kind, entity_id, fingerprint (int64).

    Open needs, active jobseekers and every course (vectorised; see the module docstring).
    """
    need_ids, js_ids = in_scope(snapshot)
    frames = []

    js = snapshot.jobseekers.set_index("id").loc[js_ids].reset_index()
    js_cols = [c for c in js.columns if c not in ("updated_at",)]
    frames.append(
        (
            "jobseeker",
            js_ids,
            _combine(
                js_ids,
                _row_hash(js, js_cols),
                _child_sum(
                    snapshot.jobseeker_skills,
                    "jobseeker_id",
                    ["jobseeker_id", "skill_code", "level", "source"],
                    js_ids,
                ),
                _child_sum(
                    snapshot.experiences,
                    "jobseeker_id",
                    ["jobseeker_id", "code_rome", "months", "ended_on"],
                    js_ids,
                ),
                _child_sum(
                    snapshot.programmes, "jobseeker_id", ["jobseeker_id", "programme"], js_ids
                ),
            ),
        )
    )
    needs = snapshot.needs.set_index("id").loc[need_ids].reset_index()
    need_cols = [c for c in needs.columns if c not in ("updated_at",)]
    frames.append(
        (
            "need",
            need_ids,
            _combine(
                need_ids,
                _row_hash(needs, need_cols),
                _child_sum(
                    snapshot.need_skills,
                    "need_id",
                    ["need_id", "skill_code", "essential", "level"],
                    need_ids,
                ),
            ),
        )
    )
    course_ids = np.sort(snapshot.courses["id"].to_numpy(dtype=np.int64))
    courses = snapshot.courses.set_index("id").loc[course_ids].reset_index()
    course_cols = [c for c in courses.columns if c not in ("updated_at",)]
    session_cols = [c for c in snapshot.sessions.columns]
    frames.append(
        (
            "course",
            course_ids,
            _combine(
                course_ids,
                _row_hash(courses, course_cols),
                _child_sum(
                    snapshot.course_skills,
                    "course_id",
                    ["course_id", "skill_code", "role"],
                    course_ids,
                ),
                _child_sum(snapshot.sessions, "course_id", session_cols, course_ids),
            ),
        )
    )
    out = [
        pd.DataFrame({"kind": kind, "entity_id": ids, "fingerprint": fp})
        for kind, ids, fp in frames
    ]
    return pd.concat(out, ignore_index=True)


def context_fingerprint(
    *,
    model: str,
    referential_version: str,
    corrections: pd.DataFrame,
    fingerprints: pd.DataFrame,
    as_of: date | None,
    settings: dict[str, Any],
) -> str:
    """Hash of everything that affects all results at once (see the module docstring)."""
    h = hashlib.sha256()
    courses = fingerprints[fingerprints["kind"] == "course"].sort_values("entity_id")
    payload = {
        "model": model,
        "referential": referential_version,
        "as_of": as_of.isoformat() if as_of else None,
        "settings": settings,
        "courses": hashlib.sha256(
            courses[["entity_id", "fingerprint"]].to_numpy(dtype=np.int64).tobytes()
        ).hexdigest(),
        "corrections": hashlib.sha256(
            np.asarray(
                _row_hash(corrections, list(corrections.columns)) if len(corrections) else []
            )
            .astype(np.uint64)
            .tobytes()
        ).hexdigest(),
    }
    h.update(json.dumps(payload, sort_keys=True).encode())
    return h.hexdigest()[:32]


@dataclass
class EntityChanges:
    """Ids new, changed (content differs) and removed (gone from scope) for one kind."""

    new: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    changed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    removed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def fresh(self) -> np.ndarray:
        """New or changed ids (to compute again)."""
        return np.union1d(self.new, self.changed)

    @property
    def dirty(self) -> np.ndarray:
        """Changed or removed ids (whose previous results can no longer be trusted)."""
        return np.union1d(self.changed, self.removed)

    def counts(self) -> dict[str, int]:
        return {"new": len(self.new), "changed": len(self.changed), "removed": len(self.removed)}


def diff_fingerprints(previous: pd.DataFrame, current: pd.DataFrame) -> dict[str, EntityChanges]:
    """Per kind, what is new, changed or removed between two fingerprint tables."""
    out: dict[str, EntityChanges] = {}
    for kind in KINDS:
        p = previous[previous["kind"] == kind].set_index("entity_id")["fingerprint"]
        c = current[current["kind"] == kind].set_index("entity_id")["fingerprint"]
        both = p.index.intersection(c.index)
        changed = both[p.loc[both].to_numpy() != c.loc[both].to_numpy()]
        out[kind] = EntityChanges(
            new=np.sort(c.index.difference(p.index).to_numpy(dtype=np.int64)),
            changed=np.sort(np.asarray(changed, dtype=np.int64)),
            removed=np.sort(p.index.difference(c.index).to_numpy(dtype=np.int64)),
        )
    return out


def shortlist_changes(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    snapshot: Snapshot,
    *,
    changed_jobseekers: np.ndarray | None = None,
    since: date | None = None,
    detail_limit: int = 200,
) -> dict[str, Any]:
    """Candidates who entered or left each shortlist between two runs, with the reasons.

    Parameters
    ----------
    previous, current : shortlists (need_id, jobseeker_id, ...) of the published and new run.
    snapshot : today's snapshot (statuses, availability, outcomes).
    changed_jobseekers : ids whose profile changed since the previous run.
    since : outcomes *hired* dated on/after this day count as "found a job" (default: any).
    detail_limit : needs listed one by one in the report (those with most movement first).

    Returns
    -------
    dict
        ``new_candidates``, ``left`` (totals), ``left_by_reason`` (code -> count),
        ``reasons`` (code -> French label), ``needs`` (per-need detail, at most
        ``detail_limit``) and ``needs_with_changes``.
    """
    prev = previous[["need_id", "jobseeker_id"]].astype(np.int64)
    cur = current[["need_id", "jobseeker_id"]].astype(np.int64)
    merged = prev.merge(cur, how="outer", indicator=True)
    left = merged[merged["_merge"] == "left_only"][["need_id", "jobseeker_id"]]
    entered = merged[merged["_merge"] == "right_only"][["need_id", "jobseeker_id"]]

    needs = snapshot.needs.set_index("id")
    js = snapshot.jobseekers.set_index("id")
    outcomes = snapshot.outcomes
    hired = outcomes[outcomes["event"] == "hired"]
    if since is not None and len(hired):
        hired = hired[pd.to_datetime(hired["event_date"]).dt.date >= since]
    hired_ids = set(hired["jobseeker_id"].astype(int))
    changed = set(np.asarray(changed_jobseekers if changed_jobseekers is not None else [], int))

    need_status = needs["status"].to_dict() if len(needs) else {}
    hiring = needs["hiring_date"].to_dict() if len(needs) else {}
    status = js["status"].to_dict() if len(js) else {}
    avail = js["availability_date"].to_dict() if len(js) else {}

    reasons = []
    for nid, jid in zip(left["need_id"].tolist(), left["jobseeker_id"].tolist(), strict=True):
        st = status.get(jid)
        if need_status.get(nid) != "open":
            reasons.append("need_closed")
        elif jid in hired_ids or st == "employed":
            reasons.append("found_job")
        elif st != "active":
            reasons.append("no_longer_active")
        elif _after(avail.get(jid), hiring.get(nid)):
            reasons.append("unavailable")
        elif jid in changed:
            reasons.append("profile_changed")
        else:
            reasons.append("outranked")
    left = left.assign(reason=reasons)

    by_reason = {k: int((left["reason"] == k).sum()) for k in DEPARTURE_REASONS}
    per_need_new = entered.groupby("need_id").size().to_dict()
    new_ids = entered.sort_values(["need_id", "jobseeker_id"]).groupby("need_id").head(10)
    new_ids_map: dict[int, list[int]] = {}
    for nid, jid in zip(new_ids["need_id"].tolist(), new_ids["jobseeker_id"].tolist(), strict=True):
        new_ids_map.setdefault(nid, []).append(int(jid))
    left_map: dict[int, dict[str, int]] = {}
    for (nid, reason), count in left.groupby(["need_id", "reason"]).size().items():
        left_map.setdefault(int(nid), {})[str(reason)] = int(count)
    refs = needs["ref"].to_dict() if len(needs) else {}
    detail = [
        {
            "need_id": int(nid),
            "ref": str(refs.get(nid, "")),
            "new": int(per_need_new.get(nid, 0)),
            "new_ids": new_ids_map.get(nid, []),
            "left": left_map.get(nid, {}),
        }
        for nid in sorted(set(per_need_new) | set(left_map))
    ]
    detail.sort(key=lambda d: (-(d["new"] + sum(d["left"].values())), d["need_id"]))
    return {
        "new_candidates": len(entered),
        "left": len(left),
        "left_by_reason": by_reason,
        "reasons": dict(DEPARTURE_REASONS),
        "needs_with_changes": len(detail),
        "needs": detail[:detail_limit],
    }


def _after(a: Any, b: Any) -> bool:
    if a is None or b is None or a is pd.NaT or b is pd.NaT:
        return False
    return pd.Timestamp(a) > pd.Timestamp(b)

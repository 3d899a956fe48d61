"""The priority lever: an explicit, documented re-ranking step AFTER the model, off by default.

The partnership may decide to favour residents of priority districts (QPV) or participants of a
programme (PLIE...). That choice is *policy*, not prediction: it never enters the features or the
ranker (``matching.ranking.pair_features`` cannot see the flag) and it is applied here, on a
ranked list, in the open:

* adjusted score = model score + ``priority_district_boost`` if the person lives in a priority
  district + ``programme_boost`` if they take part in one of ``programmes``;
* the list is re-sorted by adjusted score, ties broken by model score then jobseeker id (as
  the engine does), so the model's order is kept among people with the same boost;
  the **model score shown stays the model's** (a calibrated probability) — only ranks move;
* every list the policy touched carries its label (``politique appliquée : priorité QPV +0,05``);
  with both boosts at 0 the list is returned unchanged.

The boost can only move a person up within the list it is given; to let it bring in people from
beyond the shortlist cut, apply it to the engine's longer retrieved list before truncating.

Settings: ``PASSERELLE_PRIORITY_DISTRICT_BOOST``, ``PASSERELLE_PROGRAMME_BOOST``,
``PASSERELLE_BOOSTED_PROGRAMMES`` (:class:`matching.config.Settings`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

NO_POLICY_LABEL = "aucune politique de priorité : classement du modèle seul"


def _fr(x: float) -> str:
    return f"{x:+.2f}".replace(".", ",")


@dataclass(frozen=True)
class PriorityPolicy:
    """Boosts added to the model score after ranking (0 = off).

    Examples
    --------
    >>> PriorityPolicy(priority_district_boost=0.05).label
    'politique appliquée : priorité QPV +0,05'
    >>> PriorityPolicy().active
    False
    """

    priority_district_boost: float = 0.0
    programme_boost: float = 0.0
    programmes: tuple[str, ...] = ("PLIE",)

    @property
    def active(self) -> bool:
        return self.priority_district_boost != 0 or self.programme_boost != 0

    @property
    def label(self) -> str:
        """French label shown on every list the policy touched."""
        if not self.active:
            return NO_POLICY_LABEL
        parts = []
        if self.priority_district_boost:
            parts.append(f"priorité QPV {_fr(self.priority_district_boost)}")
        if self.programme_boost:
            parts.append(f"dispositif {'/'.join(self.programmes)} {_fr(self.programme_boost)}")
        return "politique appliquée : " + ", ".join(parts)

    @classmethod
    def from_settings(cls, settings) -> PriorityPolicy:
        return cls(
            priority_district_boost=float(settings.priority_district_boost),
            programme_boost=float(getattr(settings, "programme_boost", 0.0)),
            programmes=tuple(getattr(settings, "boosted_programmes", ("PLIE",))),
        )


@dataclass(frozen=True)
class PolicyShortlist:
    """A list after the policy step: matches re-ranked (model scores kept) and the label."""

    matches: tuple
    adjusted_scores: tuple[float, ...]
    boosted: frozenset[int]
    applied: bool
    policy: str


def boosts(
    jobseeker_ids: Sequence[int] | np.ndarray,
    policy_columns: pd.DataFrame,
    policy: PriorityPolicy,
    *,
    programmes: pd.DataFrame | None = None,
) -> np.ndarray:
    """Boost of each jobseeker (0 for people absent from ``policy_columns``).

    Parameters
    ----------
    policy_columns : ``Snapshot.policy`` (id, priority_district, counsellor_id).
    programmes : ``Snapshot.programmes`` (jobseeker_id, programme), for the programme boost.
    """
    ids = np.asarray(jobseeker_ids, np.int64)
    out = np.zeros(len(ids))
    if policy.priority_district_boost and len(policy_columns):
        flag = (
            policy_columns.set_index(policy_columns["id"].astype(np.int64))["priority_district"]
            .fillna(False)
            .astype(bool)
        )
        out += policy.priority_district_boost * flag.reindex(ids, fill_value=False).to_numpy()
    if policy.programme_boost and programmes is not None and len(programmes):
        member = programmes.loc[
            programmes["programme"].isin(policy.programmes), "jobseeker_id"
        ].astype(np.int64)
        out += policy.programme_boost * np.isin(ids, member.to_numpy())
    return out


def apply_policy(
    matches: Sequence,
    policy_columns: pd.DataFrame,
    policy: PriorityPolicy,
    *,
    programmes: pd.DataFrame | None = None,
) -> PolicyShortlist:
    """Re-rank one ranked list of ``Match`` (one need) under ``policy``.

    Returns the same matches in the same order when the policy is off; otherwise sorted by
    adjusted score, model score, then jobseeker id; ranks renumbered from 1; model scores
    unchanged.
    """
    matches = tuple(matches)
    ids = np.array([x.jobseeker_id for x in matches], np.int64)
    scores = np.array([x.score for x in matches], float)
    if not policy.active or not matches:
        return PolicyShortlist(
            matches, tuple(scores.tolist()), frozenset(), policy.active, policy.label
        )
    extra = boosts(ids, policy_columns, policy, programmes=programmes)
    adjusted = scores + extra
    order = np.lexsort((ids, -scores, -adjusted))
    ranked = tuple(replace(matches[i], rank=k + 1) for k, i in enumerate(order))
    return PolicyShortlist(
        ranked,
        tuple(adjusted[order].tolist()),
        frozenset(int(j) for j in ids[extra != 0]),
        True,
        policy.label,
    )


def apply_policy_frame(
    shortlists: pd.DataFrame,
    policy_columns: pd.DataFrame,
    policy: PriorityPolicy,
    *,
    programmes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Same step on a long table of shortlists (need_id, jobseeker_id, rank, score, ...).

    Returns a copy re-ranked within each need, with columns ``adjusted_score`` and ``politique``
    (the label, on every row of every list touched). Off: ranks unchanged, label says so.
    """
    out = shortlists.copy()
    extra = (
        boosts(out["jobseeker_id"].to_numpy(), policy_columns, policy, programmes=programmes)
        if policy.active
        else np.zeros(len(out))
    )
    out["adjusted_score"] = out["score"].to_numpy(float) + extra
    out["politique"] = policy.label
    if not policy.active or out.empty:
        return out
    out = out.sort_values(
        ["need_id", "adjusted_score", "score", "jobseeker_id"],
        ascending=[True, False, False, True],
        kind="stable",
    )
    out["rank"] = out.groupby("need_id").cumcount() + 1
    return out.reset_index(drop=True)

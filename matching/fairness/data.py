"""Reading what the fairness audit needs from the store: protected attributes, a run, decisions.

This module is the one place of the engine that selects ``jobseeker_identities`` (gender, birth
date) together with ``jobseekers.priority_district`` and ``unemployed_since`` for statistics. The
eligibility masks come from the engine itself (:meth:`MatchingEngine.eligibility`), fitted on the
store as it is now with the run's reference date (``runs.report['as_of']``): people whose profile
changed since the run are audited with today's profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from matching.exceptions import NotFoundError
from matching.fairness.audit import commute_licence_mask, decision_pairs, protected_groups
from matching.store import models as m
from matching.store.snapshot import load_snapshot

ELIGIBILITY_NOTE = (
    "Vivier éligible d'une liste : les demandeurs actifs qui satisfont les contraintes dures du "
    "moteur pour le besoin (disponibilité au plus tard à la date d'embauche, trajet estimé dans "
    "la limite acceptée, permis si requis), calculées par les masques du moteur lui-même sur la "
    "base actuelle à la date de l'exécution, plus les personnes retenues. Décisions : vivier des "
    "propositions = trajet et permis pour les besoins passés (la disponibilité d'alors n'est pas "
    "enregistrée) ; entretiens et embauches rapportés aux personnes proposées (désistements exclus)."
)


@dataclass
class AuditData:
    """Everything :func:`matching.fairness.audit.audit` needs, as plain arrays and tables."""

    run_id: int | None
    as_of: date
    policy: str | None
    groups: pd.DataFrame
    shortlists: pd.DataFrame  # need_id, jobseeker_id, rank
    shortlist_eligible: np.ndarray  # bool (jobseekers × needs)
    shortlist_jobseekers: np.ndarray
    shortlist_needs: np.ndarray
    decisions: pd.DataFrame  # decision_pairs()
    past_eligible: np.ndarray
    past_jobseekers: np.ndarray
    past_needs: np.ndarray
    eligibility: str = ELIGIBILITY_NOTE


def published_run_id(store: Engine) -> int | None:
    with store.connect() as conn:
        return conn.execute(select(m.Publication.run_id).where(m.Publication.id == 1)).scalar()


def run_info(store: Engine, run_id: int) -> tuple[date, str | None]:
    """(reference date, policy label) of a run; raises NotFoundError for an unknown run."""
    with store.connect() as conn:
        row = conn.execute(
            select(m.Run.report, m.Run.started_at, m.Run.status).where(m.Run.id == run_id)
        ).first()
    if row is None:
        raise NotFoundError(f"exécution n° {run_id} introuvable")
    report = row.report or {}
    if isinstance(report, str):
        import json

        report = json.loads(report)
    as_of = report.get("as_of")
    when = date.fromisoformat(as_of) if as_of else row.started_at.date()
    return when, report.get("policy")


def load_people(store: Engine) -> pd.DataFrame:
    """id, priority_district, unemployed_since, gender, birth_date of every jobseeker."""
    stmt = select(
        m.Jobseeker.id,
        m.Jobseeker.priority_district,
        m.Jobseeker.unemployed_since,
        m.JobseekerIdentity.gender,
        m.JobseekerIdentity.birth_date,
    ).outerjoin(m.JobseekerIdentity, m.JobseekerIdentity.jobseeker_id == m.Jobseeker.id)
    with store.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame(
        [tuple(r) for r in rows],
        columns=["id", "priority_district", "unemployed_since", "gender", "birth_date"],
    )


def load_audit_data(
    store: Engine, referential, *, run_id: int | None = None, as_of: date | None = None
) -> AuditData:
    """Read the run (default: the published one), the decisions and the protected attributes.

    With no run at all, the shortlist section is empty and only decisions are audited.
    """
    from matching.ranking.engine import MatchingEngine

    if run_id is None:
        run_id = published_run_id(store)
    policy = None
    if run_id is not None:
        run_as_of, policy = run_info(store, run_id)
        as_of = as_of or run_as_of
    as_of = as_of or date.today()
    with store.connect() as conn:
        sl_rows = (
            conn.execute(
                select(
                    m.RunShortlist.need_id, m.RunShortlist.jobseeker_id, m.shortlist_rank()
                ).where(m.visible_at(m.RunShortlist, run_id))
            ).all()
            if run_id is not None
            else []
        )
    shortlists = pd.DataFrame(
        [tuple(r) for r in sl_rows], columns=["need_id", "jobseeker_id", "rank"]
    ).astype(np.int64)
    snapshot = load_snapshot(store, as_of=as_of)
    groups = protected_groups(load_people(store), as_of=as_of)

    # shortlists: the engine's own masks, for the needs of the run it still indexes
    if len(shortlists) and len(snapshot.jobseekers):
        engine = MatchingEngine(referential=referential).fit(snapshot)
        need_ids = np.array(
            sorted(n for n in shortlists["need_id"].unique() if int(n) in engine.need_pos_),
            np.int64,
        )
        need_rows = np.array([engine.need_pos_[int(n)] for n in need_ids], np.int64)
        js_rows = np.arange(len(engine.js_ids_))
        eligible = (
            engine.eligibility(need_rows, js_rows)
            if len(need_rows)
            else np.zeros((len(js_rows), 0), bool)
        )
        js_ids = engine.js_ids_.copy()
    else:
        need_ids = np.empty(0, np.int64)
        js_ids = np.empty(0, np.int64)
        eligible = np.zeros((0, 0), bool)

    # decisions: every need with a recorded event, every jobseeker of the store
    decisions = decision_pairs(snapshot.outcomes)
    needs = snapshot.needs
    past = (
        needs[needs["id"].isin(decisions["need_id"].unique())].sort_values("id")
        if len(decisions)
        else needs.iloc[0:0]
    )
    people = snapshot.jobseekers.sort_values("id")
    past_eligible = (
        commute_licence_mask(
            people,
            past,
            distance_km=referential.distance_matrix_km,
            commune_index=referential.commune_index,
        )
        if len(past) and len(people)
        else np.zeros((len(people), len(past)), bool)
    )
    return AuditData(
        run_id=run_id,
        as_of=as_of,
        policy=policy,
        groups=groups,
        shortlists=shortlists,
        shortlist_eligible=eligible,
        shortlist_jobseekers=js_ids,
        shortlist_needs=need_ids,
        decisions=decisions,
        past_eligible=past_eligible,
        past_jobseekers=people["id"].to_numpy(np.int64),
        past_needs=past["id"].to_numpy(np.int64),
    )

"""Data protection (GDPR): retention purge, right of access, right to erasure.

Rules (also stated for the partnership in ``docs/registre-des-traitements.md``)
--------------------------------------------------------------------------------
* **Retention**: a profile is kept until ``retention_until``; when that date is missing the
  retention ends ``default_retention_days`` (730) after ``consent_date``. A profile **without
  recorded consent** is kept ``consent_grace_days`` (30) after its creation — the time for the
  counsellor to collect the signed form — and purged afterwards.
* **Purge** (:func:`purge_expired`, called by the nightly run before its snapshot): the profile,
  identity, skills, experiences, programmes and decisions of those people are deleted; their
  decisions survive only as anonymised counts in ``outcome_aggregates`` (month, ROME code, event,
  count). Idempotent (a second call the same day finds nobody) and fast (one candidate query,
  set-based deletes).
* **Removal from results**: the people purged or erased are removed *at once* from every run's
  rows (shortlists — ranks are positions, so no gap shows —, per-jobseeker lists, training paths,
  fingerprints) and from the run reports; the published run's context is invalidated so the next
  nightly run is a full recomputation in which their places go to the next candidates.
* **Audit log**: earlier entries about a removed person are kept (accountability of the users'
  reads and changes) but detached from the person (``entity_ref`` set to ``effacé`` and detail
  cleared); an erasure is logged with the person's pseudonymous ``ref`` only — never a name,
  address or phone — so the partnership can prove the request was honoured; a purge is logged
  with counts only.
* **Access** (:func:`export_jobseeker`): everything held on one person as JSON.

SQL lives here because this module is the store-side half of data protection; the use cases
(files, users) are in :mod:`matching.services.gdpr`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, or_, select, update

from matching.exceptions import NotFoundError
from matching.store import models as m

DEFAULT_RETENTION_DAYS = 730
CONSENT_GRACE_DAYS = 30
ERASED_REF = "effacé"
CHUNK = 500

#: Tables keyed by jobseeker id that hold the person's own data (children first).
PERSON_TABLES = (
    m.Outcome,
    m.JobseekerSkill,
    m.JobseekerExperience,
    m.JobseekerProgramme,
    m.JobseekerIdentity,
)
RUN_TABLES = (m.RunShortlist, m.RunMatch, m.RunPath, m.RunReserve)


@dataclass(frozen=True)
class PurgeReport:
    """What :func:`purge_expired` did (counts only: no personal data)."""

    today: date
    purged: int
    expired: int
    without_consent: int
    outcomes_aggregated: int
    run_rows_removed: int

    def to_dict(self) -> dict:
        out = asdict(self)
        out["today"] = self.today.isoformat()
        return out


@dataclass(frozen=True)
class ErasureReport:
    """What :func:`erase_jobseeker` did for one person (their ``ref`` only)."""

    ref: str
    outcomes_aggregated: int
    run_rows_removed: int
    audit_entries_detached: int


def _chunks(ids: list[int], size: int = CHUNK) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def record_audit(
    conn: Connection,
    *,
    username: str,
    action: str,
    entity: str,
    entity_ref: str,
    reason_code: str = "",
    detail: str = "",
) -> None:
    """Append one entry to ``audit_log`` (never put identity in ``detail``)."""
    conn.execute(
        m.AuditEntry.__table__.insert().values(
            username=username[:80],
            action=action[:40],
            entity=entity[:40],
            entity_ref=entity_ref[:80],
            reason_code=reason_code[:40],
            detail=detail,
        )
    )


# --- who is due --------------------------------------------------------------------------------
def due_for_purge(
    conn: Connection,
    today: date,
    *,
    default_retention_days: int = DEFAULT_RETENTION_DAYS,
    consent_grace_days: int = CONSENT_GRACE_DAYS,
) -> tuple[list[int], list[int]]:
    """(ids past retention, ids without consent past the grace period), sorted."""
    j = m.Jobseeker
    expired = or_(
        j.retention_until < today,
        and_(
            j.retention_until.is_(None),
            j.consent_date.is_not(None),
            j.consent_date < today - timedelta(days=default_retention_days),
        ),
    )
    cutoff = datetime.combine(today - timedelta(days=consent_grace_days), time())
    no_consent = and_(j.consent_date.is_(None), j.created_at < cutoff)
    rows = conn.execute(
        select(j.id, expired.label("expired")).where(or_(expired, no_consent)).order_by(j.id)
    ).all()
    return [int(r.id) for r in rows if r.expired], [int(r.id) for r in rows if not r.expired]


# --- removal -----------------------------------------------------------------------------------
def _aggregate_outcomes(conn: Connection, ids: list[int]) -> int:
    counts: Counter[tuple[str, str, str]] = Counter()
    for part in _chunks(ids):
        rows = conn.execute(
            select(m.Outcome.event_date, m.Need.code_rome, m.Outcome.event)
            .join(m.Need, m.Need.id == m.Outcome.need_id)
            .where(m.Outcome.jobseeker_id.in_(part))
        ).all()
        for when, code, event in rows:
            counts[(f"{when:%Y-%m}", code, event)] += 1
    if not counts:
        return 0
    agg = m.OutcomeAggregate
    existing = {
        (r.month, r.code_rome, r.event): (r.id, r.count)
        for r in conn.execute(
            select(agg.id, agg.month, agg.code_rome, agg.event, agg.count).where(
                agg.month.in_(sorted({k[0] for k in counts}))
            )
        ).all()
    }
    new_rows = []
    for key, n in sorted(counts.items()):
        if key in existing:
            row_id, old = existing[key]
            conn.execute(update(agg).where(agg.id == row_id).values(count=old + n))
        else:
            new_rows.append({"month": key[0], "code_rome": key[1], "event": key[2], "count": n})
    if new_rows:
        conn.execute(agg.__table__.insert(), new_rows)
    return sum(counts.values())


def _scrub_reports(conn: Connection, ids: set[int], *, today: date) -> None:
    """Remove the people from run reports and invalidate the published run's baseline."""
    published = conn.execute(select(m.Publication.run_id).where(m.Publication.id == 1)).scalar()
    for run_id, report in conn.execute(select(m.Run.id, m.Run.report)).all():
        if report is None:
            continue
        if isinstance(report, str):
            report = json.loads(report)
        changed = False
        for need in (report.get("changes") or {}).get("needs") or []:
            kept = [i for i in need.get("new_ids", []) if int(i) not in ids]
            if len(kept) != len(need.get("new_ids", [])):
                need["new_ids"] = kept
                changed = True
        if run_id == published and report.get("context"):
            # the next nightly run sees a different context: full recomputation
            report["context"] = f"rgpd-{today.isoformat()}:{report['context']}"[:4000]
            changed = True
        if changed:
            conn.execute(update(m.Run).where(m.Run.id == run_id).values(report=report))


def remove_jobseekers(conn: Connection, ids: list[int], *, today: date) -> tuple[int, int]:
    """Delete everything held on these people; return (outcomes aggregated, run rows removed).

    Decisions are first added to ``outcome_aggregates``; run rows are removed from every run
    (ranks are positions in a list, so the lists close up by themselves), run reports scrubbed, audit entries detached.
    """
    if not ids:
        return 0, 0
    aggregated = _aggregate_outcomes(conn, ids)
    refs = []
    for part in _chunks(ids):
        refs += (
            conn.execute(select(m.Jobseeker.ref).where(m.Jobseeker.id.in_(part))).scalars().all()
        )
    run_rows = 0
    for part in _chunks(ids):
        for model in RUN_TABLES:
            run_rows += conn.execute(delete(model).where(model.jobseeker_id.in_(part))).rowcount
        run_rows += conn.execute(
            delete(m.RunFingerprint).where(
                m.RunFingerprint.kind == "jobseeker", m.RunFingerprint.entity_id.in_(part)
            )
        ).rowcount
        for model in PERSON_TABLES:
            conn.execute(delete(model).where(model.jobseeker_id.in_(part)))
        conn.execute(delete(m.Jobseeker).where(m.Jobseeker.id.in_(part)))
    for part in _chunks(refs):
        conn.execute(
            update(m.AuditEntry)
            .where(m.AuditEntry.entity == "jobseeker", m.AuditEntry.entity_ref.in_(part))
            .values(entity_ref=ERASED_REF, detail="")
        )
    _scrub_reports(conn, set(ids), today=today)
    return aggregated, run_rows


# --- use cases ---------------------------------------------------------------------------------
def purge_expired(
    engine: Engine,
    today: date,
    *,
    default_retention_days: int = DEFAULT_RETENTION_DAYS,
    consent_grace_days: int = CONSENT_GRACE_DAYS,
    username: str = "purge-rgpd",
) -> PurgeReport:
    """Delete the profiles past retention or without consent (see the module docstring).

    Parameters
    ----------
    engine : SQLAlchemy engine of the store.
    today : the day of the purge (retention dates strictly before it are past).

    Returns
    -------
    PurgeReport
        Counts only. Idempotent: a second call the same day purges nobody.
    """
    with engine.begin() as conn:
        expired, no_consent = due_for_purge(
            conn,
            today,
            default_retention_days=default_retention_days,
            consent_grace_days=consent_grace_days,
        )
        ids = expired + no_consent
        aggregated, run_rows = remove_jobseekers(conn, ids, today=today)
        if ids:
            record_audit(
                conn,
                username=username,
                action="purge",
                entity="jobseeker",
                entity_ref="",
                reason_code="retention",
                detail=(
                    f"{len(expired)} profil(s) au-delà de la durée de conservation, "
                    f"{len(no_consent)} sans consentement enregistré ; {aggregated} décision(s) "
                    "conservée(s) en agrégats anonymes"
                ),
            )
    return PurgeReport(
        today=today,
        purged=len(ids),
        expired=len(expired),
        without_consent=len(no_consent),
        outcomes_aggregated=aggregated,
        run_rows_removed=run_rows,
    )


def jobseeker_id_for(conn: Connection, ref: str) -> int:
    found = conn.execute(select(m.Jobseeker.id).where(m.Jobseeker.ref == ref)).scalar()
    if found is None:
        raise NotFoundError(f"demandeur {ref!r} introuvable (référence attendue, ex. DE00042)")
    return int(found)


def erase_jobseeker(
    engine: Engine, ref: str, *, username: str, reason: str = "", today: date | None = None
) -> ErasureReport:
    """Right to erasure: delete everything held on the person ``ref`` (one transaction).

    The audit log receives one ``erasure`` entry naming the ref only.
    """
    today = today or date.today()
    with engine.begin() as conn:
        jid = jobseeker_id_for(conn, ref)
        detached = conn.execute(
            select(func.count())
            .select_from(m.AuditEntry)
            .where(m.AuditEntry.entity == "jobseeker", m.AuditEntry.entity_ref == ref)
        ).scalar_one()
        aggregated, run_rows = remove_jobseekers(conn, [jid], today=today)
        record_audit(
            conn,
            username=username,
            action="erasure",
            entity="jobseeker",
            entity_ref=ref,
            reason_code="gdpr_art17",
            detail=(
                "effacement à la demande de la personne (art. 17 RGPD) : profil, identité, "
                "compétences, expériences, dispositifs, décisions et résultats supprimés"
                + (f" ; motif : {reason}" if reason else "")
            ),
        )
    return ErasureReport(
        ref=ref,
        outcomes_aggregated=aggregated,
        run_rows_removed=run_rows,
        audit_entries_detached=int(detached),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _rows(conn: Connection, stmt) -> list[dict]:
    return [{k: _plain(v) for k, v in r._mapping.items()} for r in conn.execute(stmt).all()]


def export_jobseeker(engine: Engine, ref: str, *, skill_labels: dict | None = None) -> dict:
    """Right of access: everything held on the person ``ref``, JSON-able.

    Keys: ``profil``, ``identite``, ``competences``, ``experiences``, ``dispositifs``,
    ``decisions``, ``journal`` (audit entries about them), ``resultats_publies`` (their presence
    in the published run: shortlists, proposed needs, training paths).
    """
    labels = skill_labels or {}
    with engine.connect() as conn:
        jid = jobseeker_id_for(conn, ref)
        j = m.Jobseeker
        profile = _rows(
            conn,
            select(*[c for c in j.__table__.c if c.name not in ("id",)]).where(j.id == jid),
        )[0]
        ident = _rows(
            conn,
            select(*[c for c in m.JobseekerIdentity.__table__.c if c.name != "jobseeker_id"]).where(
                m.JobseekerIdentity.jobseeker_id == jid
            ),
        )
        skills = _rows(
            conn,
            select(m.JobseekerSkill.skill_code, m.JobseekerSkill.level, m.JobseekerSkill.source)
            .where(m.JobseekerSkill.jobseeker_id == jid)
            .order_by(m.JobseekerSkill.skill_code),
        )
        for s in skills:
            s["libelle"] = labels.get(int(s["skill_code"]), "")
        experiences = _rows(
            conn,
            select(
                m.JobseekerExperience.code_rome,
                m.JobseekerExperience.months,
                m.JobseekerExperience.ended_on,
            )
            .where(m.JobseekerExperience.jobseeker_id == jid)
            .order_by(m.JobseekerExperience.id),
        )
        programmes = [
            r["programme"]
            for r in _rows(
                conn,
                select(m.JobseekerProgramme.programme)
                .where(m.JobseekerProgramme.jobseeker_id == jid)
                .order_by(m.JobseekerProgramme.programme),
            )
        ]
        decisions = _rows(
            conn,
            select(
                m.Need.ref.label("besoin"),
                m.Need.title_typed.label("intitule"),
                m.Employer.name.label("employeur"),
                m.Outcome.event,
                m.Outcome.event_date,
                m.Outcome.by_user,
            )
            .join(m.Need, m.Need.id == m.Outcome.need_id)
            .join(m.Employer, m.Employer.id == m.Need.employer_id)
            .where(m.Outcome.jobseeker_id == jid)
            .order_by(m.Outcome.event_date, m.Outcome.id),
        )
        journal = _rows(
            conn,
            select(
                m.AuditEntry.at,
                m.AuditEntry.username,
                m.AuditEntry.action,
                m.AuditEntry.reason_code,
                m.AuditEntry.detail,
            )
            .where(m.AuditEntry.entity == "jobseeker", m.AuditEntry.entity_ref == ref)
            .order_by(m.AuditEntry.at, m.AuditEntry.id),
        )
        run_id = conn.execute(select(m.Publication.run_id).where(m.Publication.id == 1)).scalar()
        published: dict[str, Any] = {
            "execution": run_id,
            "listes": [],
            "besoins": [],
            "parcours": [],
        }
        if run_id is not None:
            sl = m.RunShortlist
            # the person's rank in each list: over the whole lists holding them
            their_needs = select(sl.need_id).where(sl.jobseeker_id == jid, m.visible_at(sl, run_id))
            lists = (
                select(sl.need_id, sl.jobseeker_id, sl.score, sl.explanation, m.shortlist_rank())
                .where(sl.need_id.in_(their_needs), m.visible_at(sl, run_id))
                .subquery()
            )
            published["listes"] = _rows(
                conn,
                select(
                    m.Need.ref.label("besoin"),
                    m.Need.title_typed.label("intitule"),
                    lists.c.rank.label("rang"),
                    lists.c.score,
                    lists.c.explanation.label("explication"),
                )
                .join(m.Need, m.Need.id == lists.c.need_id)
                .where(lists.c.jobseeker_id == jid)
                .order_by(lists.c.rank, m.Need.ref),
            )
            mine = (
                select(m.RunMatch.need_id, m.RunMatch.score, m.match_rank())
                .where(m.RunMatch.jobseeker_id == jid, m.visible_at(m.RunMatch, run_id))
                .subquery()
            )
            published["besoins"] = _rows(
                conn,
                select(
                    m.Need.ref.label("besoin"),
                    m.Need.title_typed.label("intitule"),
                    mine.c.rank.label("rang"),
                    mine.c.score,
                )
                .join(m.Need, m.Need.id == mine.c.need_id)
                .order_by(mine.c.rank),
            )
            published["parcours"] = _rows(
                conn,
                select(
                    m.Need.ref.label("besoin"),
                    m.RunPath.feasible.label("realisable"),
                    m.RunPath.path.label("parcours"),
                )
                .join(m.Need, m.Need.id == m.RunPath.need_id)
                .where(m.RunPath.jobseeker_id == jid, m.visible_at(m.RunPath, run_id))
                .order_by(m.Need.ref),
            )
    return {
        "reference": ref,
        "genere_le": date.today().isoformat(),
        "profil": profile,
        "identite": ident[0] if ident else None,
        "competences": skills,
        "experiences": experiences,
        "dispositifs": programmes,
        "decisions": decisions,
        "journal": journal,
        "resultats_publies": published,
        "information": (
            "Données traitées par le PLIE et le guichet entreprises d'Amiens Métropole pour "
            "l'accompagnement vers l'emploi ; voir le registre des traitements "
            "(docs/registre-des-traitements.md) pour les finalités, la durée de conservation, "
            "les destinataires et vos droits."
        ),
    }

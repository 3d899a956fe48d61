"""Audit trail of personal-data reads and changes (who, what, when, why) and its reading.

Every display or export of a jobseeker's identity goes through :func:`record` with a reason
code chosen by the person reading (:data:`REASON_CODES`). Entries never hold identity itself,
only the pseudonymous reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from matching.exceptions import ValidationError
from matching.fairness.gdpr import record_audit
from matching.store import models as m

#: Reasons a counsellor may give for reading a person's identity (code -> French label).
REASON_CODES = {
    "suivi": "suivi de l'accompagnement",
    "proposition": "proposition à un employeur",
    "entretien": "préparation d'un entretien",
    "rgpd": "demande de la personne (RGPD)",
    "controle": "contrôle de l'administration",
}


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    username: str
    action: str
    entity: str
    entity_ref: str
    reason_code: str
    detail: str


def check_reason(reason_code: str | None) -> str:
    """The reason code itself, or :class:`ValidationError` naming the accepted ones."""
    if reason_code not in REASON_CODES:
        raise ValidationError(
            f"motif de consultation attendu parmi {', '.join(REASON_CODES)}, reçu {reason_code!r}"
        )
    return reason_code


def record(
    store: Engine,
    *,
    username: str,
    action: str,
    entity_refs: list[str] | tuple[str, ...],
    reason_code: str,
    entity: str = "jobseeker",
    detail: str = "",
) -> None:
    """Append one entry per reference, in one transaction."""
    if not entity_refs:
        return
    with store.begin() as conn:
        for ref in entity_refs:
            record_audit(
                conn,
                username=username,
                action=action,
                entity=entity,
                entity_ref=ref,
                reason_code=reason_code,
                detail=detail,
            )


def entries(
    store: Engine,
    *,
    username: str | None = None,
    entity_ref: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[AuditRow]]:
    """(total, newest-first page) of the audit log, optionally filtered."""
    stmt = select(m.AuditEntry)
    count = select(func.count()).select_from(m.AuditEntry)
    for col, value in ((m.AuditEntry.username, username), (m.AuditEntry.entity_ref, entity_ref)):
        if value:
            stmt, count = stmt.where(col == value), count.where(col == value)
    stmt = stmt.order_by(m.AuditEntry.id.desc()).limit(limit).offset(offset)
    with store.connect() as conn:
        total = int(conn.execute(count).scalar_one())
        rows = conn.execute(stmt).all()
    return total, [
        AuditRow(r.at, r.username, r.action, r.entity, r.entity_ref, r.reason_code, r.detail)
        for r in rows
    ]

"""GDPR use cases for the CLI and the API: access export, erasure, purge (thin over
:mod:`matching.fairness.gdpr`), each recorded in the audit log."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from matching.fairness.gdpr import (
    ErasureReport,
    PurgeReport,
    erase_jobseeker,
    export_jobseeker,
    purge_expired,
    record_audit,
)
from matching.taxonomy.referential import Referential


def access_export(
    store: Engine,
    ref: str,
    *,
    username: str,
    referential: Referential | None = None,
    reason_code: str = "gdpr_art15",
) -> dict:
    """Everything held on ``ref`` (right of access); the read is logged in the audit log."""
    labels = referential.skill_labels if referential is not None else None
    data = export_jobseeker(store, ref, skill_labels=labels)
    with store.begin() as conn:
        record_audit(
            conn,
            username=username,
            action="gdpr_export",
            entity="jobseeker",
            entity_ref=ref,
            reason_code=reason_code,
            detail="export de toutes les données détenues (droit d'accès, art. 15 RGPD)",
        )
    return data


def write_export(data: dict, path: Path) -> Path:
    """Write an access export as UTF-8 JSON (indented)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return path


def erase(store: Engine, ref: str, *, username: str, reason: str = "") -> ErasureReport:
    """Right to erasure (art. 17): see :func:`matching.fairness.gdpr.erase_jobseeker`."""
    return erase_jobseeker(store, ref, username=username, reason=reason)


def purge(store: Engine, today: date | None = None) -> PurgeReport:
    """Retention purge (the nightly run calls it too)."""
    return purge_expired(store, today or date.today())

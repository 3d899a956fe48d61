"""GDPR use cases for the CLI and the API: access export, erasure, purge (thin over
:mod:`matching.fairness.gdpr`), each recorded in the audit log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select

from matching.exceptions import PermissionDeniedError
from matching.fairness.gdpr import (
    ErasureReport,
    PurgeReport,
    erase_jobseeker,
    export_jobseeker,
    purge_expired,
    record_audit,
)
from matching.store import models as m
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


# --- accounts allowed to use the data-protection and audit pages ----------------------------------


@dataclass(frozen=True)
class Account:
    username: str
    role: str


def authorise(store: Engine, username: str, password: str, *, roles: tuple[str, ...]) -> Account:
    """Check an account's password (argon2) and role; raise PermissionDeniedError otherwise."""
    with store.connect() as conn:
        row = conn.execute(
            select(m.User.username, m.User.role, m.User.password_hash, m.User.active).where(
                m.User.username == username
            )
        ).first()
    ok = False
    if row is not None and row.active and row.password_hash:
        try:
            ok = PasswordHasher().verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    if not ok:
        raise PermissionDeniedError("identifiant ou mot de passe incorrect")
    if row.role not in roles:
        raise PermissionDeniedError(
            f"accès réservé aux rôles {', '.join(roles)} (compte {username!r} : rôle {row.role})"
        )
    return Account(row.username, row.role)

"""Use cases of file import and export (called by ``passerelle import/export/checksum`` and the API).

Adds to :mod:`matching.store.io` what needs the installation's settings: the referential, the
normaliser loaded only when a file holds free text (with the counsellors' stored corrections
first, as on every intake path), a default rejects file under the data directory (outputs are
never written beside the imported file), and an audit-log entry when identities are exported.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from matching.config import Settings
from matching.store.checksum import database_checksum
from matching.store.io import ENTITIES, ImportReport, export_entity, import_file

__all__ = [
    "ENTITIES",
    "CorrectedNormaliser",
    "checksum",
    "default_rejects_path",
    "export_file",
    "import_entity",
]


class CorrectedNormaliser:
    """``normalise_batch`` of a fitted normaliser with the stored human corrections first."""

    def __init__(self, engine: Engine, normaliser: Any) -> None:
        self.engine = engine
        self.normaliser = normaliser

    def normalise_batch(self, phrases: Sequence[str], *, kind: str = "occupation", top_k: int = 5):
        from matching.services.normalise import normalise_phrases

        return normalise_phrases(self.engine, self.normaliser, phrases, kind=kind, top_k=top_k)


def _normaliser_factory(engine: Engine, settings: Settings):
    def load() -> CorrectedNormaliser:
        from matching.taxonomy.normaliser import get_normaliser

        model = get_normaliser(
            referential_dir=settings.referential_dir,
            cache_dir=settings.effective_cache_dir,
            n_jobs=settings.n_jobs,
        )
        return CorrectedNormaliser(engine, model)

    return load


def default_rejects_path(settings: Settings, source: str | Path) -> Path:
    """``<data_dir>/rejets/<name>-<timestamp>.rejets.csv``: never beside the imported file."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return settings.data_dir / "rejets" / f"{Path(source).stem}-{stamp}.rejets.csv"


def import_entity(
    engine: Engine,
    settings: Settings,
    entity: str,
    path: str | Path,
    *,
    skip_invalid: bool = False,
    rejects_path: str | Path | None = None,
    referential: Any = None,
    normaliser: Any = None,
) -> ImportReport:
    """Import a file of ``entity`` (all or nothing unless ``skip_invalid``).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        Migrated store.
    settings : Settings
        For the referential folder, the normaliser cache and the default rejects folder.
    entity : str
        French entity name (``besoins``, ``demandeurs``...), see :data:`ENTITIES`.
    path : path
        CSV or .xlsx file.
    skip_invalid : bool, default False
        Import the valid rows; rejected rows go to ``rejects_path`` (default:
        :func:`default_rejects_path`).
    rejects_path : path, optional
    referential : Referential, optional
        Loaded from ``settings.referential_dir`` when absent.
    normaliser : object with ``normalise_batch``, optional
        Default: the installation's normaliser with stored corrections, loaded only if the file
        holds free text.

    Returns
    -------
    ImportReport
    """
    if referential is None:
        from matching.taxonomy.referential import load_referential

        referential = load_referential(settings.referential_dir)
    if skip_invalid and rejects_path is None:
        rejects_path = default_rejects_path(settings, path)
    return import_file(
        engine,
        entity,
        path,
        referential=referential,
        skip_invalid=skip_invalid,
        rejects_path=rejects_path,
        normaliser=normaliser or _normaliser_factory(engine, settings),
    )


def export_file(
    engine: Engine,
    entity: str,
    path: str | Path,
    *,
    include_identity: bool = False,
    username: str = "cli",
) -> int:
    """Export ``entity`` to ``path``; an export with identities is written to the audit log."""
    n = export_entity(engine, entity, path, include_identity=include_identity)
    if include_identity and entity == "demandeurs":
        from matching.fairness.gdpr import record_audit

        with engine.begin() as conn:
            record_audit(
                conn,
                username=username,
                action="export",
                entity="jobseeker",
                entity_ref="*",
                reason_code="export_identite",
                detail=f"{n} demandeur(s) exporté(s) avec identité vers {Path(path).name}",
            )
    return n


def checksum(engine: Engine) -> str:
    """SHA-256 of the database content (see :func:`matching.store.checksum.database_checksum`)."""
    return database_checksum(engine)

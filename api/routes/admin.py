"""Administration (JSON): last nightly run report, file imports."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, UploadFile
from sqlalchemy import Engine

from api.deps import ANY_ROLE, get_settings_dep, get_store, require
from api.schemas import ImportOut, RunReport, errors_doc
from matching.config import Settings
from matching.exceptions import ValidationError
from matching.services import serving
from matching.services.accounts import Principal

router = APIRouter(prefix="/api/v1", tags=["administration"])
MAX_UPLOAD = 50 * 1024 * 1024


@router.get("/runs/last", response_model=RunReport, responses=errors_doc())
def last_run(user: Principal = Depends(require(*ANY_ROLE)), store: Engine = Depends(get_store)):
    """Rapport de l'exécution nocturne publiée et historique des dernières exécutions."""
    data = serving.last_run_report(store) or {"published": None, "report": {}, "history": []}
    return RunReport(publiee=data["published"], rapport=data["report"], historique=data["history"])


async def run_import(
    settings: Settings, store: Engine, entity: str, upload: UploadFile, skip_invalid: bool
):
    """Save the upload to a temporary file and import it (all or nothing unless skip)."""
    from matching.services.io import ENTITIES, import_entity

    if entity not in ENTITIES:
        raise ValidationError(f"entité attendue parmi {', '.join(ENTITIES)}, reçu {entity!r}")
    suffix = Path(upload.filename or "import.csv").suffix.lower()
    if suffix not in (".csv", ".xlsx", ".txt"):
        raise ValidationError(f"fichier .csv ou .xlsx attendu, reçu {upload.filename!r}")
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise ValidationError("fichier de plus de 50 Mo refusé")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / (Path(upload.filename or "import").stem + suffix)
        path.write_bytes(data)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(
            import_entity, store, settings, entity, path, skip_invalid=skip_invalid
        )


@router.post("/imports", response_model=ImportOut, responses=errors_doc())
async def import_file(
    entite: str = Form(..., description="besoins, demandeurs, employeurs, formations, ..."),
    fichier: UploadFile = File(..., description="CSV (; ou ,) ou Excel .xlsx"),
    ignorer_invalides: bool = Form(False, description="Importer les lignes valides seulement"),
    user: Principal = Depends(require("admin")),
    store: Engine = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
):
    """Import d'un fichier (tout ou rien par défaut) ; erreurs par ligne et colonne en 422."""
    report = await run_import(settings, store, entite, fichier, ignorer_invalides)
    return ImportOut(
        entite=report.entity,
        crees=report.created,
        modifies=report.updated,
        inchanges=report.unchanged,
        rejetes=report.rejected,
        erreurs=[{"ligne": e.row, "champ": e.field, "message": e.message} for e in report.errors],
    )

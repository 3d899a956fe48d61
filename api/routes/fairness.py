"""Fairness audit page and JSON (admin and business desk): rates and exposure by group."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from api.deps import get_settings_dep, get_store
from matching.config import Settings
from matching.fairness.audit import ATTRIBUTES, fr_number
from matching.services import fairness as service
from matching.services.gdpr import Account, authorise

templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
templates.env.filters["fr"] = fr_number
router = APIRouter()
_basic = HTTPBasic(auto_error=False, realm="Passerelle")


def account_with(*roles: str):
    """Dependency: an account with one of ``roles`` (HTTP Basic, argon2-checked).

    Stands until the application-wide login of ``api/deps.py`` is available; then swap it.
    """

    def dependency(
        credentials: HTTPBasicCredentials | None = Depends(_basic),
        store: Engine = Depends(get_store),
    ) -> Account:
        if credentials is None:
            raise HTTPException(
                status_code=401,
                detail="identification requise",
                headers={"WWW-Authenticate": 'Basic realm="Passerelle"'},
            )
        return authorise(store, credentials.username, credentials.password, roles=roles)

    return dependency


desk_or_admin = account_with("admin", "desk")


@router.get("/equite", response_class=HTMLResponse, include_in_schema=False)
def fairness_page(
    request: Request,
    run: int | None = Query(None, description="Exécution (défaut : la publiée)."),
    account: Account = Depends(desk_or_admin),
    store: Engine = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
):
    result = service.audit_for_page(settings, store, run_id=run)
    return templates.TemplateResponse(
        request,
        "fairness.html",
        {"audit": result, "attributes": ATTRIBUTES, "account": account},
    )


@router.get("/api/v1/equite", tags=["équité"])
def fairness_json(
    run: int | None = Query(None, description="Exécution (défaut : la publiée)."),
    account: Account = Depends(desk_or_admin),
    store: Engine = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
) -> dict:
    """Audit d'équité (taux de sélection, exposition, ratios, alertes) au format JSON."""
    return service.audit_for_page(settings, store, run_id=run).to_dict()

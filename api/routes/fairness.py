"""Fairness audit page and JSON (admin and business desk): rates and exposure by group."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api.deps import Principal, get_settings_dep, get_store, render, require, templates
from matching.config import Settings
from matching.fairness.audit import ATTRIBUTES, fr_number
from matching.services import fairness as service

templates.env.filters["fr"] = fr_number
router = APIRouter()
desk_or_admin = require("admin", "desk")


@router.get("/equite", response_class=HTMLResponse, include_in_schema=False)
def fairness_page(
    request: Request,
    run: int | None = Query(None, description="Exécution (défaut : la publiée)."),
    account: Principal = Depends(desk_or_admin),
    store: Engine = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
):
    result = service.audit_for_page(settings, store, run_id=run)
    return render(request, "fairness.html", {"audit": result, "attributes": ATTRIBUTES})


@router.get("/api/v1/equite", tags=["équité"])
def fairness_json(
    run: int | None = Query(None, description="Exécution (défaut : la publiée)."),
    account: Principal = Depends(desk_or_admin),
    store: Engine = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
) -> dict:
    """Audit d'équité (taux de sélection, exposition, ratios, alertes) au format JSON."""
    return service.audit_for_page(settings, store, run_id=run).to_dict()

"""Data-protection pages (administrators): right of access export and erasure."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from api.deps import get_store
from api.routes.fairness import account_with
from matching.services import gdpr as service
from matching.services.gdpr import Account

templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
router = APIRouter(include_in_schema=False)
admin_only = account_with("admin")


def _same_origin(request: Request) -> None:
    """Refuse a form posted from another site (the browser resends Basic credentials)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin and urlparse(origin).netloc != request.url.netloc:
        raise HTTPException(status_code=403, detail="formulaire envoyé depuis un autre site")


@router.get("/rgpd", response_class=HTMLResponse)
def gdpr_page(request: Request, account: Account = Depends(admin_only)):
    return templates.TemplateResponse(request, "gdpr.html", {"account": account})


@router.get("/rgpd/export")
def gdpr_export(
    ref: str = Query(..., description="Référence du demandeur."),
    account: Account = Depends(admin_only),
    store: Engine = Depends(get_store),
):
    data = service.access_export(store, ref, username=account.username)
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return Response(
        body,
        media_type="application/json; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="donnees-{ref}.json"'},
    )


@router.post("/rgpd/effacement", response_class=HTMLResponse)
def gdpr_erase(
    request: Request,
    ref: str = Form(...),
    confirmation: str = Form(""),
    motif: str = Form(""),
    account: Account = Depends(admin_only),
    store: Engine = Depends(get_store),
):
    _same_origin(request)
    ref = ref.strip()
    if confirmation.strip() != ref:
        return templates.TemplateResponse(
            request,
            "gdpr.html",
            {
                "account": account,
                "error": f"confirmation incorrecte : retapez exactement la référence {ref}",
                "ref": ref,
            },
            status_code=422,
        )
    report = service.erase(store, ref, username=account.username, reason=motif)
    return templates.TemplateResponse(
        request, "gdpr_erased.html", {"account": account, "report": report}
    )

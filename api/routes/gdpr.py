"""Data-protection pages (administrators): right of access export and erasure."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from api.deps import Principal, get_store, render, require
from matching.services import gdpr as service

router = APIRouter(include_in_schema=False)
admin_only = require("admin")


@router.get("/rgpd", response_class=HTMLResponse)
def gdpr_page(request: Request, account: Principal = Depends(admin_only)):
    return render(request, "gdpr.html", {})


@router.get("/rgpd/export")
def gdpr_export(
    ref: str = Query(..., description="Référence du demandeur."),
    account: Principal = Depends(admin_only),
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
    account: Principal = Depends(admin_only),
    store: Engine = Depends(get_store),
):
    ref = ref.strip()
    if confirmation.strip() != ref:
        return render(
            request,
            "gdpr.html",
            {
                "error": f"confirmation incorrecte : retapez exactement la référence {ref}",
                "ref": ref,
            },
            status_code=422,
        )
    report = service.erase(store, ref, username=account.username, reason=motif)
    return render(request, "gdpr_erased.html", {"report": report})

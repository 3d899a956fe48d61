"""Accounts and the audit log (administrators), JSON and pages."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine

from api.deps import get_store, render, require
from api.schemas import AuditEntryOut, PageOf, UserIn, UserOut, UserPatch, errors_doc
from matching.services import accounts, audit
from matching.services.accounts import Principal

router = APIRouter()
admin = require("admin")


@router.get(
    "/api/v1/comptes", response_model=list[UserOut], tags=["comptes"], responses=errors_doc()
)
def list_accounts(user: Principal = Depends(admin), store: Engine = Depends(get_store)):
    """Comptes (sans les empreintes de mot de passe)."""
    return [UserOut.model_validate(u) for u in accounts.list_users(store)]


@router.post(
    "/api/v1/comptes",
    response_model=UserOut,
    status_code=201,
    tags=["comptes"],
    responses=errors_doc(),
)
def create_account(
    body: UserIn, user: Principal = Depends(admin), store: Engine = Depends(get_store)
):
    """Créer un compte (mot de passe haché avec argon2)."""
    accounts.create_user(
        store, username=body.identifiant, password=body.mot_de_passe, role=body.role,
        full_name=body.nom,
    )  # fmt: skip
    return next(
        UserOut.model_validate(u)
        for u in accounts.list_users(store)
        if u["username"] == body.identifiant.strip()
    )


@router.patch(
    "/api/v1/comptes/{identifiant}",
    response_model=UserOut,
    tags=["comptes"],
    responses=errors_doc(404),
)
def update_account(
    identifiant: str,
    body: UserPatch,
    user: Principal = Depends(admin),
    store: Engine = Depends(get_store),
):
    """Activer / désactiver un compte ou changer son mot de passe (révoque ses jetons)."""
    if body.actif is not None:
        accounts.set_active(store, identifiant, body.actif)
    if body.mot_de_passe:
        accounts.set_password(store, identifiant, body.mot_de_passe)
    found = [u for u in accounts.list_users(store) if u["username"] == identifiant]
    if not found:
        from matching.exceptions import NotFoundError

        raise NotFoundError(f"compte {identifiant!r} introuvable")
    return UserOut.model_validate(found[0])


@router.get(
    "/api/v1/journal",
    response_model=PageOf[AuditEntryOut],
    tags=["comptes"],
    responses=errors_doc(),
)
def audit_log(
    compte: str | None = Query(None, description="Filtrer par compte"),
    reference: str | None = Query(None, description="Filtrer par référence de demandeur"),
    limite: int = Query(100, ge=1, le=1000),
    decalage: int = Query(0, ge=0),
    user: Principal = Depends(admin),
    store: Engine = Depends(get_store),
):
    """Journal des lectures et modifications de données personnelles (plus récentes d'abord)."""
    total, rows = audit.entries(
        store, username=compte, entity_ref=reference, limit=limite, offset=decalage
    )
    return PageOf[AuditEntryOut](
        total=total,
        limite=limite,
        decalage=decalage,
        elements=[AuditEntryOut.model_validate(r) for r in rows],
    )


@router.get("/journal", response_class=HTMLResponse, include_in_schema=False)
def audit_page(
    request: Request,
    compte: str | None = None,
    reference: str | None = None,
    page: int = Query(1, ge=1),
    user: Principal = Depends(admin),
    store: Engine = Depends(get_store),
):
    size = 100
    total, rows = audit.entries(
        store, username=compte, entity_ref=reference, limit=size, offset=(page - 1) * size
    )
    return render(
        request,
        "audit.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // size)),
            "compte": compte or "",
            "reference": reference or "",
            "reasons": audit.REASON_CODES,
        },
    )


@router.get("/comptes", response_class=HTMLResponse, include_in_schema=False)
def accounts_page(
    request: Request, user: Principal = Depends(admin), store: Engine = Depends(get_store)
):
    return render(
        request,
        "accounts.html",
        {"accounts": accounts.list_users(store), "roles": accounts.ROLE_LABELS},
    )


@router.post("/comptes", include_in_schema=False)
def accounts_create(
    request: Request,
    identifiant: str = Form(...),
    nom: str = Form(""),
    role: str = Form(...),
    mot_de_passe: str = Form(...),
    user: Principal = Depends(admin),
    store: Engine = Depends(get_store),
):
    accounts.create_user(
        store, username=identifiant, password=mot_de_passe, role=role, full_name=nom
    )
    return RedirectResponse("/comptes", status_code=303)

"""Employers (JSON under /api/v1): business desk and administrators write, everybody reads."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from api.deps import ANY_ROLE, get_catalogue, require
from api.schemas import EmployerIn, EmployerOut, EmployerPatch, PageOf, errors_doc, values
from matching.services.accounts import Principal
from matching.services.catalogue import Catalogue

router = APIRouter(prefix="/api/v1/employers", tags=["employeurs"])
reader, writer = require(*ANY_ROLE), require("desk", "admin")


@router.get("", response_model=PageOf[EmployerOut], responses=errors_doc())
def list_employers(
    secteur: str | None = Query(None, description="Secteur prioritaire"),
    recherche: str | None = Query(None, description="Partie du nom"),
    limite: int = Query(50, ge=1, le=500),
    decalage: int = Query(0, ge=0),
    user: Principal = Depends(reader),
    cat: Catalogue = Depends(get_catalogue),
):
    """Employeurs, par nom (filtres : secteur, recherche ; pagination)."""
    page = cat.list_employers(sector=secteur, search=recherche, limit=limite, offset=decalage)
    return PageOf[EmployerOut](
        total=page.total,
        limite=limite,
        decalage=decalage,
        elements=[EmployerOut.model_validate(e) for e in page.items],
    )


@router.post("", response_model=EmployerOut, status_code=201, responses=errors_doc(409))
def create_employer(
    body: EmployerIn, user: Principal = Depends(writer), cat: Catalogue = Depends(get_catalogue)
):
    """Créer un employeur (référence libre et unique)."""
    return EmployerOut.model_validate(
        cat.save_employer(body.ref, values(body, exclude={"ref"}), create=True)
    )


@router.get("/{ref}", response_model=EmployerOut, responses=errors_doc(404))
def get_employer(
    ref: str, user: Principal = Depends(reader), cat: Catalogue = Depends(get_catalogue)
):
    return EmployerOut.model_validate(cat.get_employer(ref))


@router.patch("/{ref}", response_model=EmployerOut, responses=errors_doc(404))
def update_employer(
    ref: str,
    body: EmployerPatch,
    user: Principal = Depends(writer),
    cat: Catalogue = Depends(get_catalogue),
):
    """Modifier les champs envoyés."""
    return EmployerOut.model_validate(cat.save_employer(ref, values(body), create=False))

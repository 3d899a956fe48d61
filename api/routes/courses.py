"""Training courses and their sessions (JSON under /api/v1)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query

from api.deps import ANY_ROLE, get_catalogue, require
from api.schemas import (
    CourseIn,
    CourseOut,
    CoursePatch,
    PageOf,
    SessionIn,
    SessionOut,
    SessionPatch,
    errors_doc,
    values,
)
from matching.services.accounts import Principal
from matching.services.catalogue import Catalogue

router = APIRouter(prefix="/api/v1", tags=["formations"])
reader, writer = require(*ANY_ROLE), require("desk", "admin")
_COURSE_CHILDREN = {"ref", "organisme", "competences_enseignees", "prerequis"}


@router.get("/courses", response_model=PageOf[CourseOut], responses=errors_doc())
def list_courses(
    code_rome: str | None = Query(None),
    recherche: str | None = Query(None, description="Partie de l'intitulé"),
    limite: int = Query(50, ge=1, le=500),
    decalage: int = Query(0, ge=0),
    user: Principal = Depends(reader),
    cat: Catalogue = Depends(get_catalogue),
):
    page = cat.list_courses(code_rome=code_rome, search=recherche, limit=limite, offset=decalage)
    return PageOf[CourseOut](
        total=page.total,
        limite=limite,
        decalage=decalage,
        elements=[CourseOut.model_validate(c) for c in page.items],
    )


@router.post("/courses", response_model=CourseOut, status_code=201, responses=errors_doc(409))
def create_course(
    body: CourseIn, user: Principal = Depends(writer), cat: Catalogue = Depends(get_catalogue)
):
    """Créer une formation (l'organisme est créé s'il est inconnu)."""
    return CourseOut.model_validate(
        cat.save_course(
            body.ref, values(body, exclude=_COURSE_CHILDREN), provider_ref=body.organisme,
            taught=body.competences_enseignees, prerequisites=body.prerequis, create=True,
        )
    )  # fmt: skip


@router.get("/courses/{ref}", response_model=CourseOut, responses=errors_doc(404))
def get_course(
    ref: str, user: Principal = Depends(reader), cat: Catalogue = Depends(get_catalogue)
):
    return CourseOut.model_validate(cat.get_course(ref))


@router.patch("/courses/{ref}", response_model=CourseOut, responses=errors_doc(404))
def update_course(
    ref: str, body: CoursePatch, user: Principal = Depends(writer),
    cat: Catalogue = Depends(get_catalogue),
):  # fmt: skip
    return CourseOut.model_validate(
        cat.save_course(
            ref, values(body, exclude=_COURSE_CHILDREN), provider_ref=body.organisme,
            taught=body.competences_enseignees, prerequisites=body.prerequis, create=False,
        )
    )  # fmt: skip


@router.get("/sessions", response_model=PageOf[SessionOut], responses=errors_doc())
def list_sessions(
    formation: str | None = Query(None, description="Référence de la formation"),
    apres: dt.date | None = Query(None, description="Sessions commençant à partir de"),
    limite: int = Query(50, ge=1, le=500),
    decalage: int = Query(0, ge=0),
    user: Principal = Depends(reader),
    cat: Catalogue = Depends(get_catalogue),
):
    page = cat.list_sessions(course=formation, starting_after=apres, limit=limite, offset=decalage)
    return PageOf[SessionOut](
        total=page.total,
        limite=limite,
        decalage=decalage,
        elements=[SessionOut.model_validate(x) for x in page.items],
    )


@router.post("/sessions", response_model=SessionOut, status_code=201, responses=errors_doc(409))
def create_session(
    body: SessionIn, user: Principal = Depends(writer), cat: Catalogue = Depends(get_catalogue)
):
    return SessionOut.model_validate(
        cat.save_session(
            body.ref, values(body, exclude={"ref", "formation"}), course_ref=body.formation,
            create=True,
        )
    )  # fmt: skip


@router.get("/sessions/{ref}", response_model=SessionOut, responses=errors_doc(404))
def get_session(
    ref: str, user: Principal = Depends(reader), cat: Catalogue = Depends(get_catalogue)
):
    return SessionOut.model_validate(cat.get_session(ref))


@router.patch("/sessions/{ref}", response_model=SessionOut, responses=errors_doc(404))
def update_session(
    ref: str, body: SessionPatch, user: Principal = Depends(writer),
    cat: Catalogue = Depends(get_catalogue),
):  # fmt: skip
    return SessionOut.model_validate(
        cat.save_session(ref, values(body), course_ref=None, create=False)
    )

"""Needs, intake suggestions, shortlists (published run or fresh) and their exports."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.deps import ANY_ROLE, get_catalogue, get_engines, get_normaliser, get_store, require
from api.schemas import (
    NeedIn,
    NeedOut,
    NeedPatch,
    PageOf,
    Shortlist,
    SuggestionOut,
    Suggestions,
    errors_doc,
    shortlist_json,
    values,
)
from matching.services import serving
from matching.services.accounts import Principal
from matching.services.catalogue import Catalogue
from matching.store.repository import NeedSkillSpec

router = APIRouter(prefix="/api/v1", tags=["besoins"])
reader, writer = require(*ANY_ROLE), require("desk", "admin")


def _skills(body: NeedPatch):
    if body.competences is None:
        return None
    return [
        NeedSkillSpec(code=s.code, essential=s.essentielle, level=s.niveau)
        for s in body.competences
    ]


@router.get("/needs", response_model=PageOf[NeedOut], responses=errors_doc())
def list_needs(
    statut: str | None = Query("open", description="draft, open, filled, cancelled ; vide = tous"),
    employeur: str | None = Query(None, description="Référence de l'employeur"),
    code_rome: str | None = Query(None),
    limite: int = Query(50, ge=1, le=500),
    decalage: int = Query(0, ge=0),
    user: Principal = Depends(reader),
    cat: Catalogue = Depends(get_catalogue),
):
    """Besoins par date d'embauche (filtres : statut, employeur, métier ; pagination)."""
    page = cat.list_needs(
        status=statut or None, employer=employeur, code_rome=code_rome, limit=limite,
        offset=decalage,
    )  # fmt: skip
    return PageOf[NeedOut](
        total=page.total,
        limite=limite,
        decalage=decalage,
        elements=[NeedOut.model_validate(n) for n in page.items],
    )


@router.post("/needs", response_model=NeedOut, status_code=201, responses=errors_doc(409))
def create_need(
    body: NeedIn, user: Principal = Depends(writer), cat: Catalogue = Depends(get_catalogue)
):
    """Saisir un besoin. Le métier (`code_rome`) est celui confirmé parmi les suggestions."""
    need = cat.save_need(
        body.ref,
        values(body, exclude={"ref", "employeur", "competences"}),
        employer_ref=body.employeur,
        skills=_skills(body),
        by=user,
        create=True,
    )
    return NeedOut.model_validate(need)


@router.get("/needs/{ref}", response_model=NeedOut, responses=errors_doc(404))
def get_need(ref: str, user: Principal = Depends(reader), cat: Catalogue = Depends(get_catalogue)):
    return NeedOut.model_validate(cat.get_need(ref))


@router.patch("/needs/{ref}", response_model=NeedOut, responses=errors_doc(404))
def update_need(
    ref: str, body: NeedPatch, user: Principal = Depends(writer),
    cat: Catalogue = Depends(get_catalogue),
):  # fmt: skip
    """Modifier les champs envoyés (`competences` remplace la liste entière)."""
    need = cat.save_need(
        ref, values(body, exclude={"competences"}), employer_ref=None, skills=_skills(body),
        by=user, create=False,
    )  # fmt: skip
    return NeedOut.model_validate(need)


@router.get(
    "/needs/{ref}/shortlist",
    response_model=Shortlist,
    responses=errors_doc(404),
    summary="Liste classée et expliquée des candidats d'un besoin",
)
async def shortlist(
    ref: str,
    request: Request,
    fresh: bool = Query(
        False, description="Calculer maintenant au lieu de lire l'exécution nocturne publiée"
    ),
    top: int = Query(50, ge=1, le=200),
    user: Principal = Depends(reader),
    store: Engine = Depends(get_store),
    engines: serving.EngineCache = Depends(get_engines),
):
    """Candidats classés (rang, score 0..1, explication : compétences acquises et manquantes
    avec les formations qui les enseignent, contraintes). Références pseudonymes ; le guichet
    voit le nom d'un·e candidat·e une fois proposé·e par un·e conseiller·ère."""
    if fresh:
        # The engine ranks now (~8 ms of CPU on the demo) in the thread pool, at most
        # ``fresh_concurrency`` at once per process: twenty threads computing together took
        # twice the CPU per list (interpreter lock contention), so waiting here is faster.
        async with request.app.state.fresh_slots:
            view = await run_in_threadpool(
                serving.shortlist_view, store, user, ref, fresh=True, top=top, engines=engines
            )
    else:
        # Published: a few indexed reads and cached rows (~0.3 ms), run on the event loop: a
        # thread-pool hop costs about as much, and twenty threads contending for the GIL stretch
        # every request's latency (measured with benchmarks/bench_api.py). The audit-log write
        # that showing names requires (desk, admin) goes to the thread pool.
        view = serving.shortlist_view(store, user, ref, top=top, audit_now=False)
        if view.pending_audit is not None:
            await run_in_threadpool(view.pending_audit)
    # Encoded once, directly (the hottest route; see bench_api.py): returning the model would
    # make FastAPI validate, dump and serialise it again in a second thread-pool hop.
    return Response(shortlist_json(view), media_type="application/json")


@router.get(
    "/needs/{ref}/shortlist/export",
    responses={
        200: {"content": {m: {} for m in serving.EXPORT_FORMATS.values()}},
        **errors_doc(404),
    },
    response_class=Response,
)
def shortlist_export(
    ref: str,
    format: str = Query("csv", pattern="^(csv|xlsx)$"),
    fresh: bool = False,
    user: Principal = Depends(reader),
    store: Engine = Depends(get_store),
    engines: serving.EngineCache = Depends(get_engines),
):
    """Export CSV (séparateur `;`) ou Excel de la liste, pseudonymisé."""
    view = serving.shortlist_view(store, user, ref, fresh=fresh, engines=engines)
    return Response(
        serving.shortlist_export(view, format),
        media_type=serving.EXPORT_FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="liste-{ref}.{format}"'},
    )


@router.get("/suggestions", response_model=Suggestions, tags=["saisie"], responses=errors_doc())
def suggestions(
    texte: str = Query(..., max_length=300, description="Intitulé ou compétence tel que saisi"),
    type: str = Query("metier", pattern="^(metier|competence)$"),
    top: int = Query(8, ge=1, le=20),
    user: Principal = Depends(reader),
    store: Engine = Depends(get_store),
    normaliser=Depends(get_normaliser),
):
    """Métiers (ROME) ou compétences proposés pour un texte libre ; les corrections
    enregistrées par les conseiller·ères passent en premier."""
    decision, found = serving.suggestions(store, normaliser, texte, kind=type, top=top)
    return Suggestions(
        texte=texte,
        type=type,
        decision=decision,
        suggestions=[SuggestionOut.model_validate(s) for s in found],
    )

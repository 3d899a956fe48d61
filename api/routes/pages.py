"""Server-rendered pages (French): needs, intake, shortlist with decisions, jobseekers, training
paths, recruitment plans, nightly-run report, imports. Thin: every page calls the services."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine

from api.deps import (
    ANY_ROLE,
    get_catalogue,
    get_engines,
    get_settings_dep,
    get_store,
    render,
    require,
)
from api.routes.admin import run_import
from matching.config import Settings
from matching.exceptions import ImportValidationError, NoTrainingPathError, ValidationError
from matching.services import serving
from matching.services.accounts import Principal
from matching.services.audit import REASON_CODES
from matching.services.catalogue import Catalogue
from matching.store import models as m

router = APIRouter(include_in_schema=False)
anyone = require(*ANY_ROLE)
desk = require("desk", "admin")
caseload = require("counsellor", "admin")
admin = require("admin")

CONTRACTS = m.CONTRACT_TYPES
STATUS_LABELS = {"draft": "brouillon", "open": "ouvert", "filled": "pourvu", "cancelled": "annulé"}


def _flash(request: Request, message: str) -> None:
    request.session["flash"] = message


def _pop_flash(request: Request) -> str | None:
    return request.session.pop("flash", None)


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request,
    statut: str = "open",
    page: int = Query(1, ge=1),
    user: Principal = Depends(anyone),
    cat: Catalogue = Depends(get_catalogue),
):
    size = 100
    found = cat.list_needs(status=statut or None, limit=size, offset=(page - 1) * size)
    return render(
        request,
        "needs.html",
        {
            "needs": found.items,
            "total": found.total,
            "page": page,
            "pages": max(1, -(-found.total // size)),
            "statut": statut,
            "statuses": STATUS_LABELS,
            "flash": _pop_flash(request),
        },
    )


# --- need intake -------------------------------------------------------------------------------
def _intake_context(request: Request, cat: Catalogue, form: dict | None = None, error=None):
    communes = sorted(cat.referential.commune_names.items(), key=lambda kv: kv[1])
    return {
        "employers": cat.list_employers(limit=1000).items,
        "communes": communes,
        "contracts": CONTRACTS,
        "form": form or {},
        "error": error,
        "occupation_label": cat.referential.occupation_labels.get(
            (form or {}).get("code_rome", "")
        ),
    }


@router.get("/besoins/nouveau", response_class=HTMLResponse)
def need_new(
    request: Request, user: Principal = Depends(desk), cat: Catalogue = Depends(get_catalogue)
):
    return render(request, "need_new.html", _intake_context(request, cat))


@router.post("/besoins/nouveau", response_class=HTMLResponse)
def need_create(
    request: Request,
    employeur: str = Form(""),
    intitule: str = Form(""),
    code_rome: str = Form(""),
    postes: int = Form(1, ge=1),
    date_embauche: dt.date = Form(...),
    contrat: str = Form("CDI"),
    commune_insee: str = Form(""),
    heures_semaine: float = Form(35.0),
    permis_requis: bool = Form(False),
    description: str = Form(""),
    user: Principal = Depends(desk),
    cat: Catalogue = Depends(get_catalogue),
):
    form = {
        "employeur": employeur, "intitule": intitule, "code_rome": code_rome, "postes": postes,
        "date_embauche": date_embauche.isoformat(), "contrat": contrat,
        "commune_insee": commune_insee, "heures_semaine": heures_semaine,
        "permis_requis": permis_requis, "description": description,
    }  # fmt: skip
    try:
        if not code_rome:
            raise ValidationError(
                "choisissez le métier parmi les suggestions proposées pour l'intitulé"
            )
        need = cat.save_need(
            None,
            {
                "title_typed": intitule.strip(), "code_rome": code_rome.strip().upper(),
                "positions": postes, "hiring_date": date_embauche, "contract_type": contrat,
                "commune_insee": commune_insee, "hours_per_week": heures_semaine,
                "driving_licence_required": permis_requis, "description": description,
            },
            employer_ref=employeur or None, skills=None, by=user, create=True,
        )  # fmt: skip
    except ValidationError as exc:
        ctx = _intake_context(request, cat, form, error=str(exc))
        return render(request, "need_new.html", ctx, status_code=422)
    _flash(request, f"Besoin {need.ref} enregistré ({need.occupation_label}).")
    return RedirectResponse(f"/besoins/{need.ref}", status_code=303)


# --- need page with its shortlist ---------------------------------------------------------------
@router.get("/besoins/{ref}", response_class=HTMLResponse)
def need_page(
    ref: str,
    request: Request,
    frais: bool = False,
    user: Principal = Depends(anyone),
    cat: Catalogue = Depends(get_catalogue),
    store: Engine = Depends(get_store),
    engines: serving.EngineCache = Depends(get_engines),
):
    need = cat.get_need(ref)
    view = serving.shortlist_view(store, user, ref, fresh=frais, engines=engines)
    return render(
        request,
        "need.html",
        {
            "need": need,
            "view": view,
            "fresh": frais,
            "events": serving.EVENT_LABELS,
            "allowed": serving.DECISION_EVENTS.get(user.role, ()),
            "statuses": STATUS_LABELS,
            "flash": _pop_flash(request),
        },
    )


@router.post("/decisions")
def decision_form(
    request: Request,
    besoin: str = Form(...),
    demandeur: str = Form(...),
    decision: str = Form(...),
    user: Principal = Depends(anyone),
    store: Engine = Depends(get_store),
):
    out = serving.record_decision(
        store, user, need_ref=besoin, jobseeker_ref=demandeur, event=decision
    )
    _flash(
        request,
        f"Décision enregistrée : {out.jobseeker_ref} {serving.EVENT_LABELS[out.event]} "
        f"pour {out.need_ref} le {out.event_date.strftime('%d/%m/%Y')}.",
    )
    return RedirectResponse(f"/besoins/{quote(besoin)}#c-{quote(demandeur)}", status_code=303)


# --- jobseekers ---------------------------------------------------------------------------------
@router.get("/demandeurs", response_class=HTMLResponse)
def jobseekers_page(
    request: Request,
    page: int = Query(1, ge=1),
    user: Principal = Depends(caseload),
    cat: Catalogue = Depends(get_catalogue),
):
    size = 100
    found = cat.list_jobseekers(user, status="active", limit=size, offset=(page - 1) * size)
    return render(
        request,
        "jobseekers.html",
        {"people": found.items, "total": found.total, "page": page,
         "pages": max(1, -(-found.total // size))},
    )  # fmt: skip


@router.get("/demandeurs/{ref}", response_class=HTMLResponse)
def jobseeker_page(
    ref: str,
    request: Request,
    motif: str | None = None,
    user: Principal = Depends(caseload),
    cat: Catalogue = Depends(get_catalogue),
    store: Engine = Depends(get_store),
):
    person = cat.get_jobseeker(user, ref)
    identity = cat.read_identity(user, ref, reason_code=motif) if motif else None
    source, run_id, needs = serving.matches_view(store, person.id, top=20)
    return render(
        request,
        "jobseeker.html",
        {
            "person": person, "identity": identity, "reasons": REASON_CODES, "motif": motif,
            "needs": needs, "source": source, "run_id": run_id,
        },
    )  # fmt: skip


@router.get("/demandeurs/{ref}/parcours/{need_ref}", response_class=HTMLResponse)
def path_page(
    ref: str,
    need_ref: str,
    request: Request,
    user: Principal = Depends(require("counsellor", "desk", "admin")),
    cat: Catalogue = Depends(get_catalogue),
    store: Engine = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
):
    if user.role == "counsellor":
        js_id = cat.check_caseload(user, ref)
    else:
        from matching.services.matching import resolve_id

        js_id = resolve_id(store, m.Jobseeker, ref)
    need = cat.get_need(need_ref)
    try:
        path, reasons = serving.path_view(settings, store, js_id, need_ref), []
    except NoTrainingPathError as exc:
        path, reasons = None, exc.reasons
    return render(
        request, "path.html", {"ref": ref, "need": need, "path": path, "reasons": reasons}
    )


# --- recruitment plans --------------------------------------------------------------------------
@router.get("/plans", response_class=HTMLResponse)
def plans_page(
    request: Request, user: Principal = Depends(desk), cat: Catalogue = Depends(get_catalogue)
):
    needs = cat.list_needs(status="open", limit=500).items
    return render(request, "plans.html", {"needs": needs})


@router.post("/plans")
async def plan_create(
    request: Request,
    user: Principal = Depends(desk),
    store: Engine = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
):
    form = await request.form()
    refs = [str(v) for v in form.getlist("besoins")]
    from starlette.concurrency import run_in_threadpool

    plan = await run_in_threadpool(serving.make_plan, settings, store, refs, by=user.username)
    return RedirectResponse(f"/plans/{plan['id']}", status_code=303)


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
def plan_page(
    plan_id: str,
    request: Request,
    user: Principal = Depends(desk),
    settings: Settings = Depends(get_settings_dep),
):
    return render(request, "plan.html", {"plan": serving.load_plan(settings, plan_id)})


# --- nightly run report -------------------------------------------------------------------------
@router.get("/executions", response_class=HTMLResponse)
def runs_page(
    request: Request, user: Principal = Depends(anyone), store: Engine = Depends(get_store)
):
    return render(request, "runs.html", {"data": serving.last_run_report(store)})


# --- imports ------------------------------------------------------------------------------------
@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request, user: Principal = Depends(admin)):
    from matching.services.io import ENTITIES

    return render(request, "import.html", {"entities": ENTITIES})


@router.post("/import", response_class=HTMLResponse)
async def import_upload(
    request: Request,
    entite: str = Form(...),
    fichier: UploadFile = File(...),
    ignorer_invalides: bool = Form(False),
    user: Principal = Depends(admin),
    store: Engine = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
):
    from matching.services.io import ENTITIES

    ctx = {"entities": ENTITIES, "entity": entite, "filename": fichier.filename}
    try:
        ctx["report"] = await run_import(settings, store, entite, fichier, ignorer_invalides)
    except ImportValidationError as exc:
        ctx["failed"] = exc
        return render(request, "import.html", ctx, status_code=422)
    except ValidationError as exc:
        ctx["error"] = str(exc)
        return render(request, "import.html", ctx, status_code=422)
    return render(request, "import.html", ctx)

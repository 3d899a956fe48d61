"""Jobseekers (counsellors: their own caseload; administrators: all): profile, identity read
with a reason code (audited), top needs, training path towards a need."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Engine

from api.deps import get_catalogue, get_engines, get_settings_dep, get_store, require
from api.schemas import (
    IdentityOut,
    JobseekerIn,
    JobseekerOut,
    JobseekerPatch,
    Matches,
    MatchOut,
    PageOf,
    TrainingPathOut,
    errors_doc,
    values,
)
from matching.config import Settings
from matching.services import serving
from matching.services.accounts import Principal
from matching.services.audit import REASON_CODES
from matching.services.catalogue import Catalogue
from matching.store.repository import ExperienceSpec, PersonSkillSpec

router = APIRouter(prefix="/api/v1/jobseekers", tags=["demandeurs"])
caseload = require("counsellor", "admin")
path_reader = require("counsellor", "desk", "admin")
MOTIF = Query(
    ...,
    description="Motif de consultation : "
    + ", ".join(f"{k} ({v})" for k, v in REASON_CODES.items()),
)


def _save(cat: Catalogue, user: Principal, ref: str | None, body: JobseekerPatch, create: bool):
    skills = (
        None
        if body.competences is None
        else [PersonSkillSpec(s.code, s.niveau, s.source) for s in body.competences]
    )
    experiences = (
        None
        if body.experiences is None
        else [ExperienceSpec(e.code_rome, e.mois, e.fin) for e in body.experiences]
    )
    return cat.save_jobseeker(
        user,
        ref,
        values(body, exclude={"ref", "identite", "competences", "experiences", "dispositifs",
                              "conseiller"}),
        identity=values(body.identite) if body.identite is not None else None,
        counsellor=body.conseiller,
        skills=skills,
        experiences=experiences,
        programmes=body.dispositifs,
        create=create,
    )  # fmt: skip


@router.get("", response_model=PageOf[JobseekerOut], responses=errors_doc())
def list_jobseekers(
    statut: str | None = Query("active", description="active, employed, inactive ; vide = tous"),
    commune: str | None = Query(None, description="Code INSEE de la commune"),
    limite: int = Query(50, ge=1, le=500),
    decalage: int = Query(0, ge=0),
    user: Principal = Depends(caseload),
    cat: Catalogue = Depends(get_catalogue),
):
    """Profils (sans identité) du portefeuille du conseiller (tous pour un administrateur)."""
    page = cat.list_jobseekers(
        user, status=statut or None, commune=commune, limit=limite, offset=decalage
    )
    return PageOf[JobseekerOut](
        total=page.total,
        limite=limite,
        decalage=decalage,
        elements=[JobseekerOut.model_validate(j) for j in page.items],
    )


@router.post("", response_model=JobseekerOut, status_code=201, responses=errors_doc(409))
def create_jobseeker(
    body: JobseekerIn, user: Principal = Depends(caseload), cat: Catalogue = Depends(get_catalogue)
):
    """Créer un profil dans son portefeuille (le quartier prioritaire est déduit de l'adresse)."""
    return JobseekerOut.model_validate(_save(cat, user, body.ref, body, True))


@router.get("/{ref}", response_model=JobseekerOut, responses=errors_doc(404))
def get_jobseeker(
    ref: str, user: Principal = Depends(caseload), cat: Catalogue = Depends(get_catalogue)
):
    return JobseekerOut.model_validate(cat.get_jobseeker(user, ref))


@router.patch("/{ref}", response_model=JobseekerOut, responses=errors_doc(404))
def update_jobseeker(
    ref: str,
    body: JobseekerPatch,
    user: Principal = Depends(caseload),
    cat: Catalogue = Depends(get_catalogue),
):
    return JobseekerOut.model_validate(_save(cat, user, ref, body, False))


@router.get("/{ref}/identite", response_model=IdentityOut, responses=errors_doc(404))
def identity(
    ref: str,
    motif: str = MOTIF,
    user: Principal = Depends(caseload),
    cat: Catalogue = Depends(get_catalogue),
):
    """Identité de la personne ; chaque lecture est inscrite au journal avec son motif."""
    return IdentityOut.model_validate(cat.read_identity(user, ref, reason_code=motif))


@router.get("/{ref}/matches", response_model=Matches, responses=errors_doc(404))
def matches(
    ref: str,
    fresh: bool = Query(False, description="Calculer maintenant"),
    top: int = Query(20, ge=1, le=100),
    user: Principal = Depends(caseload),
    cat: Catalogue = Depends(get_catalogue),
    store: Engine = Depends(get_store),
    engines: serving.EngineCache = Depends(get_engines),
):
    """Besoins les mieux adaptés à la personne (exécution publiée, ou calcul immédiat)."""
    js_id = cat.check_caseload(user, ref)
    source, run_id, found = serving.matches_view(
        store, js_id, fresh=fresh, top=top, engines=engines
    )
    return Matches(
        demandeur=ref,
        source=source,
        execution=run_id,
        besoins=[MatchOut.model_validate(x) for x in found],
    )


@router.get("/{ref}/paths/{need_ref}", response_model=TrainingPathOut, responses=errors_doc(404))
def training_path(
    ref: str,
    need_ref: str,
    user: Principal = Depends(path_reader),
    cat: Catalogue = Depends(get_catalogue),
    store: Engine = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
):
    """Parcours de formation le moins long puis le moins cher avant la date d'embauche
    (pseudonyme : ouvert au guichet ; un conseiller pour son portefeuille)."""
    if user.role == "counsellor":
        js_id = cat.check_caseload(user, ref)
    else:
        from matching.services.matching import resolve_id
        from matching.store import models as m

        js_id = resolve_id(store, m.Jobseeker, ref)
    p = serving.path_view(settings, store, js_id, need_ref)
    return TrainingPathOut(
        demandeur=ref,
        besoin=need_ref,
        source=p["source"],
        resume=p["summary"],
        pret_le=p.get("ready_date"),
        semaines=p.get("total_weeks", 0),
        cout_eur=p.get("total_eur", 0),
        etapes=p.get("steps", []),
        ecart=p.get("gap", {}),
    )

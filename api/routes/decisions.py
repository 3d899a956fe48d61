"""Decisions on candidates (outcomes the ranker learns from)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import Engine

from api.deps import ANY_ROLE, get_store, require
from api.schemas import DecisionIn, DecisionOut, errors_doc
from matching.services import serving
from matching.services.accounts import Principal

router = APIRouter(prefix="/api/v1", tags=["décisions"])


@router.post("/decisions", response_model=DecisionOut, status_code=201, responses=errors_doc(404))
def decide(
    body: DecisionIn, user: Principal = Depends(require(*ANY_ROLE)),
    store: Engine = Depends(get_store),
):  # fmt: skip
    """Un·e conseiller·ère propose, écarte ou retire une personne de son portefeuille ; le
    guichet enregistre l'entretien, l'embauche ou le refus de l'employeur pour une personne
    proposée. Enregistré dans `outcomes` (apprentissage du classement)."""
    return DecisionOut.model_validate(
        serving.record_decision(
            store, user, need_ref=body.besoin, jobseeker_ref=body.demandeur,
            event=body.decision, event_date=body.date,
        )
    )  # fmt: skip

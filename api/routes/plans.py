"""Recruitment plans (business desk, administrators): plan needs together, chart, export."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy import Engine

from api.deps import get_settings_dep, get_store, require
from api.schemas import PlanIn, PlanOut, errors_doc
from matching.config import Settings
from matching.services import serving
from matching.services.accounts import Principal

router = APIRouter(prefix="/api/v1/plans", tags=["plans"])
planner = require("desk", "admin")


def plan_out(plan: dict) -> PlanOut:
    return PlanOut(
        id=plan["id"],
        besoins=plan["need_refs"],
        resume=plan.get("summary", ""),
        graphique=f"/api/v1/plans/{plan['id']}/graphique.png",
        detail=plan,
    )


@router.post("", response_model=PlanOut, status_code=201, responses=errors_doc(404))
def create_plan(
    body: PlanIn,
    user: Principal = Depends(planner),
    store: Engine = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
):
    """Plan de recrutement pour un ou plusieurs besoins planifiés ensemble : candidat·es
    prêt·es, parcours de formation, sessions à commander, calendrier (PNG)."""
    return plan_out(
        serving.make_plan(
            settings, store, body.besoins, by=user.username, as_of=body.date_reference
        )
    )


@router.get("/{plan_id}", response_model=PlanOut, responses=errors_doc(404))
def get_plan(
    plan_id: str,
    user: Principal = Depends(planner),
    settings: Settings = Depends(get_settings_dep),
):
    return plan_out(serving.load_plan(settings, plan_id))


@router.get(
    "/{plan_id}/graphique.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **errors_doc(404)},
)
def plan_chart(
    plan_id: str,
    user: Principal = Depends(planner),
    settings: Settings = Depends(get_settings_dep),
):
    """Calendrier du plan (formations, commandes de sessions, embauches)."""
    return Response(serving.plan_chart(settings, plan_id), media_type="image/png")


@router.get(
    "/{plan_id}/export",
    response_class=Response,
    responses={
        200: {"content": {m: {} for m in serving.EXPORT_FORMATS.values()}},
        **errors_doc(404),
    },
)
def plan_export(
    plan_id: str,
    format: str = Query("csv", pattern="^(csv|xlsx)$"),
    user: Principal = Depends(planner),
    settings: Settings = Depends(get_settings_dep),
):
    """Affectations du plan en CSV ou Excel (références pseudonymes)."""
    data = serving.plan_export(serving.load_plan(settings, plan_id), format)
    return Response(
        data,
        media_type=serving.EXPORT_FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="plan-{plan_id}.{format}"'},
    )

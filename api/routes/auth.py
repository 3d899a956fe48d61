"""Login: bearer tokens for the API, session cookie for the pages (login, logout)."""

from __future__ import annotations

from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.deps import (
    check_csrf,
    client_ip,
    current_user,
    get_settings_dep,
    get_store,
    render,
)
from api.schemas import ErrorResponse, TokenOut, TokenRequest
from matching.config import Settings
from matching.services import accounts
from matching.services.accounts import AuthenticationError, Principal, TooManyAttemptsError

router = APIRouter()


@router.post(
    "/api/v1/token",
    response_model=TokenOut,
    tags=["comptes"],
    summary="Obtenir un jeton d'accès (Bearer)",
    responses={401: {"model": ErrorResponse}, 429: {"model": ErrorResponse}},
)
def token(
    body: TokenRequest,
    request: Request,
    store: Engine = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
) -> TokenOut:
    """Jeton signé valable 8 h, à envoyer dans l'en-tête `Authorization: Bearer <jeton>`.
    Cinq échecs en 15 minutes pour un identifiant depuis une adresse bloquent les essais."""
    user = accounts.authenticate(store, body.identifiant, body.mot_de_passe, ip=client_ip(request))
    return TokenOut(
        access_token=accounts.issue_token(store, settings.secret_key, user),
        expire_dans=accounts.TOKEN_MAX_AGE_S,
        role=user.role,
    )


def _safe_next(target: str | None) -> str:
    """Only local paths (no open redirect)."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/connexion", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, suivant: str = "/"):
    return render(request, "login.html", {"next": _safe_next(suivant)})


@router.post("/connexion", response_class=HTMLResponse, include_in_schema=False)
async def login(
    request: Request,
    identifiant: str = Form(""),
    mot_de_passe: str = Form(""),
    suivant: str = Form("/"),
    store: Engine = Depends(get_store),
):
    await check_csrf(request)
    try:
        # argon2 takes tens of milliseconds on purpose: in the thread pool, not on the loop
        user = await run_in_threadpool(
            accounts.authenticate, store, identifiant, mot_de_passe, ip=client_ip(request)
        )
    except (AuthenticationError, TooManyAttemptsError) as exc:
        status = 429 if isinstance(exc, TooManyAttemptsError) else 401
        return render(
            request,
            "login.html",
            {"error": str(exc), "next": _safe_next(suivant), "username": identifiant},
            status_code=status,
        )
    request.session.clear()  # new session (and new CSRF token) on login: no fixation
    request.session["sid"] = await run_in_threadpool(accounts.open_session, store, user)
    return RedirectResponse(_safe_next(suivant), status_code=303)


@router.post("/deconnexion", include_in_schema=False)
def logout(
    request: Request, user: Principal = Depends(current_user), store: Engine = Depends(get_store)
):
    key = request.session.get("sid")
    if key:
        accounts.close_session(store, key)
    request.session.clear()
    return RedirectResponse("/connexion", status_code=303)

"""FastAPI dependencies: settings, store, loaded services, the current account, roles, CSRF.

How a route (or a page of another module, e.g. ``api/routes/fairness.py``) gets the account::

    from api.deps import require, render, Principal

    @router.get("/equite")
    def page(request: Request, user: Principal = Depends(require("admin", "desk"))):
        return render(request, "fairness.html", {...})

* ``require(*roles)`` authenticates (bearer token ``Authorization: Bearer <jeton>`` first, else
  the session cookie set by ``/connexion``), checks the role (403 otherwise, 401 when nobody is
  logged in; pages are redirected to ``/connexion``) and puts the account on
  ``request.state.user``.
* CSRF: every state-changing request (POST, PUT, PATCH, DELETE) authenticated by the *session
  cookie* must carry the session's synchronizer token, as the form field ``csrf_token`` or the
  header ``X-CSRF-Token``; ``require`` checks it. Bearer-token requests are exempt (no ambient
  credential). In a template, ``{{ csrf_field() }}`` writes the hidden field and
  ``{{ csrf_token() }}`` the bare token (for ``fetch``); ``render`` provides both, and
  ``base.html`` shows the account and the logout button from ``request.state.user``.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy import Engine

from matching.config import Settings
from matching.exceptions import PermissionDeniedError
from matching.services import accounts
from matching.services.accounts import AuthenticationError, Principal
from matching.services.catalogue import Catalogue
from matching.services.serving import EngineCache

__all__ = [
    "Principal",
    "csrf_token",
    "current_user",
    "get_catalogue",
    "get_engines",
    "get_settings_dep",
    "get_store",
    "render",
    "require",
    "templates",
]

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_SESSION_KEY = "csrf"

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")


# ``async`` on purpose: FastAPI runs a plain ``def`` dependency in the thread pool, one thread
# hop per dependency and per request for a mere attribute read (measured: ~1 ms each under load).
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> Engine:
    return request.app.state.store


async def get_catalogue(request: Request) -> Catalogue:
    return request.app.state.catalogue


async def get_engines(request: Request) -> EngineCache:
    return request.app.state.engines


def get_normaliser(request: Request):
    return request.app.state.normaliser()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "inconnue"


# --- CSRF ---------------------------------------------------------------------------------
def csrf_token(request: Request) -> str:
    """The session's synchronizer token (created on first use)."""
    token = request.session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_SESSION_KEY] = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request whose token does not match the session's."""
    expected = request.session.get(CSRF_SESSION_KEY)
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get("csrf_token")
    if not expected or not sent or not hmac.compare_digest(str(sent), str(expected)):
        raise PermissionDeniedError(
            "jeton CSRF absent ou invalide : rechargez la page et renvoyez le formulaire"
        )


# --- who is calling -----------------------------------------------------------------------
async def current_user_optional(request: Request) -> Principal | None:
    """The account of the bearer token or of the session cookie, or ``None``."""
    store = request.app.state.store
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = accounts.principal_from_token(
            store, request.app.state.settings.secret_key, header[7:].strip()
        )
        request.state.user = user
        request.state.auth = "bearer"
        return user
    key = request.session.get("sid")
    user = accounts.principal_from_session(store, key) if key else None
    if key and user is None:  # logged out elsewhere, expired, password changed, deactivated
        request.session.clear()
    if user is not None:
        request.state.user = user
        request.state.auth = "session"
    return user


async def current_user(request: Request) -> Principal:
    user = await current_user_optional(request)
    if user is None:
        raise AuthenticationError("connexion requise")
    if request.state.auth == "session" and request.method not in SAFE_METHODS:
        await check_csrf(request)
    return user


def require(*roles: str):
    """Dependency: the current account, which must have one of ``roles`` (all when empty)."""

    async def dependency(request: Request) -> Principal:
        user = await current_user(request)
        if roles and user.role not in roles:
            raise PermissionDeniedError(
                f"accès réservé : {', '.join(accounts.ROLE_LABELS[r] for r in roles)} "
                f"(compte {user.username!r} : {user.role_label})"
            )
        return user

    dependency.roles = roles  # read by the documentation and the authorisation test
    return dependency


ANY_ROLE = ("counsellor", "desk", "admin")


# --- pages --------------------------------------------------------------------------------
def render(request: Request, name: str, context: dict | None = None, status_code: int = 200):
    """Render a page with the account, ``csrf_token()`` and ``csrf_field()`` available."""
    token = csrf_token(request)
    ctx = {
        "user": getattr(request.state, "user", None),
        "csrf_token": lambda: token,
        "csrf_field": lambda: Markup(f'<input type="hidden" name="csrf_token" value="{token}">'),
        **(context or {}),
    }
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)

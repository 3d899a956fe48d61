"""One mapping from engine errors to HTTP statuses, and one French error body.

Every error of the API has the body ``{"erreur": {"code": ..., "message": ..., "details": [...]}}``:
:class:`~matching.exceptions.PasserelleError` subclasses (mapped once in :data:`STATUS`, most
specific first), FastAPI's request validation errors (``requete_invalide``, one detail per field),
HTTP errors of the framework (unknown route, method not allowed) and database integrity errors.
Pages (paths outside ``/api``) get the same message in an HTML page instead, and an anonymous
visitor is redirected to the login page.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from matching.exceptions import (
    ConfigurationError,
    DatabaseUnavailableError,
    ImportValidationError,
    ModelArtefactError,
    NotFoundError,
    NoTrainingPathError,
    PasserelleError,
    PermissionDeniedError,
    RunInProgressError,
    ValidationError,
)
from matching.services.accounts import AuthenticationError, TooManyAttemptsError
from matching.services.catalogue import AlreadyExistsError

#: (exception class, HTTP status, error code), most specific first.
STATUS: list[tuple[type[PasserelleError], int, str]] = [
    (AuthenticationError, 401, "non_authentifie"),
    (TooManyAttemptsError, 429, "trop_de_tentatives"),
    (PermissionDeniedError, 403, "interdit"),
    (NoTrainingPathError, 404, "aucun_parcours"),
    (NotFoundError, 404, "introuvable"),
    (AlreadyExistsError, 409, "existe_deja"),
    (RunInProgressError, 409, "execution_en_cours"),
    (ImportValidationError, 422, "import_invalide"),
    (ValidationError, 422, "invalide"),
    (ModelArtefactError, 503, "modele_indisponible"),
    (DatabaseUnavailableError, 503, "base_indisponible"),
    (ConfigurationError, 500, "configuration"),
    (PasserelleError, 500, "erreur_interne"),
]

HTTP_CODES = {
    400: ("requete_invalide", "requête invalide"),
    401: ("non_authentifie", "connexion requise"),
    403: ("interdit", "accès interdit"),
    404: ("introuvable", "adresse introuvable"),
    405: ("methode_interdite", "méthode HTTP non autorisée sur cette adresse"),
    413: ("trop_volumineux", "fichier trop volumineux"),
}

VALIDATION_MESSAGES = {
    "missing": "champ obligatoire absent",
    "int_parsing": "nombre entier attendu",
    "int_type": "nombre entier attendu",
    "float_parsing": "nombre attendu",
    "float_type": "nombre attendu",
    "bool_parsing": "booléen attendu (true/false)",
    "date_from_datetime_parsing": "date attendue (AAAA-MM-JJ)",
    "date_parsing": "date attendue (AAAA-MM-JJ)",
    "date_type": "date attendue (AAAA-MM-JJ)",
    "string_too_short": "texte trop court",
    "string_too_long": "texte trop long",
    "string_type": "texte attendu",
    "string_pattern_mismatch": "format invalide",
    "greater_than_equal": "valeur trop petite",
    "greater_than": "valeur trop petite",
    "less_than_equal": "valeur trop grande",
    "less_than": "valeur trop grande",
    "literal_error": "valeur non autorisée",
    "enum": "valeur non autorisée",
    "json_invalid": "JSON invalide",
    "model_attributes_type": "objet JSON attendu",
    "dict_type": "objet JSON attendu",
    "list_type": "liste attendue",
    "too_short": "liste trop courte",
    "extra_forbidden": "champ inconnu",
}


def status_of(exc: PasserelleError) -> tuple[int, str]:
    for cls, status, code in STATUS:
        if isinstance(exc, cls):
            return status, code
    return 500, "erreur_interne"  # pragma: no cover - PasserelleError closes the list


def body(code: str, message: str, details: list | None = None) -> dict:
    return {"erreur": {"code": code, "message": message, "details": details or []}}


def _is_page(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(("/api/", "/static/", "/docs", "/redoc", "/openapi"))


def _respond(request: Request, status: int, code: str, message: str, details=None, headers=None):
    if _is_page(request):
        if status == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/connexion?suivant={quote(target)}", status_code=303)
        from api.deps import render

        response = render(
            request,
            "error.html",
            {"status": status, "code": code, "message": message, "details": details or []},
            status_code=status,
        )
        for k, v in (headers or {}).items():
            response.headers[k] = v
        return response
    return JSONResponse(body(code, message, details), status_code=status, headers=headers)


def _field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "header")]
    return ".".join(parts) or "requête"


def install(app: FastAPI) -> None:
    """Register the handlers on ``app`` (called once by :func:`api.main.create_app`)."""

    @app.exception_handler(PasserelleError)
    async def _passerelle(request: Request, exc: PasserelleError):
        status, code = status_of(exc)
        details: list = []
        headers = None
        if isinstance(exc, ImportValidationError):
            details = [{"ligne": e.row, "champ": e.field, "message": e.message} for e in exc.errors]
        elif isinstance(exc, NoTrainingPathError):
            details = [{"message": r} for r in exc.reasons]
        elif isinstance(exc, TooManyAttemptsError):
            headers = {"Retry-After": str(exc.retry_after_s)}
        message = str(exc).splitlines()[0] if isinstance(exc, ImportValidationError) else str(exc)
        return _respond(request, status, code, message, details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        details = [
            {
                "champ": _field(e.get("loc", ())),
                "message": VALIDATION_MESSAGES.get(e.get("type", ""), e.get("msg", "")),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        fields = ", ".join(d["champ"] for d in details)
        return _respond(request, 422, "requete_invalide", f"requête invalide ({fields})", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code, default = HTTP_CODES.get(exc.status_code, ("erreur_http", "erreur"))
        message = exc.detail if isinstance(exc.detail, str) and exc.detail else default
        if message in ("Not Found", "Method Not Allowed"):
            message = default
        return _respond(request, exc.status_code, code, message, headers=exc.headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError):
        return _respond(
            request,
            409,
            "conflit",
            "la base de données refuse l'enregistrement (valeur en double ou incohérente)",
        )

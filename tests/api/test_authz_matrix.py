"""Authorisation matrix: every route of the app (API and pages) x every kind of caller.

:data:`EXPECTED` is the access policy written out by hand, one row per route, one column per
caller kind. The first test enumerates ``app.routes`` and fails when a route has no row (or a
row has no route): a new route cannot ship without someone deciding who may call it. The
matrix test then calls each route as each caller and fails on any *unexpected access* (a
success where a denial was expected) and on any *unexpected denial*.

Callers: anonymous, a counsellor on a jobseeker of their own caseload, another counsellor (same
request, not their caseload), the business desk (``guichet``) and an administrator. API routes
are called with a bearer token, pages with the session cookie and its CSRF token (sent as the
``X-CSRF-Token`` header, which every state-changing route accepts), so a denial is never a
mere CSRF refusal.

State-changing routes are called so that an authorised caller gets past the authorisation check
and then stops at validation (an empty or malformed body gives 422: FastAPI resolves the
``require`` dependency before validating the body), except where the check is per object (a
jobseeker's caseload, a decision): those get a harmless valid request. One territory is seeded
for the whole module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlparse

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from matching.config import Settings
from matching.services import serving
from matching.services.demo import DEMO_PASSWORD
from matching.store.db import make_engine, upgrade
from tests.api.conftest import bearer, csrf_of, login, seed_territory

CALLERS = ("anonyme", "conseiller", "autre_conseiller", "guichet", "admin")
ACCOUNTS = {
    "anonyme": None,
    "conseiller": "conseiller1",  # follows {mine}
    "autre_conseiller": "conseiller2",  # does not
    "guichet": "guichet",
    "admin": "admin",
}
SESSION_COOKIE = "passerelle_session"

# Legend: A = allowed; N = not logged in (API: 401, page: 303 to /connexion?suivant=...);
#         F = forbidden (403).
# Columns, in order: anonyme, conseiller (own caseload), autre_conseiller, guichet, admin.
EXPECTED: dict[str, str] = {
    # --- public ------------------------------------------------------------------------------
    "GET /openapi.json":                                      "A A A A A",
    "GET /docs":                                              "A A A A A",
    "GET /docs/oauth2-redirect":                              "A A A A A",
    "GET /redoc":                                             "A A A A A",
    "MOUNT /static":                                          "A A A A A",
    "POST /api/v1/token":                                     "A A A A A",
    "GET /connexion":                                         "A A A A A",
    "POST /connexion":                                        "A A A A A",
    "POST /deconnexion":                                      "N A A A A",
    # --- accounts, audit log, imports, data protection: administrators only --------------------
    "GET /api/v1/comptes":                                    "N F F F A",
    "POST /api/v1/comptes":                                   "N F F F A",
    "PATCH /api/v1/comptes/{identifiant}":                    "N F F F A",
    "GET /api/v1/journal":                                    "N F F F A",
    "GET /journal":                                           "N F F F A",
    "GET /comptes":                                           "N F F F A",
    "POST /comptes":                                          "N F F F A",
    "POST /api/v1/imports":                                   "N F F F A",
    "GET /import":                                            "N F F F A",
    "POST /import":                                           "N F F F A",
    "GET /rgpd":                                              "N F F F A",
    "GET /rgpd/export":                                       "N F F F A",
    "POST /rgpd/effacement":                                  "N F F F A",
    # --- reference data: everybody reads, the desk and administrators write ---------------------
    "GET /api/v1/runs/last":                                  "N A A A A",
    "GET /executions":                                        "N A A A A",
    "GET /api/v1/courses":                                    "N A A A A",
    "GET /api/v1/courses/{ref}":                              "N A A A A",
    "POST /api/v1/courses":                                   "N F F A A",
    "PATCH /api/v1/courses/{ref}":                            "N F F A A",
    "GET /api/v1/sessions":                                   "N A A A A",
    "GET /api/v1/sessions/{ref}":                             "N A A A A",
    "POST /api/v1/sessions":                                  "N F F A A",
    "PATCH /api/v1/sessions/{ref}":                           "N F F A A",
    "GET /api/v1/employers":                                  "N A A A A",
    "GET /api/v1/employers/{ref}":                            "N A A A A",
    "POST /api/v1/employers":                                 "N F F A A",
    "PATCH /api/v1/employers/{ref}":                          "N F F A A",
    # --- needs and shortlists (pseudonymous: every role reads) ---------------------------------
    "GET /":                                                  "N A A A A",
    "GET /api/v1/needs":                                      "N A A A A",
    "GET /api/v1/needs/{ref}":                                "N A A A A",
    "POST /api/v1/needs":                                     "N F F A A",
    "PATCH /api/v1/needs/{ref}":                              "N F F A A",
    "GET /besoins/nouveau":                                   "N F F A A",
    "POST /besoins/nouveau":                                  "N F F A A",
    "GET /api/v1/suggestions":                                "N A A A A",
    "GET /api/v1/needs/{ref}/shortlist":                      "N A A A A",
    "GET /api/v1/needs/{ref}/shortlist/export":               "N A A A A",
    "GET /besoins/{ref}":                                     "N A A A A",
    # --- decisions: a counsellor for their caseload; the desk only once someone proposed -------
    "POST /api/v1/decisions":                                 "N A F F A",
    "POST /decisions":                                        "N A F F A",
    # --- jobseekers: own caseload (counsellor) or everybody (admin); never the desk ------------
    "GET /api/v1/jobseekers":                                 "N A A F A",
    "POST /api/v1/jobseekers":                                "N A A F A",
    "GET /api/v1/jobseekers/{ref}":                           "N A F F A",
    "PATCH /api/v1/jobseekers/{ref}":                         "N A F F A",
    "GET /api/v1/jobseekers/{ref}/identite":                  "N A F F A",
    "GET /api/v1/jobseekers/{ref}/matches":                   "N A F F A",
    "GET /demandeurs":                                        "N A A F A",
    "GET /demandeurs/{ref}":                                  "N A F F A",
    # Training paths are pseudonymous: open to the desk (planning), per caseload for counsellors.
    "GET /api/v1/jobseekers/{ref}/paths/{need_ref}":          "N A F A A",
    "GET /demandeurs/{ref}/parcours/{need_ref}":              "N A F A A",
    # --- recruitment plans and fairness audit: the desk and administrators ---------------------
    "GET /plans":                                             "N F F A A",
    "POST /plans":                                            "N F F A A",
    "GET /plans/{plan_id}":                                   "N F F A A",
    "POST /api/v1/plans":                                     "N F F A A",
    "GET /api/v1/plans/{plan_id}":                            "N F F A A",
    "GET /api/v1/plans/{plan_id}/graphique.png":              "N F F A A",
    "GET /api/v1/plans/{plan_id}/export":                     "N F F A A",
    "GET /equite":                                            "N F F A A",
    "GET /api/v1/equite":                                     "N F F A A",
}  # fmt: skip


@dataclass(frozen=True)
class Call:
    """How to call a route: URL template (``{mine}``, ``{need}``... filled from the territory),
    extra arguments of ``TestClient.request`` and the status an allowed caller gets."""

    url: str
    ok: tuple[int, ...] = (200,)
    kwargs: dict[str, Any] = field(default_factory=dict)


INVALID_JSON = {"json": []}  # not an object: 422 once past the authorisation check
EMPTY_FORM = {"data": {}}
DECISION = {"besoin": "{need}", "demandeur": "{mine}", "decision": "rejected"}

CALLS: dict[str, Call] = {
    "GET /openapi.json": Call("/openapi.json"),
    "GET /docs": Call("/docs"),
    "GET /docs/oauth2-redirect": Call("/docs/oauth2-redirect"),
    "GET /redoc": Call("/redoc"),
    "MOUNT /static": Call("/static/passerelle.css"),
    "POST /api/v1/token": Call(
        "/api/v1/token", kwargs={"json": {"identifiant": "guichet", "mot_de_passe": DEMO_PASSWORD}}
    ),
    "GET /connexion": Call("/connexion"),
    "POST /connexion": Call(
        "/connexion", (303,), {"data": {"identifiant": "guichet", "mot_de_passe": DEMO_PASSWORD}}
    ),
    "POST /deconnexion": Call("/deconnexion", (303,)),
    "GET /api/v1/comptes": Call("/api/v1/comptes"),
    "POST /api/v1/comptes": Call("/api/v1/comptes", (422,), INVALID_JSON),
    "PATCH /api/v1/comptes/{identifiant}": Call("/api/v1/comptes/conseiller3", kwargs={"json": {}}),
    "GET /api/v1/journal": Call("/api/v1/journal"),
    "GET /journal": Call("/journal"),
    "GET /comptes": Call("/comptes"),
    "POST /comptes": Call("/comptes", (422,), EMPTY_FORM),
    "POST /api/v1/imports": Call("/api/v1/imports", (422,), EMPTY_FORM),
    "GET /import": Call("/import"),
    "POST /import": Call("/import", (422,), EMPTY_FORM),
    "GET /rgpd": Call("/rgpd"),
    "GET /rgpd/export": Call("/rgpd/export?ref={mine}"),
    # A wrong confirmation: nothing is erased.
    "POST /rgpd/effacement": Call(
        "/rgpd/effacement", (422,), {"data": {"ref": "{mine}", "confirmation": "non"}}
    ),
    "GET /api/v1/runs/last": Call("/api/v1/runs/last"),
    "GET /executions": Call("/executions"),
    "GET /api/v1/courses": Call("/api/v1/courses"),
    "GET /api/v1/courses/{ref}": Call("/api/v1/courses/{course}"),
    "POST /api/v1/courses": Call("/api/v1/courses", (422,), INVALID_JSON),
    "PATCH /api/v1/courses/{ref}": Call("/api/v1/courses/{course}", (422,), INVALID_JSON),
    "GET /api/v1/sessions": Call("/api/v1/sessions"),
    "GET /api/v1/sessions/{ref}": Call("/api/v1/sessions/{session}"),
    "POST /api/v1/sessions": Call("/api/v1/sessions", (422,), INVALID_JSON),
    "PATCH /api/v1/sessions/{ref}": Call("/api/v1/sessions/{session}", (422,), INVALID_JSON),
    "GET /api/v1/employers": Call("/api/v1/employers"),
    "GET /api/v1/employers/{ref}": Call("/api/v1/employers/{employer}"),
    "POST /api/v1/employers": Call("/api/v1/employers", (422,), INVALID_JSON),
    "PATCH /api/v1/employers/{ref}": Call("/api/v1/employers/{employer}", (422,), INVALID_JSON),
    "GET /": Call("/"),
    "GET /api/v1/needs": Call("/api/v1/needs"),
    "GET /api/v1/needs/{ref}": Call("/api/v1/needs/{need}"),
    "POST /api/v1/needs": Call("/api/v1/needs", (422,), INVALID_JSON),
    "PATCH /api/v1/needs/{ref}": Call("/api/v1/needs/{need}", (422,), INVALID_JSON),
    "GET /besoins/nouveau": Call("/besoins/nouveau"),
    "POST /besoins/nouveau": Call("/besoins/nouveau", (422,), EMPTY_FORM),
    # One letter: answered without the normaliser (the matrix app has none loaded).
    "GET /api/v1/suggestions": Call("/api/v1/suggestions?texte=x"),
    "GET /api/v1/needs/{ref}/shortlist": Call("/api/v1/needs/{need}/shortlist"),
    "GET /api/v1/needs/{ref}/shortlist/export": Call("/api/v1/needs/{need}/shortlist/export"),
    "GET /besoins/{ref}": Call("/besoins/{need}"),
    "POST /api/v1/decisions": Call("/api/v1/decisions", (201,), {"json": DECISION}),
    "POST /decisions": Call("/decisions", (303,), {"data": DECISION}),
    "GET /api/v1/jobseekers": Call("/api/v1/jobseekers"),
    "POST /api/v1/jobseekers": Call("/api/v1/jobseekers", (422,), INVALID_JSON),
    "GET /api/v1/jobseekers/{ref}": Call("/api/v1/jobseekers/{mine}"),
    "PATCH /api/v1/jobseekers/{ref}": Call("/api/v1/jobseekers/{mine}", kwargs={"json": {}}),
    "GET /api/v1/jobseekers/{ref}/identite": Call("/api/v1/jobseekers/{mine}/identite?motif=suivi"),
    "GET /api/v1/jobseekers/{ref}/matches": Call("/api/v1/jobseekers/{mine}/matches"),
    "GET /demandeurs": Call("/demandeurs"),
    "GET /demandeurs/{ref}": Call("/demandeurs/{mine}"),
    # 404 "aucun_parcours" is an answer too (no path before the hiring date).
    "GET /api/v1/jobseekers/{ref}/paths/{need_ref}": Call(
        "/api/v1/jobseekers/{mine}/paths/{need}", (200, 404)
    ),
    "GET /demandeurs/{ref}/parcours/{need_ref}": Call("/demandeurs/{mine}/parcours/{need}"),
    "GET /plans": Call("/plans"),
    "POST /plans": Call("/plans", (422,), EMPTY_FORM),  # no need chosen
    "GET /plans/{plan_id}": Call("/plans/{plan}"),
    "POST /api/v1/plans": Call("/api/v1/plans", (422,), INVALID_JSON),
    "GET /api/v1/plans/{plan_id}": Call("/api/v1/plans/{plan}"),
    "GET /api/v1/plans/{plan_id}/graphique.png": Call("/api/v1/plans/{plan}/graphique.png"),
    "GET /api/v1/plans/{plan_id}/export": Call("/api/v1/plans/{plan}/export"),
    "GET /equite": Call("/equite"),
    "GET /api/v1/equite": Call("/api/v1/equite"),
}


def route_keys(app) -> set[str]:
    """``"METHOD /path"`` of every route of ``app`` (HEAD folded into GET), ``"MOUNT /path"``
    for mounted applications."""
    try:  # FastAPI >= 0.160 keeps included routers as lazy branches of app.routes
        from fastapi.routing import iter_route_contexts

        routes = [c.original_route for c in iter_route_contexts(app.routes)]
    except ImportError:  # pragma: no cover - older FastAPI: app.routes is already flat
        routes = list(app.routes)
    keys = set()
    for route in routes:
        methods = getattr(route, "methods", None)
        if methods is None:
            keys.add(f"MOUNT {route.path}")
            continue
        for method in methods - {"HEAD"} if "GET" in methods else methods:
            keys.add(f"{method} {route.path}")
    return keys


@dataclass
class Caller:
    kind: str
    headers: dict[str, str]  # bearer token, for the API
    cookie: str | None  # session cookie, for the pages
    csrf: str


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, referential):
    """(client, callers, refs) on one seeded territory shared by the whole module."""
    folder = tmp_path_factory.mktemp("authz")
    settings = Settings(
        data_dir=folder / "var",
        database_url=f"sqlite:///{folder / 'passerelle.sqlite'}",
        models_dir=folder / "models",
    )
    store = make_engine(settings.effective_database_url)
    upgrade(store)
    refs = seed_territory(settings, store, referential)
    refs["need"], refs["mine"] = "BES0001", refs["my_jobseeker"]
    refs["plan"] = serving.make_plan(settings, store, ["BES0001"], by="guichet")["id"]
    app = create_app(settings, preload=False, normaliser=lambda: None)
    with TestClient(app) as client:
        callers = {kind: signed_in(client, kind) for kind in ACCOUNTS}
        yield client, callers, refs
    store.dispose()


def signed_in(client: TestClient, kind: str) -> Caller:
    """A caller of that kind with a new session (and bearer token when it has an account)."""
    username = ACCOUNTS[kind]
    client.cookies.clear()
    headers = {}
    if username:
        assert login(client, username).status_code == 303
        headers = bearer(client, username)
    csrf = csrf_of(client, "/connexion")
    return Caller(kind, headers, client.cookies.get(SESSION_COOKIE), csrf)


def _fill(value, refs: dict):
    if isinstance(value, str):
        return value.format(**refs)
    if isinstance(value, dict):
        return {k: _fill(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, refs) for v in value]
    return value


def call(client: TestClient, caller: Caller, key: str, refs: dict):
    spec = CALLS[key]
    url = _fill(spec.url, refs)
    client.cookies.clear()
    headers: dict[str, str] = {}
    if url.startswith("/api/"):
        headers.update(caller.headers)
    else:
        if caller.cookie:
            client.cookies.set(SESSION_COOKIE, caller.cookie)
        headers["X-CSRF-Token"] = caller.csrf
    return client.request(
        key.split()[0].replace("MOUNT", "GET"),
        url,
        headers=headers,
        follow_redirects=False,
        **_fill(spec.kwargs, refs),
    )


def outcome(response) -> str:
    """A (allowed), N (not logged in) or F (forbidden), as in :data:`EXPECTED`."""
    if response.status_code == 401:
        return "N"
    if response.status_code == 303 and response.headers["location"].startswith(
        "/connexion?suivant="
    ):
        return "N"
    if response.status_code == 403:
        return "F"
    return "A"


def test_every_route_has_an_expected_access_row():
    app = create_app(Settings(), preload=False)
    keys = route_keys(app)
    assert keys - EXPECTED.keys() == set(), "routes sans ligne dans EXPECTED (qui peut appeler ?)"
    assert EXPECTED.keys() - keys == set(), "lignes de EXPECTED sans route"
    assert EXPECTED.keys() == CALLS.keys()
    assert all(len(row.split()) == len(CALLERS) for row in EXPECTED.values())


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_access_matrix(matrix, key):
    client, callers, refs = matrix
    problems = []
    for kind, expected in zip(CALLERS, EXPECTED[key].split(), strict=True):
        r = call(client, callers[kind], key, refs)
        if key == "POST /deconnexion" and callers[kind].cookie:
            callers[kind] = signed_in(client, kind)  # logging out ended that session for good
        got = outcome(r)
        if got != expected:
            what = "accès inattendu" if got == "A" else "refus inattendu"
            problems.append(f"{kind}: {what} ({expected} attendu, HTTP {r.status_code})")
        elif got == "A" and r.status_code not in CALLS[key].ok:
            problems.append(
                f"{kind}: HTTP {r.status_code}, attendu {CALLS[key].ok}: {r.text[:200]}"
            )
        elif (
            got == "N"
            and key.split()[1].startswith("/api/")
            and (r.status_code != 401 or r.json()["erreur"]["code"] != "non_authentifie")
        ):
            problems.append(f"{kind}: API sans connexion doit répondre 401 non_authentifie")
    assert not problems, f"{key}:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example/", "\\\\evil.example"]
)
def test_login_never_redirects_off_site(matrix, target):
    client, _, _ = matrix
    client.cookies.clear()
    token = csrf_of(client, "/connexion")
    r = client.post(
        "/connexion",
        data={"identifiant": "guichet", "mot_de_passe": DEMO_PASSWORD, "suivant": target,
              "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    # Resolved as a browser does (a backslash counts as a slash in http URLs): same site.
    landing = urljoin("http://testserver/connexion", r.headers["location"].replace("\\", "/"))
    assert urlparse(landing).netloc == "testserver", r.headers["location"]


def test_session_page_post_without_csrf_is_refused(matrix):
    """The matrix sends the CSRF header; without it a logged-in POST is refused."""
    client, callers, refs = matrix
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, callers["conseiller"].cookie)
    r = client.post("/decisions", data=_fill(DECISION, refs), follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text

"""Needs, published and fresh shortlists, French error body, pseudonymisation for the desk,
decisions written to outcomes, exports."""

import io
import json

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from api.main import create_app
from matching.store import models as m
from tests.api.conftest import bearer, csrf_of, login


def test_published_and_fresh_shortlist(client):
    h = bearer(client, "guichet")
    needs = client.get("/api/v1/needs", headers=h).json()
    assert needs["total"] >= 1 and any(n["ref"] == "BES0001" for n in needs["elements"])
    pub = client.get("/api/v1/needs/BES0001/shortlist", headers=h).json()
    assert pub["source"] == "publication" and pub["execution"] is not None
    assert [c["rang"] for c in pub["candidats"]] == list(range(1, len(pub["candidats"]) + 1))
    assert pub["candidats"][0]["explication"]["summary"]
    fresh = client.get("/api/v1/needs/BES0001/shortlist?fresh=true&top=5", headers=h).json()
    assert fresh["source"] == "calcul immédiat" and fresh["execution"] is None
    # The nightly run and the engine agree on the best candidates.
    assert [c["demandeur"] for c in fresh["candidats"]] == [
        c["demandeur"] for c in pub["candidats"][:5]
    ]


def test_errors_have_one_french_body(client):
    h = bearer(client, "guichet")
    r = client.get("/api/v1/needs/BES9999/shortlist", headers=h)
    assert r.status_code == 404
    assert r.json() == {
        "erreur": {"code": "introuvable", "message": "besoin 'BES9999' introuvable", "details": []}
    }
    r = client.get("/api/v1/needs?limite=beaucoup", headers=h)
    assert r.status_code == 422
    err = r.json()["erreur"]
    assert err["code"] == "requete_invalide"
    assert err["details"][0] == {
        "champ": "limite", "message": "nombre entier attendu", "type": "int_parsing"
    }  # fmt: skip
    r = client.get("/api/v1/needs")
    assert r.status_code == 401 and r.json()["erreur"]["message"] == "connexion requise"
    r = client.get("/api/v1/rien", headers=h)
    assert r.status_code == 404 and r.json()["erreur"]["message"] == "adresse introuvable"


def test_desk_sees_names_only_once_proposed_and_the_read_is_audited(client, territory, engine):
    cand, counsellor = territory["candidate"], territory["candidate_counsellor"]
    desk = bearer(client, "guichet")
    row = lambda sl: next(c for c in sl["candidats"] if c["demandeur"] == cand)  # noqa: E731
    before = client.get("/api/v1/needs/BES0001/shortlist", headers=desk).json()
    assert row(before)["nom"] is None
    assert all(c["nom"] is None for c in before["candidats"])
    # The desk may not record an interview for someone nobody proposed.
    r = client.post(
        "/api/v1/decisions",
        json={"besoin": "BES0001", "demandeur": cand, "decision": "interviewed"},
        headers=desk,
    )
    assert r.status_code == 403
    # Another counsellor may not propose someone outside their caseload.
    other = next(u for u in ("conseiller1", "conseiller2", "conseiller3") if u != counsellor)
    r = client.post(
        "/api/v1/decisions",
        json={"besoin": "BES0001", "demandeur": cand, "decision": "proposed"},
        headers=bearer(client, other),
    )
    assert r.status_code == 403 and "n'est pas suivi" in r.json()["erreur"]["message"]
    r = client.post(
        "/api/v1/decisions",
        json={"besoin": "BES0001", "demandeur": cand, "decision": "proposed"},
        headers=bearer(client, counsellor),
    )
    assert r.status_code == 201 and r.json()["decision"] == "proposed"
    with engine.connect() as conn:
        events = conn.execute(
            select(m.Outcome.event, m.Outcome.by_user)
            .join(m.Jobseeker)
            .where(m.Jobseeker.ref == cand)
            .join(m.Need, m.Need.id == m.Outcome.need_id)
            .where(m.Need.ref == "BES0001")
        ).all()
        identity = conn.execute(
            select(m.JobseekerIdentity.first_name, m.JobseekerIdentity.last_name)
            .join(m.Jobseeker)
            .where(m.Jobseeker.ref == cand)
        ).one()
    assert ("proposed", counsellor) in [tuple(e) for e in events]
    after = client.get("/api/v1/needs/BES0001/shortlist", headers=desk).json()
    assert row(after)["nom"] == f"{identity[0]} {identity[1]}"
    assert row(after)["decision"] == "proposed"
    assert sum(c["nom"] is not None for c in after["candidats"]) == 1
    audit = client.get(
        "/api/v1/journal", params={"reference": cand}, headers=bearer(client, "admin")
    ).json()
    assert any(e["compte"] == "guichet" and e["motif"] == "proposition" for e in audit["elements"])
    # Now the desk may record the interview.
    r = client.post(
        "/api/v1/decisions",
        json={"besoin": "BES0001", "demandeur": cand, "decision": "interviewed"},
        headers=desk,
    )
    assert r.status_code == 201


def test_exports_are_pseudonymised(client):
    h = bearer(client, "guichet")
    csv = client.get("/api/v1/needs/BES0001/shortlist/export?format=csv", headers=h)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig")
    header, first = text.splitlines()[:2]
    assert header.startswith("besoin;rang;demandeur;nom;score")
    assert first.split(";")[2].startswith("DE") and first.split(";")[3] == ""
    xlsx = client.get("/api/v1/needs/BES0001/shortlist/export?format=xlsx", headers=h)
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("besoin", "rang", "demandeur") and len(rows) > 1
    assert all(r[3] in (None, "") for r in rows[1:])


def test_need_intake_and_update(client, territory, engine):
    h = bearer(client, "guichet")
    r = client.post(
        "/api/v1/needs",
        json={
            "employeur": territory["employer"],
            "intitule": "Préparateur de commandes",
            "code_rome": "N1103",
            "postes": 4,
            "date_embauche": "2027-06-01",
            "commune_insee": "80021",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    need = r.json()
    assert need["ref"].startswith("BES") and need["statut"] == "open"
    assert need["saisi_par"] == "guichet" and need["competences"]  # core skills of N1103
    assert all(s["essentielle"] for s in need["competences"])
    r = client.patch(f"/api/v1/needs/{need['ref']}", json={"postes": 6}, headers=h)
    assert r.status_code == 200 and r.json()["postes"] == 6
    r = client.post(
        "/api/v1/needs",
        json={**{"employeur": territory["employer"], "intitule": "x", "postes": 1},
              "code_rome": "Z9999", "date_embauche": "2027-06-01", "commune_insee": "80021"},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 422 and r.json()["erreur"]["details"][0]["champ"] == "code_rome"
    r = client.post(
        "/api/v1/needs",
        json={"employeur": territory["employer"], "intitule": "x", "postes": 1,
              "code_rome": "A1234", "date_embauche": "2027-06-01", "commune_insee": "80021"},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 422 and "code ROME inconnu 'A1234'" in r.json()["erreur"]["message"]
    # The fresh engine sees the new need at once.
    fresh = client.get(f"/api/v1/needs/{need['ref']}/shortlist?fresh=true&top=3", headers=h)
    assert fresh.status_code == 200 and fresh.json()["source"] == "calcul immédiat"


def test_employers_courses_sessions_crud(client, territory):
    h = bearer(client, "admin")
    r = client.post(
        "/api/v1/employers",
        json={"ref": "EMP-T", "nom": "Entrepôt test", "code_naf": "5210B",
              "secteur": "logistique", "commune_insee": "80021"},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 201 and r.json()["secteur"] == "logistique"
    again = client.post(
        "/api/v1/employers",
        json={"ref": "EMP-T", "nom": "x", "code_naf": "5210B", "secteur": "logistique",
              "commune_insee": "80021"},
        headers=h,
    )  # fmt: skip
    assert again.status_code == 409 and again.json()["erreur"]["code"] == "existe_deja"
    found = client.get("/api/v1/employers?secteur=logistique&recherche=Entrepôt", headers=h)
    assert [e["ref"] for e in found.json()["elements"]] == ["EMP-T"]
    course = client.get(f"/api/v1/courses/{territory['course']}", headers=h).json()
    assert course["competences_enseignees"]
    r = client.post(
        "/api/v1/sessions",
        json={"ref": "SES-T", "formation": territory["course"], "debut": "2027-01-04",
              "fin": "2026-12-01", "places": 10, "commune_insee": "80021"},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 422 and "fin" in r.json()["erreur"]["message"]
    r = client.patch(f"/api/v1/sessions/{territory['session']}", json={"places": 30}, headers=h)
    assert r.status_code == 200 and r.json()["places"] == 30
    page = client.get("/api/v1/sessions?limite=2&decalage=1", headers=h).json()
    assert len(page["elements"]) == 2 and page["decalage"] == 1 and page["total"] >= 3


def test_jobseeker_caseload_identity_audit_matches_and_path(client, territory):
    mine = territory["my_jobseeker"]
    c1 = bearer(client, "conseiller1")
    listed = client.get("/api/v1/jobseekers?limite=500", headers=c1).json()
    assert listed["total"] >= 1
    assert all(p["conseiller"] == "conseiller1" for p in listed["elements"])
    profile = client.get(f"/api/v1/jobseekers/{mine}", headers=c1).json()
    assert "nom" not in profile and "adresse" not in profile
    r = client.get(f"/api/v1/jobseekers/{mine}/identite", headers=c1)
    assert r.status_code == 422  # a reason code is required
    r = client.get(f"/api/v1/jobseekers/{mine}/identite?motif=curiosite", headers=c1)
    assert r.status_code == 422 and "suivi" in r.json()["erreur"]["message"]
    r = client.get(f"/api/v1/jobseekers/{mine}/identite?motif=suivi", headers=c1)
    assert r.status_code == 200 and r.json()["nom"]
    r = client.get(
        f"/api/v1/jobseekers/{mine}/identite?motif=suivi", headers=bearer(client, "conseiller2")
    )
    assert r.status_code == 403
    audit = client.get(
        "/api/v1/journal", params={"reference": mine}, headers=bearer(client, "admin")
    ).json()["elements"]
    reads = [e for e in audit if e["action"] == "lecture_identite"]
    assert len(reads) == 1 and reads[0]["compte"] == "conseiller1" and reads[0]["motif"] == "suivi"
    matches = client.get(f"/api/v1/jobseekers/{mine}/matches", headers=c1).json()
    assert matches["source"] == "publication"
    if matches["besoins"]:
        need = matches["besoins"][0]["besoin"]
        p = client.get(f"/api/v1/jobseekers/{mine}/paths/{need}", headers=c1)
        assert p.status_code in (200, 404)
        if p.status_code == 200:
            assert p.json()["resume"]
        else:
            assert p.json()["erreur"]["code"] == "aucun_parcours"


def test_counsellor_creates_in_own_caseload(client):
    c2 = bearer(client, "conseiller2")
    r = client.post(
        "/api/v1/jobseekers",
        json={"commune_insee": "80021", "disponible_le": "2027-01-04",
              "identite": {"prenom": "Test", "nom": "Personne", "adresse": "1 rue X 80000 Amiens"},
              "competences": [{"code": 400187}]},
        headers=c2,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["conseiller"] == "conseiller2" and body["competences"][0]["code"] == 400187
    r = client.get(f"/api/v1/jobseekers/{body['ref']}", headers=bearer(client, "conseiller1"))
    assert r.status_code == 403


def test_page_decision_flow_with_csrf(client, territory):
    cand, counsellor = territory["candidate"], territory["candidate_counsellor"]
    assert login(client, counsellor).status_code == 303
    page = client.get("/besoins/BES0001")
    assert page.status_code == 200 and f'id="c-{cand}"' in page.text
    form = {"besoin": "BES0001", "demandeur": cand, "decision": "proposed"}
    refused = client.post("/decisions", data=form, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = client.post("/decisions", data={**form, "csrf_token": "faux"}, follow_redirects=False)
    assert wrong.status_code == 403
    ok = client.post(
        "/decisions", data={**form, "csrf_token": csrf_of(client, "/")}, follow_redirects=True
    )
    assert ok.status_code == 200 and "Décision enregistrée" in ok.text
    assert "proposé·e" in ok.text
    # The API with the session cookie needs the token too (header), bearer requests do not.
    r = client.post("/api/v1/decisions", json={**form, "decision": "withdrawn"})
    assert r.status_code == 403
    r = client.post(
        "/api/v1/decisions",
        json={**form, "decision": "withdrawn"},
        headers={"X-CSRF-Token": csrf_of(client, "/")},
    )
    assert r.status_code == 201


def test_openapi_describes_every_api_route(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for p in ("/api/v1/needs/{ref}/shortlist", "/api/v1/decisions", "/api/v1/plans",
              "/api/v1/jobseekers/{ref}/paths/{need_ref}", "/api/v1/suggestions"):  # fmt: skip
        assert p in paths
    for path, ops in paths.items():
        for method, op in ops.items():
            assert op.get("summary") or op.get("description"), f"{method} {path}"
    assert "ErrorResponse" in schema["components"]["schemas"]


def test_float32_score_above_one_is_served_as_one(client, engine):
    """A ranker computing in float32 can publish 1.0000009 for a perfect match: the shortlist
    must still answer (scores are 0..1), not fail with a 500."""
    from sqlalchemy import update

    with engine.begin() as conn:
        run_id = conn.execute(select(m.Publication.run_id)).scalar_one()
        need_id = conn.execute(select(m.Need.id).where(m.Need.ref == "BES0001")).scalar_one()
        first = conn.execute(
            select(m.RunShortlist.jobseeker_id)
            .where(m.RunShortlist.need_id == need_id, m.visible_at(m.RunShortlist, run_id))
            .order_by(m.RunShortlist.score.desc(), m.RunShortlist.jobseeker_id)
        ).first()[0]
        conn.execute(
            update(m.RunShortlist)
            .where(
                m.RunShortlist.need_id == need_id,
                m.RunShortlist.jobseeker_id == first,
                m.visible_at(m.RunShortlist, run_id),
            )
            .values(score=1.0000009)
        )
    r = client.get("/api/v1/needs/BES0001/shortlist", headers=bearer(client, "guichet"))
    assert r.status_code == 200, r.text
    assert r.json()["candidats"][0]["score"] == 1.0


def test_fast_shortlist_json_equals_the_pydantic_model(client, territory, engine, app):
    """The shortlist route encodes its JSON directly (orjson, cached explanations): for every
    role, published and fresh, with a decision and a name shown, it must say exactly what the
    documented ``Shortlist`` model says (the slow reference)."""
    from api.schemas import Shortlist, shortlist_json
    from matching.services import serving
    from matching.services.accounts import principal_by_id

    cand, counsellor = territory["candidate"], territory["candidate_counsellor"]
    r = client.post(
        "/api/v1/decisions",
        json={"besoin": "BES0001", "demandeur": cand, "decision": "proposed"},
        headers=bearer(client, counsellor),
    )
    assert r.status_code == 201
    with engine.connect() as conn:
        users = dict(conn.execute(select(m.User.username, m.User.id)).all())
    for username in ("guichet", "admin", counsellor):
        who = principal_by_id(engine, users[username])
        for fresh in (False, True):
            view = serving.shortlist_view(
                engine, who, "BES0001", fresh=fresh, top=10, engines=app.state.engines
            )
            reference = Shortlist.model_validate(view).model_dump(mode="json")
            assert json.loads(shortlist_json(view)) == reference
            served = client.get(
                f"/api/v1/needs/BES0001/shortlist?top=10&fresh={str(fresh).lower()}",
                headers=bearer(client, username),
            ).json()
            assert served == reference
            mine = [c["mon_portefeuille"] for c in served["candidats"]]
            assert any(mine) == (username == counsellor)
            named = [c["nom"] for c in served["candidats"] if c["nom"]]
            assert len(named) == (username in ("guichet", "admin"))


def test_erased_candidate_leaves_cached_shortlists_at_once(client, territory, engine):
    """Published lists are cached per run and fresh ones per fitted engine: an erasure must
    still show on the very next request of both, without a new run or a refit."""
    from matching.services.gdpr import erase

    h = bearer(client, "guichet")
    urls = ("/api/v1/needs/BES0001/shortlist", "/api/v1/needs/BES0001/shortlist?fresh=true")
    before = [client.get(u, headers=h).json() for u in urls]
    first = before[0]["candidats"][0]["demandeur"]
    assert first in [c["demandeur"] for c in before[1]["candidats"]]
    erase(engine, first, username="admin", reason="test")
    for u, old in zip(urls, before, strict=True):
        after = client.get(u, headers=h).json()
        refs = [c["demandeur"] for c in after["candidats"]]
        assert first not in refs
        assert refs == [c["demandeur"] for c in old["candidats"] if c["demandeur"] != first]


def test_session_cookie_is_https_only_when_configured(settings, territory):
    """Behind TLS (``PASSERELLE_COOKIE_SECURE=true``) the session cookie carries ``Secure``, so a
    browser never sends it over plain HTTP; by default (local demo over HTTP) it does not."""
    for secure in (False, True):
        app = create_app(settings.model_copy(update={"cookie_secure": secure}), preload=False)
        with TestClient(app, base_url="https://testserver") as c:
            r = login(c, "conseiller1")
            assert r.status_code == 303
            cookie = r.headers["set-cookie"].lower()
            assert "passerelle_session=" in cookie and "httponly" in cookie
            assert ("; secure" in cookie) is secure


def test_logout_and_password_change_revoke_copied_session_cookies(client, settings, engine):
    """A session cookie copied before logout (or before a password change) opens nothing after:
    the session lives in the database, the cookie only names it."""
    from matching.services import accounts

    def copy_of(c: TestClient) -> TestClient:
        other = TestClient(c.app)
        other.cookies.update(c.cookies)
        return other

    assert login(client, "conseiller1").status_code == 303
    stolen = copy_of(client)
    assert stolen.get("/besoins/BES0001").status_code == 200
    csrf = csrf_of(client, "/")
    assert client.post("/deconnexion", data={"csrf_token": csrf}).status_code in (200, 303)
    page = stolen.get("/besoins/BES0001", follow_redirects=False)
    assert page.status_code in (302, 303, 401) and "/connexion" in page.headers.get(
        "location", "/connexion"
    )
    assert stolen.get("/api/v1/needs").status_code == 401

    assert login(client, "conseiller2").status_code == 303
    stolen = copy_of(client)
    accounts.set_password(engine, "conseiller2", "un-nouveau-mot-de-passe")
    assert stolen.get("/api/v1/needs").status_code == 401
    assert client.get("/api/v1/needs").status_code == 401
    with engine.connect() as conn:  # only hashes are stored, and none is left for the account
        rows = conn.execute(select(m.WebSession.key_hash, m.WebSession.user_id)).all()
    assert all(len(h) == 64 and h not in str(client.cookies) for h, _ in rows)


def test_need_page_computed_now_shows_explanations_and_exports_them(client, territory):
    """The page and the export read fresh explanations (kept as the engine's objects, turned
    into dicts only when read) as they read published ones."""
    assert login(client, territory["candidate_counsellor"]).status_code == 303
    published = client.get("/besoins/BES0001")
    fresh = client.get("/besoins/BES0001?frais=1")
    assert fresh.status_code == 200 and "calcul immédiat" in fresh.text
    assert "compétence(s) essentielle(s) sur" in fresh.text
    assert fresh.text.count("compétence(s) essentielle(s) sur") == published.text.count(
        "compétence(s) essentielle(s) sur"
    )
    csv = client.get(
        "/api/v1/needs/BES0001/shortlist/export?format=csv&fresh=true",
        headers=bearer(client, territory["candidate_counsellor"]),
    )
    assert csv.status_code == 200 and "compétence(s) essentielle(s) sur" in csv.content.decode(
        "utf-8-sig"
    )

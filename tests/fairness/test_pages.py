"""The fairness page (admin and desk) and the data-protection pages (admin only), reached
through the application's own login (session cookie for pages, bearer token for the API)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from matching.store import models as m
from tests.api.conftest import bearer, csrf_of, login


@pytest.fixture
def client(published, settings):
    with TestClient(create_app(settings, preload=False)) as c:
        yield c


def test_fairness_page_for_desk_and_admin_only(client):
    anonymous = client.get("/equite", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/connexion")
    assert client.get("/api/v1/equite").status_code == 401
    assert login(client, "admin", "mauvais").status_code != 303
    assert login(client, "conseiller1").status_code == 303
    assert client.get("/equite").status_code == 403
    client.post("/deconnexion", data={"csrf_token": csrf_of(client, "/")})
    assert login(client, "guichet").status_code == 303
    page = client.get("/equite")
    assert page.status_code == 200
    assert "Audit d'équité" in page.text and "Résidents QPV" in page.text
    assert "Taux de sélection" in page.text and "Décisions enregistrées" in page.text
    data = client.get("/api/v1/equite", headers=bearer(client, "admin")).json()
    assert data["sections"][0]["key"] == "shortlists"


def test_gdpr_export_and_erasure_pages(client, published):
    with published.connect() as conn:
        ref = conn.execute(select(m.Jobseeker.ref).order_by(m.Jobseeker.id)).scalars().first()
    assert login(client, "guichet").status_code == 303
    assert client.get("/rgpd").status_code == 403
    client.post("/deconnexion", data={"csrf_token": csrf_of(client, "/")})
    assert login(client, "admin").status_code == 303
    assert "Droit d'accès" in client.get("/rgpd").text
    export = client.get("/rgpd/export", params={"ref": ref})
    assert export.status_code == 200 and export.json()["reference"] == ref
    assert "attachment" in export.headers["content-disposition"]
    token = csrf_of(client, "/rgpd")
    wrong = client.post(
        "/rgpd/effacement", data={"ref": ref, "confirmation": "autre", "csrf_token": token}
    )
    assert wrong.status_code == 422 and "confirmation incorrecte" in wrong.text
    forged = client.post("/rgpd/effacement", data={"ref": ref, "confirmation": ref})
    assert forged.status_code == 403 and "CSRF" in forged.text
    done = client.post(
        "/rgpd/effacement", data={"ref": ref, "confirmation": ref, "csrf_token": token}
    )
    assert done.status_code == 200 and "Effacement effectué" in done.text
    with published.connect() as conn:
        assert conn.execute(select(m.Jobseeker).where(m.Jobseeker.ref == ref)).first() is None
        actions = conn.execute(
            select(m.AuditEntry.action, m.AuditEntry.username).where(m.AuditEntry.entity_ref == ref)
        ).all()
    assert ("erasure", "admin") in actions
    assert client.get("/rgpd/export", params={"ref": ref}).status_code == 404

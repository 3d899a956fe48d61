"""The fairness page (admin and desk) and the data-protection pages (admin only)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from matching.services.demo import DEMO_PASSWORD
from matching.store import models as m

ADMIN = ("admin", DEMO_PASSWORD)
DESK = ("guichet", DEMO_PASSWORD)
COUNSELLOR = ("conseiller1", DEMO_PASSWORD)


@pytest.fixture
def client(published, settings):
    with TestClient(create_app(settings)) as c:
        yield c


def test_fairness_page_for_desk_and_admin_only(client):
    assert client.get("/equite").status_code == 401
    assert client.get("/equite", auth=("admin", "mauvais")).status_code == 403
    assert client.get("/equite", auth=COUNSELLOR).status_code == 403
    page = client.get("/equite", auth=DESK)
    assert page.status_code == 200
    assert "Audit d'équité" in page.text and "Résidents QPV" in page.text
    assert "Taux de sélection" in page.text and "Décisions enregistrées" in page.text
    data = client.get("/api/v1/equite", auth=ADMIN).json()
    assert data["sections"][0]["key"] == "shortlists"


def test_gdpr_export_and_erasure_pages(client, published):
    with published.connect() as conn:
        ref = conn.execute(select(m.Jobseeker.ref).order_by(m.Jobseeker.id)).scalars().first()
    assert client.get("/rgpd", auth=DESK).status_code == 403
    assert "Droit d'accès" in client.get("/rgpd", auth=ADMIN).text
    export = client.get("/rgpd/export", params={"ref": ref}, auth=ADMIN)
    assert export.status_code == 200 and export.json()["reference"] == ref
    assert "attachment" in export.headers["content-disposition"]
    wrong = client.post("/rgpd/effacement", data={"ref": ref, "confirmation": "autre"}, auth=ADMIN)
    assert wrong.status_code == 422 and "confirmation incorrecte" in wrong.text
    foreign = client.post(
        "/rgpd/effacement",
        data={"ref": ref, "confirmation": ref},
        headers={"origin": "https://ailleurs.example"},
        auth=ADMIN,
    )
    assert foreign.status_code == 403
    done = client.post("/rgpd/effacement", data={"ref": ref, "confirmation": ref}, auth=ADMIN)
    assert done.status_code == 200 and "Effacement effectué" in done.text
    with published.connect() as conn:
        assert conn.execute(select(m.Jobseeker).where(m.Jobseeker.ref == ref)).first() is None
        actions = conn.execute(
            select(m.AuditEntry.action, m.AuditEntry.username).where(m.AuditEntry.entity_ref == ref)
        ).all()
    assert actions == [("erasure", "admin")]
    assert client.get("/rgpd/export", params={"ref": ref}, auth=ADMIN).status_code == 404

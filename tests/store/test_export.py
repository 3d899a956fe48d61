"""Exports: the import column format (export -> import changes nothing), CSV and Excel,
jobseekers pseudonymised unless identities are asked for (and then the audit log says so)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from matching.demo import DemoSizes
from matching.exceptions import ValidationError
from matching.services.demo import seed_demo
from matching.store import models as m
from matching.store.checksum import database_checksum
from matching.store.io import ENTITIES, export_entity, export_rows, import_file
from matching.store.schemas import IDENTITY_COLUMNS

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "import"
ORDER = (
    "employeurs",
    "besoins",
    "rues-prioritaires",
    "demandeurs",
    "organismes",
    "formations",
    "sessions",
    "evenements",
)
SMALL = DemoSizes(jobseekers=150, employers=6, needs=12, past_needs=15, courses=8, sessions=12)


def _imp(engine, referential, entity, path, **kw):
    return import_file(engine, entity, path, referential=referential, **kw)


@pytest.fixture
def loaded(engine, referential):
    for entity in ORDER:
        _imp(engine, referential, entity, FIX / f"{entity}.csv")
    return engine


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_then_import_changes_nothing(loaded, referential, tmp_path, suffix):
    before = database_checksum(loaded)
    for entity in ORDER:
        path = tmp_path / f"{entity}{suffix}"
        n = export_entity(loaded, entity, path, include_identity=True)
        report = _imp(loaded, referential, entity, path)
        assert (report.created, report.updated, report.rejected) == (0, 0, 0), entity
        assert report.unchanged == n > 0, entity
    assert database_checksum(loaded) == before


def test_exported_columns_are_the_import_columns(loaded, tmp_path):
    export_entity(loaded, "besoins", tmp_path / "b.csv")
    frame = pd.read_csv(tmp_path / "b.csv", dtype=str, keep_default_na=False)
    assert list(frame.columns[:4]) == ["ref", "employeur_ref", "code_rome", "intitule"]
    b3 = frame.set_index("ref").loc["B-3"]
    assert b3["date_embauche"] == "2027-04-15"  # typed 15/04/2027: exported in ISO
    assert b3["heures_hebdo"] == "24.5" and b3["permis_requis"] == "oui"
    assert b3["competences"] == "110036:E:2 | 110098:E:1"
    export_entity(loaded, "demandeurs", tmp_path / "d.csv", include_identity=True)
    de2 = pd.read_csv(tmp_path / "d.csv", dtype=str, keep_default_na=False).set_index("ref")
    assert de2.loc["DE-2", "experiences"] == "N1103:30:2025-06-30"
    assert de2.loc["DE-3", "competences"] == "110036:1:certified"


def test_jobseekers_are_pseudonymised_by_default(loaded, tmp_path):
    path = tmp_path / "demandeurs.csv"
    assert export_entity(loaded, "demandeurs", path) == 3
    content = path.read_text(encoding="utf-8")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert not set(IDENTITY_COLUMNS) & set(frame.columns)
    assert "Benali" not in content and "Lilas" not in content and "1990-05-01" not in content
    assert "quartier" not in " ".join(frame.columns)  # the derived flag is not exported either
    with_identity = export_rows(loaded, "demandeurs", include_identity=True)
    assert with_identity.set_index("ref").loc["DE-1", "nom"] == "Benali"


def test_identity_export_through_the_service_is_audited(loaded, tmp_path):
    from matching.services.io import export_file

    export_file(loaded, "demandeurs", tmp_path / "a.csv", username="admin")
    export_file(loaded, "demandeurs", tmp_path / "b.xlsx", include_identity=True, username="admin")
    with loaded.connect() as conn:
        entries = conn.execute(
            select(m.AuditEntry.username, m.AuditEntry.action, m.AuditEntry.detail)
        ).all()
    assert len(entries) == 1
    assert entries[0][:2] == ("admin", "export")
    assert "3 demandeur(s)" in entries[0][2] and "Benali" not in entries[0][2]


def test_unknown_entity_and_columns(loaded, tmp_path):
    with pytest.raises(ValidationError, match="entité inconnue 'clients'"):
        export_entity(loaded, "clients", tmp_path / "x.csv")
    with pytest.raises(ValidationError, match="colonne\\(s\\) inconnue\\(s\\)"):
        export_entity(loaded, "employeurs", tmp_path / "x.csv", columns=["ref", "chiffre"])
    export_entity(loaded, "employeurs", tmp_path / "x.csv", columns=["ref", "nom"])
    assert pd.read_csv(tmp_path / "x.csv").columns.tolist() == ["ref", "nom"]


def test_demo_territory_round_trips(engine, referential, tmp_path):
    """Everything the demo generator writes (counsellors, ended experiences, priority streets,
    outcomes...) exports and re-imports unchanged."""
    seed_demo(engine, referential, seed=7, as_of=date(2026, 9, 1), sizes=SMALL)
    before = database_checksum(engine)
    for entity in ENTITIES:
        path = tmp_path / f"{entity}.csv"
        n = export_entity(engine, entity, path, include_identity=True)
        report = _imp(engine, referential, entity, path)
        assert report.unchanged == n and report.total == n, entity
    assert database_checksum(engine) == before

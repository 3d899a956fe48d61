"""Imports: errors by line and column in French, all or nothing, --skip-invalid with a rejects
file, idempotent re-imports, Excel, encodings, free text through the normaliser, the CLI."""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import func, select

from matching.exceptions import ImportValidationError
from matching.store import io as store_io
from matching.store import models as m
from matching.store.checksum import database_checksum
from matching.store.io import export_rows, import_file

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


def _imp(engine, referential, entity, path, **kw):
    return import_file(engine, entity, path, referential=referential, **kw)


def _load_all(engine, referential):
    return {e: _imp(engine, referential, e, FIX / f"{e}.csv") for e in ORDER}


def _count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


# --- all or nothing -------------------------------------------------------------------------------
def test_three_bad_rows_are_named_and_nothing_is_imported(engine, referential):
    _imp(engine, referential, "employeurs", FIX / "employeurs.csv")
    before = database_checksum(engine)
    with pytest.raises(ImportValidationError) as info:
        _imp(engine, referential, "besoins", FIX / "besoins_3_erreurs.csv")
    text = str(info.value)
    assert "rien n'a été importé" in text
    assert "ligne 3, colonne date_embauche : date invalide '31/02/2026'" in text
    assert "ligne 5, colonne employeur_ref : employeur inconnu(e) : 'EMP-Z'" in text
    assert "ligne 5, colonne postes : au moins 1 poste attendu, reçu 0" in text
    assert "ligne 6, colonne code_rome : code ROME invalide 'Z9999'" in text
    assert "ligne 6, colonne type_contrat : type de contrat invalide 'stage'" in text
    assert {e.row for e in info.value.errors} == {3, 5, 6}
    assert {(e.row, e.field) for e in info.value.errors} == {
        (3, "date_embauche"),
        (5, "employeur_ref"),
        (5, "postes"),
        (6, "code_rome"),
        (6, "type_contrat"),
    }
    assert database_checksum(engine) == before
    assert _count(engine, m.Need) == 0


def test_every_invalid_field_of_a_jobseeker_file_is_reported(engine, referential):
    before = database_checksum(engine)
    with pytest.raises(ImportValidationError) as info:
        _imp(engine, referential, "demandeurs", FIX / "demandeurs_invalides.csv")
    found = {(e.row, e.field): e.message for e in info.value.errors}
    assert found[(2, "date_naissance")] == "date invalide '1999-13-01'"
    assert "3 à 8" in found[(2, "niveau_qualification")]
    assert found[(2, "permis")] == "oui ou non attendu, reçu 'peut-être'"
    assert "niveau 1, 2 ou 3 attendu, reçu '4'" in found[(2, "competences")]
    assert "genre invalide 'Z'" in found[(3, "genre")]
    assert "commune inconnue '75056'" in found[(3, "commune_insee")]
    assert found[(3, "date_disponibilite")] == "valeur obligatoire manquante"
    assert "expérience 'X99:3'" in found[(3, "experiences")]
    assert "inconnu(s) : 999999999" in found[(3, "competences")]
    assert {e.row for e in info.value.errors} == {2, 3}  # line 4 is valid, yet not imported
    assert database_checksum(engine) == before


def test_missing_required_column_is_a_header_error(engine, referential, tmp_path):
    path = tmp_path / "employeurs.csv"
    path.write_text("ref;nom;secteur\nE1;Acme;autre\n", encoding="utf-8")
    with pytest.raises(ImportValidationError) as info:
        _imp(engine, referential, "employeurs", path, skip_invalid=True)
    assert {(e.row, e.field) for e in info.value.errors} == {(1, "code_naf"), (1, "commune_insee")}
    assert "colonne obligatoire absente de l'en-tête" in str(info.value)


def test_database_error_midway_leaves_the_database_unchanged(
    engine, referential, tmp_path, monkeypatch
):
    _imp(engine, referential, "employeurs", FIX / "employeurs.csv")
    path = tmp_path / "employeurs.csv"
    path.write_text(
        "ref,nom,siret,code_naf,secteur,commune_insee\n"
        "EMP-C,C,,82,autre,80021\n"
        "EMP-A,Nouveau nom,,82,autre,80021\n"
        "EMP-D,D,12345678901234,82,autre,80021\n",  # SIRET of EMP-B: UNIQUE violation
        encoding="utf-8",
    )
    with pytest.raises(ImportValidationError) as info:  # validation catches it first
        _imp(engine, referential, "employeurs", path)
    assert "ligne 4, colonne siret : SIRET déjà enregistré pour l'employeur 'EMP-B'" in str(
        info.value
    )
    # switch the check off: the database itself refuses line 4, after lines 2 and 3 were written
    monkeypatch.setattr(store_io, "_reference_errors", lambda *a, **k: [])
    before = database_checksum(engine)
    with pytest.raises(ImportValidationError) as info:
        _imp(engine, referential, "employeurs", path)
    assert info.value.errors[0].row == 4
    assert "écriture refusée par la base" in info.value.errors[0].message
    assert isinstance(info.value.__cause__, Exception)
    assert database_checksum(engine) == before
    with engine.connect() as conn:
        names = dict(conn.execute(select(m.Employer.ref, m.Employer.name)).all())
    assert names == {"EMP-A": "Centre d'appels Nord", "EMP-B": "Logistique Somme"}


# --- skip invalid ---------------------------------------------------------------------------------
def test_skip_invalid_imports_good_rows_and_writes_rejects(engine, referential, tmp_path):
    _imp(engine, referential, "employeurs", FIX / "employeurs.csv")
    rejects = tmp_path / "out" / "rejets.csv"
    report = _imp(
        engine,
        referential,
        "besoins",
        FIX / "besoins_3_erreurs.csv",
        skip_invalid=True,
        rejects_path=rejects,
    )
    assert (report.created, report.updated, report.unchanged, report.rejected) == (2, 0, 0, 3)
    assert report.rejects_path == rejects
    written = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert list(written["ligne"]) == ["3", "5", "6"]
    assert list(written["ref"]) == ["B-2", "B-4", "B-5"]
    assert written.loc[0, "date_embauche"] == "31/02/2026"  # the cell as it was typed
    assert written.loc[0, "motif_rejet"] == "date_embauche : date invalide '31/02/2026'"
    assert "employeur_ref : employeur inconnu(e) : 'EMP-Z'" in written.loc[1, "motif_rejet"]
    assert "postes : au moins 1 poste attendu" in written.loc[1, "motif_rejet"]
    with engine.connect() as conn:
        refs = sorted(conn.execute(select(m.Need.ref)).scalars())
        skills = conn.execute(select(m.NeedSkill.skill_code, m.NeedSkill.essential)).all()
    assert refs == ["B-1", "B-3"]
    assert sorted(skills) == [(400557, True), (483431, False)]
    # the rejects file, once corrected, imports on its own (extra columns are ignored)
    fixed = written.drop(columns=["ligne", "motif_rejet"])
    fixed.loc[0, "date_embauche"] = "28/02/2027"
    fixed = fixed.iloc[[0]]
    fixed.to_csv(tmp_path / "corrige.csv", index=False)
    again = _imp(engine, referential, "besoins", tmp_path / "corrige.csv")
    assert again.created == 1


# --- idempotence, every entity --------------------------------------------------------------------
def test_every_entity_imports_and_reimport_changes_nothing(engine, referential):
    first = _load_all(engine, referential)
    assert {e: r.created for e, r in first.items()} == {
        "employeurs": 2,
        "besoins": 2,
        "rues-prioritaires": 2,
        "demandeurs": 3,
        "organismes": 2,
        "formations": 2,
        "sessions": 2,
        "evenements": 3,
    }
    before = database_checksum(engine)
    again = _load_all(engine, referential)
    for entity, report in again.items():
        assert (report.created, report.updated, report.rejected) == (0, 0, 0), entity
        assert report.unchanged == first[entity].created, entity
    assert database_checksum(engine) == before
    with engine.connect() as conn:
        course = conn.execute(select(m.Course.__table__).where(m.Course.ref == "F-1")).one()
        session = conn.execute(
            select(m.CourseSession.__table__).where(m.CourseSession.ref == "S-2")
        ).one()
    assert course.cost_eur == 3200.0 and course.hours == 420.0
    assert session.seats_taken == 0 and str(session.start_date) == "2027-01-05"


def test_updating_a_row_replaces_its_child_rows(engine, referential, tmp_path):
    _imp(engine, referential, "employeurs", FIX / "employeurs.csv")
    _imp(engine, referential, "besoins", FIX / "besoins.csv")
    frame = pd.read_csv(FIX / "besoins.csv", dtype=str, keep_default_na=False)
    frame.loc[0, "competences"] = "483431:E:3 | 485132:O"
    frame.loc[0, "postes"] = "12"
    frame.to_csv(tmp_path / "b.csv", index=False)
    report = _imp(engine, referential, "besoins", tmp_path / "b.csv")
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.NeedSkill.skill_code, m.NeedSkill.essential, m.NeedSkill.level)
            .join(m.Need)
            .where(m.Need.ref == "B-1")
            .order_by(m.NeedSkill.skill_code)
        ).all()
        positions = conn.execute(select(m.Need.positions).where(m.Need.ref == "B-1")).scalar()
    assert [tuple(r) for r in rows] == [(483431, True, 3), (485132, False, 2)]
    assert positions == 12


def test_absent_columns_keep_stored_values(engine, referential, tmp_path):
    """A file without identity columns (a pseudonymised export) does not erase identities."""
    _imp(engine, referential, "demandeurs", FIX / "demandeurs.csv")
    before = database_checksum(engine)
    slim = pd.read_csv(FIX / "demandeurs.csv", dtype=str, keep_default_na=False)
    slim = slim[["ref", "commune_insee", "date_disponibilite"]]
    slim.to_csv(tmp_path / "slim.csv", index=False)
    report = _imp(engine, referential, "demandeurs", tmp_path / "slim.csv")
    assert report.unchanged == 3
    assert database_checksum(engine) == before


# --- priority district ----------------------------------------------------------------------------
def test_priority_district_is_derived_from_the_address(engine, referential, tmp_path):
    frame = pd.read_csv(FIX / "demandeurs.csv", dtype=str, keep_default_na=False)
    frame["quartier_prioritaire"] = "oui"  # not a column: ignored, reported
    frame.to_csv(tmp_path / "d.csv", index=False)
    report = _imp(engine, referential, "demandeurs", tmp_path / "d.csv")
    assert report.ignored_columns == ["quartier_prioritaire"]

    def flags():
        with engine.connect() as conn:
            return dict(conn.execute(select(m.Jobseeker.ref, m.Jobseeker.priority_district)).all())

    # DE-1 names the district (Étouvie) in the address; DE-3's street is not listed yet
    assert flags() == {"DE-1": True, "DE-2": False, "DE-3": False}
    streets = _imp(engine, referential, "rues-prioritaires", FIX / "rues-prioritaires.csv")
    assert streets.created == 2 and streets.flags_changed == 1
    assert flags() == {"DE-1": True, "DE-2": False, "DE-3": True}  # "5 av. de l'Europe"
    with engine.connect() as conn:
        postcode = conn.execute(
            select(m.JobseekerIdentity.postcode).join(m.Jobseeker).where(m.Jobseeker.ref == "DE-3")
        ).scalar()
    assert postcode == "80080"


def test_priority_street_must_name_a_district_of_the_commune(engine, referential, tmp_path):
    path = tmp_path / "rues.csv"
    path.write_text("commune_insee,rue,quartier\n80021,rue X,Quartier imaginaire\n")
    with pytest.raises(ImportValidationError) as info:
        _imp(engine, referential, "rues-prioritaires", path)
    assert info.value.errors[0].field == "quartier"
    assert "Étouvie" in info.value.errors[0].message


# --- file formats ---------------------------------------------------------------------------------
def _to_xlsx(csv_path: Path, out: Path) -> None:
    """An Excel file as a person would type it: real dates and numbers in the cells."""
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False, sep=None, engine="python")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(frame.columns))
    for record in frame.to_dict("records"):
        row = []
        for col, v in record.items():
            if col.startswith("date") and v:
                with contextlib.suppress(ValueError):  # Excel keeps an impossible date as text
                    v = pd.to_datetime(v, dayfirst="/" in v).to_pydatetime()
            elif col in ("postes", "niveau_qualification", "commune_insee") and v:
                v = int(v)
            row.append(v if v != "" else None)
        ws.append(row)
    wb.save(out)


def test_excel_import_gives_the_same_data_as_csv(engine, referential, tmp_path):
    _imp(engine, referential, "employeurs", FIX / "employeurs.csv")
    for entity in ("besoins", "demandeurs"):
        _to_xlsx(FIX / f"{entity}.csv", tmp_path / f"{entity}.xlsx")
        report = _imp(engine, referential, entity, tmp_path / f"{entity}.xlsx")
        assert report.created >= 2 and report.rejected == 0
    from_excel = {
        e: export_rows(engine, e, include_identity=True) for e in ("besoins", "demandeurs")
    }
    before = database_checksum(engine)
    for entity in ("besoins", "demandeurs"):  # the CSV files hold the same data
        assert _imp(engine, referential, entity, FIX / f"{entity}.csv").unchanged >= 2
    assert database_checksum(engine) == before
    for entity, frame in from_excel.items():
        pd.testing.assert_frame_equal(frame, export_rows(engine, entity, include_identity=True))


def test_excel_errors_use_spreadsheet_line_numbers(engine, referential, tmp_path):
    _imp(engine, referential, "employeurs", FIX / "employeurs.csv")
    _to_xlsx(FIX / "besoins_3_erreurs.csv", tmp_path / "b.xlsx")
    with pytest.raises(ImportValidationError) as info:
        _imp(engine, referential, "besoins", tmp_path / "b.xlsx")
    assert {e.row for e in info.value.errors} == {3, 5, 6}


def test_encodings_separators_and_blank_lines(engine, referential, tmp_path):
    text = (
        "Réf;Nom;SIRET;Code_NAF;Secteur;Commune_INSEE\n"
        "E-1;Boulangerie Fénelon;;1071C;Agroalimentaire_biotech_santé;80021\n"
        "\n"
        "E-2;Hôtel de la Cathédrale;;55.10Z;TOURISME;80021000\n"
    )
    (tmp_path / "cp1252.csv").write_bytes(text.encode("cp1252"))
    with pytest.raises(ImportValidationError) as info:
        _imp(engine, referential, "employeurs", tmp_path / "cp1252.csv")
    assert [(e.row, e.field) for e in info.value.errors] == [(4, "commune_insee")]  # blank line 3
    fixed = text.replace("80021000", "80021")
    (tmp_path / "bom.csv").write_bytes(fixed.replace(";", ",").encode("utf-8-sig"))
    report = _imp(engine, referential, "employeurs", tmp_path / "bom.csv")
    assert report.created == 2
    with engine.connect() as conn:
        rows = dict(conn.execute(select(m.Employer.name, m.Employer.sector)).all())
    assert rows == {
        "Boulangerie Fénelon": "agroalimentaire_biotech_sante",
        "Hôtel de la Cathédrale": "tourisme",
    }


def test_a_row_with_too_many_cells_is_named(engine, referential, tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("ref,nom\nOF-1,AFPA\nOF-2,Centre, de formation\n", encoding="utf-8")
    with pytest.raises(ImportValidationError) as info:
        _imp(engine, referential, "organismes", path)
    assert info.value.errors[0].row == 3
    assert "3 cellules au lieu de 2" in info.value.errors[0].message


# --- free text through the normaliser -------------------------------------------------------------
class FakeNormaliser:
    """Follows the normaliser contract; decisions are chosen by the test."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def normalise_batch(self, phrases, *, kind="occupation", top_k=5):
        self.calls.append((kind, list(phrases)))
        out = []
        for p in phrases:
            decision, code, label = self.answers[(kind, p)]
            cands = (SimpleNamespace(code=code, label=label, score=0.57),) if code else ()
            out.append(SimpleNamespace(phrase=p, decision=decision, candidates=cands))
        return out


NEEDS_FREE_TEXT = (
    "ref,employeur_ref,code_rome,intitule,postes,date_embauche,type_contrat,commune_insee,"
    "competences\n"
    "B-7,EMP-A,,Téléconseiller,3,2027-03-01,CDI,80021,gérer les appels:E:3 | 483431:O\n"
    "B-8,EMP-A,,Agent polyvalent,1,2027-03-01,CDD,80021,\n"
    "B-9,EMP-A,N1103,Préparateur,1,2027-03-01,CDD,80021,bricoler:O\n"
)


def test_free_text_is_normalised_and_doubtful_matches_are_row_errors(engine, referential, tmp_path):
    _imp(engine, referential, "employeurs", FIX / "employeurs.csv")
    path = tmp_path / "b.csv"
    path.write_text(NEEDS_FREE_TEXT, encoding="utf-8")
    fake = FakeNormaliser(
        {
            ("occupation", "Téléconseiller"): ("auto", "D1408", "Conseiller clientèle à distance"),
            ("occupation", "Agent polyvalent"): ("review", "K2204", "Nettoyage de locaux"),
            ("skill", "gérer les appels"): ("auto", "400557", "Gérer les appels"),
            ("skill", "bricoler"): ("unknown", None, None),
        }
    )
    with pytest.raises(ImportValidationError) as info:
        _imp(engine, referential, "besoins", path, normaliser=fake)
    found = {(e.row, e.field): e.message for e in info.value.errors}
    assert found == {
        (3, "intitule"): "intitulé à vérifier : meilleur candidat K2204 « Nettoyage de locaux » "
        "(confiance 57%) ; indiquez le code_rome",
        (4, "competences"): "compétence 'bricoler' non reconnue : indiquez le code OGR",
    }
    report = _imp(engine, referential, "besoins", path, normaliser=fake, skip_invalid=True)
    assert (report.created, report.rejected, report.normalised) == (1, 2, 2)
    with engine.connect() as conn:
        need = conn.execute(select(m.Need.__table__).where(m.Need.ref == "B-7")).one()
        skills = conn.execute(
            select(m.NeedSkill.skill_code, m.NeedSkill.essential, m.NeedSkill.level).where(
                m.NeedSkill.need_id == need.id
            )
        ).all()
    assert need.code_rome == "D1408" and need.title_typed == "Téléconseiller"
    assert sorted(tuple(s) for s in skills) == [(400557, True, 3), (483431, False, 2)]


def test_without_a_normaliser_free_text_asks_for_codes(engine, referential, tmp_path):
    _imp(engine, referential, "employeurs", FIX / "employeurs.csv")
    path = tmp_path / "b.csv"
    path.write_text(NEEDS_FREE_TEXT, encoding="utf-8")
    with pytest.raises(ImportValidationError) as info:
        _imp(engine, referential, "besoins", path)
    fields = {(e.row, e.field) for e in info.value.errors}
    assert fields == {(2, "code_rome"), (2, "competences"), (3, "code_rome"), (4, "competences")}
    assert "code ROME manquant" in str(info.value)


def test_the_normaliser_is_loaded_only_when_needed(engine, referential):
    def factory():
        raise AssertionError("loaded for a file without free text")

    _imp(engine, referential, "employeurs", FIX / "employeurs.csv")
    assert _imp(engine, referential, "besoins", FIX / "besoins.csv", normaliser=factory).created


@pytest.fixture(scope="module")
def toy_normaliser(referential):
    """The taxonomy normaliser fitted on two ROME families (call centres, logistics)."""
    from matching.taxonomy.normaliser import Normaliser

    families = ("D14", "N11")
    occ = referential.occupations[referential.occupations["code_rome"].str[:3].isin(families)]
    codes = set(occ["code_rome"])
    links = referential.occupation_skills[referential.occupation_skills["code_rome"].isin(codes)]
    titles = referential.job_titles[referential.job_titles["code_rome"].isin(codes)]
    skills = referential.skills[referential.skills["code_ogr"].isin(set(links["code_ogr"]))]
    toy = SimpleNamespace(
        occupations=occ.reset_index(drop=True),
        job_titles=titles.reset_index(drop=True),
        skills=skills.reset_index(drop=True),
        occupation_skills=links.reset_index(drop=True),
        manifest={"toy": sorted(codes)},
    )
    return Normaliser(kinds=("occupation",), random_state=0).fit(toy)


TITLE_ONLY = (
    "ref,employeur_ref,intitule,postes,date_embauche,type_contrat,commune_insee\n"
    "B-1,EMP-B,préparateur de commandes,2,2027-03-01,CDI,80021\n"
)


def test_real_normaliser_doubt_names_the_best_candidate(
    engine, referential, tmp_path, toy_normaliser
):
    _imp(engine, referential, "employeurs", FIX / "employeurs.csv")
    path = tmp_path / "b.csv"
    typo = "preparatuer de comandes"  # typed with two typos: the normaliser is not sure
    path.write_text(TITLE_ONLY.replace("préparateur de commandes", typo), encoding="utf-8")
    result = toy_normaliser.normalise_batch([typo], kind="occupation")[0]
    assert result.decision != "auto"
    assert result.candidates[0].code == "N1103"
    with pytest.raises(ImportValidationError) as info:
        _imp(engine, referential, "besoins", path, normaliser=toy_normaliser)
    [error] = info.value.errors
    assert (error.row, error.field) == (2, "intitule")
    assert error.message.startswith("intitulé à vérifier : meilleur candidat N1103 « Préparateur")


def test_a_stored_correction_lets_the_title_import(
    engine, referential, settings, tmp_path, toy_normaliser
):
    """Through the service: the counsellors' correction wins, as on every intake path."""
    from matching.services.io import CorrectedNormaliser, import_entity
    from matching.services.normalise import record_correction

    _imp(engine, referential, "employeurs", FIX / "employeurs.csv")
    record_correction(
        engine,
        kind="occupation",
        phrase="Preparatuer de COMANDES",  # the doubtful phrase of the test above
        code="N1103",
        by_user="conseiller1",
        normaliser=toy_normaliser,
    )
    path = tmp_path / "b.csv"
    path.write_text(
        TITLE_ONLY.replace("préparateur de commandes", "preparatuer de comandes"), encoding="utf-8"
    )
    report = import_entity(
        engine,
        settings,
        "besoins",
        path,
        referential=referential,
        normaliser=CorrectedNormaliser(engine, toy_normaliser),
    )
    assert (report.created, report.normalised) == (1, 1)
    with engine.connect() as conn:
        assert conn.execute(select(m.Need.code_rome)).scalar() == "N1103"
    again = import_entity(
        engine,
        settings,
        "besoins",
        path,
        referential=referential,
        normaliser=CorrectedNormaliser(engine, toy_normaliser),
    )
    assert again.unchanged == 1


# --- command line ---------------------------------------------------------------------------------
def _cli(args, monkeypatch, capsys):
    from matching.cli import main

    monkeypatch.setattr(sys, "argv", ["passerelle", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out + out.err


def test_cli_import_reports_errors_and_exit_code(settings, monkeypatch, capsys, tmp_path):
    code, out = _cli(["import", "employeurs", str(FIX / "employeurs.csv")], monkeypatch, capsys)
    assert code == 0, out
    assert "créés" in out and "inchangés" in out
    code, first = _cli(["checksum"], monkeypatch, capsys)
    code, out = _cli(["import", "besoins", str(FIX / "besoins_3_erreurs.csv")], monkeypatch, capsys)
    assert code == 3
    assert "ligne 3, colonne date_embauche : date invalide '31/02/2026'" in out
    assert "rien n'a été importé" in out
    _, second = _cli(["checksum"], monkeypatch, capsys)
    assert first.strip() == second.strip() and len(first.strip()) == 64
    src = tmp_path / "in" / "besoins.csv"
    src.parent.mkdir()
    shutil.copy(FIX / "besoins_3_erreurs.csv", src)
    code, out = _cli(["import", "besoins", str(src), "--skip-invalid"], monkeypatch, capsys)
    assert code == 0, out
    assert "rejets" in out
    written = list((settings.data_dir / "rejets").glob("besoins-*.rejets.csv"))
    assert len(written) == 1 and not list(src.parent.glob("*.rejets.csv"))
    code, out = _cli(["import", "inconnus", str(src)], monkeypatch, capsys)
    assert code == 3 and "entité inconnue 'inconnus'" in out

"""``passerelle normalise``: table of candidates, CSV in/out, corrections, French errors."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from matching.cli import app, register_all
from matching.exceptions import ValidationError
from matching.taxonomy import normaliser as normaliser_module
from matching.taxonomy.normaliser import Normaliser

runner = CliRunner()
FAMILIES = ("N11", "I12", "D14")


@pytest.fixture(scope="module")
def cli_normaliser(referential):
    occ = referential.occupations
    occ = occ[occ["code_rome"].str[:3].isin(FAMILIES)].reset_index(drop=True)
    codes = set(occ["code_rome"])
    links = referential.occupation_skills
    links = links[links["code_rome"].isin(codes)].reset_index(drop=True)
    titles = referential.job_titles
    toy = SimpleNamespace(
        occupations=occ,
        job_titles=titles[titles["code_rome"].isin(codes)].reset_index(drop=True),
        skills=referential.skills[
            referential.skills["code_ogr"].isin(set(links["code_ogr"]))
        ].reset_index(drop=True),
        occupation_skills=links,
    )
    return Normaliser(kinds=("occupation", "job_title", "skill"), skill_tuning_size=400).fit(toy)


@pytest.fixture
def cli(settings, cli_normaliser, monkeypatch):
    monkeypatch.setattr(normaliser_module, "get_normaliser", lambda **_: cli_normaliser)
    register_all()
    return lambda *args: runner.invoke(app, list(args))


def test_one_phrase_prints_a_french_table_and_decision(cli):
    result = cli("normalise", "cariste caces 3", "--top", "3")
    assert result.exit_code == 0, result.output
    assert "Code" in result.output and "Libellé" in result.output and "Score" in result.output
    assert "N1101" in result.output
    assert "Décision" in result.output
    assert any(d in result.output for d in ("accepté automatiquement", "à vérifier", "inconnu"))


def test_job_title_kind_shows_the_fiche(cli):
    result = cli("normalise", "cariste", "--kind", "job_title")
    assert result.exit_code == 0, result.output
    assert "Fiche ROME" in result.output and "N1101" in result.output


def test_correction_then_lookup(cli):
    result = cli("normalise", "agent autoroute", "--correct", "I1208", "--by", "conseil1")
    assert result.exit_code == 0, result.output
    assert "Correction enregistrée" in result.output and "I1208" in result.output
    again = cli("normalise", "Agent autoroute")
    assert "correction enregistrée" in again.output and "accepté automatiquement" in again.output


def test_csv_file_in_and_out(cli, tmp_path):
    src = tmp_path / "phrases.csv"
    src.write_text("id,intitule\n1,cariste\n2,téléconseillère\n3,qzxwv\n", encoding="utf-8")
    out = tmp_path / "out" / "res.csv"
    out.parent.mkdir()
    result = cli("normalise", "--file", str(src), "--column", "intitule", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["phrase"] for r in rows] == ["cariste", "téléconseillère", "qzxwv"]
    assert set(rows[0]) == {"phrase", "code", "libelle", "libelle_rapproche", "score", "decision"}
    assert rows[0]["code"] == "N1101"
    assert rows[2]["decision"] == "inconnu"
    assert "3 phrase(s)" in result.output


def test_missing_column_is_a_clear_french_error(cli, tmp_path):
    src = tmp_path / "phrases.csv"
    src.write_text("intitule\ncariste\n", encoding="utf-8")
    result = cli("normalise", "--file", str(src))
    assert isinstance(result.exception, ValidationError)
    assert "colonne « phrase » absente" in str(result.exception)
    assert "intitule" in str(result.exception)


def test_unknown_kind_is_refused(cli):
    result = cli("normalise", "cariste", "--kind", "metier")
    assert isinstance(result.exception, ValidationError)
    assert "--kind" in str(result.exception)

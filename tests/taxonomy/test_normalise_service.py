"""Stored corrections win over the normaliser, round trip on SQLite and PostgreSQL."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from matching.exceptions import NotFoundError, ValidationError
from matching.services.normalise import normalise_phrases, phrase_key, record_correction
from matching.store.db import session_scope
from matching.store.models import NormalisationCorrection
from matching.taxonomy.normaliser import Normaliser

FAMILIES = ("N11", "I12", "K22")


@pytest.fixture(scope="module")
def small_normaliser(referential):
    occ = referential.occupations
    occ = occ[occ["code_rome"].str[:3].isin(FAMILIES)].reset_index(drop=True)
    codes = set(occ["code_rome"])
    links = referential.occupation_skills
    links = links[links["code_rome"].isin(codes)].reset_index(drop=True)
    skills = referential.skills
    titles = referential.job_titles
    toy = SimpleNamespace(
        occupations=occ,
        job_titles=titles[titles["code_rome"].isin(codes)].reset_index(drop=True),
        skills=skills[skills["code_ogr"].isin(set(links["code_ogr"]))].reset_index(drop=True),
        occupation_skills=links,
    )
    return Normaliser(kinds=("occupation", "job_title"), random_state=1).fit(toy)


def test_correction_comes_first_and_is_marked(engine, small_normaliser):
    phrases = ["agent autoroute", "Agent  Autoroute !", "cariste"]
    before = normalise_phrases(engine, small_normaliser, phrases, kind="occupation", top_k=3)
    assert not any(r.corrected for r in before)
    target = record_correction(
        engine,
        kind="occupation",
        phrase="agent autoroute",
        code="I1208",
        by_user="conseil1",
        normaliser=small_normaliser,
    )
    assert target.code == "I1208" and target.label
    after = normalise_phrases(engine, small_normaliser, phrases, kind="occupation", top_k=3)
    for res in after[:2]:  # same normalised key: both spellings are corrected
        assert res.corrected and res.decision == "auto"
        assert res.candidates[0].code == "I1208" and res.candidates[0].score == 1.0
        assert len(res.candidates) <= 3
        assert [c.code for c in res.candidates].count("I1208") == 1
    assert after[2] == before[2]
    # corrections are per kind
    other = normalise_phrases(engine, small_normaliser, ["agent autoroute"], kind="job_title")
    assert not other[0].corrected


def test_correction_is_an_upsert_on_kind_and_key(engine, small_normaliser):
    record_correction(
        engine,
        kind="occupation",
        phrase="agent autoroute",
        code="I1208",
        by_user="a",
        normaliser=small_normaliser,
    )
    record_correction(
        engine,
        kind="occupation",
        phrase="AGENT AUTOROUTE",
        code="I1202",
        by_user="b",
        normaliser=small_normaliser,
    )
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(NormalisationCorrection)) == 1
        row = session.scalar(select(NormalisationCorrection))
        assert (row.code, row.by_user, row.phrase_key) == (
            "I1202",
            "b",
            phrase_key("agent autoroute"),
        )
        assert row.phrase == "agent autoroute"  # as typed the first time
    res = normalise_phrases(engine, small_normaliser, ["Agent autoroute"])[0]
    assert res.candidates[0].code == "I1202"


def test_job_title_correction_carries_its_fiche(engine, small_normaliser):
    code = small_normaliser.normalise("Cariste", kind="job_title").candidates[0].code
    record_correction(
        engine,
        kind="job_title",
        phrase="chariot man",
        code=code,
        by_user="x",
        normaliser=small_normaliser,
    )
    res = normalise_phrases(engine, small_normaliser, ["chariot man"], kind="job_title")[0]
    assert res.candidates[0].code == code and res.candidates[0].code_rome == "N1101"


def test_unknown_code_or_empty_phrase_is_refused(engine, small_normaliser):
    with pytest.raises(NotFoundError, match="inconnu"):
        record_correction(
            engine,
            kind="occupation",
            phrase="x y",
            code="Z9999",
            by_user="a",
            normaliser=small_normaliser,
        )
    with pytest.raises(ValidationError, match="vide"):
        record_correction(
            engine,
            kind="occupation",
            phrase=" (H/F) ",
            code="I1208",
            by_user="a",
            normaliser=small_normaliser,
        )
    with pytest.raises(ValidationError, match="type"):
        record_correction(
            engine,
            kind="metier",
            phrase="x",
            code="I1208",
            by_user="a",
            normaliser=small_normaliser,
        )

"""Occupational mobility on the real referential."""

import pytest

from matching.exceptions import NotFoundError
from matching.ranking.mobility import OccupationMobility, recall_at_k_heldout


@pytest.fixture(scope="module")
def mobility(referential):
    return OccupationMobility().fit(referential)


def test_call_centre_moves_to_customer_relations(mobility, referential):
    options = mobility.rank("D1408", top=10)
    assert len(options) == 10
    assert [o.score for o in options] == sorted((o.score for o in options), reverse=True)
    assert "D1408" not in {o.code_rome for o in options}
    assert any(o.code_rome.startswith("D14") for o in options[:5])
    core = set(referential.occupation_skill_codes(options[0].code_rome, core_only=True))
    held = {c for c, _ in options[0].skills_held}
    to_get = {c for c, _ in options[0].skills_to_acquire}
    assert held | to_get == core and not held & to_get


def test_background_of_skills_and_past_occupations(mobility, referential):
    skills = referential.occupation_skill_codes("N1103", core_only=True)
    options = mobility.rank(skills=skills, past_occupations=["N1103"], top=5)
    assert options and "N1103" not in {o.code_rome for o in options}


def test_unknown_fiche_is_a_french_not_found(mobility):
    with pytest.raises(NotFoundError, match="fiche ROME inconnue"):
        mobility.rank("Z9999")


@pytest.mark.slow
def test_held_out_mobilites_are_found_above_chance(referential):
    res = recall_at_k_heldout(referential, fraction=0.1, k=10)
    assert res["held_out_sources"] > 50
    assert res["recall@10"] > 10 * 10 / 1584  # far above a random draw of 10 fiches

"""The shipped referential is the real one: counts match shared/data/SOURCES.md."""

import pytest

from matching.exceptions import ReferentialError
from matching.taxonomy.referential import Referential

SOURCES_COUNTS = {
    "occupations": 1584,
    "job_titles": 13120,
    "occupation_skills": 90556,
    "mobilities": 14165,
    "sectors_naf": 2920,
    "esco_occupations": 3007,
    "esco_skills": 13896,
    "esco_occupation_skills": 123855,
    "esco_rome_crosswalk": 11118,
    "communes": 39,
    "priority_districts": 7,
}


def test_counts_match_sources(referential):
    counts = referential.counts()
    for table, expected in SOURCES_COUNTS.items():
        assert counts[table] == expected, table
    skills = referential.skills
    assert ((skills["kind"] != "savoir") & ~skills["is_macro"]).sum() == 17810
    assert (skills["kind"] == "savoir").sum() == 15354
    assert skills["is_macro"].sum() == 507
    # every fiche-skill link points at a skill of the skill space
    assert referential.occupation_skills["code_ogr"].isin(skills["code_ogr"]).all()


def test_known_codes(referential):
    assert referential.occupation_labels["D1408"].startswith(
        "Conseiller / Conseillère clientèle à distance"
    )
    assert referential.has_occupation("N1103")
    assert not referential.has_occupation("Z9999")
    assert "Amiens" in referential.commune_names.values()
    assert "Étouvie" in referential.priority_district_names


def test_distances_are_symmetric_and_plausible(referential):
    d = referential.distance_matrix_km
    assert d.shape == (39, 39)
    assert (abs(d - d.T) < 1e-4).all()
    insee = {v: k for k, v in referential.commune_names.items()}
    km = referential.distance_km(insee["Amiens"], insee["Longueau"])
    assert 3 < km < 12  # Longueau is next to Amiens
    with pytest.raises(ReferentialError, match="commune inconnue"):
        referential.distance_km("99999", insee["Amiens"])


def test_missing_directory_says_how_to_fix(tmp_path):
    with pytest.raises(ReferentialError, match="taxonomy import"):
        Referential(tmp_path)


@pytest.mark.shared
@pytest.mark.slow
def test_rebuild_from_sources_is_identical(shared_data, tmp_path, referential):
    from matching.taxonomy.build import build_referential

    report = build_referential(shared_data, tmp_path)
    rebuilt = Referential(tmp_path)
    for name, rows in report.counts.items():
        assert rows == referential.counts()[name]
        assert rebuilt.table(name).equals(referential.table(name)), name

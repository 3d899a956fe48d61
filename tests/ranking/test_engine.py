"""The engine ranks crafted cases in the obvious order, respects hard constraints, explains in
French, and never depends on identity data."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from matching.ranking.engine import MatchingEngine
from matching.ranking.ranker import NO_MODEL_LABEL
from matching.store.snapshot import Snapshot

AS_OF = date(2026, 9, 1)
AMIENS, LONGUEAU = "80021", "80489"


@pytest.fixture(scope="module")
def crafted(referential):
    """One call-centre need (D1408) and five people whose expected order is obvious."""
    core = referential.occupation_skill_codes("D1408", core_only=True)[:4]
    other = referential.occupation_skill_codes("N1101", core_only=True)[:4]
    needs = pd.DataFrame(
        [
            dict(
                id=1,
                ref="B1",
                employer_id=1,
                code_rome="D1408",
                title_typed="téléconseiller",
                description="",
                positions=3,
                hiring_date=date(2026, 12, 1),
                contract_type="CDI",
                hours_per_week=35.0,
                commune_insee=AMIENS,
                driving_licence_required=False,
                min_qualification_level=None,
                required_certification=None,
                status="open",
                employer_sector="relation_client_numerique",
            ),
        ]
    )
    need_skills = pd.DataFrame({"need_id": 1, "skill_code": core, "essential": True, "level": 2})
    people = {
        # id: (skills, commune, max km, available, licence)
        1: (core, AMIENS, 10, date(2026, 9, 1)),  # everything
        2: (core[:3], AMIENS, 10, date(2026, 9, 1)),  # 3 of 4
        3: (core[:1], AMIENS, 10, date(2026, 9, 1)),  # 1 of 4
        4: (other, AMIENS, 10, date(2026, 9, 1)),  # unrelated
        5: (core, LONGUEAU, 1, date(2026, 9, 1)),  # perfect but too far for them
        6: (core, AMIENS, 10, date(2027, 3, 1)),  # perfect but available after hiring
    }
    jobseekers = pd.DataFrame(
        [
            dict(
                id=i,
                ref=f"D{i}",
                qualification_level=3,
                driving_licence=False,
                has_vehicle=False,
                max_commute_km=float(km),
                home_commune_insee=c,
                availability_date=av,
                unemployed_since=date(2025, 1, 1),
                desired_hours_per_week=35.0,
                status="active",
                updated_at=None,
            )
            for i, (_, c, km, av) in people.items()
        ]
    )
    js_skills = pd.DataFrame(
        [(i, s, 2, "validated") for i, (sk, *_r) in people.items() for s in sk],
        columns=["jobseeker_id", "skill_code", "level", "source"],
    )
    return Snapshot(
        needs=needs,
        need_skills=need_skills,
        jobseekers=jobseekers,
        jobseeker_skills=js_skills,
        as_of=AS_OF,
    )


def test_crafted_order_and_constraints(referential, crafted):
    engine = MatchingEngine(referential=referential).fit(crafted)
    found = engine.shortlist(1, top=10)
    assert [m.jobseeker_id for m in found][:3] == [1, 2, 3]
    assert 5 not in {m.jobseeker_id for m in found}  # commute
    assert 6 not in {m.jobseeker_id for m in found}  # availability
    scores = [m.score for m in found]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


def test_explanations_in_french(referential, crafted):
    engine = MatchingEngine(referential=referential).fit(crafted)
    second = engine.shortlist(1)[1]
    e = second.explanation
    assert e.ranker == NO_MODEL_LABEL
    assert len(e.matched_skills) == 3 and len(e.missing_essential) == 1
    assert e.summary.startswith("3 compétence(s) essentielle(s) sur 4")
    assert {c.name for c in e.constraints} == {"availability", "commute", "licence"}
    assert all(c.ok for c in e.constraints)
    assert e.to_dict()["missing_essential"][0]["label"]


def test_blocks_merge_to_the_same_shortlist(referential, crafted):
    engine = MatchingEngine(referential=referential).fit(crafted)
    whole = engine.block_results([1, 2, 3, 4, 5, 6], explain=False).shortlists[1]
    parts = [engine.block_results(b, explain=False) for b in ([1, 4], [2, 5], [3, 6])]
    merged = MatchingEngine.merge_blocks(parts).shortlists[1]
    assert [(m.jobseeker_id, m.score, m.rank) for m in merged] == [
        (m.jobseeker_id, m.score, m.rank) for m in whole
    ]


def test_explain_pairs_equals_shortlist_explanations(referential, crafted):
    engine = MatchingEngine(referential=referential).fit(crafted)
    found = engine.shortlist(1, top=10)
    again = engine.explain_pairs([m.need_id for m in found], [m.jobseeker_id for m in found])
    assert [e.to_dict() for e in again] == [m.explanation.to_dict() for m in found]
    with pytest.raises(LookupError, match="introuvable"):
        engine.explain_pairs([1], [99])


def test_score_pairs_aligned(referential, crafted):
    engine = MatchingEngine(referential=referential).fit(crafted)
    s = engine.score_pairs([1, 1, 1], [1, 3, 99])
    assert s[0] > s[1] and np.isnan(s[2])


def test_shortlist_equals_nightly_blocks_whatever_the_cut(referential, crafted):
    engine = MatchingEngine(referential=referential).fit(crafted)
    direct = [(m.jobseeker_id, m.score) for m in engine.shortlist(1, top=10, explain=False)]
    for cut in ([[1, 2, 3, 4, 5, 6]], [[1], [2, 3], [4, 5, 6]]):
        parts = [engine.block_results(b, explain=False) for b in cut]
        merged = MatchingEngine.merge_blocks(parts, top_per_need=10).shortlists[1]
        assert [(m.jobseeker_id, m.score) for m in merged] == direct


def test_matches_for_jobseeker_and_missing_skill_courses(referential, crafted):
    engine = MatchingEngine(referential=referential).fit(crafted)
    found = engine.matches_for_jobseeker(2, explain=True)
    assert [m.need_id for m in found] == [1]
    missing = found[0].explanation.missing_essential
    assert len(missing) == 1 and missing[0].label
    with pytest.raises(LookupError, match="introuvable"):
        engine.shortlist(99)


def test_learned_ranker_artefact_round_trip_and_tampering(tmp_path, referential, crafted):
    from matching.exceptions import ModelArtefactError
    from matching.ranking.pair_features import FEATURE_NAMES
    from matching.ranking.ranker import LearnedRanker
    from matching.ranking.training import current_artefact, load_artefact, save_artefact

    rng = np.random.default_rng(0)
    X = rng.random((400, len(FEATURE_NAMES)))
    y = (X[:, 0] + 0.2 * rng.random(400) > 0.6).astype(int)
    model = LearnedRanker(max_iter=20).fit(X, y, time=np.arange(400))
    meta = {
        "window": ["2025-01-01", "2026-01-01"],
        "n_pairs": 400,
        "n_positive": int(y.sum()),
        "data_hash": "0" * 64,
        "evaluation": {},
    }
    path = save_artefact(model, tmp_path, metadata=meta, today=date(2026, 1, 2))
    assert current_artefact(tmp_path) == path
    assert (path / "model_card.md").read_text().startswith("# Model card")
    loaded = load_artefact(path)
    assert np.array_equal(loaded.predict_score(X), model.predict_score(X))
    engine = MatchingEngine(referential=referential, ranker=loaded).fit(crafted)
    assert engine.shortlist(1)[0].explanation.ranker.startswith("classement appris")
    (path / "model.joblib").write_bytes(b"tampered")
    with pytest.raises(ModelArtefactError, match="somme de contrôle"):
        load_artefact(path)
    with pytest.raises(ModelArtefactError, match="introuvable"):
        current_artefact(tmp_path, "2020-01-01-deadbeef")


@pytest.mark.parametrize("empty", ["needs", "jobseekers", "both"])
def test_engine_fits_a_new_installation_with_nothing_to_match(referential, crafted, empty):
    """A fresh installation (no needs yet, or nobody yet) fits and answers with empty lists or
    a French 'not found', instead of failing in the server's background load."""
    from dataclasses import replace

    from matching.exceptions import NotFoundError

    snap = crafted
    if empty in ("needs", "both"):
        snap = replace(snap, needs=snap.needs.iloc[:0], need_skills=snap.need_skills.iloc[:0])
    if empty in ("jobseekers", "both"):
        snap = replace(
            snap,
            jobseekers=snap.jobseekers.iloc[:0],
            jobseeker_skills=snap.jobseeker_skills.iloc[:0],
        )
    engine = MatchingEngine(referential=referential).fit(snap)
    if empty == "jobseekers":
        assert engine.shortlist(1) == []
    else:
        with pytest.raises(NotFoundError, match="introuvable"):
            engine.shortlist(1)
    if empty == "needs":
        assert engine.matches_for_jobseeker(1) == []
    result = engine.block_results(engine.js_ids_, top_per_need=50, top_per_jobseeker=20)
    assert all(not v for v in result.shortlists.values())

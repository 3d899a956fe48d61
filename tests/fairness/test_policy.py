"""The priority lever: off -> identical ranking; on -> only the documented reorder; label shown."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.config import Settings
from matching.fairness.policy import (
    NO_POLICY_LABEL,
    PriorityPolicy,
    apply_policy,
    apply_policy_frame,
)
from matching.ranking.engine import MatchingEngine
from matching.ranking.explain import Match
from matching.store.snapshot import load_snapshot
from tests.fairness.conftest import AS_OF


def _ranked(scores, need_id=1):
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i + 1))
    return [Match(need_id, i + 1, k + 1, scores[i]) for k, i in enumerate(order)]


lists = st.lists(
    st.tuples(st.floats(0, 1, allow_nan=False), st.booleans()), min_size=0, max_size=40
)


@given(lists)
@settings(max_examples=60, deadline=None)
def test_off_returns_the_model_ranking_unchanged(items):
    matches = _ranked([s for s, _ in items])
    policy_cols = pd.DataFrame(
        {"id": range(1, len(items) + 1), "priority_district": [q for _, q in items]}
    )
    out = apply_policy(matches, policy_cols, PriorityPolicy())
    assert list(out.matches) == matches
    assert not out.applied and out.policy == NO_POLICY_LABEL


@given(lists, st.floats(0.01, 0.5))
@settings(max_examples=80, deadline=None)
def test_on_only_the_documented_reorder(items, boost):
    scores = [s for s, _ in items]
    matches = _ranked(scores)
    qpv = {i + 1: q for i, (_, q) in enumerate(items)}
    policy_cols = pd.DataFrame({"id": list(qpv), "priority_district": list(qpv.values())})
    out = apply_policy(matches, policy_cols, PriorityPolicy(priority_district_boost=boost))
    got = list(out.matches)
    # same people, model scores untouched, ranks 1..n
    assert sorted(m.jobseeker_id for m in got) == sorted(m.jobseeker_id for m in matches)
    assert {m.jobseeker_id: m.score for m in got} == {m.jobseeker_id: m.score for m in matches}
    assert [m.rank for m in got] == list(range(1, len(got) + 1))
    # the order is exactly: adjusted score = score + boost·QPV, ties by model score then id
    expected = sorted(
        matches,
        key=lambda m: (-(m.score + boost * qpv[m.jobseeker_id]), -m.score, m.jobseeker_id),
    )
    assert [m.jobseeker_id for m in got] == [m.jobseeker_id for m in expected]
    # within residents and within others, the model order is kept
    for flag in (True, False):
        sub_before = [m.jobseeker_id for m in matches if qpv[m.jobseeker_id] == flag]
        sub_after = [m.jobseeker_id for m in got if qpv[m.jobseeker_id] == flag]
        assert sub_before == sub_after
    # no one who is not a resident moved up
    before = {m.jobseeker_id: m.rank for m in matches}
    for m in got:
        if not qpv[m.jobseeker_id]:
            assert m.rank >= before[m.jobseeker_id]
    assert out.applied and out.policy == f"politique appliquée : priorité QPV +{boost:.2f}".replace(
        ".", ","
    )
    assert out.boosted == frozenset(j for j, q in qpv.items() if q)


def test_programme_boost_and_combined_label():
    matches = _ranked([0.9, 0.85, 0.8])
    policy_cols = pd.DataFrame({"id": [1, 2, 3], "priority_district": [False, False, True]})
    programmes = pd.DataFrame({"jobseeker_id": [2], "programme": ["PLIE"]})
    pol = PriorityPolicy(priority_district_boost=0.05, programme_boost=0.1)
    out = apply_policy(matches, policy_cols, pol, programmes=programmes)
    assert [m.jobseeker_id for m in out.matches] == [2, 1, 3]
    assert np.allclose(out.adjusted_scores, (0.95, 0.9, 0.85))
    assert out.policy == "politique appliquée : priorité QPV +0,05, dispositif PLIE +0,10"


def test_settings_drive_the_policy(monkeypatch):
    monkeypatch.setenv("PASSERELLE_PRIORITY_DISTRICT_BOOST", "0.05")
    monkeypatch.setenv("PASSERELLE_PROGRAMME_BOOST", "0.02")
    monkeypatch.setenv("PASSERELLE_BOOSTED_PROGRAMMES", '["PLIE", "RSA"]')
    pol = PriorityPolicy.from_settings(Settings())
    assert pol.label == "politique appliquée : priorité QPV +0,05, dispositif PLIE/RSA +0,02"


def test_default_settings_are_off(monkeypatch):
    for var in ("PRIORITY_DISTRICT_BOOST", "PROGRAMME_BOOST", "BOOSTED_PROGRAMMES"):
        monkeypatch.delenv(f"PASSERELLE_{var}", raising=False)
    assert not PriorityPolicy.from_settings(Settings(_env_file=None)).active


def test_on_real_engine_shortlists_label_on_every_touched_list(seeded, referential):
    snap = load_snapshot(seeded, as_of=AS_OF)
    engine = MatchingEngine(referential=referential).fit(snap)
    res = engine.block_results(engine.js_ids_, top_per_need=30, explain=False)
    assert res.shortlists
    frame = pd.DataFrame(
        [
            (m.need_id, m.jobseeker_id, m.rank, m.score)
            for lst in res.shortlists.values()
            for m in lst
        ],
        columns=["need_id", "jobseeker_id", "rank", "score"],
    )
    off = apply_policy_frame(frame, snap.policy, PriorityPolicy())
    pd.testing.assert_frame_equal(off[frame.columns], frame)
    assert set(off["politique"]) == {NO_POLICY_LABEL}
    pol = PriorityPolicy(priority_district_boost=0.05)
    on = apply_policy_frame(frame, snap.policy, pol)
    assert set(on["politique"]) == {"politique appliquée : priorité QPV +0,05"}
    qpv = set(snap.policy.loc[snap.policy["priority_district"].astype(bool), "id"])
    assert qpv, "the demo has priority-district residents"
    merged = frame.merge(on, on=["need_id", "jobseeker_id"], suffixes=("_model", "_policy"))
    moved_up = merged[merged["rank_policy"] < merged["rank_model"]]
    assert len(moved_up) and set(moved_up["jobseeker_id"]) <= qpv
    # the same as the per-list function
    for need_id, lst in res.shortlists.items():
        one = apply_policy(lst, snap.policy, pol)
        expect = on[on["need_id"] == need_id].sort_values("rank")["jobseeker_id"].tolist()
        assert [m.jobseeker_id for m in one.matches] == expect

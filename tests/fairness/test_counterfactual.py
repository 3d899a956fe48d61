"""Counterfactual checks through the real path: import -> store -> snapshot -> engine.

For a sample of jobseekers, changing the name, the address within the same commune (including a
move into or out of a priority district, which flips the derived flag), the birth date or the
gender leaves every score and rank bit-identical — with the transparent coverage ranker and with a
ranker trained on the (address-biased) decision history. Moving to another commune changes the
commute features only.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from matching.ranking.engine import MatchingEngine
from matching.ranking.pair_features import FEATURE_NAMES
from matching.store import models as m
from matching.store.io import export_entity, import_file
from matching.store.snapshot import load_snapshot
from tests.fairness.conftest import AS_OF

COMMUTE_FEATURES = {name for name in FEATURE_NAMES if name.startswith("commute")}


def _sample(engine, k: int = 12) -> list[str]:
    """Refs of shortlisted people, half of them Amiens priority-district residents."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.Jobseeker.ref, m.Jobseeker.priority_district)
            .where(m.Jobseeker.home_commune_insee == "80021", m.Jobseeker.status == "active")
            .order_by(m.Jobseeker.id)
        ).all()
    qpv = [r for r, q in rows if q][: k // 2]
    other = [r for r, q in rows if not q][: k - len(qpv)]
    assert qpv and other, "the demo has Amiens residents in and out of priority districts"
    return qpv + other


def _roundtrip(engine, referential, tmp_path, refs, edit) -> None:
    """Export these people with identity, apply ``edit`` to the rows, import them back."""
    path = tmp_path / "demandeurs.csv"
    export_entity(engine, "demandeurs", path, include_identity=True)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame[frame["ref"].isin(refs)].reset_index(drop=True)
    frame = edit(frame)
    out = tmp_path / "modifies.csv"
    frame.to_csv(out, index=False)
    import_file(engine, "demandeurs", out, referential=referential)


def _results(engine, referential, ranker, refs):
    snap = load_snapshot(engine, as_of=AS_OF)
    eng = MatchingEngine(referential=referential, ranker=ranker).fit(snap)
    res = eng.block_results(eng.js_ids_, top_per_need=50, top_per_jobseeker=20, explain=False)
    shortlists = sorted(
        (x.need_id, x.rank, x.jobseeker_id, x.score) for v in res.shortlists.values() for x in v
    )
    matches = sorted(
        (x.jobseeker_id, x.rank, x.need_id, x.score) for v in res.matches.values() for x in v
    )
    ids = snap.jobseekers.set_index("ref").loc[refs, "id"].to_numpy()
    need_ids = eng.need_ids_
    nn, jj = np.meshgrid(need_ids, ids)
    scores = eng.score_pairs(nn.ravel(), jj.ravel())
    features = eng.features_for(nn.ravel(), jj.ravel())
    return shortlists, matches, scores, features


def _flags(engine, refs) -> dict[str, bool]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                select(m.Jobseeker.ref, m.Jobseeker.priority_district).where(
                    m.Jobseeker.ref.in_(refs)
                )
            ).all()
        )


def _streets(engine) -> tuple[list[str], str]:
    with engine.connect() as conn:
        qpv_streets = (
            conn.execute(
                select(m.PriorityStreet.street)
                .where(m.PriorityStreet.commune_insee == "80021")
                .order_by(m.PriorityStreet.street)
            )
            .scalars()
            .all()
        )
    return qpv_streets, "rue de l'Essai Contrefactuel"


def _edits(engine, flags: dict[str, bool]):
    qpv_streets, ordinary = _streets(engine)
    assert qpv_streets

    def name(f):
        return f.assign(prenom="Mamadou", nom="Diallo-Nguyen")

    def address(f):
        # residents move out of their priority district, the others into one: same commune
        in_qpv = f["ref"].map(flags.get).astype(bool)
        new = [
            f"12 {ordinary}, 80000 Amiens"
            if q
            else f"3 {qpv_streets[i % len(qpv_streets)]}, 80000 Amiens"
            for i, q in enumerate(in_qpv)
        ]
        return f.assign(adresse=new)

    def birth(f):
        return f.assign(date_naissance="1961-03-14")

    def gender(f):
        return f.assign(genre=f["genre"].map({"F": "M", "M": "F"}).fillna("X"))

    return {"nom": name, "adresse": address, "naissance": birth, "genre": gender}


@pytest.fixture
def trained_ranker(seeded, referential, tmp_path):
    from matching.ranking.training import load_artefact, train_ranker

    path, _ = train_ranker(load_snapshot(seeded, as_of=AS_OF), referential, tmp_path / "models")
    return load_artefact(path)


@pytest.mark.parametrize("ranker_kind", ["couverture", "appris"])
def test_identity_changes_leave_scores_and_ranks_identical(
    seeded, referential, tmp_path, request, ranker_kind
):
    engine = seeded
    ranker = request.getfixturevalue("trained_ranker") if ranker_kind == "appris" else None
    refs = _sample(engine)
    # a no-op round trip first, so that only the counterfactual edit differs afterwards
    _roundtrip(engine, referential, tmp_path, refs, lambda f: f)
    base = _results(engine, referential, ranker, refs)
    assert base[0] and base[1]
    flags_before = _flags(engine, refs)
    for kind, edit in _edits(engine, flags_before).items():
        _roundtrip(engine, referential, tmp_path, refs, edit)
        after = _results(engine, referential, ranker, refs)
        assert after[0] == base[0], f"shortlists changed after a change of {kind}"
        assert after[1] == base[1], f"per-jobseeker lists changed after a change of {kind}"
        np.testing.assert_array_equal(after[2], base[2], err_msg=f"scores moved ({kind})")
        pd.testing.assert_frame_equal(after[3], base[3])
    # the edits did happen: identity changed and the priority-district flag flipped for everyone
    flags = _flags(engine, refs)
    assert all(flags[r] != flags_before[r] for r in refs)
    with engine.connect() as conn:
        names = conn.execute(
            select(m.JobseekerIdentity.last_name, m.JobseekerIdentity.birth_date)
            .join(m.Jobseeker)
            .where(m.Jobseeker.ref.in_(refs))
        ).all()
    assert {tuple(n) for n in names} == {("Diallo-Nguyen", date(1961, 3, 14))}


def test_moving_to_another_commune_changes_only_the_commute_features(seeded, referential, tmp_path):
    engine = seeded
    refs = _sample(engine)
    _roundtrip(engine, referential, tmp_path, refs, lambda f: f)
    before = _results(engine, referential, None, refs)[3]
    # Amiens -> Longueau (80489), a neighbouring commune of the metropolis
    _roundtrip(
        engine,
        referential,
        tmp_path,
        refs,
        lambda f: f.assign(commune_insee="80489", adresse="3 avenue Foch, 80330 Longueau"),
    )
    after = _results(engine, referential, None, refs)[3]
    changed = {c for c in FEATURE_NAMES if not np.array_equal(before[c], after[c])}
    assert changed, "the commute must change when moving to another commune"
    assert changed <= COMMUTE_FEATURES, (
        f"non-commute features changed: {changed - COMMUTE_FEATURES}"
    )

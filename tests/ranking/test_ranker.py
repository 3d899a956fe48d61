"""LearnedRanker: contributions are what their docstring says, whatever shortcut computes them."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.ranking.explain import (
    ConstraintCheck,
    Contribution,
    Explanation,
    MissingSkill,
    SkillItem,
)
from matching.ranking.pair_features import FEATURE_NAMES
from matching.ranking.ranker import LearnedRanker

F = len(FEATURE_NAMES)


@functools.cache
def _trained(seed: int) -> tuple[LearnedRanker, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((3000, F))
    X[:, 1] = rng.integers(0, 2, len(X))  # a binary feature
    X[:, 2] = rng.integers(0, 5, len(X))  # a small count
    logit = 3 * X[:, 0] + 2 * X[:, 1] - X[:, 2] + 0.5 * X[:, 3] + rng.normal(0, 0.5, len(X))
    y = (logit > np.median(logit)).astype(int)
    return LearnedRanker(max_iter=40, random_state=seed).fit(X, y, time=np.arange(len(X))), X


def _brute_force(model: LearnedRanker, X: np.ndarray) -> np.ndarray:
    """p(x) - p(x with feature k at its median), one full prediction per feature."""
    base = model._raw(X)
    out = np.zeros_like(X)
    for k in range(X.shape[1]):
        probe = X.copy()
        probe[:, k] = model.reference_[k]
        out[:, k] = base - model._raw(probe)
    return out.round(6)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 3), rows=st.integers(1, 60), data_seed=st.integers(0, 10_000))
def test_contributions_equal_one_prediction_per_feature(seed, rows, data_seed):
    model, X = _trained(seed)
    rng = np.random.default_rng(data_seed)
    sample = X[rng.integers(0, len(X), rows)]  # a copy (fancy indexing)
    # values exactly at the reference, exactly on a split threshold (``x <= t`` goes left),
    # and far outside the training range
    at_ref = rng.random(sample.shape) < 0.1
    sample[at_ref] = np.broadcast_to(model.reference_, sample.shape)[at_ref]
    for k, t in enumerate(model._split_thresholds()):
        if len(t):
            sample[rng.random(rows) < 0.2, k] = rng.choice(t)
    sample[:, 4] = rng.normal(0, 10, rows)
    got = model.contributions(sample)
    assert np.array_equal(got, _brute_force(model, sample))


def test_probes_on_the_same_side_of_every_split_are_skipped():
    model, X = _trained(0)
    thresholds = model._split_thresholds()
    assert thresholds is not None and len(thresholds) == F
    # features 5.. carry no signal: few splits, so most of their probes are skipped
    rows, cols = np.nonzero(model.reference_[None, :] != X[:200])
    skipped = model._same_paths(X[:200][rows, cols], cols)
    assert skipped.any() and not skipped.all()
    # a skipped probe really changes nothing
    k = int(np.flatnonzero(skipped)[0])
    probe = X[rows[k]].copy()
    probe[cols[k]] = model.reference_[cols[k]]
    assert model._raw(probe[None])[0] == model._raw(X[rows[k]][None])[0]


_text = st.text(max_size=12)
_explanations = st.builds(
    Explanation,
    matched_skills=st.lists(st.builds(SkillItem, st.integers(0, 10**6), _text), max_size=4).map(
        tuple
    ),
    missing_essential=st.lists(
        st.builds(
            MissingSkill, st.integers(0, 10**6), _text, st.lists(_text, max_size=3).map(tuple)
        ),
        max_size=4,
    ).map(tuple),
    constraints=st.lists(
        st.builds(ConstraintCheck, _text, _text, st.booleans(), _text), max_size=3
    ).map(tuple),
    contributions=st.lists(
        st.builds(Contribution, _text, _text, st.floats(allow_nan=False, allow_infinity=False)),
        max_size=4,
    ).map(tuple),
    ranker=_text,
    summary=_text,
)


@given(_explanations)
def test_explanation_to_dict_equals_asdict(expl):
    """The hand-built ``to_dict`` (no deep copies) gives exactly what ``asdict`` gives."""
    assert expl.to_dict() == dataclasses.asdict(expl)
    assert orjson.dumps(expl.to_dict()) == orjson.dumps(dataclasses.asdict(expl))
    # the API encodes fresh explanations straight from the dataclass: the same bytes
    assert orjson.dumps(expl) == orjson.dumps(dataclasses.asdict(expl))


def test_direct_tree_sum_equals_predict_proba_and_pickles_without_caches():
    """The served path (trees summed directly) gives predict_proba's probabilities to the bit;
    the caches it builds are neither pickled nor lost by pickling."""
    import pickle

    model, X = _trained(1)
    assert model._predict_parts() is not None
    wide = np.concatenate([X[:500], X[:500] * 3 - 1])  # also far outside the training range
    np.testing.assert_array_equal(model._raw(wide), model.model_.predict_proba(wide)[:, 1])
    model._split_thresholds()
    clone = pickle.loads(pickle.dumps(model))
    assert "_parts" not in clone.__dict__ and "_thresholds" not in clone.__dict__
    assert "_parts" in model.__dict__ and "_thresholds" in model.__dict__
    np.testing.assert_array_equal(clone.predict_score(wide), model.predict_score(wide))


@given(_explanations)
def test_nightly_stored_text_is_the_json_of_the_dict(expl):
    """The nightly run stores explanations encoded by orjson from the dataclasses: the same JSON
    value as ``json.dumps`` of their dict (orjson writes 1e-05 as 0.00001), compact, with the
    French text kept as UTF-8 rather than escaped."""
    import json

    from matching.batch.compute import explanation_json

    text = explanation_json(expl)
    reference = json.dumps(dataclasses.asdict(expl), ensure_ascii=False, separators=(",", ":"))
    assert json.loads(text) == json.loads(reference)
    french = Explanation((SkillItem(1, "Accueillir une clientèle"),), (), (), (), "r", "Détenue.")
    assert explanation_json(french) == json.dumps(
        dataclasses.asdict(french), ensure_ascii=False, separators=(",", ":")
    )

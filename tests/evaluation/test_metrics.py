"""Ranking metrics: limits first (perfect = 1, nothing relevant = 0), then known values."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.evaluation.metrics import average_precision, map_score, ndcg_at_k, recall_at_k


def _table(scores, relevance, need=1):
    return pd.DataFrame(
        {
            "need_id": need,
            "jobseeker_id": np.arange(1, len(scores) + 1),
            "score": scores,
            "relevance": relevance,
        }
    )


def test_perfect_ranking_scores_one():
    df = _table([0.9, 0.8, 0.1, 0.0], [3, 1, 0, 0])
    assert ndcg_at_k(df, 10) == pytest.approx(1.0)
    assert recall_at_k(df, 2) == pytest.approx(1.0)
    assert map_score(df) == pytest.approx(1.0)


def test_nothing_relevant_scores_zero():
    df = _table([0.9, 0.8, 0.1], [0, 0, 0])
    assert ndcg_at_k(df, 10) == 0.0
    assert recall_at_k(df, 2) == 0.0
    assert map_score(df) == 0.0


def test_relevant_ranked_last_scores_low_and_missed_items_count():
    df = _table([0.9, 0.8, 0.1], [0, 0, 1])
    assert recall_at_k(df, 2) == 0.0
    assert average_precision(df).iloc[0] == pytest.approx(1 / 3)
    missed = _table([0.9, -np.inf], [0, 1])
    assert recall_at_k(missed, 1) == 0.0


def test_ties_broken_by_jobseeker_id():
    df = _table([0.5, 0.5], [0, 1])  # id 1 ranks first on a tie
    assert map_score(df) == pytest.approx(0.5)


def test_groups_are_averaged():
    df = pd.concat([_table([1, 0], [1, 0], need=1), _table([1, 0], [0, 1], need=2)])
    assert recall_at_k(df, 1) == pytest.approx(0.5)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3)), min_size=1, max_size=30))
def test_metrics_are_bounded(rows):
    df = _table([s for s, _ in rows], [r for _, r in rows])
    for value in (ndcg_at_k(df, 10), recall_at_k(df, 5), map_score(df)):
        assert 0.0 <= value <= 1.0 + 1e-12

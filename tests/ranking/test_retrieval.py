"""Exact retrieval equals a brute-force reference (with many ties), whatever the threads and
block size."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.ranking.retrieval import CandidateIndex, decode_keys, encode_keys


def _data(seed=0, n_needs=120, n_js=900, d=40):
    rng = np.random.default_rng(seed)
    N = sp.random(n_needs, d, density=0.12, random_state=seed, format="csr", dtype=np.float32)
    J = sp.random(n_js, d, density=0.2, random_state=seed + 1, format="csr", dtype=np.float32)
    N.data = np.round(N.data * 4) / 4  # coarse values: many exact ties
    J.data = np.round(J.data * 4) / 4
    dist = rng.uniform(0, 40, (5, 5)).astype(np.float32)
    dist = (dist + dist.T) / 2
    np.fill_diagonal(dist, 0)
    kw = dict(
        need_hiring_day=rng.integers(0, 100, n_needs),
        need_commune=rng.integers(0, 5, n_needs),
        need_licence=rng.random(n_needs) < 0.3,
        js_available_day=np.where(rng.random(n_js) < 0.7, 0, rng.integers(0, 150, n_js)),
        js_commune=rng.integers(0, 5, n_js),
        js_max_km=rng.uniform(5, 40, n_js),
        js_licence=rng.random(n_js) < 0.5,
        distance_km=dist,
    )
    return N, J, kw


def _brute(N, J, kw):
    S = (N @ J.T).toarray().astype(np.float32)
    ok = kw["js_available_day"][None, :] <= kw["need_hiring_day"][:, None]
    ok &= kw["distance_km"][kw["need_commune"]][:, kw["js_commune"]] <= kw["js_max_km"][None, :]
    ok &= ~kw["need_licence"][:, None] | kw["js_licence"][None, :]
    return np.where(ok, S, 0)


def _top(row_scores, k):
    cand = [(-s, j) for j, s in enumerate(row_scores) if s > 0]
    return [j for _, j in sorted(cand)[:k]]


@pytest.mark.parametrize("n_jobs,block_size", [(1, 1000), (2, 64), (1, 7)])
def test_search_all_is_exact(n_jobs, block_size):
    N, J, kw = _data()
    idx = CandidateIndex(block_size=block_size, n_jobs=n_jobs, buffer_factor=2)
    idx.fit(need_vectors=N, js_vectors=J, **kw)
    res = idx.search_all(k_need=15, k_js=6)
    S = _brute(N, J, kw)
    for n in range(N.shape[0]):
        rows, _ = decode_keys(res.need_keys[n])
        assert [r for r in rows if r >= 0] == _top(S[n], 15)
        single, _ = decode_keys(idx.top_for_need(n, 15))
        assert list(single) == _top(S[n], 15)
    for j in range(J.shape[0]):
        rows, _ = decode_keys(res.js_keys[j])
        assert [r for r in rows if r >= 0] == _top(S[:, j], 6)


def test_keys_order_by_score_then_smaller_id():
    keys = encode_keys(np.array([0.5, 0.5, 0.7], np.float32), np.array([3, 1, 9]))
    rows, scores = decode_keys(np.sort(keys)[::-1])
    assert rows.tolist() == [9, 1, 3]
    assert scores.tolist() == pytest.approx([0.7, 0.5, 0.5])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_needs=st.integers(1, 40),
    n_js=st.integers(1, 120),
    k_need=st.integers(0, 12),
    k_js=st.integers(0, 5),
    block_size=st.sampled_from([1, 5, 32, 500]),
    n_jobs=st.sampled_from([1, 2]),
    day_spread=st.sampled_from([0, 3, 200]),
)
def test_search_all_matches_brute_force(
    seed, n_needs, n_js, k_need, k_js, block_size, n_jobs, day_spread
):
    """Random data, hiring days before, between and after the availabilities (the penalty
    columns of every kind), any k, block size and threads: exactly the brute-force top-k."""
    N, J, kw = _data(seed, n_needs, n_js, d=15)
    rng = np.random.default_rng(seed)
    kw["need_hiring_day"] = rng.integers(-day_spread, day_spread + 1, n_needs)
    kw["js_available_day"] = rng.integers(-day_spread // 2, day_spread // 2 + 1, n_js)
    idx = CandidateIndex(block_size=block_size, n_jobs=n_jobs, buffer_factor=1)
    idx.fit(need_vectors=N, js_vectors=J, **kw)
    res = idx.search_all(k_need=k_need, k_js=k_js)
    S = _brute(N, J, kw)
    for n in range(n_needs):
        rows, _ = decode_keys(res.need_keys[n])
        assert [r for r in rows if r >= 0] == _top(S[n], k_need)
        assert list(decode_keys(idx.top_for_need(n, k_need))[0]) == _top(S[n], k_need)
    for j in range(n_js):
        rows, _ = decode_keys(res.js_keys[j])
        assert [r for r in rows if r >= 0] == _top(S[:, j], k_js)
        single = decode_keys(idx.top_for_jobseeker(j, k_js))[0]
        assert list(single) == _top(S[:, j], k_js)

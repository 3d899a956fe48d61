"""The sampled sparse products behind the pair features equal a dense reference, whatever the
pairs (order, repeats, empty rows)."""

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.ranking.pair_features import pair_products


def _reference(A, M, ni, ji, reduce, complement):
    A, M = A.toarray(), M.toarray()
    out = []
    for n, j in zip(ni, ji, strict=True):
        cols = np.flatnonzero(A[n])
        m = 1.0 - M[j, cols] if complement else M[j, cols]
        vals = A[n, cols] * m
        out.append(vals.sum() if reduce == "sum" else (vals.max() if len(vals) else 0.0))
    return np.array(out)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_pairs=st.integers(0, 60),
    density=st.sampled_from([0.0, 0.05, 0.3, 0.9]),
    reduce=st.sampled_from(["sum", "max"]),
    complement=st.booleans(),
)
def test_pair_products_equal_dense_reference(seed, n_pairs, density, reduce, complement):
    rng = np.random.default_rng(seed)
    A = sp.random(7, 12, density=0.3, random_state=seed, format="csr", dtype=np.float32)
    M = sp.random(9, 12, density=density, random_state=seed + 1, format="csr", dtype=np.float32)
    A.data = np.round(A.data * 4) / 4 + 0.25  # exact sums: any order gives the same value
    M.data = np.round(M.data * 4) / 4
    ni, ji = rng.integers(0, 7, n_pairs), rng.integers(0, 9, n_pairs)
    (got,) = pair_products(A, [M], ni, ji, reduce=reduce, complement=complement)
    np.testing.assert_array_equal(got, _reference(A, M, ni, ji, reduce, complement))

"""Baselines the learned ranker must beat, scored on the same (need, jobseeker) pairs.

* :func:`jaccard_scores` — Jaccard overlap of the need's skills (essential and optional) with the
  skills the person can show.
* :func:`tfidf_scores` — cosine of the TF-IDF vectors of the need's text (typed title,
  description, fiche label) and of the person's past occupation labels.

Both read the fitted :class:`~matching.ranking.pair_features.PairContext` of an engine.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from matching.ranking.pair_features import PairContext, pair_products


def jaccard_scores(ctx: PairContext, need_idx: np.ndarray, js_idx: np.ndarray) -> np.ndarray:
    """|need skills ∩ held skills| / |need skills ∪ held skills| for aligned pairs."""
    need_idx = np.asarray(need_idx, np.int64)
    js_idx = np.asarray(js_idx, np.int64)
    need_all = sp.csr_matrix(ctx.need_essential.maximum(ctx.need_optional))
    (inter,) = pair_products(need_all, [ctx.js_held], need_idx, js_idx)
    size_n = np.diff(need_all.indptr)[need_idx]
    size_j = np.diff(ctx.js_held.indptr)[js_idx]
    union = size_n + size_j - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def tfidf_scores(ctx: PairContext, need_idx: np.ndarray, js_idx: np.ndarray) -> np.ndarray:
    """TF-IDF cosine of need text and past-occupation labels (rows are L2-normalised)."""
    (cos,) = pair_products(
        ctx.need_text, [ctx.js_text], np.asarray(need_idx, np.int64), np.asarray(js_idx, np.int64)
    )
    return cos


BASELINES = {"jaccard": jaccard_scores, "tfidf": tfidf_scores}

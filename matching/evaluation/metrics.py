"""Ranking metrics over long-form tables (recommenders-style): one row per scored pair.

Every function takes a DataFrame with a group column (default ``need_id``), an item column
(``jobseeker_id``), a ``score`` (higher is better) and a graded ``relevance`` (0 = not relevant).
Items are ranked per group by score, ties broken by item id (the engine's rule). A relevant item
the method did not score must be present with ``score = -inf`` so it counts as missed. Groups
without any relevant item are skipped (they carry no information); the mean is over the others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _ranked(
    df: pd.DataFrame, col_group: str, col_item: str, col_score: str, col_relevance: str
) -> pd.DataFrame:
    frame = df[[col_group, col_item, col_score, col_relevance]].copy()
    frame = frame.sort_values(
        [col_group, col_score, col_item], ascending=[True, False, True], kind="mergesort"
    )
    frame["rank"] = frame.groupby(col_group, sort=False).cumcount() + 1
    has_relevant = frame.groupby(col_group, sort=False)[col_relevance].transform("max") > 0
    return frame[has_relevant]


def ndcg_at_k(
    df: pd.DataFrame,
    k: int = 10,
    *,
    col_group: str = "need_id",
    col_item: str = "jobseeker_id",
    col_score: str = "score",
    col_relevance: str = "relevance",
) -> float:
    """Mean NDCG@k with gains ``2**relevance - 1`` and discount ``1 / log2(rank + 1)``.

    Examples
    --------
    >>> df = pd.DataFrame({"need_id": [1, 1], "jobseeker_id": [1, 2], "score": [0.9, 0.1],
    ...                    "relevance": [1, 0]})
    >>> ndcg_at_k(df, 10)
    1.0
    """
    r = _ranked(df, col_group, col_item, col_score, col_relevance)
    if r.empty:
        return 0.0
    gain = (2.0 ** r[col_relevance].to_numpy(float) - 1) / np.log2(r["rank"].to_numpy() + 1)
    dcg = pd.Series(np.where(r["rank"] <= k, gain, 0.0)).groupby(r[col_group].to_numpy()).sum()
    ideal = r.sort_values([col_group, col_relevance], ascending=[True, False], kind="mergesort")
    irank = ideal.groupby(col_group, sort=False).cumcount().to_numpy() + 1
    igain = (2.0 ** ideal[col_relevance].to_numpy(float) - 1) / np.log2(irank + 1)
    idcg = pd.Series(np.where(irank <= k, igain, 0.0)).groupby(ideal[col_group].to_numpy()).sum()
    return float((dcg / idcg).mean())


def recall_at_k(
    df: pd.DataFrame,
    k: int = 50,
    *,
    col_group: str = "need_id",
    col_item: str = "jobseeker_id",
    col_score: str = "score",
    col_relevance: str = "relevance",
) -> float:
    """Mean share of each group's relevant items (relevance > 0) ranked in the top ``k``."""
    r = _ranked(df, col_group, col_item, col_score, col_relevance)
    if r.empty:
        return 0.0
    rel = r[col_relevance].to_numpy() > 0
    groups = r[col_group].to_numpy()
    hit = pd.Series(rel & (r["rank"].to_numpy() <= k)).groupby(groups).sum()
    total = pd.Series(rel).groupby(groups).sum()
    return float((hit / total).mean())


def average_precision(
    df: pd.DataFrame,
    *,
    col_group: str = "need_id",
    col_item: str = "jobseeker_id",
    col_score: str = "score",
    col_relevance: str = "relevance",
) -> pd.Series:
    """Average precision of each group (relevant = relevance > 0), indexed by group."""
    r = _ranked(df, col_group, col_item, col_score, col_relevance)
    if r.empty:
        return pd.Series(dtype=float)
    rel = (r[col_relevance].to_numpy() > 0).astype(float)
    groups = r[col_group].to_numpy()
    hits = pd.Series(rel).groupby(groups).cumsum().to_numpy()
    precision_at_hit = np.where(rel > 0, hits / r["rank"].to_numpy(), 0.0)
    return pd.Series(precision_at_hit).groupby(groups).sum() / pd.Series(rel).groupby(groups).sum()


def map_score(df: pd.DataFrame, **kwargs) -> float:
    """Mean average precision over groups with at least one relevant item."""
    ap = average_precision(df, **kwargs)
    return float(ap.mean()) if len(ap) else 0.0

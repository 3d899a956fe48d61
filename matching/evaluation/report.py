"""Time-split evaluation of the ranker against the baselines, on the outcome history.

Protocol (``passerelle evaluate``)
----------------------------------
1. Every (need, jobseeker) pair of the history gets a graded relevance: 3 hired, 2 interviewed,
   1 proposed but not retained (rejected or withdrew), 0 never proposed.
2. Needs are split by hiring date: the earliest ``1 - test_fraction`` train the ranker (its
   isotonic calibration uses the latest slice of those), the latest are held out and never
   used for fitting or tuning.
3. For each held-out need, every person of the pool who could take the job (commute within
   their maximum, licence when required, at least one skill in common) is scored by each method;
   judged pairs outside that pool are kept with their score so a miss counts. Availability is
   not recorded historically, so it is not used here (it is a hard constraint at matching time).
4. NDCG@10, recall@50 and MAP per need (:mod:`matching.evaluation.metrics`) for the learned
   ranker, the transparent coverage ranker, and the Jaccard and TF-IDF baselines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from matching.evaluation.baselines import jaccard_scores, tfidf_scores
from matching.evaluation.metrics import map_score, ndcg_at_k, recall_at_k
from matching.exceptions import ValidationError

RELEVANCE = {"hired": 3, "interviewed": 2, "proposed": 1, "rejected": 1, "withdrawn": 1}
POSITIVE_EVENTS = {"interviewed", "hired"}
UNJUDGED_WEIGHT = 0.3
HIRED_WEIGHT = 3.0
INTERVIEWED_WEIGHT = 2.0
NEGATIVES_PER_JUDGED = 0
RETRIEVAL_POOL = 200
RANDOM_NEGATIVES_PER_JUDGED = 10
#: the classifier's target: proposed or better (relevance ≥ 1)
POSITIVE_RELEVANCE = 1
METHOD_LABELS = {
    "modele": "modèle appris",
    "couverture": "couverture des compétences",
    "jaccard": "Jaccard (recouvrement des compétences)",
    "tfidf": "TF-IDF (intitulés)",
}


@dataclass
class HistoryPairs:
    """Every judged pair plus sampled unjudged ones, with features and labels."""

    engine: object
    pairs: pd.DataFrame  # need_id, jobseeker_id, relevance, label, weight, hiring
    X: np.ndarray


@dataclass
class EvaluationReport:
    """Metrics per method on held-out needs (``table`` indexed by method)."""

    table: pd.DataFrame
    cutoff: str
    n_train_needs: int
    n_test_needs: int
    n_test_pairs: int
    margins: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "cutoff": self.cutoff,
            "n_train_needs": self.n_train_needs,
            "n_test_needs": self.n_test_needs,
            "n_test_pairs": self.n_test_pairs,
            "metrics": self.table.to_dict(orient="index"),
            "margins": self.margins,
        }

    def save(self, directory: Path) -> tuple[Path, Path]:
        """Write ``evaluation.json`` and ``evaluation.csv`` in ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        js = directory / "evaluation.json"
        js.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        csv = directory / "evaluation.csv"
        self.table.to_csv(csv, index_label="methode")
        return js, csv


def history_engine(snapshot, referential):
    """An engine indexing every need of the history and every person (coverage ranker)."""
    from matching.ranking.engine import MatchingEngine
    from matching.ranking.ranker import CoverageRanker

    snap = replace(snapshot, jobseekers=snapshot.jobseekers.assign(status="active"))
    return MatchingEngine(
        referential=referential,
        ranker=CoverageRanker().fit(),
        need_statuses=("open", "draft", "filled", "cancelled"),
        precompute=False,
    ).fit(snap)


def judged_pairs(snapshot, engine) -> pd.DataFrame:
    """(need_id, jobseeker_id, relevance) of every pair with an outcome."""
    out = snapshot.outcomes
    if out.empty:
        raise ValidationError("aucun historique de décisions : impossible d'entraîner le modèle")
    out = out[out["need_id"].isin(engine.need_pos_) & out["jobseeker_id"].isin(engine.js_pos_)]
    rel = out.assign(relevance=out["event"].map(RELEVANCE).fillna(0).astype(int))
    return rel.groupby(["need_id", "jobseeker_id"], as_index=False)["relevance"].max()


def candidate_pool(engine, need_ids: np.ndarray, *, top: int | None = None) -> pd.DataFrame:
    """(need_id, jobseeker_id, similarity) of everyone within commute, with the licence when
    required and at least one skill in common with the need (availability ignored: not
    historised); ``top``: only each need's ``top`` most similar (the retrieval stage)."""
    ctx = engine.ctx_
    rows = np.array([engine.need_pos_[int(n)] for n in need_ids], np.int64)
    sim = (ctx.js_vectors @ ctx.need_vectors[rows].T).toarray()
    km = ctx.distance_km[np.ix_(ctx.js_commune, ctx.need_commune[rows])]
    ok = (sim > 0) & (km <= engine.js_max_km_[:, None])
    ok &= ~engine.need_licence_[rows][None, :] | engine.js_licence_[:, None]
    j, n = np.nonzero(ok)
    pool = pd.DataFrame(
        {"need_id": engine.need_ids_[rows[n]], "jobseeker_id": engine.js_ids_[j], "sim": sim[j, n]}
    )
    if top is not None:
        pool = pool.groupby("need_id", sort=False).head(top)
    return pool


def build_history(snapshot, referential, *, random_state: int = 0) -> HistoryPairs:
    """Judged pairs and sampled unjudged pool pairs of every past need, with features."""
    engine = history_engine(snapshot, referential)
    judged = judged_pairs(snapshot, engine)
    # negatives from the retrieval stage (the candidates the ranker orders in production) and
    # from the whole pool (so the trees also see weak profiles)
    rng = np.random.default_rng(random_state)
    sizes = judged.groupby("need_id").size()
    full = candidate_pool(engine, judged["need_id"].unique())
    picked = []
    for pool, per in (
        (full.groupby("need_id", sort=False).head(RETRIEVAL_POOL), NEGATIVES_PER_JUDGED),
        (full, RANDOM_NEGATIVES_PER_JUDGED),
    ):
        pool = pool.merge(judged, how="left", on=["need_id", "jobseeker_id"])
        unjudged = pool[pool["relevance"].isna()]
        quota = (sizes * per).to_dict()
        picked += [
            g.iloc[rng.permutation(len(g))[: quota.get(nid, 0)]]
            for nid, g in unjudged.groupby("need_id", sort=True)
        ]
    negatives = (
        pd.concat(picked).drop_duplicates(["need_id", "jobseeker_id"])
        if picked
        else judged.iloc[:0]
    ).assign(relevance=0)
    pairs = pd.concat([judged, negatives[["need_id", "jobseeker_id", "relevance"]]])
    pairs = pairs.sort_values(["need_id", "jobseeker_id"]).reset_index(drop=True)
    pairs["relevance"] = pairs["relevance"].astype(int)
    pairs["label"] = (pairs["relevance"] >= POSITIVE_RELEVANCE).astype(int)
    pairs["weight"] = np.select(
        [pairs["relevance"] == 3, pairs["relevance"] == 2, pairs["relevance"] == 0],
        [HIRED_WEIGHT, INTERVIEWED_WEIGHT, UNJUDGED_WEIGHT],
        1.0,
    )
    hiring = snapshot.needs.set_index("id")["hiring_date"]
    pairs["hiring"] = pd.to_datetime(pairs["need_id"].map(hiring))
    X = engine.features_for(pairs["need_id"], pairs["jobseeker_id"]).to_numpy().copy()
    X = neutralise_history(X)
    return HistoryPairs(engine=engine, pairs=pairs, X=X)


def neutralise_history(X: np.ndarray) -> np.ndarray:
    """Availability at the time of a past need is not recorded: it is a hard constraint at
    matching time, never something the model may learn from today's values."""
    from matching.ranking.pair_features import FEATURE_INDEX

    X[:, FEATURE_INDEX["days_available_before_hiring"]] = 0.0
    X[:, FEATURE_INDEX["months_unemployed"]] = 0.0  # today's spell, not the one back then
    return X


def evaluate_time_split(
    snapshot,
    referential,
    *,
    test_fraction: float = 0.3,
    random_state: int = 0,
    history=None,
    full_pool: bool = True,
) -> EvaluationReport:
    """Train on the earlier needs, measure every method on the later ones (see module doc)."""
    from matching.ranking.ranker import CoverageRanker, LearnedRanker

    hist = history or build_history(snapshot, referential, random_state=random_state)
    pairs, engine = hist.pairs, hist.engine
    need_dates = pairs.groupby("need_id")["hiring"].first().sort_values(kind="mergesort")
    n_test = max(1, round(len(need_dates) * test_fraction))
    test_needs = need_dates.index[-n_test:].to_numpy()
    train = ~pairs["need_id"].isin(test_needs).to_numpy()
    model = LearnedRanker(random_state=random_state).fit(
        hist.X[train],
        pairs["label"].to_numpy()[train],
        sample_weight=pairs["weight"].to_numpy()[train],
        time=pairs["hiring"].to_numpy()[train],
    )
    judged = pairs[~train & (pairs["relevance"] > 0)][["need_id", "jobseeker_id", "relevance"]]
    pool = candidate_pool(engine, test_needs)
    retrieved = pool.groupby("need_id", sort=False).head(RETRIEVAL_POOL)
    pool = pool[["need_id", "jobseeker_id"]]
    test = pool.merge(judged, how="outer", on=["need_id", "jobseeker_id"]).fillna({"relevance": 0})
    in_retrieval = (
        test.merge(retrieved.assign(kept=True), how="left", on=["need_id", "jobseeker_id"])["kept"]
        .fillna(False)
        .to_numpy(bool)
    )
    rn = np.array([engine.need_pos_[int(n)] for n in test["need_id"]], np.int64)
    rj = np.array([engine.js_pos_[int(j)] for j in test["jobseeker_id"]], np.int64)
    from matching.ranking.pair_features import pair_features

    X = neutralise_history(pair_features(engine.ctx_, rn, rj))
    # the engine's two rankers order the retrieval stage (top 200 by skill similarity): a
    # relevant person it did not retrieve counts as missed; the baselines rank the whole pool
    scores = {
        "modele": np.where(in_retrieval | full_pool, model.predict_score(X), -np.inf),
        "couverture": np.where(
            in_retrieval | full_pool, CoverageRanker().fit().predict_score(X), -np.inf
        ),
        "jaccard": jaccard_scores(engine.ctx_, rn, rj),
        "tfidf": tfidf_scores(engine.ctx_, rn, rj),
    }
    rows = {}
    for name, s in scores.items():
        df = test.assign(score=s)
        rows[name] = {
            "ndcg@10": ndcg_at_k(df, 10),
            "recall@50": recall_at_k(df, 50),
            "map": map_score(df),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    margins = {
        f"{metric} vs {base}": float(table.loc["modele", metric] - table.loc[base, metric])
        for base in ("jaccard", "tfidf", "couverture")
        for metric in ("ndcg@10", "recall@50", "map")
    }
    return EvaluationReport(
        table=table,
        cutoff=str(need_dates.iloc[-n_test].date()),
        n_train_needs=int(len(need_dates) - n_test),
        n_test_needs=int(n_test),
        n_test_pairs=len(test),
        margins=margins,
    )

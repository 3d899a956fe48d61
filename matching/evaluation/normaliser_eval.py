"""Evaluation of the free-text normaliser: held-out appellations (clean and noised) and real offers.

Seen set: the REPORT appellations (all of them) asked clean and noised to a normaliser that indexes
them — a known title typed approximately, the everyday case.

Held-out set: the SYNONYME appellations whose OGR code falls in the REPORT buckets of
:func:`matching.taxonomy.normaliser.holdout_bucket` are removed from the index (the normaliser is
fitted without their labels) and asked clean and with each kind of noise; the right answer is their
fiche. Fiche labels (= PRINCIPALE appellations) are part of the fiche and are never held out.
The normaliser tunes itself on the TUNING buckets only, so tuning and reporting data stay apart.

Real offers: the France Travail vacancies of ``../shared/data/france_travail_offres`` carry the
ROME 4.0 code the agency assigned. They are split by a hash of the offer id: the TUNING half picks
the title/description mix weight, the REPORT half is reported. Files are read, never copied.

Ambiguous noised variants: a noised phrase that, once normalised, equals an indexed label of
another fiche (a truncation above all: "Chef de rayon" cut from a longer title) is that other
title, not a noised version of its own; :func:`mark_ambiguous` flags them with the rule
:meth:`~matching.taxonomy.normaliser.Normaliser.ambiguous_variants` also applies to the tuning
phrases, and :func:`evaluate_heldout` leaves them out (``drop_ambiguous=True``).

Metrics: top-1 and top-5 accuracy, NDCG@10 with partial credit 0.5 for a sibling fiche (same
``code_rome_v3`` parent), share of automatic decisions and their precision.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from matching.taxonomy.normaliser import (
    REPORT_BUCKETS,
    NormalisationResult,
    Normaliser,
    holdout_bucket,
)
from matching.taxonomy.text import NOISE_TYPES, noisy_variant

SIBLING_GAIN = 0.5
OFFER_FILES = ("offres_ardeche_cdi_2025_extrait.csv", "offres_numerique_2026-04.csv")


@dataclass(frozen=True)
class EvalRow:
    """Figures of one evaluation set."""

    name: str
    n: int
    top1: float
    top5: float
    ndcg10: float
    auto_share: float
    auto_precision: float


def report_job_titles(referential: Any) -> pd.DataFrame:
    """SYNONYME appellations of the REPORT split (held out from the index when evaluating)."""
    jt = referential.job_titles
    mask = np.isin(holdout_bucket(jt["code_ogr"]), REPORT_BUCKETS) & (
        jt["classification"] != "PRINCIPALE"
    )
    return jt[mask].reset_index(drop=True)


def heldout_phrases(referential: Any, *, random_state: int = 42) -> pd.DataFrame:
    """Held-out appellations, clean and noised: columns phrase, code_rome, noise."""
    rng = np.random.default_rng(random_state)
    held = report_job_titles(referential)
    rows = []
    for label, code in zip(held["label"], held["code_rome"], strict=True):
        rows.append((label, code, "clean"))
        for noise in NOISE_TYPES:
            rows.append((noisy_variant(label, noise, rng), code, noise))
    return pd.DataFrame(rows, columns=["phrase", "code_rome", "noise"])


def seen_phrases(referential: Any, *, random_state: int = 43) -> pd.DataFrame:
    """Appellations of the REPORT split as people type them (clean and with each noise), for a
    normaliser that DOES index them: the everyday case of a known title, typed approximately.
    Columns phrase, code_rome, noise. Tuning never uses the REPORT buckets."""
    rng = np.random.default_rng(random_state)
    jt = referential.job_titles
    held = jt[np.isin(holdout_bucket(jt["code_ogr"]), REPORT_BUCKETS)].reset_index(drop=True)
    rows = []
    for label, code in zip(held["label"], held["code_rome"], strict=True):
        rows.append((label, code, "clean"))
        for noise in NOISE_TYPES:
            rows.append((noisy_variant(label, noise, rng), code, noise))
    return pd.DataFrame(rows, columns=["phrase", "code_rome", "noise"])


def mark_ambiguous(normaliser: Normaliser, phrases: pd.DataFrame) -> pd.DataFrame:
    """``phrases`` with a boolean column ``ambiguous``: noised variants that, once normalised,
    are an indexed label of another fiche than theirs in ``normaliser`` (the normaliser the set
    is asked to). Clean phrases are never flagged."""
    noised = (phrases["noise"] != "clean").to_numpy()
    flag = np.zeros(len(phrases), dtype=bool)
    if noised.any():
        flag[noised] = normaliser.ambiguous_variants(
            phrases.loc[noised, "phrase"].tolist(), phrases.loc[noised, "code_rome"].tolist()
        )
    return phrases.assign(ambiguous=flag)


def fit_for_evaluation(referential: Any, **params: Any) -> Normaliser:
    """Occupation normaliser fitted without the labels of the REPORT appellations."""
    params.setdefault("kinds", ("occupation",))
    held = report_job_titles(referential)["code_ogr"].tolist()
    return Normaliser(**params).fit(referential, exclude_job_titles=held)


def _gains(codes: list[str], gold: str, parent: dict[str, str]) -> np.ndarray:
    g = parent.get(gold)
    return np.array(
        [
            1.0 if c == gold else (SIBLING_GAIN if g is not None and parent.get(c) == g else 0.0)
            for c in codes
        ]
    )


def ndcg_at_k(ranked: list[str], gold: str, parent: dict[str, str], *, k: int = 10) -> float:
    """NDCG@k of one ranking with one right fiche and partial credit for its siblings.

    The ideal ranking puts the right fiche first, then every sibling fiche.

    Examples
    --------
    >>> ndcg_at_k(["A1"], "A1", {"A1": "A"})
    1.0
    >>> ndcg_at_k(["B1"], "A1", {"A1": "A", "B1": "B"})
    0.0
    """
    gains = _gains(ranked[:k], gold, parent)
    disc = 1.0 / np.log2(np.arange(2, len(gains) + 2))
    dcg = float((gains * disc).sum())
    n_sib = sum(1 for c, p in parent.items() if p == parent.get(gold) and c != gold)
    ideal = np.array([1.0] + [SIBLING_GAIN] * n_sib)[:k]
    idcg = float((ideal / np.log2(np.arange(2, len(ideal) + 2))).sum())
    return dcg / idcg if idcg else 0.0


def score_results(
    name: str, results: list[NormalisationResult], gold: list[str], parent: dict[str, str]
) -> EvalRow:
    """Top-1, top-5, NDCG@10 and automatic decisions of normalisation results against gold codes."""
    top1 = np.array(
        [
            bool(r.candidates) and r.candidates[0].code == g
            for r, g in zip(results, gold, strict=True)
        ]
    )
    top5 = np.array(
        [g in [c.code for c in r.candidates[:5]] for r, g in zip(results, gold, strict=True)]
    )
    ndcg = np.array(
        [
            ndcg_at_k([c.code for c in r.candidates], g, parent)
            for r, g in zip(results, gold, strict=True)
        ]
    )
    auto = np.array([r.decision == "auto" for r in results])
    return EvalRow(
        name=name,
        n=len(results),
        top1=float(top1.mean()) if len(top1) else float("nan"),
        top5=float(top5.mean()) if len(top5) else float("nan"),
        ndcg10=float(ndcg.mean()) if len(ndcg) else float("nan"),
        auto_share=float(auto.mean()) if len(auto) else float("nan"),
        auto_precision=float(top1[auto].mean()) if auto.any() else float("nan"),
    )


def evaluate_heldout(
    normaliser: Normaliser,
    referential: Any,
    phrases: pd.DataFrame,
    *,
    drop_ambiguous: bool = True,
    results: list[NormalisationResult] | None = None,
) -> list[EvalRow]:
    """Figures on a set of titles (held-out or known), overall and per noise type.

    Parameters
    ----------
    normaliser : Normaliser
    referential : Referential
    phrases : pandas.DataFrame
        Columns phrase, code_rome, noise (and ``ambiguous``, else computed by
        :func:`mark_ambiguous`).
    drop_ambiguous : bool, default True
        Leave out the noised variants that are another fiche's label once normalised (the
        evaluation rule; ``False`` gives the figures of the earlier protocol).
    results : list of NormalisationResult, optional
        Results of ``normaliser`` on ``phrases`` (top 10) when already computed.

    Returns
    -------
    list of EvalRow
    """
    parent = dict(
        zip(
            referential.occupations["code_rome"],
            referential.occupations["code_rome_v3"],
            strict=True,
        )
    )
    if "ambiguous" not in phrases:
        phrases = mark_ambiguous(normaliser, phrases)
    if results is None:
        results = normaliser.normalise_batch(
            phrases["phrase"].tolist(), kind="occupation", top_k=10
        )
    if drop_ambiguous:
        keep = ~phrases["ambiguous"].to_numpy()
        phrases = phrases[keep].reset_index(drop=True)
        results = [r for r, k in zip(results, keep, strict=True) if k]
    rows = []
    for noise in ["clean", *NOISE_TYPES]:
        mask = (phrases["noise"] == noise).to_numpy()
        rows.append(
            score_results(
                noise,
                [r for r, m in zip(results, mask, strict=True) if m],
                phrases.loc[mask, "code_rome"].tolist(),
                parent,
            )
        )
    noised = (phrases["noise"] != "clean").to_numpy()
    rows.append(
        score_results(
            "noised (all)",
            [r for r, m in zip(results, noised, strict=True) if m],
            phrases.loc[noised, "code_rome"].tolist(),
            parent,
        )
    )
    return rows


# --- real offers ---------------------------------------------------------------------------------
def load_offers(offers_dir: Path, referential: Any) -> pd.DataFrame:
    """Offers with a ROME 4.0 code of the referential: offer_id, intitule, description, code_rome, split."""
    frames = []
    for name in OFFER_FILES:
        path = Path(offers_dir) / name
        if path.exists():
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            frames.append(
                df[["offer_id", "intitule", "description", "code_rome"]].assign(source=name)
            )
    if not frames:
        return pd.DataFrame(
            columns=["offer_id", "intitule", "description", "code_rome", "source", "split"]
        )
    offers = pd.concat(frames, ignore_index=True)
    offers = offers[offers["code_rome"].isin(set(referential.occupations["code_rome"]))]
    bucket = np.array([zlib.crc32(str(o).encode()) % 2 for o in offers["offer_id"]])
    return offers.assign(split=np.where(bucket == 0, "tuning", "report")).reset_index(drop=True)


def evaluate_offers(
    normaliser: Normaliser, referential: Any, offers: pd.DataFrame, *, with_description: bool
) -> EvalRow:
    parent = dict(
        zip(
            referential.occupations["code_rome"],
            referential.occupations["code_rome_v3"],
            strict=True,
        )
    )
    contexts = offers["description"].tolist() if with_description else None
    results = normaliser.normalise_batch(offers["intitule"].tolist(), contexts=contexts, top_k=10)
    name = "titre + description" if with_description else "titre"
    return score_results(name, results, offers["code_rome"].tolist(), parent)


def tune_context_weight(
    normaliser: Normaliser,
    referential: Any,
    tuning_offers: pd.DataFrame,
    grid: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
) -> tuple[float, dict[float, float]]:
    """Pick ``context_weight`` maximising NDCG@10 on the TUNING offers (sets it on the normaliser)."""
    scores = {}
    for w in grid:
        normaliser.set_params(context_weight=w)
        scores[w] = evaluate_offers(
            normaliser, referential, tuning_offers, with_description=True
        ).ndcg10
    best = max(scores, key=lambda w: (scores[w], -abs(w - 0.5)))
    normaliser.set_params(context_weight=best)
    return best, scores


def baseline_offers(referential: Any, offers: pd.DataFrame, *, with_description: bool) -> EvalRow:
    """Character n-gram TF-IDF baseline: raw query text against fiche label + appellations."""
    occ = referential.occupations
    titles = referential.job_titles.groupby("code_rome")["label"].agg(" ".join)
    docs = (occ["label"] + " " + occ["code_rome"].map(titles).fillna("")).tolist()
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    matrix = vec.fit_transform(docs)
    text = offers["intitule"] + (" " + offers["description"] if with_description else "")
    sims = (vec.transform(text.tolist()) @ matrix.T).toarray()
    top = np.argsort(-sims, axis=1)[:, :10]
    codes = occ["code_rome"].to_numpy()
    parent = dict(zip(occ["code_rome"], occ["code_rome_v3"], strict=True))
    fake = [
        NormalisationResult(
            phrase="", candidates=tuple(_Cand(c) for c in codes[row]), decision="review"
        )
        for row in top
    ]
    name = "référence TF-IDF " + ("titre + description" if with_description else "titre")
    return score_results(name, fake, offers["code_rome"].tolist(), parent)


@dataclass(frozen=True)
class _Cand:
    code: str

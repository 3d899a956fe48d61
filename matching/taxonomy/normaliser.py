"""Free text -> referential codes: the :class:`Normaliser` estimator and its process-wide cache.

Every intake path (need capture, jobseeker profiles, course catalogues, imports, live suggestions
of the API) turns what people type ("cariste CACES 3", "téléconseiller(e) en centre d'appels",
"soudure TIG") into ranked candidates of the ROME 4.0 referential with this module.

Method (see ``docs/normaliser.md``):

1. both sides are normalised by :func:`matching.taxonomy.text.normalise_text`;
2. a shortlist of referential labels per phrase comes from a character n-gram TF-IDF and a fused
   sparse top-n product (``sparse_dot_topn``), vectorised over the batch;
3. the shortlist is re-scored pairwise with RapidFuzz (``process.cpdist``, the element-wise sibling
   of ``process.cdist``, with ``workers``); a logistic combination of the TF-IDF cosine, the
   RapidFuzz scores and the support of each target in the shortlist, fitted on a TUNING split of
   the referential held out from the index, gives a probability that the label is right;
4. labels are aggregated per target (fiche, appellation or skill) by their best label;
5. decision thresholds ("auto" / "review" / "unknown") are calibrated on the same tuning split.

Optionally (occupations only) a context text (a vacancy description) is compared with word TF-IDF
profiles of the fiches (labels, appellations, definition, access, linked skills) and mixed with
the title score with the weight ``context_weight``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp
from rapidfuzz import fuzz, process
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted
from sparse_dot_topn import sp_matmul_topn

from matching.exceptions import ReferentialError, ValidationError
from matching.taxonomy.text import NOISE_TYPES, noisy_variant, normalise_text

KINDS: tuple[str, ...] = ("occupation", "job_title", "skill")
DECISIONS: tuple[str, ...] = ("auto", "review", "unknown")

#: RapidFuzz scorers the combination may use (names of ``rapidfuzz.fuzz`` functions).
SCORERS: dict[str, Any] = {
    "ratio": fuzz.ratio,
    "token_set_ratio": fuzz.token_set_ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "partial_ratio": fuzz.partial_ratio,
    "WRatio": fuzz.WRatio,
}

#: Deterministic hold-out of appellations (and skills) by a hash of their OGR code:
#: buckets 0-9 are the REPORT split (never used to fit or tune), 10-19 the TUNING split.
REPORT_BUCKETS = range(0, 10)
TUNING_BUCKETS = range(10, 20)


def holdout_bucket(codes: Sequence[Any] | pd.Series | np.ndarray) -> np.ndarray:
    """Stable bucket 0..99 of each code (CRC32 of its decimal text): the split of the hold-outs.

    Parameters
    ----------
    codes : sequence
        OGR codes (int or str).

    Returns
    -------
    numpy.ndarray of int
    """
    return np.array([zlib.crc32(str(c).encode()) % 100 for c in codes], dtype=np.int64)


@dataclass(frozen=True)
class Candidate:
    """One referential entry proposed for a phrase.

    ``score`` is in 0..1, higher is better: the estimated probability that this code is the
    right one (the title/context mix when a context was given).
    """

    kind: str
    code: str
    label: str
    matched_label: str
    score: float
    code_rome: str | None = None


@dataclass(frozen=True)
class NormalisationResult:
    """Ranked candidates for one phrase and the decision ("auto", "review" or "unknown")."""

    phrase: str
    candidates: tuple[Candidate, ...]
    decision: str
    corrected: bool = False  # True when a stored human correction decided

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


# --- referential entries ----------------------------------------------------------------------
@dataclass
class _Entries:
    """Labels to index (normalised text, original label, target row) and the targets."""

    text: np.ndarray
    label: np.ndarray
    target: np.ndarray
    target_code: np.ndarray
    target_label: np.ndarray
    target_rome: np.ndarray | None
    source_code: np.ndarray  # OGR code of the appellation/skill the label comes from


def _build_entries(kind: str, referential: Any, job_titles: pd.DataFrame) -> _Entries:
    if kind == "skill":
        skills = referential.skills
        targets = pd.DataFrame(
            {"code": skills["code_ogr"].astype(int).astype(str), "label": skills["label"]}
        )
        labels = pd.DataFrame(
            {"label": skills["label"], "target": np.arange(len(skills)), "src": targets["code"]}
        )
        rome = None
    elif kind == "job_title":
        jt = job_titles.reset_index(drop=True)
        targets = pd.DataFrame({"code": jt["code_ogr"].astype(str), "label": jt["label"]})
        rome = jt["code_rome"].to_numpy(dtype=object)
        idx = np.arange(len(jt))
        labels = pd.concat(
            [
                pd.DataFrame({"label": jt["label"], "target": idx, "src": targets["code"]}),
                pd.DataFrame({"label": jt["label_short"], "target": idx, "src": targets["code"]}),
            ]
        )
    else:
        occ = referential.occupations
        targets = pd.DataFrame({"code": occ["code_rome"], "label": occ["label"]})
        rome = occ["code_rome"].to_numpy(dtype=object)
        pos = {c: i for i, c in enumerate(occ["code_rome"])}
        t = job_titles["code_rome"].map(pos).to_numpy()
        src = job_titles["code_ogr"].astype(str)
        # Fiche labels come first with an empty source: they equal the label of the PRINCIPALE
        # appellation, are part of the fiche itself and are never held out.
        labels = pd.concat(
            [
                pd.DataFrame({"label": occ["label"], "target": np.arange(len(occ)), "src": ""}),
                pd.DataFrame({"label": job_titles["label"], "target": t, "src": src}),
                pd.DataFrame({"label": job_titles["label_short"], "target": t, "src": src}),
            ]
        )
    labels = labels[labels["label"].fillna("").str.strip() != ""].copy()
    labels["text"] = [normalise_text(x) for x in labels["label"]]
    labels = labels[labels["text"] != ""].drop_duplicates(["text", "target"])
    return _Entries(
        text=labels["text"].to_numpy(dtype=object),
        label=labels["label"].to_numpy(dtype=object),
        target=labels["target"].to_numpy(dtype=np.int64),
        target_code=targets["code"].to_numpy(dtype=object),
        target_label=targets["label"].to_numpy(dtype=object),
        target_rome=rome,
        source_code=labels["src"].to_numpy(dtype=object),
    )


def _entries_without(entries: _Entries, drop_text: set[str]) -> _Entries:
    """Entries minus appellation/skill labels whose text is in ``drop_text`` (fiche labels stay)."""
    keep = np.array(
        [
            t not in drop_text or src == ""
            for t, src in zip(entries.text, entries.source_code, strict=True)
        ],
        dtype=bool,
    )
    return _Entries(
        text=entries.text[keep],
        label=entries.label[keep],
        target=entries.target[keep],
        target_code=entries.target_code,
        target_label=entries.target_label,
        target_rome=entries.target_rome,
        source_code=entries.source_code[keep],
    )


def _word_analyzer(text: str) -> list[str]:
    """Unigrams and bigrams of normalised tokens (module-level so fitted vectorisers pickle)."""
    toks = normalise_text(text).split()
    return toks + [f"{a} {b}" for a, b in itertools.pairwise(toks)]


class _Index:
    """Character n-gram TF-IDF over entry texts, with the fused sparse top-n shortlist."""

    def __init__(
        self,
        entries: _Entries,
        *,
        ngram_range: tuple[int, int],
        max_df: int | float,
        profiles: tuple[TfidfVectorizer, sp.csr_matrix] | None = None,
    ):
        self.entries = entries
        self.profiles = profiles
        self.vectorizer = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=ngram_range,
            max_df=max_df,
            lowercase=False,
            sublinear_tf=True,
            dtype=np.float32,
        )
        matrix = self.vectorizer.fit_transform(entries.text)
        self.matrix_t = sp.csr_matrix(matrix.T, dtype=np.float32)

    def shortlist(self, texts: list[str], size: int, n_threads: int) -> tuple[np.ndarray, ...]:
        """Top ``size`` entries per text: (row, entry, cosine) flat arrays, rows ascending."""
        q = self.vectorizer.transform(texts).astype(np.float32)
        size = min(size, self.matrix_t.shape[1])
        s = sp_matmul_topn(q, self.matrix_t, top_n=size, n_threads=max(1, n_threads))
        s = sp.csr_matrix(s)
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), np.diff(s.indptr))
        return rows, s.indices.astype(np.int64), s.data.astype(np.float32)


def _pair_features(
    index: _Index,
    texts: list[str],
    rows: np.ndarray,
    entry: np.ndarray,
    cosine: np.ndarray,
    scorers: tuple[str, ...],
    workers: int,
    shortlist_size: int,
) -> np.ndarray:
    """Feature matrix of the shortlisted (phrase, label) pairs, one row per pair."""
    queries = np.asarray(texts, dtype=object)[rows]
    choices = index.entries.text[entry]
    cols = [cosine]
    for name in scorers:
        scores = process.cpdist(
            queries, choices, scorer=SCORERS[name], workers=workers, dtype=np.float32
        )
        cols.append(np.asarray(scores, dtype=np.float32) / 100.0)
    # support: share of the shortlist of this phrase that points at the same target
    target = index.entries.target[entry]
    key = rows * (index.entries.target_code.shape[0] + 1) + target
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    cols.append(counts[inverse].astype(np.float32) / float(shortlist_size))
    if index.profiles is not None:
        # word TF-IDF cosine between the phrase and the whole fiche profile of the target
        vec, prof_t = index.profiles
        cos = (vec.transform(texts) @ prof_t).toarray()
        cols.append(cos[rows, target].astype(np.float32))
    return np.column_stack(cols).astype(np.float32)


def _aggregate(
    rows: np.ndarray, target: np.ndarray, entry: np.ndarray, prob: np.ndarray, n_rows: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Best label per (row, target), then the ``k`` best targets per row (all vectorised)."""
    order = np.lexsort((-prob, target, rows))
    r, t, e, p = rows[order], target[order], entry[order], prob[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (t[1:] != t[:-1])
    r, t, e, p = r[first], t[first], e[first], p[first]
    order = np.lexsort((t, -p, r))  # ties broken by target row: deterministic
    r, t, e, p = r[order], t[order], e[order], p[order]
    starts = np.searchsorted(r, np.arange(n_rows))
    rank = np.arange(len(r)) - starts[r]
    keep = rank < k
    return r[keep], t[keep], e[keep], p[keep]


def _predict(clf: LogisticRegression, feats: np.ndarray) -> np.ndarray:
    """Logistic probability computed column by column: each row's value does not depend on the
    batch it is in (a BLAS product may sum in a different order for another batch size)."""
    z = np.full(feats.shape[0], float(clf.intercept_[0]))
    for j, w in enumerate(clf.coef_[0]):
        z += float(w) * feats[:, j].astype(np.float64)
    return 1.0 / (1.0 + np.exp(-z))


def _wilson_lower(successes: np.ndarray, n: np.ndarray, z: float) -> np.ndarray:
    phat = successes / n
    denom = 1 + z**2 / n
    centre = phat + z**2 / (2 * n)
    margin = z * np.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2))
    return (centre - margin) / denom


def calibrate_thresholds(
    top_score: np.ndarray,
    top1_hit: np.ndarray,
    topk_hit: np.ndarray,
    *,
    auto_precision: float,
    min_support: int = 30,
    z: float = 1.0,
) -> tuple[float, float]:
    """Decision thresholds from tuning results: ``(review, auto)``.

    ``auto`` is the lowest top score such that the phrases scoring at least that much have a
    right first candidate with a Wilson lower bound (``z``) of at least ``auto_precision``
    (``inf`` when no threshold reaches it). ``review`` is the lowest top score at which the
    isotonic estimate of "the right code is among the candidates" reaches one half; below it
    the phrase is "unknown".

    Parameters
    ----------
    top_score, top1_hit, topk_hit : numpy.ndarray
        Per tuning phrase: score of its first candidate, whether it is right, whether the right
        code is among the candidates.
    auto_precision : float
        Precision wanted for automatic acceptance.
    min_support : int, default 30
        Minimal number of phrases above the automatic threshold.
    z : float, default 1.0
        Normal quantile of the Wilson bound (1.0 ~ 84 % one-sided confidence).

    Returns
    -------
    tuple of float
    """
    order = np.argsort(-top_score, kind="stable")
    s, h = top_score[order], top1_hit[order].astype(float)
    n = np.arange(1, len(s) + 1, dtype=float)
    lower = _wilson_lower(np.cumsum(h), n, z)
    # only cut between distinct scores
    last_of_value = np.r_[s[1:] != s[:-1], True]
    ok = (lower >= auto_precision) & (n >= min_support) & last_of_value
    auto = float(s[np.flatnonzero(ok)[-1]]) if ok.any() else math.inf
    iso = IsotonicRegression(increasing=True, out_of_bounds="clip")
    fitted = iso.fit(top_score, topk_hit.astype(float)).predict(top_score)
    above = top_score[fitted >= 0.5]
    review = float(above.min()) if len(above) else math.inf
    return min(review, auto), auto


# --- the estimator ----------------------------------------------------------------------------
class Normaliser(BaseEstimator):
    """Normalise free French phrases to ranked candidates of the ROME 4.0 referential.

    Parameters
    ----------
    kinds : tuple of str, default ("occupation", "job_title", "skill")
        Kinds of target to index: ``occupation`` (ROME fiche, code = code_rome),
        ``job_title`` (appellation, code = code_ogr, with its code_rome), ``skill``
        (competences and savoirs, code = code_ogr).
    ngram_range : tuple of int, default (3, 4)
        Character n-grams (within words) of the shortlist TF-IDF.
    max_df : int or float, default 700
        Character n-grams found in more than this number (int) or share (float) of labels are
        dropped from the shortlist: they carry little information and dominate the cost of the
        product (700 is about 5 % of the occupation labels; small referentials keep them all).
    shortlist_size : int, default 30
        Labels kept per phrase by the TF-IDF shortlist before RapidFuzz re-scoring.
    scorers : tuple of str, default ("ratio", "token_set_ratio", "partial_ratio")
        RapidFuzz scorers combined with the TF-IDF cosine (chosen on the tuning split).
    auto_precision : float, default 0.97
        Precision of automatic acceptance calibrated on the tuning split.
    context_weight : float, default 0.5
        Weight of the title score against the context (description) score, occupations only.
    skill_tuning_size : int, default 2000
        Number of skills whose noised labels tune the skill combination.
    random_state : int, default 0
        Seed of the tuning noise.
    n_jobs : int, default 1
        Threads of the sparse product and RapidFuzz workers (-1: all cores).

    Attributes
    ----------
    indexes_ : dict
        Per kind, the fitted TF-IDF index over referential labels.
    combiners_ : dict
        Per kind, the logistic combination of pair features.
    thresholds_ : dict
        Per kind, ``{"review": float, "auto": float}`` calibrated on the tuning split.
    tuning_report_ : dict
        Per kind, tuning figures (phrases, top-1 accuracy, share and precision of "auto").
    profiles_ : tuple or None
        Word TF-IDF vectoriser and fiche profile matrix for context texts.
    referential_hash_ : str
        Hash of the referential manifest the normaliser was fitted on.
    excluded_job_titles_ : frozenset
        Appellation codes held out at fit time (evaluation).
    """

    def __init__(
        self,
        *,
        kinds: tuple[str, ...] = KINDS,
        ngram_range: tuple[int, int] = (3, 4),
        max_df: int | float = 700,
        shortlist_size: int = 30,
        scorers: tuple[str, ...] = ("ratio", "token_set_ratio", "partial_ratio"),
        auto_precision: float = 0.97,
        context_weight: float = 0.5,
        skill_tuning_size: int = 2000,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.kinds = kinds
        self.ngram_range = ngram_range
        self.max_df = max_df
        self.shortlist_size = shortlist_size
        self.scorers = scorers
        self.auto_precision = auto_precision
        self.context_weight = context_weight
        self.skill_tuning_size = skill_tuning_size
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- fit -------------------------------------------------------------------------------------
    def _validate(self) -> None:
        unknown = [k for k in self.kinds if k not in KINDS]
        if not self.kinds or unknown:
            raise ValidationError(
                f"kinds : attendu un ou plusieurs de {KINDS}, reçu {tuple(self.kinds)!r}"
            )
        bad = [s for s in self.scorers if s not in SCORERS]
        if bad:
            raise ValidationError(f"scorers : attendu parmi {tuple(SCORERS)}, reçu {bad!r}")
        if not 0.0 < self.auto_precision < 1.0:
            raise ValidationError(
                f"auto_precision : attendu entre 0 et 1, reçu {self.auto_precision}"
            )
        if not 0.0 <= self.context_weight <= 1.0:
            raise ValidationError(
                f"context_weight : attendu entre 0 et 1, reçu {self.context_weight}"
            )
        if int(self.shortlist_size) < 1:
            raise ValidationError(f"shortlist_size : attendu ≥ 1, reçu {self.shortlist_size}")

    def _workers(self) -> int:
        return int(joblib.effective_n_jobs(self.n_jobs))

    def fit(self, referential: Any, y: None = None, *, exclude_job_titles=None) -> Normaliser:
        """Index the referential and tune the combination and thresholds on a held-out split.

        Parameters
        ----------
        referential : Referential
            Object with ``occupations``, ``job_titles``, ``skills`` and ``occupation_skills``
            tables (see :mod:`matching.taxonomy.referential`).
        y : None
            Ignored (scikit-learn signature).
        exclude_job_titles : iterable of int, optional
            Appellation codes whose labels must not be indexed (evaluation hold-out).

        Returns
        -------
        Normaliser
            ``self``.
        """
        self._validate()
        for name in ("occupations", "job_titles", "skills", "occupation_skills"):
            if not hasattr(referential, name):
                raise ReferentialError(
                    f"référentiel attendu (tables occupations, job_titles, skills, "
                    f"occupation_skills), reçu {type(referential).__name__} sans « {name} »"
                )
        excluded = frozenset(int(c) for c in (exclude_job_titles or ()))
        all_titles = referential.job_titles
        job_titles = all_titles[~all_titles["code_ogr"].astype(int).isin(excluded)]
        excluded_text = {
            normalise_text(x)
            for col in ("label", "label_short")
            for x in all_titles.loc[all_titles["code_ogr"].astype(int).isin(excluded), col]
        }
        rng = np.random.default_rng(self.random_state)
        workers = self._workers()

        self.indexes_: dict[str, _Index] = {}
        self.combiners_: dict[str, LogisticRegression] = {}
        self.thresholds_: dict[str, dict[str, float]] = {}
        self.tuning_report_: dict[str, dict[str, float]] = {}
        for kind in self.kinds:
            entries = _build_entries(kind, referential, job_titles)
            if excluded_text:
                entries = _entries_without(entries, excluded_text)
            if len(entries.text) == 0:
                raise ReferentialError(f"aucun libellé à indexer pour « {kind} »")
            tune_entries, phrases, gold = self._tuning_set(kind, entries, referential, rng)
            tune_profiles = final_profiles = None
            if kind == "occupation":
                tuning_codes = set(tune_entries.source_code) ^ set(entries.source_code)
                tune_titles = job_titles[~job_titles["code_ogr"].astype(str).isin(tuning_codes)]
                tune_profiles = self._fit_profiles(referential, tune_titles)
                final_profiles = self._fit_profiles(referential, job_titles)
            tune_index = _Index(
                tune_entries,
                ngram_range=self.ngram_range,
                max_df=self.max_df,
                profiles=tune_profiles,
            )
            texts = [normalise_text(p) for p in phrases]
            rows, entry, cosine = tune_index.shortlist(texts, self.shortlist_size, workers)
            feats = _pair_features(
                tune_index, texts, rows, entry, cosine, self.scorers, workers, self.shortlist_size
            )
            pair_target = tune_index.entries.target[entry]
            y_pair = pair_target == gold[rows]
            if y_pair.all() or not y_pair.any():
                raise ReferentialError(
                    f"réglage impossible pour « {kind} » : référentiel trop petit "
                    f"({len(entries.text)} libellés, {len(phrases)} phrases de réglage)"
                )
            clf = LogisticRegression(C=1.0, max_iter=1000).fit(feats, y_pair)
            prob = _predict(clf, feats)
            r, t, _, p = _aggregate(rows, pair_target, entry, prob, len(texts), 5)
            top_score = np.zeros(len(texts))
            top1 = np.zeros(len(texts), dtype=bool)
            top5 = np.zeros(len(texts), dtype=bool)
            starts = np.searchsorted(r, np.arange(len(texts)))
            has = starts < len(r)
            has[has] = r[starts[has]] == np.flatnonzero(has)
            top_score[has] = p[starts[has]]
            top1[has] = t[starts[has]] == gold[has]
            np.logical_or.at(top5, r, t == gold[r])
            review, auto = calibrate_thresholds(
                top_score, top1, top5, auto_precision=self.auto_precision
            )
            auto_mask = top_score >= auto
            self.combiners_[kind] = clf
            self.thresholds_[kind] = {"review": review, "auto": auto}
            self.tuning_report_[kind] = {
                "phrases": float(len(texts)),
                "top1": float(top1[gold >= 0].mean()),
                "top5": float(top5[gold >= 0].mean()),
                "auto_share": float(auto_mask.mean()),
                "auto_precision": float(top1[auto_mask].mean()) if auto_mask.any() else math.nan,
            }
            self.indexes_[kind] = _Index(
                entries, ngram_range=self.ngram_range, max_df=self.max_df, profiles=final_profiles
            )
        self.profiles_ = (
            self.indexes_["occupation"].profiles if "occupation" in self.kinds else None
        )
        manifest = getattr(referential, "manifest", None)
        self.referential_hash_ = _manifest_hash(manifest) if manifest else ""
        self.excluded_job_titles_ = excluded
        return self

    def _tuning_set(
        self, kind: str, entries: _Entries, referential: Any, rng: np.random.Generator
    ) -> tuple[_Entries, list[str], np.ndarray]:
        """Index to tune on, tuning phrases and their gold target row (-1 for junk phrases)."""
        bucket = holdout_bucket(entries.source_code)
        tuning = np.isin(bucket, TUNING_BUCKETS)
        if kind == "skill":
            cand = np.flatnonzero(tuning)
            pick = cand[: self.skill_tuning_size] if len(cand) else cand
            labels, gold = entries.label[pick], entries.target[pick]
            tune_entries = entries
            clean = False
        elif kind == "job_title":
            labels, gold = entries.label[tuning], entries.target[tuning]
            tune_entries = entries
            clean = False
        else:
            # occupation: the tuning appellations' labels are removed from the tuning index and
            # asked clean and noised, as unseen titles of their fiche
            labels, gold = entries.label[tuning], entries.target[tuning]
            tune_entries = _entries_without(entries, set(entries.text[tuning]))
            clean = True
        phrases: list[str] = []
        golds: list[int] = []
        for label, g in zip(labels, gold, strict=True):
            if clean:
                phrases.append(label)
                golds.append(int(g))
            for noise in NOISE_TYPES:
                phrases.append(noisy_variant(label, noise, rng))
                golds.append(int(g))
        # junk phrases: letters with no meaning, the lower tail of scores ("unknown")
        n_junk = max(20, len(phrases) // 20)
        alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz     "))
        for _ in range(n_junk):
            phrases.append(
                "".join(rng.choice(alphabet, size=int(rng.integers(4, 25)))).strip() or "zzz"
            )
            golds.append(-1)
        return tune_entries, phrases, np.asarray(golds, dtype=np.int64)

    def _fit_profiles(self, referential: Any, job_titles: pd.DataFrame):
        occ = referential.occupations
        skills = referential.skills
        labels = dict(zip(skills["code_ogr"].astype(int), skills["label"], strict=True))
        links = referential.occupation_skills
        skill_text = (
            links.assign(label=links["code_ogr"].astype(int).map(labels).fillna(""))
            .groupby("code_rome")["label"]
            .agg(" ".join)
        )
        titles = job_titles.groupby("code_rome")["label"].agg(" ".join)
        docs = (
            occ["label"].fillna("")
            + " "
            + occ["code_rome"].map(titles).fillna("")
            + " "
            + occ["definition"].fillna("")
            + " "
            + occ["access"].fillna("")
            + " "
            + occ["code_rome"].map(skill_text).fillna("")
        )
        vec = TfidfVectorizer(
            analyzer=_word_analyzer, sublinear_tf=True, min_df=2, dtype=np.float32
        )
        matrix = vec.fit_transform(docs.tolist())
        return vec, sp.csr_matrix(matrix.T, dtype=np.float32)

    # -- normalise -------------------------------------------------------------------------------
    def normalise(
        self, phrase: str, *, kind: str = "occupation", top_k: int = 5
    ) -> NormalisationResult:
        """Normalise one phrase to ranked candidates (see :meth:`normalise_batch`)."""
        return self.normalise_batch([phrase], kind=kind, top_k=top_k)[0]

    def normalise_batch(
        self,
        phrases: Sequence[str],
        *,
        kind: str = "occupation",
        top_k: int = 5,
        contexts: Sequence[str] | None = None,
        block_size: int = 5_000,
    ) -> list[NormalisationResult]:
        """Normalise a batch of phrases to ranked candidates of the referential.

        Parameters
        ----------
        phrases : sequence of str
            Phrases as typed ("cariste CACES 3").
        kind : {"occupation", "job_title", "skill"}, default "occupation"
            What to normalise to.
        top_k : int, default 5
            Number of candidates per phrase.
        contexts : sequence of str, optional
            Occupations only: a longer text per phrase (vacancy description) compared with the
            fiche profiles and mixed with the title score (``context_weight``).
        block_size : int, default 5000
            Phrases processed at once (bounds memory).

        Returns
        -------
        list of NormalisationResult
            In the order of ``phrases``; candidates sorted by decreasing score.
        """
        check_is_fitted(self, "indexes_")
        if kind not in self.indexes_:
            raise ValidationError(f"kind : attendu un de {tuple(self.indexes_)}, reçu {kind!r}")
        if isinstance(phrases, str):
            raise ValidationError("phrases : attendu une liste de textes, reçu un seul texte")
        if int(top_k) < 1:
            raise ValidationError(f"top_k : attendu ≥ 1, reçu {top_k}")
        if contexts is not None:
            if kind != "occupation":
                raise ValidationError("contexts : possible seulement pour kind='occupation'")
            if len(contexts) != len(phrases):
                raise ValidationError(
                    f"contexts : attendu {len(phrases)} textes (un par phrase), reçu {len(contexts)}"
                )
        phrases = ["" if p is None else str(p) for p in phrases]
        out: list[NormalisationResult] = []
        for start in range(0, len(phrases), block_size):
            block = phrases[start : start + block_size]
            ctx = None if contexts is None else list(contexts[start : start + block_size])
            out.extend(self._normalise_block(block, kind, int(top_k), ctx))
        return out

    def describe(self, code: str, *, kind: str = "occupation") -> Candidate | None:
        """The referential entry ``code`` of ``kind`` as a :class:`Candidate` (score 1), or None."""
        check_is_fitted(self, "indexes_")
        if kind not in self.indexes_:
            raise ValidationError(f"kind : attendu un de {tuple(self.indexes_)}, reçu {kind!r}")
        ent = self.indexes_[kind].entries
        if not hasattr(self, "_code_rows"):
            self._code_rows: dict[str, dict[str, int]] = {}
        rows = self._code_rows.get(kind)
        if rows is None:
            rows = {str(c): i for i, c in enumerate(ent.target_code)}
            self._code_rows[kind] = rows
        i = rows.get(str(code).strip())
        if i is None:
            return None
        rome = None if ent.target_rome is None else str(ent.target_rome[i])
        label = str(ent.target_label[i])
        return Candidate(
            kind=kind,
            code=str(ent.target_code[i]),
            label=label,
            matched_label=label,
            score=1.0,
            code_rome=rome,
        )

    def score_matrix(self, phrases: Sequence[str], *, kind: str = "occupation"):
        """Shortlisted targets and probabilities: ``(rows, target_rows, entry_rows, prob)``."""
        check_is_fitted(self, "indexes_")
        texts = [normalise_text(p) for p in phrases]
        return self._score(texts, kind, self.shortlist_size)

    def _score(self, texts: list[str], kind: str, k: int):
        index = self.indexes_[kind]
        workers = self._workers()
        rows, entry, cosine = index.shortlist(texts, self.shortlist_size, workers)
        if len(rows) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, np.zeros(0)
        feats = _pair_features(
            index, texts, rows, entry, cosine, self.scorers, workers, self.shortlist_size
        )
        prob = _predict(self.combiners_[kind], feats)
        return _aggregate(rows, index.entries.target[entry], entry, prob, len(texts), k)

    def _normalise_block(
        self, phrases: list[str], kind: str, top_k: int, contexts: list[str] | None
    ) -> list[NormalisationResult]:
        index = self.indexes_[kind]
        texts = [normalise_text(p) for p in phrases]
        n = len(texts)
        if contexts is None:
            r, t, e, p = self._score(texts, kind, top_k)
            title_p = p
        else:
            r, t, e, p, title_p = self._score_with_context(texts, phrases, contexts, top_k)
        thresholds = self.thresholds_[kind]
        ent = index.entries
        codes, labels = ent.target_code[t], ent.target_label[t]
        matched = np.where(e >= 0, ent.label[np.maximum(e, 0)], labels)
        romes = ent.target_rome[t] if ent.target_rome is not None else np.full(len(t), None)
        bounds = np.searchsorted(r, np.arange(n + 1))
        results = []
        for i in range(n):
            a, b = bounds[i], bounds[i + 1]
            cands = tuple(
                Candidate(
                    kind=kind,
                    code=str(codes[j]),
                    label=str(labels[j]),
                    matched_label=str(matched[j]),
                    score=round(float(p[j]), 6),
                    code_rome=None if romes[j] is None else str(romes[j]),
                )
                for j in range(a, b)
            )
            top = float(title_p[a]) if b > a else 0.0
            if b == a or top < thresholds["review"]:
                decision = "unknown"
            elif top >= thresholds["auto"]:
                decision = "auto"
            else:
                decision = "review"
            results.append(
                NormalisationResult(phrase=phrases[i], candidates=cands, decision=decision)
            )
        return results

    def _score_with_context(self, texts, phrases, contexts, top_k):
        """Mix title probabilities and context cosine over all fiches (dense per block)."""
        index = self.indexes_["occupation"]
        n_t = index.entries.target_code.shape[0]
        n = len(texts)
        r, t, e, p = self._score(texts, "occupation", self.shortlist_size)
        title = np.zeros((n, n_t), dtype=np.float32)
        best_entry = np.full((n, n_t), -1, dtype=np.int64)
        title[r, t] = p
        best_entry[r, t] = e
        vec, prof_t = self.profiles_
        docs = [f"{ph} {ctx or ''}" for ph, ctx in zip(phrases, contexts, strict=True)]
        cos = (vec.transform(docs) @ prof_t).toarray()
        row_max = cos.max(axis=1, keepdims=True)
        cos = np.divide(cos, row_max, out=np.zeros_like(cos), where=row_max > 0)
        w = float(self.context_weight)
        mixed = w * title + (1.0 - w) * cos
        k = min(top_k, n_t)
        part = np.argpartition(-mixed, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(mixed, part, axis=1)
        idx = np.argsort(-vals, axis=1, kind="stable")
        part = np.take_along_axis(part, idx, axis=1)
        rows = np.repeat(np.arange(n), k)
        tt = part.ravel()
        return (
            rows,
            tt,
            best_entry[rows, tt],
            mixed[rows, tt],
            title[rows, tt],
        )


def _manifest_hash(manifest: dict) -> str:
    import json

    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]


# --- process-wide cache -----------------------------------------------------------------------
@lru_cache(maxsize=4)
def _cached_normaliser(referential_dir: str, cache_dir: str | None, n_jobs: int) -> Normaliser:
    from matching.taxonomy.referential import load_referential

    referential = load_referential(Path(referential_dir))
    key = _manifest_hash(referential.manifest)
    path = Path(cache_dir) / f"normaliser-{key}.joblib" if cache_dir else None
    if path is not None and path.exists():
        try:
            model = joblib.load(path)
        except Exception:  # a truncated or stale cache file is rebuilt, never trusted
            model = None
        if isinstance(model, Normaliser) and getattr(model, "referential_hash_", "") == key:
            model.set_params(n_jobs=n_jobs)
            return model
    model = Normaliser(n_jobs=n_jobs).fit(referential)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        joblib.dump(model, tmp, compress=3)
        tmp.replace(path)
    return model


def get_normaliser(
    *, referential_dir: str | Path, cache_dir: str | Path | None = None, n_jobs: int = 1
) -> Normaliser:
    """Return the fitted normaliser of a referential, cached per process and on disk.

    The disk cache (``cache_dir/normaliser-<manifest hash>.joblib``) is keyed by the hash of the
    referential manifest, so a rebuilt referential is refitted once and reloaded quickly after.

    Parameters
    ----------
    referential_dir : path
        Folder of the referential (``Settings.referential_dir``).
    cache_dir : path, optional
        Folder of the joblib cache; no disk cache when ``None``.
    n_jobs : int, default 1
        Threads used when normalising.

    Returns
    -------
    Normaliser
    """
    return _cached_normaliser(
        str(Path(referential_dir).resolve()),
        None if cache_dir is None else str(Path(cache_dir).resolve()),
        int(n_jobs),
    )

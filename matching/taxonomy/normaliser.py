"""Free text -> referential codes: the :class:`Normaliser` estimator and its process-wide cache.

Every intake path (need capture, jobseeker profiles, course catalogues, imports, live suggestions
of the API) turns what people type ("cariste CACES 3", "téléconseiller(e) en centre d'appels",
"soudure TIG") into ranked candidates of the ROME 4.0 referential with this module.

Method (see ``docs/normaliser.md``):

1. both sides are normalised by :func:`matching.taxonomy.text.normalise_text`;
2. a shortlist of referential labels per phrase comes from a character n-gram TF-IDF and a fused
   sparse top-n product (``sparse_dot_topn``), vectorised over the batch;
3. stage 1 (label level): the shortlist is re-scored pairwise with RapidFuzz (``process.cpdist``,
   the element-wise sibling of ``process.cdist``, with ``workers``); a logistic combination of the
   TF-IDF cosine, the RapidFuzz scores and the support of each target in the shortlist gives the
   probability that the label is right;
4. stage 2 (target level): labels are grouped per target (best and soft-summed probabilities,
   count, best cosine) and, for occupations, compared at fiche level (word/stem cosine and word
   coverage against the document of all the fiche's labels, fiche profile cosine, head word,
   cosine with the fiche definition and with its skills) and by the margin of a linear SVM fiche
   classifier over the fiches' labels and definitions; these word-level features see the phrase
   with its misspelt words corrected to the closest known word; fiches close by their label
   document or by the classifier join the candidates; a second logistic combination gives each
   candidate's score; a phrase with a trade abbreviation is also scored without its expansion,
   and with each word a clipped word stands for in its place ("prépa": "préparateur",
   "préparation"), and the best variant kept;
5. a confidence model of "the first candidate is right" and the decision thresholds ("auto" /
   "review" / "unknown") are calibrated on a TUNING split of the referential: unseen titles held
   out of a temporary index, titles of the index as typed, and junk; separately for phrases
   equal to one of their first candidate's labels (a label no other target has) and the others,
   with a one-sided 95 % bound over tuning titles (a title's variants count once), and every
   tuning set must hold the precision on its own; noised variants that are another target's
   label once normalised stand for that target and are left out;
6. lists longer than five (occupations) continue, after the five most probable fiches, by
   expected gain (own probability + half the probability of a sibling fiche).

Optionally (occupations only) a context text (a vacancy description) is compared with word TF-IDF
profiles of the fiches (labels, appellations, definition, access, linked skills) and mixed with
the title score with the weight ``context_weight``.
"""

from __future__ import annotations

import bisect
import gc
import hashlib
import math
import os
import zlib
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted
from sparse_dot_topn import sp_matmul, sp_matmul_topn

from matching.exceptions import ReferentialError, ValidationError
from matching.taxonomy import wordvec
from matching.taxonomy.text import (
    ABBREVIATION_KEYS,
    NOISE_TYPES,
    clipped_variants,
    fold_token,
    noisy_variant,
    normalise_text,
)

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


def _with_phrase(result: NormalisationResult, phrase: str) -> NormalisationResult:
    return NormalisationResult(
        phrase=phrase,
        candidates=result.candidates,
        decision=result.decision,
        corrected=result.corrected,
    )


_new = object.__new__


@contextmanager
def _collector_paused():
    """The cyclic garbage collector paused while a batch builds its results: five candidates
    and a result per phrase, all kept, made the collector walk them again and again (8 % of
    the time of 100,000 phrases). Nothing here makes reference cycles (reference counting frees
    the temporaries). Several threads at once: the call that found it on turns it back on, so
    it always ends as it was found."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _candidate(kind, code, label, matched_label, score, code_rome) -> Candidate:
    """Fast constructor of a :class:`Candidate` (hot path: five per phrase); a frozen dataclass'
    ``__init__`` pays one ``object.__setattr__`` per field."""
    c = _new(Candidate)
    c.__dict__.update(
        kind=kind,
        code=code,
        label=label,
        matched_label=matched_label,
        score=score,
        code_rome=code_rome,
    )
    return c


# --- referential entries ----------------------------------------------------------------------
ORIGIN_FICHE, ORIGIN_TITLE, ORIGIN_ESCO = 0, 1, 2

#: ESCO <-> ROME crosswalk relations whose ESCO labels are added to the fiche of the appellation.
ESCO_RELATIONS: tuple[str, ...] = ("exactMatch", "closeMatch", "narrowMatch", "broadMatch")


def _esco_labels(
    referential: Any, job_titles: pd.DataFrame, relations, languages=("fr",)
) -> pd.DataFrame:
    """French ESCO labels (preferred + alternative) of the occupations linked to indexed
    appellations by the official crosswalk: columns label, code_rome, links (appellation codes).

    Only crosswalk rows of *indexed* appellations count, so an appellation held out of the index
    never brings its ESCO labels in through the back door.
    """
    empty = pd.DataFrame({"label": [], "code_rome": [], "links": []})
    table = getattr(referential, "table", None)
    if table is None or not relations:
        return empty
    try:
        esco = table("esco_occupations")
        cw = table("esco_rome_crosswalk")
    except (ReferentialError, OSError):
        return empty
    cw = cw[cw["relation"].isin(relations)]
    cw = cw[cw["code_ogr_job_title"].astype(int).isin(set(job_titles["code_ogr"].astype(int)))]
    if cw.empty:
        return empty
    links = (
        cw.assign(code=cw["code_ogr_job_title"].astype(int).astype(str))
        .groupby(["esco_uri", "code_rome"])["code"]
        .agg(frozenset)
        .reset_index()
    )
    names = esco.set_index("uri")
    parts = []
    if "fr" in languages:
        parts.append(names["label_fr"].fillna("").str.split("/").map(lambda x: [" / ".join(x)]))
        parts.append(names["alt_labels_fr"].fillna("").str.split(r" \| "))
    if "en" in languages and "label_en" in names:
        parts.append(names["label_en"].fillna("").map(lambda x: [x]))
    if not parts:
        return empty
    labels = parts[0]
    for more in parts[1:]:
        labels = labels + more
    labels = labels.rename("label")
    out = links.merge(labels, left_on="esco_uri", right_index=True).explode("label")
    out["label"] = out["label"].str.strip()
    return out.loc[out["label"] != "", ["label", "code_rome", "code"]].rename(
        columns={"code": "links"}
    )


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
    origin: np.ndarray  # ORIGIN_FICHE, ORIGIN_TITLE (appellation / skill) or ORIGIN_ESCO
    links: np.ndarray  # ESCO labels: frozenset of the appellation codes linking them (else None)


def _build_entries(
    kind: str, referential: Any, job_titles: pd.DataFrame, esco_relations=(), esco_languages=("fr",)
) -> _Entries:
    if kind == "skill":
        skills = referential.skills
        targets = pd.DataFrame(
            {"code": skills["code_ogr"].astype(int).astype(str), "label": skills["label"]}
        )
        labels = pd.DataFrame(
            {"label": skills["label"], "target": np.arange(len(skills)), "src": targets["code"]}
        ).assign(origin=ORIGIN_TITLE, links=None)
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
        ).assign(origin=ORIGIN_TITLE, links=None)
    else:
        occ = referential.occupations
        targets = pd.DataFrame({"code": occ["code_rome"], "label": occ["label"]})
        rome = occ["code_rome"].to_numpy(dtype=object)
        pos = {c: i for i, c in enumerate(occ["code_rome"])}
        t = job_titles["code_rome"].map(pos).to_numpy()
        src = job_titles["code_ogr"].astype(str)
        # Fiche labels come first with an empty source: they equal the label of the PRINCIPALE
        # appellation, are part of the fiche itself and are never held out.
        esco = _esco_labels(referential, job_titles, esco_relations, esco_languages)
        esco = esco[esco["code_rome"].isin(pos)]
        labels = pd.concat(
            [
                pd.DataFrame(
                    {"label": occ["label"], "target": np.arange(len(occ)), "src": ""}
                ).assign(origin=ORIGIN_FICHE, links=None),
                pd.DataFrame({"label": job_titles["label"], "target": t, "src": src}).assign(
                    origin=ORIGIN_TITLE, links=None
                ),
                pd.DataFrame({"label": job_titles["label_short"], "target": t, "src": src}).assign(
                    origin=ORIGIN_TITLE, links=None
                ),
                pd.DataFrame(
                    {
                        "label": esco["label"].to_numpy(dtype=object),
                        "target": esco["code_rome"].map(pos).to_numpy(dtype=np.int64),
                        "src": "",
                        "origin": ORIGIN_ESCO,
                        "links": esco["links"].to_numpy(dtype=object),
                    }
                ),
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
        origin=labels["origin"].to_numpy(dtype=np.int8),
        links=labels["links"].to_numpy(dtype=object),
    )


def _entries_without(
    entries: _Entries, drop_text: set[str], drop_codes: frozenset[str] = frozenset()
) -> _Entries:
    """Entries minus the labels whose text is in ``drop_text`` (fiche labels stay) and the ESCO
    labels linked only through appellations of ``drop_codes``."""
    keep = np.array(
        [
            o == ORIGIN_FICHE or (t not in drop_text and (links is None or not links <= drop_codes))
            for t, o, links in zip(entries.text, entries.origin, entries.links, strict=True)
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
        origin=entries.origin[keep],
        links=entries.links[keep],
    )


def ambiguous_variant_mask(
    texts: Sequence[str], gold: Sequence[Any] | np.ndarray, label_text, label_target
) -> np.ndarray:
    """Phrases that, once normalised, ARE an indexed label of another target.

    The evaluation rule for noised variants (the same for the tuning phrases of :meth:`fit` and
    for the reported sets): a variant whose normalised text equals a label of another target
    and of none of its own target's labels is no longer a noised version of its title, it is
    that other title (a counsellor who types "Chef de rayon" means the fiche labelled so,
    whatever longer title the truncation came from). Such variants are dropped.

    Parameters
    ----------
    texts : sequence of str
        Normalised texts (:func:`~matching.taxonomy.text.normalise_text`) of the phrases.
    gold : sequence
        The target each phrase stands for (same key as ``label_target``).
    label_text, label_target : array-like
        Normalised text and target of every indexed label.

    Returns
    -------
    numpy.ndarray of bool
        True for the phrases to drop.

    Examples
    --------
    >>> ambiguous_variant_mask(
    ...     ["chef rayon", "chef rayon", "chef"], ["A", "B", "A"],
    ...     ["chef rayon", "chef rayon frais"], ["B", "A"],
    ... ).tolist()
    [True, False, False]
    """
    owners: dict[str, set] = {}
    for t, g in zip(label_text, label_target, strict=True):
        owners.setdefault(t, set()).add(g)
    out = np.zeros(len(texts), dtype=bool)
    for i, (t, g) in enumerate(zip(texts, gold, strict=True)):
        who = owners.get(t)
        out[i] = who is not None and g not in who
    return out


#: Regularisation of the fiche classifier (linear SVM, one fiche against the rest) and the
#: weights below which its coefficients are dropped (pruned, they keep the phrase x fiche
#: product sparse and the fitted normaliser small; the tuning figures do not move).
CLASSIFIER_C = 0.5
CLASSIFIER_PRUNE = 0.02


def _fit_classifier(
    texts: np.ndarray, target: np.ndarray, docs: list[str], n_targets: int, random_state: int
) -> tuple[TfidfVectorizer, sp.csr_matrix, np.ndarray]:
    """Linear SVM (one target against the rest) from the indexed labels of each target and its
    document (definition and access conditions of the fiche): learns which words tell a fiche
    from the others, where the cosines weigh every shared word alike. Returns the vectoriser,
    the pruned (terms x targets) coefficients and the intercepts."""
    x_text = list(texts) + list(docs)
    y = np.r_[target, np.arange(len(docs))].astype(np.int64)
    vec = TfidfVectorizer(analyzer=wordvec.class_analyzer, sublinear_tf=True, dtype=np.float32)
    x = vec.fit_transform(x_text)
    svm = LinearSVC(C=CLASSIFIER_C, random_state=random_state).fit(x, y)
    coef = np.zeros((n_targets, x.shape[1]), dtype=np.float32)
    intercept = np.zeros(n_targets, dtype=np.float32)
    coef[svm.classes_] = svm.coef_
    intercept[svm.classes_] = svm.intercept_
    coef[np.abs(coef) < CLASSIFIER_PRUNE] = 0.0
    return vec, sp.csr_matrix(coef.T), intercept


class _Speller:
    """Words unknown to a vocabulary replaced by the closest known word (OSA distance 1,
    or 2 for words of 7 letters or more), for the word-level features: "carsite" is "cariste"
    again for the fiche classifier, while stage 1 (characters) sees the phrase as typed.
    Candidates come from a character n-gram TF-IDF top-n product, distances from RapidFuzz."""

    def __init__(self, words: Sequence[str], also_known: Iterable[str] = ()):
        kept = sorted({w for w in words if len(w) >= 4 and w.isalpha()})
        # words left as typed though not correction targets: the trade abbreviations ("prepa"
        # was "corrected" to "repa", the stem of "repas") and ``also_known``
        self.known = frozenset(words) | ABBREVIATION_KEYS | frozenset(also_known)
        self.words = np.asarray(kept, dtype=object)
        self.vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 3), sublinear_tf=True, dtype=np.float32
        )
        self.matrix_t = sp.csr_matrix(self.vectorizer.fit_transform(kept).T, dtype=np.float32)

    def _clipped(self, word: str) -> bool:
        """A word of 5 letters or more cut from a known word ("techn", "maintenan"): left as
        typed, its light stem is a feature of the classifier."""
        if len(word) < 5:
            return False
        words = self.__dict__.get("_sorted")
        if words is None:  # a list: bisect on it is 10 x faster than searchsorted on objects
            words = self._sorted = self.words.tolist()
        i = bisect.bisect_left(words, word)
        return i < len(words) and words[i].startswith(word)

    #: Size past which the memo of corrections is emptied.
    MEMO_WORDS = 200_000

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_memo", None)  # caches, rebuilt on use
        state.pop("_grams", None)
        state.pop("_sorted", None)
        return state

    def clear_memo(self) -> None:
        self.__dict__.pop("_memo", None)
        self.__dict__.pop("_grams", None)

    def correct(self, texts: list[str], n_threads: int = 1) -> list[str]:
        """``texts`` (normalised) with their unknown words corrected where one is close (the
        correction of a word is memoised: blocks of a batch share many misspelt words)."""
        memo: dict[str, str] = self.__dict__.setdefault("_memo", {})
        tokens = [x.split() for x in texts]
        fixed: dict[str, str] = {}  # read once per word: another thread may empty the memo
        unknown = []
        for w in sorted({w for ts in tokens for w in ts if w not in self.known}):
            if len(w) < 4 or not w.isalpha():
                continue
            got = memo.get(w)
            if got is not None:
                fixed[w] = got
            elif not self._clipped(w):
                unknown.append(w)
        if unknown and len(self.words):
            found = self._corrections(unknown, n_threads)
            new = {w: found.get(w, w) for w in unknown}
            if len(memo) + len(new) > self.MEMO_WORDS:
                memo.clear()
            memo.update(new)
            fixed.update(new)
        mapping = {w: c for w, c in fixed.items() if c != w}
        if not mapping:
            return texts
        # a text without a corrected word is returned as given (the same object)
        return [
            " ".join(mapping.get(w, w) for w in ts) if not mapping.keys().isdisjoint(ts) else x
            for x, ts in zip(texts, tokens, strict=True)
        ]

    def _corrections(self, unknown: list[str], n_threads: int) -> dict[str, str]:
        """The closest allowed known word of each of ``unknown`` that has one."""
        grams = self.__dict__.get("_grams")
        if grams is None:
            grams = self._grams = wordvec.WordGrams(self.vectorizer, max_words=self.MEMO_WORDS)
        q = wordvec.transform_chars(grams, unknown).astype(np.float32)
        top = sp.csr_matrix(sp_matmul_topn(q, self.matrix_t, top_n=5, n_threads=max(1, n_threads)))
        rows = np.repeat(np.arange(len(unknown)), np.diff(top.indptr))
        if not len(rows):
            return {}
        queries = np.asarray(unknown, dtype=object)[rows]
        dist = process.cpdist(
            queries, self.words[top.indices], scorer=OSA.distance, workers=n_threads
        )
        allowed = np.where(np.array([len(w) for w in queries]) >= 7, 2, 1)
        ok = np.asarray(dist) <= allowed
        # per unknown word, the closest allowed candidate (ties: the higher n-gram cosine)
        order = np.lexsort((-top.data, dist, rows))
        mapping: dict[str, str] = {}
        for i in order[ok[order]]:
            mapping.setdefault(queries[i], self.words[top.indices[i]])
        return mapping


def _fiche_skill_text(referential: Any) -> pd.Series:
    """Per ROME fiche, the labels of its linked skills joined in one text."""
    skills = referential.skills
    labels = dict(zip(skills["code_ogr"].astype(int), skills["label"], strict=True))
    links = referential.occupation_skills
    return (
        links.assign(label=links["code_ogr"].astype(int).map(labels).fillna(""))
        .groupby("code_rome")["label"]
        .agg(" ".join)
    )


def _fit_fiche_documents(referential: Any) -> tuple[TfidfVectorizer, list[sp.csr_matrix]]:
    """One word + stem TF-IDF (shared vocabulary and idf, so a phrase is transformed once) over
    the :data:`FICHE_DOCUMENTS` of every fiche; a (terms x fiches) matrix per document kind."""
    occ = referential.occupations
    skill_text = _fiche_skill_text(referential)
    docs = {
        "definition": (occ["definition"].fillna("") + " " + occ["access"].fillna("")).tolist(),
        "skills": occ["code_rome"].map(skill_text).fillna("").tolist(),
    }
    vec = TfidfVectorizer(
        analyzer=wordvec.stem_analyzer, sublinear_tf=True, dtype=np.float32, max_df=FICHE_DOC_MAX_DF
    )
    vec.fit([d for name in FICHE_DOCUMENTS for d in docs[name]])
    return vec, [
        sp.csr_matrix(vec.transform(docs[name]).T, dtype=np.float32) for name in FICHE_DOCUMENTS
    ]


class _Index:
    """Character n-gram TF-IDF over entry texts, with the fused sparse top-n shortlist."""

    def __init__(
        self,
        entries: _Entries,
        *,
        ngram_range: tuple[int, int],
        max_df: int | float,
        profiles: tuple[TfidfVectorizer, sp.csr_matrix] | None = None,
        fiche_docs: tuple[TfidfVectorizer, list[sp.csr_matrix]] | None = None,
        classifier: tuple[TfidfVectorizer, sp.csr_matrix, np.ndarray] | None = None,
    ):
        self.entries = entries
        # entries whose text no other target has: only those make a phrase "exact" (16 texts of
        # the occupation index, "formateur", "plâtrier plaquiste", are labels of two fiches)
        text_id = pd.factorize(entries.text)[0]
        if len(text_id):
            pairs = np.unique(np.c_[text_id, entries.target], axis=0)
            targets_per_text = np.bincount(pairs[:, 0], minlength=int(text_id.max()) + 1)
            self.text_unique = targets_per_text[text_id] == 1
        else:
            self.text_unique = np.zeros(0, dtype=bool)
        self.classifier = classifier
        self.speller: _Speller | None = None
        if classifier is not None:
            vocab = classifier[0].vocabulary_
            other = profiles[0].vocabulary_ if profiles is not None else {}
            self.speller = _Speller(
                [w for w in vocab if " " not in w and "~" not in w],
                also_known=[w for w in other if " " not in w and "~" not in w],
            )
        self.profiles = profiles
        self.fiche_docs = fiche_docs
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
        n_t = entries.target_code.shape[0]
        # fiche side (occupations): one word document per target made of all its indexed labels,
        # and the share of its labels starting with each head word ("agent", "conducteur"...)
        self.label_docs: tuple[TfidfVectorizer, np.ndarray] | None = None
        self.heads: dict[str, int] = {}
        self.head_matrix: sp.csr_matrix | None = None
        if profiles is not None:
            docs = pd.Series(entries.text).groupby(entries.target).agg(" ".join)
            full = [""] * n_t
            for t, d in docs.items():
                full[int(t)] = d
            vec = TfidfVectorizer(
                analyzer=wordvec.stem_analyzer, sublinear_tf=True, dtype=np.float32, norm="l2"
            )
            doc_matrix = vec.fit_transform(full)
            self.label_docs = (vec, sp.csr_matrix(doc_matrix.T, dtype=np.float32))
            self.doc_words_t = sp.csr_matrix((doc_matrix.T > 0).astype(np.float32))
            first = np.array([t.split()[0] for t in entries.text], dtype=object)
            vocab = {h: i for i, h in enumerate(sorted(set(first)))}
            per_target = np.bincount(entries.target, minlength=n_t).astype(np.float32)
            h = sp.coo_matrix(
                (
                    1.0 / per_target[entries.target],
                    (np.array([vocab[x] for x in first]), entries.target),
                ),
                shape=(len(vocab) + 1, n_t),
            )
            self.heads = vocab
            self.head_matrix = sp.csr_matrix(h, dtype=np.float32)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_grams", None)  # a cache, rebuilt on use
        return state

    def clear_memo(self) -> None:
        """Empty the memos (n-grams of the words seen, corrections of misspelt words)."""
        self.__dict__.pop("_grams", None)
        if self.speller is not None:
            self.speller.clear_memo()

    def shortlist(self, texts: list[str], size: int, n_threads: int) -> tuple[np.ndarray, ...]:
        """Top ``size`` entries per text: (row, entry, cosine) flat arrays, rows ascending."""
        grams = self.__dict__.get("_grams")
        if grams is None:
            grams = self._grams = wordvec.WordGrams(self.vectorizer)
        q = wordvec.transform_chars(grams, texts).astype(np.float32)
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
    return np.column_stack(cols).astype(np.float32)


#: Credit of a sibling fiche (same ROME v3 parent) in the expected gain that orders candidates
#: after the first :attr:`Normaliser.keep_by_probability` (the evaluation's NDCG uses the same).
SIBLING_GAIN = 0.5

#: Names of the target-level features (stage 2), in column order.
TARGET_FEATURES: tuple[str, ...] = (
    "best label probability",
    "log(1 + sum of label probabilities)",
    "labels in shortlist",
    "best char cosine",
    "label document cosine",
    "fiche profile cosine",
    "head word share",
    "share of phrase words in the labels",
    "fiche definition cosine",
    "fiche skills cosine",
    "fiche classifier margin",
)

#: Fiche documents compared word by word (with light stems) with the phrase, one stage-2
#: feature each (see :data:`TARGET_FEATURES`): definition + access conditions, and the labels
#: of the skills linked to the fiche.
FICHE_DOCUMENTS: tuple[str, ...] = ("definition", "skills")

#: Words found in more than this share of the fiche documents are left out of them: they say
#: little about a fiche and make the phrase x fiche products dense (the cost of this stage).
FICHE_DOC_MAX_DF = 0.05


def _group_pairs(rows, target, entry, prob, cosine):
    """Per (row, target) of the shortlist: best entry, max/sum of label probabilities, count,
    max cosine. Sorted by row then target."""
    # (row, target) as one integer key: one sort key fewer than (row, target, -prob)
    pair = rows * (int(target.max()) + 1 if len(target) else 1) + target
    order = np.lexsort((-prob, pair))
    r, t, e, p, c = rows[order], target[order], entry[order], prob[order], cosine[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (t[1:] != t[:-1])
    starts = np.flatnonzero(first)
    if len(starts) == 0:
        z = np.zeros(0)
        return r, t, e, z, z, z, z
    psum = np.add.reduceat(p, starts)
    count = np.diff(np.r_[starts, len(r)]).astype(np.float64)
    cmax = np.maximum.reduceat(c, starts)
    return r[starts], t[starts], e[starts], p[starts], psum, count, cmax


def _dense_product(q: sp.csr_matrix, mat_t: sp.csr_matrix, n_threads: int) -> np.ndarray:
    """``q @ mat_t`` as a dense float32 array (multi-threaded sparse product; a block of 5,000
    phrases x 1,584 fiches is 32 MB): the values at the candidate pairs are then one gather."""
    return sp_matmul(q.astype(np.float32), mat_t, n_threads=n_threads).toarray()


def _top_columns(q: sp.csr_matrix, mat_t: sp.csr_matrix, m: int, n_threads: int):
    """Rows and columns of the ``m`` best entries of each row of ``q @ mat_t`` (fused sparse
    top-n product)."""
    top = sp.csr_matrix(sp_matmul_topn(q, mat_t, top_n=m, n_threads=n_threads))
    rows = np.repeat(np.arange(q.shape[0], dtype=np.int64), np.diff(top.indptr))
    return rows, top.indices.astype(np.int64)


def _target_features(
    index: _Index,
    texts: list[str],
    rows: np.ndarray,
    entry: np.ndarray,
    cosine: np.ndarray,
    prob: np.ndarray,
    shortlist_size: int,
    doc_candidates: int,
    n_threads: int = 1,
    n_normal: int = 0,
):
    """Stage-2 features of the candidate (phrase, target) pairs: the shortlisted targets plus,
    for occupations, the ``doc_candidates`` best fiches by label-document cosine. The first
    ``n_normal`` texts are outputs of ``normalise_text`` (not normalised again).

    Returns ``(features, rows, targets, best_entry)`` sorted by row then target; ``best_entry``
    is -1 for a fiche found by its label document only.
    """
    n = len(texts)
    target = index.entries.target[entry]
    r, t, e, pmax, psum, count, cmax = _group_pairs(rows, target, entry, prob, cosine)
    n_t = index.entries.target_code.shape[0]
    m = min(doc_candidates, n_t)
    # word-level features see the phrase with its misspelt words corrected (stage 1 saw it as
    # typed, through characters)
    words = texts
    if index.speller is not None and n:
        words = index.speller.correct(texts, n_threads)

    def join(dr: np.ndarray, dt: np.ndarray) -> None:
        # the best fiches of a word-level score join the candidates (shortlist pairs kept)
        nonlocal r, t, e, pmax, psum, count, cmax
        _, first = np.unique(np.r_[r * n_t + t, dr * n_t + dt], return_index=True)
        z = np.zeros(len(dr))
        r = np.r_[r, dr][first]
        t = np.r_[t, dt][first]
        e = np.r_[e, np.full(len(dr), -1, dtype=np.int64)][first]
        pmax, psum, count, cmax = (np.r_[a, z][first] for a in (pmax, psum, count, cmax))

    threads = max(1, n_threads)
    # a text the speller left alone (the same object) and known to be normalised is only split
    normalised = [
        i < n_normal and w is x for i, (w, x) in enumerate(zip(words, texts, strict=True))
    ]
    batch = wordvec.TokenBatch(words, normalised) if n else None
    q = qc = None
    # the best fiches by label document and by classifier join the candidates first...
    if index.label_docs is not None and batch is not None:
        vec, doc_t = index.label_docs
        q = wordvec.transform(vec, batch)
        if m > 0:
            join(*_top_columns(q, doc_t, m, threads))
    if index.classifier is not None and batch is not None:
        qc = wordvec.transform(index.classifier[0], batch)
        if m > 0:
            join(*_top_columns(qc, index.classifier[1], m, threads))

    # ...then each phrase x fiche product is made dense (one block: 5,000 x 1,584 float32 is
    # 32 MB), read at the candidate pairs and dropped: a gather, where sampling the sparse
    # product cost as much as computing it
    def at(qm: sp.csr_matrix, mat_t: sp.csr_matrix) -> np.ndarray:
        return _dense_product(qm, mat_t, threads)[r, t].astype(np.float64)

    cols = [pmax, np.log1p(psum), count / float(shortlist_size), cmax]
    if q is not None and len(r):
        vec, doc_t = index.label_docs
        heads = np.array(
            [
                index.heads.get(x.split()[0], len(index.heads)) if x else len(index.heads)
                for x in words
            ]
        )
        head_share = np.asarray(index.head_matrix[heads[r], t], dtype=np.float64).ravel()
        # idf-weighted share of the phrase's words (and stems) found in the fiche's labels
        qi = q.copy()
        qi.data = vec.idf_[qi.indices].astype(np.float32)
        total = np.asarray(qi.sum(axis=1)).ravel()
        pvec, prof_t = index.profiles
        cols += [
            at(q, doc_t),
            at(wordvec.transform(pvec, batch), prof_t),
            head_share,
            at(qi, index.doc_words_t) / np.maximum(total[r], 1e-9),
        ]
        if index.fiche_docs is not None:
            dvec, dmats = index.fiche_docs
            qd = wordvec.transform(dvec, batch)
            cols += [at(qd, d) for d in dmats]
        else:
            cols += [np.zeros(len(r))] * len(FICHE_DOCUMENTS)
    else:
        z = np.zeros(len(r))
        cols += [z, z, z, z] + [z] * len(FICHE_DOCUMENTS)
    if qc is not None and len(r):
        _, coef_t, intercept = index.classifier
        cols.append(at(qc, coef_t) + intercept[t])
    else:
        cols.append(np.zeros(len(r)))
    return np.column_stack(cols).astype(np.float64), r, t, e


def _score_texts(
    index: _Index,
    texts,
    combiner,
    ranker,
    k,
    *,
    scorers,
    shortlist_size,
    doc_candidates,
    workers,
    n_normal: int = 0,
):
    """Stages 1-2 for normalised texts: the ``k`` best targets per text ``(r, t, e, p)`` and
    the target features of each kept pair. The first ``n_normal`` texts are outputs of
    ``normalise_text`` with its default arguments (the variants that follow may not be)."""
    n = len(texts)
    rows, entry, cosine = index.shortlist(texts, shortlist_size, workers)
    if len(rows):
        feats = _pair_features(index, texts, rows, entry, cosine, scorers, workers, shortlist_size)
        prob = _predict(combiner, feats)
    else:
        prob = np.zeros(0)
    tfeats, r, t, e = _target_features(
        index, texts, rows, entry, cosine, prob, shortlist_size, doc_candidates, workers, n_normal
    )
    if len(r) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0), np.zeros((0, tfeats.shape[1]))
    r, t, e, p, kept = _top_k(r, t, e, _predict(ranker, tfeats), n, k)
    return r, t, e, p, tfeats[kept]


def _unexpanded(phrases: Sequence[str], texts: list[str]) -> tuple[list[int], list[str]]:
    """Rows whose phrase has a trade abbreviation, and the other texts it is matched as (a row
    may come several times): its normalised text WITHOUT the expansion ("cariste CACES 3" is
    also "cariste cace 3": the seven words of the expansion dilute the title and the referential
    labels rarely spell the acronym out) and, for a clipped word, the text with each word it
    stands for in its place ("prépa commandes": "preparateur commande", "preparation commande",
    :func:`~matching.taxonomy.text.clipped_variants`)."""
    rows, alt = [], []
    keys = ABBREVIATION_KEYS
    for i, (ph, x) in enumerate(zip(phrases, texts, strict=True)):
        if keys.isdisjoint(x.split()):
            continue
        y = normalise_text(ph, expand=False)
        for v in dict.fromkeys([y, *clipped_variants(y)] if y else []):
            if v != x:
                rows.append(i)
                alt.append(v)
    return rows, alt


def _best_variant(n: int, alt_rows: list[int], r, t, e, p, tf):
    """Rows 0..n-1 are the texts, rows n.. their variants (``alt_rows``: the text row of each,
    see :func:`_unexpanded`): keep, for each text, the variant whose first candidate scores
    highest (the earliest on ties: the expanded text first)."""
    if not alt_rows:
        return r, t, e, p, tf
    m = n + len(alt_rows)
    starts = np.searchsorted(r, np.arange(m))
    has = starts < len(r)
    has[has] = r[starts[has]] == np.flatnonzero(has)
    first = np.full(m, -1.0)
    first[has] = p[starts[has]]
    owner = np.r_[np.arange(n, dtype=np.int64), np.asarray(alt_rows, dtype=np.int64)]
    src = np.arange(m, dtype=np.int64)
    order = np.lexsort((src, -first, owner))  # per text, best first score, earliest variant
    chosen = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
    dest = np.full(m, -1, dtype=np.int64)
    dest[chosen] = owner[chosen]
    keep = dest[r] >= 0
    nr = dest[r[keep]]
    order = np.argsort(nr, kind="stable")
    return nr[order], t[keep][order], e[keep][order], p[keep][order], tf[keep][order]


def _sibling_tail(r, t, e, p, n_rows: int, top_k: int, keep: int, parent: np.ndarray):
    """Candidates ``keep + 1 .. top_k`` of each row ordered by expected gain instead of
    probability: ``p(fiche) + SIBLING_GAIN * p(one of its sibling fiches)``, the sibling
    probabilities summed over the pool ``(r, t, p)`` (sorted by row, then score); sibling fiches
    of the pool that are not in it may join (probability 0, ``e = -1``). The first ``keep``
    candidates stay the most probable ones."""
    n_p = int(parent.max()) + 1
    n_t = len(parent)
    starts = np.searchsorted(r, np.arange(n_rows))
    rank = np.arange(len(r)) - starts[r]
    head = rank < keep
    # probability mass of each (row, parent) group over the pool
    gkey = r * n_p + parent[t]
    ukey, ginv = np.unique(gkey, return_inverse=True)
    gmass = np.bincount(ginv, weights=p)
    # candidates of the tail: the pool outside the head, plus every sibling of a pool fiche
    members = np.argsort(parent, kind="stable")
    ptr = np.r_[0, np.cumsum(np.bincount(parent, minlength=n_p))]
    ur, up = ukey // n_p, ukey % n_p
    cnt = ptr[up + 1] - ptr[up]
    sr = np.repeat(ur, cnt)
    off = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    st = members[np.repeat(ptr[up], cnt) + off]
    smass = np.repeat(gmass, cnt)
    # pool pairs first so that np.unique keeps their entry and probability
    kr = np.r_[r, sr]
    kt = np.r_[t, st]
    ke = np.r_[e, np.full(len(sr), -1, dtype=np.int64)]
    kp = np.r_[p, np.zeros(len(sr))]
    kmass = np.r_[gmass[ginv], smass]
    in_head = np.r_[head, np.zeros(len(sr), dtype=bool)]
    _, first = np.unique(kr * n_t + kt, return_index=True)
    kr, kt, ke, kp, kmass, in_head = (a[first] for a in (kr, kt, ke, kp, kmass, in_head))
    gain = np.where(in_head, np.inf, kp + SIBLING_GAIN * (kmass - kp))
    # head first (by probability), then the tail by expected gain
    order = np.lexsort((kt, -kp, -gain, kr))
    kr, kt, ke, kp = kr[order], kt[order], ke[order], kp[order]
    st2 = np.searchsorted(kr, np.arange(n_rows))
    sel = (np.arange(len(kr)) - st2[kr]) < top_k
    return kr[sel], kt[sel], ke[sel], kp[sel]


def _top_k(r, t, e, p, n_rows: int, k: int):
    """The ``k`` best targets per row, rows ascending, scores descending (ties by target row),
    and the position of each kept pair in the input arrays."""
    key = r * (int(t.max()) + 1 if len(t) else 1) + t
    if len(key) < 2 or bool((key[1:] >= key[:-1]).all()):
        # already by row then target (stage 2's output): a stable sort on (row, -score) keeps
        # the targets ascending within ties, one sort key fewer
        order = np.lexsort((-p, r))
    else:
        order = np.lexsort((t, -p, r))
    r, t, e, p = r[order], t[order], e[order], p[order]
    starts = np.searchsorted(r, np.arange(n_rows))
    rank = np.arange(len(r)) - starts[r]
    keep = rank < k
    return r[keep], t[keep], e[keep], p[keep], order[keep]


def _exact_first(
    r: np.ndarray,
    e: np.ndarray,
    n_rows: int,
    label_text: np.ndarray,
    texts,
    alt_rows,
    alt,
    label_unique: np.ndarray | None = None,
) -> np.ndarray:
    """Per row: the phrase IS the label its first candidate matched, once normalised (its
    expanded text or one of its variants, :func:`_unexpanded`). Text equality, not a char cosine
    of 1: with the common n-grams left out of the shortlist TF-IDF ("technicien", "responsable"),
    "technicien geologue" has the same vector as "geologue". With ``label_unique`` (per entry),
    a label that is also another target's is never exact: "formateur" is a label of two fiches,
    and typing it does not tell which."""
    out = np.zeros(n_rows, dtype=bool)
    starts = np.searchsorted(r, np.arange(n_rows))
    has = starts < len(r)
    has[has] = r[starts[has]] == np.flatnonzero(has)
    rows = np.flatnonzero(has)
    first = e[starts[rows]]
    ok = first >= 0
    if label_unique is not None:
        ok &= label_unique[np.maximum(first, 0)]
    rows, first = rows[ok], first[ok]
    matched = label_text[first]
    typed = np.asarray(texts, dtype=object)[:n_rows][rows]
    out[rows] = matched == typed
    if alt_rows:
        variants: dict[int, set[str]] = {}
        for i, v in zip(alt_rows, alt, strict=True):
            variants.setdefault(int(i), set()).add(v)
        # only the few rows with variants are looked at (not every row of the batch)
        sel = np.flatnonzero(np.isin(rows, np.fromiter(variants, dtype=np.int64)))
        out[rows[sel]] |= np.array([matched[j] in variants[int(rows[j])] for j in sel], dtype=bool)
    return out


def _confidence_features(
    r: np.ndarray, p: np.ndarray, feats: np.ndarray, n_rows: int, exact: np.ndarray
) -> np.ndarray:
    """Per row: best score, its lead over the second, the target features of the first
    candidate (zeros for rows without candidates) and whether the phrase is the label its first
    candidate matched (``exact``, see :func:`_exact_first`). ``feats`` is aligned with ``r``."""
    out = np.zeros((n_rows, 3 + feats.shape[1]))
    starts = np.searchsorted(r, np.arange(n_rows))
    ends = np.searchsorted(r, np.arange(n_rows), side="right")
    has = ends > starts
    out[has, 0] = p[starts[has]]
    two = ends - starts >= 2
    out[has, 1] = out[has, 0]
    out[two, 1] = p[starts[two]] - p[starts[two] + 1]
    out[has, 2:-1] = feats[starts[has]]
    # a title of the referential typed as such: a step a linear model of the scores cannot
    # draw; also the stratum of the automatic threshold ("auto_exact")
    out[:, -1] = exact
    return out


def _predict(clf: Any, feats: np.ndarray) -> np.ndarray:
    """Probability of the positive class. Logistic models are computed column by column: each
    row's value does not depend on the batch it is in (a BLAS product may sum in a different
    order for another batch size); tree ensembles are row-wise by construction."""
    if not isinstance(clf, LogisticRegression):
        return clf.predict_proba(feats)[:, 1]
    z = np.full(feats.shape[0], float(clf.intercept_[0]))
    for j, w in enumerate(clf.coef_[0]):
        z += float(w) * feats[:, j].astype(np.float64)
    return 1.0 / (1.0 + np.exp(-z))


def _tuning_figures(top1, top5, auto, mask) -> dict[str, float]:
    """Phrases, top-1, top-5, share and precision of "auto" over the tuning phrases of ``mask``
    (for junk phrases, where nothing is right, top-1/top-5 are 0 and any "auto" is wrong)."""
    a = auto & mask
    return {
        "phrases": float(mask.sum()),
        "top1": float(top1[mask].mean()) if mask.any() else math.nan,
        "top5": float(top5[mask].mean()) if mask.any() else math.nan,
        "auto_share": float(a.sum() / mask.sum()) if mask.any() else math.nan,
        "auto_precision": float(top1[a].mean()) if a.any() else math.nan,
    }


#: Normal quantile of the Wilson lower bound of the automatic precision (one-sided 95 %), over
#: tuning titles (their variants grouped). At z = 1 over phrases, non-exact answers held 1.000 on
#: the tuning phrases and 0.90-0.96 on unseen development titles (clean, noised).
AUTO_Z = 1.645


def _wilson_lower(successes: np.ndarray, n: np.ndarray, z: float) -> np.ndarray:
    phat = successes / n
    denom = 1 + z**2 / n
    centre = phat + z**2 / (2 * n)
    margin = z * np.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2))
    return (centre - margin) / denom


def _floor(score: np.ndarray, hit: np.ndarray, precision: float, start: int) -> float:
    """Lowest score down to which the running precision of ``hit`` (best scores first), from the
    ``start``-th phrase on, never falls below ``precision`` (-inf: it never does)."""
    o = np.argsort(-score, kind="stable")
    s, h = score[o], hit[o].astype(float)
    n = np.arange(1, len(s) + 1)
    bad = np.flatnonzero((np.cumsum(h) / n < precision) & (n >= start))
    if not len(bad):
        return -math.inf
    cut = np.flatnonzero(np.r_[s[1:] != s[:-1], True][: bad[0]])
    return float(s[cut[-1]]) if len(cut) else math.inf


def calibrate_thresholds(
    top_score: np.ndarray,
    top1_hit: np.ndarray,
    topk_hit: np.ndarray,
    *,
    auto_precision: float,
    min_support: int = 30,
    z: float = 1.0,
    stratum: np.ndarray | None = None,
    sets: np.ndarray | None = None,
    set_support: int = 10,
    groups: np.ndarray | None = None,
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
        Minimal number of phrases (of groups, with ``groups``) above the automatic threshold.
    z : float, default 1.0
        Normal quantile of the Wilson bound (1.0 ~ 84 % one-sided confidence).
    stratum : numpy.ndarray of bool, optional
        Phrases (e.g. unseen titles) that must reach ``auto_precision`` on their own as well:
        ``auto`` is raised until their running precision above it never falls below it.
    sets : numpy.ndarray, optional
        Name of the tuning set of each phrase ("unseen typo", "seen noised", "junk"...): in
        every set, once ``set_support`` of its phrases are above ``auto``, their running
        precision (best scores first) must not fall below ``auto_precision`` (the pooled bound
        alone let typo'd unseen titles through at 0.95 while easier sets carried the mean).
    set_support : int, default 10
        Phrases of a set above the threshold from which its own precision is checked.
    groups : numpy.ndarray, optional
        Group of each phrase (the title its clean and noised variants come from): the pooled
        bound and ``min_support`` count groups, not phrases. A group counts once, and as wrong
        as soon as one of its phrases above the threshold is wrong: the errors of a title's
        variants go together, so counting phrases overstated the evidence (on a development
        split, non-exact automatic answers held 1.000 on the tuning phrases and 0.93 on
        unseen titles).

    Returns
    -------
    tuple of float
    """
    order = np.argsort(-top_score, kind="stable")
    s, h = top_score[order], top1_hit[order].astype(bool)
    if groups is None:
        n = np.arange(1, len(s) + 1, dtype=float)
        right = np.cumsum(h, dtype=float)
    else:
        # units = groups: a group counts from its best phrase on, and is wrong from its first
        # wrong phrase on (variants of one title are not independent evidence)
        g = np.asarray(groups)[order]
        new = np.zeros(len(s))
        new[np.unique(g, return_index=True)[1]] = 1.0
        wrong_at = np.flatnonzero(~h)
        first_wrong = np.zeros(len(s))
        first_wrong[wrong_at[np.unique(g[wrong_at], return_index=True)[1]]] = 1.0
        n = np.cumsum(new)
        right = n - np.cumsum(first_wrong)
    lower = _wilson_lower(right, n, z)
    # only cut between distinct scores
    last_of_value = np.r_[s[1:] != s[:-1], True]
    ok = (lower >= auto_precision) & (n >= min_support) & last_of_value
    auto = float(s[np.flatnonzero(ok)[-1]]) if ok.any() else math.inf
    if sets is not None:
        for name in np.unique(sets):
            mask = sets == name
            auto = max(auto, _floor(top_score[mask], top1_hit[mask], auto_precision, set_support))
    if stratum is not None and np.any(stratum):
        # the hardest stratum (unseen titles) must reach the precision on its own too, from
        # its first phrase on
        auto = max(auto, _floor(top_score[stratum], top1_hit[stratum], auto_precision, 1))
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
    scorers : tuple of str, default ("ratio", "token_set_ratio")
        RapidFuzz scorers combined with the TF-IDF cosine (chosen on the tuning split:
        ``partial_ratio`` or ``token_sort_ratio`` add nothing there and cost time).
    auto_precision : float, default 0.97
        Precision of automatic acceptance calibrated on the tuning split.
    context_weight : float, default 0.5
        Weight of the title score against the context (description) score, occupations only.
    skill_tuning_size : int, default 2000
        Number of skills whose noised labels tune the skill combination.
    esco_relations : tuple of str, default ()
        Relations of the ESCO <-> ROME crosswalk (e.g. :data:`ESCO_RELATIONS`) whose French ESCO
        labels (preferred and alternative) are indexed as extra labels of the fiche
        (occupations). Off by default: on the tuning split they lower top-1 (0.61 against
        0.63, see ``docs/normaliser.md``).
    esco_languages : tuple of str, default ("fr",)
        Languages of the ESCO labels indexed when ``esco_relations`` is not empty: "fr"
        (preferred and alternative labels), "en" (preferred label; lowers the tuning offers).
    doc_candidates : int, default 10
        Occupations: fiches added to the candidates by the word cosine between the phrase and
        the document of all labels of each fiche (finds titles sharing words, not characters),
        and as many by the margin of the fiche classifier.
    keep_by_probability : int, default 5
        Occupations: the first candidates are the most probable fiches; when more are asked,
        the following ones are ordered by expected gain, ``p(fiche) + 0.5 * p(a sibling fiche
        is right)`` (siblings share the ROME v3 parent, :data:`SIBLING_GAIN`), so a list of ten
        shows the family of the likely fiches rather than unrelated low-probability ones; their
        ``score`` stays their own probability (not sorted there).
    strict_unseen : bool, default False
        Occupations: the automatic threshold must also give ``auto_precision`` on the unseen
        tuning titles alone (not only on the tuning mixture, where titles of the index typed
        as such are easy). Needed while truncations equal to another fiche's label counted as
        unseen titles; since those are dropped (:func:`ambiguous_variant_mask`) and "exact"
        means text equality, every tuning set holds the precision without it.
    classifier : bool, default True
        Occupations: a linear SVM (one fiche against the rest) over the words, bigrams and
        light stems of the indexed labels and of each fiche's definition; its best fiches join
        the candidates and its margin is a stage-2 feature (it learns which words tell fiches
        apart, where the cosines weigh every shared word alike; see ``docs/normaliser.md``).
    ranker : {"logistic", "boosting"}, default "logistic"
        Model of the fiche-level stage (boosting is optimistic in sample and was no better on
        held-out data, see ``docs/normaliser.md``; kept for experiments).
    random_state : int, default 0
        Seed of the tuning noise.
    n_jobs : int, default 1
        Threads of the sparse product and RapidFuzz workers (-1: all cores).

    Attributes
    ----------
    indexes_ : dict
        Per kind, the fitted TF-IDF index over referential labels.
    combiners_ : dict
        Per kind, the logistic combination of (phrase, label) pair features (stage 1).
    rankers_ : dict
        Per kind, the logistic combination of (phrase, target) features (stage 2,
        :data:`TARGET_FEATURES`): the score of a candidate.
    confidences_ : dict
        Per kind, the logistic model of "the first candidate is right" from the first score,
        its lead over the second and the first candidate's target features; the decisions
        threshold it.
    thresholds_ : dict
        Per kind, ``{"review": float, "auto": float, "auto_exact": float}`` calibrated on the
        tuning split; ``auto_exact`` applies when the phrase equals a label of its first
        candidate once normalised, ``auto`` otherwise.
    tuning_report_ : dict
        Per kind, tuning figures over the tuning phrases that have a right answer (phrases,
        top-1 and top-5 accuracy, share and precision of "auto").
    tuning_sets_ : dict
        Per kind, the same figures per tuning set ("unseen clean", "unseen typo"..., "seen
        clean", "seen noised", "junk").
    tuning_dropped_ : dict
        Per kind and tuning set, the noised variants dropped because they are another
        target's label once normalised (:func:`ambiguous_variant_mask`).
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
        scorers: tuple[str, ...] = ("ratio", "token_set_ratio"),
        auto_precision: float = 0.97,
        context_weight: float = 0.5,
        skill_tuning_size: int = 2000,
        esco_relations: tuple[str, ...] = (),
        esco_languages: tuple[str, ...] = ("fr",),
        doc_candidates: int = 10,
        keep_by_probability: int = 5,
        strict_unseen: bool = False,
        classifier: bool = True,
        ranker: str = "logistic",
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
        self.esco_relations = esco_relations
        self.esco_languages = esco_languages
        self.doc_candidates = doc_candidates
        self.strict_unseen = strict_unseen
        self.classifier = classifier
        self.keep_by_probability = keep_by_probability
        self.ranker = ranker
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
        if self.ranker not in ("logistic", "boosting"):
            raise ValidationError(
                f"ranker : attendu « logistic » ou « boosting », reçu {self.ranker!r}"
            )
        if int(self.shortlist_size) < 1:
            raise ValidationError(f"shortlist_size : attendu ≥ 1, reçu {self.shortlist_size}")

    def _make_ranker(self):
        if self.ranker == "boosting":
            return HistGradientBoostingClassifier(
                max_iter=200,
                learning_rate=0.1,
                max_leaf_nodes=15,
                min_samples_leaf=40,
                l2_regularization=1.0,
                early_stopping=False,
                random_state=self.random_state,
            )
        return LogisticRegression(C=1.0, max_iter=1000)

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
        self.rankers_: dict[str, LogisticRegression] = {}
        self.confidences_: dict[str, LogisticRegression] = {}
        self.thresholds_: dict[str, dict[str, float]] = {}
        self.tuning_report_: dict[str, dict[str, float]] = {}
        self.tuning_sets_: dict[str, dict[str, dict[str, float]]] = {}
        self.tuning_dropped_: dict[str, dict[str, int]] = {}
        for kind in self.kinds:
            entries = _build_entries(
                kind, referential, job_titles, self.esco_relations, self.esco_languages
            )
            if excluded_text:
                entries = _entries_without(entries, excluded_text)
            if len(entries.text) == 0:
                raise ReferentialError(f"aucun libellé à indexer pour « {kind} »")
            tune_entries, phrases, gold, sets, groups = self._tuning_set(
                kind, entries, referential, rng
            )
            tune_profiles = final_profiles = tune_docs = final_docs = None
            tune_cls = final_cls = None
            if kind == "occupation" and self.classifier:
                occ = referential.occupations.set_index("code_rome")
                text = occ["definition"].fillna("") + " " + occ["access"].fillna("")
                docs = text.reindex(entries.target_code).fillna("").tolist()
                # the tuning index's classifier never saw the tuning titles; both fitted at once
                tune_cls, final_cls = joblib.Parallel(n_jobs=min(2, workers))(
                    joblib.delayed(_fit_classifier)(
                        e.text, e.target, docs, len(docs), self.random_state
                    )
                    for e in (tune_entries, entries)
                )
            if kind == "occupation":
                tuning_codes = set(tune_entries.source_code) ^ set(entries.source_code)
                tune_titles = job_titles[~job_titles["code_ogr"].astype(str).isin(tuning_codes)]
                tune_profiles = self._fit_profiles(referential, tune_titles)
                final_profiles = self._fit_profiles(referential, job_titles)
                # definition and skills do not depend on the indexed titles: the same for both
                tune_docs = final_docs = _fit_fiche_documents(referential)
            tune_index = _Index(
                tune_entries,
                ngram_range=self.ngram_range,
                max_df=self.max_df,
                profiles=tune_profiles,
                fiche_docs=tune_docs,
                classifier=tune_cls,
            )
            texts = [normalise_text(p) for p in phrases]
            n = len(texts)
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
            tfeats, r, t, e = _target_features(
                tune_index,
                texts,
                rows,
                entry,
                cosine,
                prob,
                self.shortlist_size,
                self.doc_candidates,
                workers,
                len(texts),
            )
            ranker = self._make_ranker().fit(tfeats, t == gold[r])
            # the tuning figures and the decisions are those of the whole procedure, with the
            # unexpanded variants of phrases with an abbreviation (models fitted without them)
            alt_rows, alt = _unexpanded(phrases, texts)
            r, t, e, p, tf = _score_texts(
                tune_index,
                texts + alt,
                clf,
                ranker,
                5,
                scorers=self.scorers,
                shortlist_size=self.shortlist_size,
                doc_candidates=self.doc_candidates,
                workers=workers,
                n_normal=len(texts),
            )
            r, t, e, p, tf = _best_variant(n, alt_rows, r, t, e, p, tf)
            exact_text = _exact_first(
                r, e, n, tune_index.entries.text, texts, alt_rows, alt, tune_index.text_unique
            )
            starts = np.searchsorted(r, np.arange(n))
            has = starts < len(r)
            has[has] = r[starts[has]] == np.flatnonzero(has)
            top1 = np.zeros(n, dtype=bool)
            top5 = np.zeros(n, dtype=bool)
            top1[has] = t[starts[has]] == gold[has]
            np.logical_or.at(top5, r, t == gold[r])
            # confidence that the first candidate is right, from its score and its lead
            cfeats = _confidence_features(r, p, tf, n, exact_text)
            confidence = LogisticRegression(C=1.0, max_iter=2000).fit(cfeats, top1)
            conf = _predict(confidence, cfeats)
            # calibrated on the whole tuning mixture (titles of the referential as typed, unseen
            # titles, junk), separately for phrases equal to a label of their first candidate
            # once normalised ("exact") and the others; in each, the pooled Wilson bound (z =
            # AUTO_Z) counts titles, not their variants; every tuning set must hold the
            # precision on its own once 10 of its phrases are automatic, and with
            # ``strict_unseen`` the unseen titles pooled must too
            unseen = np.char.startswith(sets.astype(str), "unseen") if self.strict_unseen else None
            exact = cfeats[:, -1] > 0.5
            review, auto = calibrate_thresholds(
                conf[~exact],
                top1[~exact],
                top5[~exact],
                auto_precision=self.auto_precision,
                stratum=None if unseen is None else unseen[~exact],
                sets=sets[~exact],
                groups=groups[~exact],
                z=AUTO_Z,
            )
            review_x, auto_x = review, auto
            if exact.any():
                review_x, auto_x = calibrate_thresholds(
                    conf[exact],
                    top1[exact],
                    top5[exact],
                    auto_precision=self.auto_precision,
                    stratum=None if unseen is None else unseen[exact],
                    sets=sets[exact],
                    groups=groups[exact],
                    z=AUTO_Z,
                )
            review = min(review, review_x)
            auto_mask = conf >= np.where(exact, auto_x, auto)
            self.combiners_[kind] = clf
            self.rankers_[kind] = ranker
            self.confidences_[kind] = confidence
            self.thresholds_[kind] = {"review": review, "auto": auto, "auto_exact": auto_x}
            self.tuning_report_[kind] = _tuning_figures(top1, top5, auto_mask, gold >= 0)
            self.tuning_sets_[kind] = {
                name: _tuning_figures(top1, top5, auto_mask, sets == name)
                for name in dict.fromkeys(sets)
            }
            self.indexes_[kind] = _Index(
                entries,
                ngram_range=self.ngram_range,
                max_df=self.max_df,
                profiles=final_profiles,
                fiche_docs=final_docs,
                classifier=final_cls,
            )
        self.profiles_ = (
            self.indexes_["occupation"].profiles if "occupation" in self.kinds else None
        )
        # ROME v3 parent of each fiche (sibling fiches share it): orders the tail of the lists
        self.parents_: dict[str, np.ndarray] = {}
        occ = referential.occupations
        if "occupation" in self.kinds and "code_rome_v3" in occ:
            v3 = occ["code_rome_v3"].fillna("").astype(str).to_numpy()
            v3 = np.where(v3 == "", occ["code_rome"].astype(str).to_numpy(), v3)
            self.parents_["occupation"] = np.unique(v3, return_inverse=True)[1].astype(np.int64)
        manifest = getattr(referential, "manifest", None)
        self.referential_hash_ = _manifest_hash(manifest) if manifest else ""
        self.excluded_job_titles_ = excluded
        return self

    def _tuning_set(
        self, kind: str, entries: _Entries, referential: Any, rng: np.random.Generator
    ) -> tuple[_Entries, list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Index to tune on, tuning phrases, their gold target row (-1 for junk phrases), the
        name of the set each phrase belongs to ("unseen clean", "unseen typo"..., "seen",
        "junk") and its group (the label its variants come from; each junk phrase alone)."""
        bucket = holdout_bucket(entries.source_code)
        tuning = np.isin(bucket, TUNING_BUCKETS) & (entries.origin == ORIGIN_TITLE)
        prefix = "unseen" if kind == "occupation" else "seen"
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
            # asked clean and noised, as unseen titles of their fiche (a label equal to its
            # fiche's own label is never unseen: left out)
            fiche_text = set(entries.text[entries.origin == ORIGIN_FICHE])
            tuning &= ~np.isin(entries.text, list(fiche_text))
            labels, gold = entries.label[tuning], entries.target[tuning]
            tune_entries = _entries_without(
                entries, set(entries.text[tuning]), frozenset(entries.source_code[tuning])
            )
            clean = True
        phrases: list[str] = []
        golds: list[int] = []
        sets: list[str] = []
        groups: list[int] = []
        for group, (label, g) in enumerate(zip(labels, gold, strict=True)):
            if clean:
                phrases.append(label)
                golds.append(int(g))
                sets.append(f"{prefix} clean")
                groups.append(group)
            for noise in NOISE_TYPES:
                phrases.append(noisy_variant(label, noise, rng))
                golds.append(int(g))
                sets.append(f"{prefix} {noise}")
                groups.append(group)
        if kind == "skill":
            self._keyword_phrases(tune_entries, pick, rng, phrases, golds, sets, groups)
        if kind == "occupation":
            # titles that ARE in the index, as typed (clean and with one noise): most real
            # traffic; without them the decisions would be calibrated on unseen titles only.
            # Buckets 0-19 are left alone so the REPORT split stays unseen by tuning.
            seen = np.flatnonzero((bucket >= 20) & (entries.origin == ORIGIN_TITLE))
            seen = rng.choice(seen, size=min(len(seen), len(labels)), replace=False)
            for i in np.sort(seen):
                label, g = entries.label[i], int(entries.target[i])
                noise = NOISE_TYPES[int(rng.integers(0, len(NOISE_TYPES)))]
                phrases += [label, noisy_variant(label, noise, rng)]
                golds += [g, g]
                sets += ["seen clean", "seen noised"]
                groups += [len(labels) + int(i)] * 2
        # noised variants that ARE another target's label once normalised stand for that target,
        # not for their title: dropped (the same rule as the reported sets)
        sets_a = np.asarray(sets, dtype=object)
        noised = np.array([not s.endswith("clean") for s in sets], dtype=bool)
        drop = noised & ambiguous_variant_mask(
            [normalise_text(p) for p in phrases], golds, tune_entries.text, tune_entries.target
        )
        self.tuning_dropped_[kind] = {
            name: int((drop & (sets_a == name)).sum()) for name in dict.fromkeys(sets)
        }
        phrases = [p for p, d in zip(phrases, drop, strict=True) if not d]
        golds = [g for g, d in zip(golds, drop, strict=True) if not d]
        sets = sets_a[~drop].tolist()
        groups = np.asarray(groups, dtype=np.int64)[~drop].tolist()
        # junk phrases: letters with no meaning, the lower tail of scores ("unknown")
        n_junk = max(20, len(phrases) // 20)
        alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz     "))
        for _ in range(n_junk):
            phrases.append(
                "".join(rng.choice(alphabet, size=int(rng.integers(4, 25)))).strip() or "zzz"
            )
            golds.append(-1)
            sets.append("junk")
            groups.append(-len(groups) - 1)
        return (
            tune_entries,
            phrases,
            np.asarray(golds, dtype=np.int64),
            np.asarray(sets, dtype=object),
            np.asarray(groups, dtype=np.int64),
        )

    @staticmethod
    def _keyword_phrases(entries: _Entries, pick, rng, phrases, golds, sets, groups) -> None:
        """Skill tuning phrases as CVs write skills: one word of the label that the labels of
        no other skill hold ("Microsoft Excel" written "Excel", "Sécurité alimentaire et
        HACCP" written "HACCP"). Only words of one skill, so that the gold is not a guess; the
        noised labels alone taught the models that a short phrase inside a long label is a
        poor match (scores near 0 and "unknown" for "Excel")."""
        owners: dict[str, int] = {}
        for text, target in zip(entries.text, entries.target, strict=True):
            for w in set(text.split()):
                owners[w] = int(target) if owners.get(w, int(target)) == int(target) else -1
        for group, i in enumerate(pick):
            g = int(entries.target[i])
            words = [
                w
                for w in dict.fromkeys(entries.text[i].split())
                if len(w) >= 3 and w.isalpha() and owners.get(w) == g
            ]
            if words:
                phrases.append(words[int(rng.integers(0, len(words)))])
                golds.append(g)
                sets.append("seen keyword")
                groups.append(group)

    def _fit_profiles(self, referential: Any, job_titles: pd.DataFrame):
        occ = referential.occupations
        skill_text = _fiche_skill_text(referential)
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
            analyzer=wordvec.word_analyzer, sublinear_tf=True, min_df=2, dtype=np.float32
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
        with _collector_paused():
            if contexts is None:
                return self._normalise_distinct(phrases, kind, int(top_k), block_size)[0]
            out = []
            for start in range(0, len(phrases), block_size):
                block = phrases[start : start + block_size]
                ctx = list(contexts[start : start + block_size])
                out.extend(self._normalise_block(block, kind, int(top_k), ctx)[0])
            return out

    def _normalise_distinct(
        self, phrases: list[str], kind: str, top_k: int, block_size: int
    ) -> tuple[list[NormalisationResult], list[float]]:
        """Results and first-candidate confidences, each distinct normalised text scored once
        (batches repeat titles a lot); results do not depend on the batch, so this changes
        nothing but the time taken."""
        texts = [normalise_text(p) for p in phrases]
        first: dict[str, int] = {}
        for i, x in enumerate(texts):
            first.setdefault(x, i)
        distinct = [phrases[i] for i in first.values()]
        scored: list[NormalisationResult] = []
        confs: list[float] = []
        for start in range(0, len(distinct), block_size):
            block = distinct[start : start + block_size]
            res, conf = self._normalise_block(block, kind, top_k, None)
            scored.extend(res)
            confs.extend(conf)
        pos = {x: j for j, x in enumerate(first)}
        out, out_conf = [], []
        for p, x in zip(phrases, texts, strict=True):
            res = scored[pos[x]]
            out.append(res if res.phrase == p else _with_phrase(res, p))
            out_conf.append(confs[pos[x]])
        return out, out_conf

    def clear_caches(self) -> None:
        """Empty the memos kept between calls (character n-grams of the words seen, spelling
        corrections) and the text normalisation caches: the next call runs cold (benchmarks).
        Results never depend on them."""
        for index in getattr(self, "indexes_", {}).values():
            index.clear_memo()
        normalise_text.cache_clear()
        fold_token.cache_clear()

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

    def ambiguous_variants(
        self, phrases: Sequence[str], codes: Sequence[Any], *, kind: str = "occupation"
    ) -> np.ndarray:
        """Which ``phrases`` are, once normalised, a label of another code than theirs in this
        normaliser's index (see :func:`ambiguous_variant_mask`): the evaluation drops such
        noised variants.

        Parameters
        ----------
        phrases : sequence of str
            Phrases as typed.
        codes : sequence
            The code each phrase stands for (``code_rome`` for occupations).
        kind : {"occupation", "job_title", "skill"}, default "occupation"

        Returns
        -------
        numpy.ndarray of bool
        """
        check_is_fitted(self, "indexes_")
        if kind not in self.indexes_:
            raise ValidationError(f"kind : attendu un de {tuple(self.indexes_)}, reçu {kind!r}")
        ent = self.indexes_[kind].entries
        return ambiguous_variant_mask(
            [normalise_text(p) for p in phrases],
            [str(c) for c in codes],
            ent.text,
            [str(c) for c in ent.target_code[ent.target]],
        )

    def score_matrix(self, phrases: Sequence[str], *, kind: str = "occupation"):
        """Candidate targets and scores: ``(rows, target_rows, entry_rows, score)``."""
        check_is_fitted(self, "indexes_")
        texts = [normalise_text(p) for p in phrases]
        return self._score(texts, kind, self.shortlist_size, phrases)[:4]

    def _score(self, texts: list[str], kind: str, k: int, phrases: Sequence[str] | None = None):
        """Top ``k`` targets per text ``(rows, targets, entries, scores)``, the confidence of
        each text's first candidate and whether the text equals one of its labels ("exact").
        With ``phrases`` (the raw phrases of ``texts``), a phrase with a trade abbreviation is
        also scored without its expansion and the better variant kept."""
        n = len(texts)
        alt_rows, alt = _unexpanded(phrases, texts) if phrases is not None else ([], [])
        r, t, e, p, tf = _score_texts(
            self.indexes_[kind],
            texts + alt,
            self.combiners_[kind],
            self.rankers_[kind],
            k,
            scorers=self.scorers,
            shortlist_size=self.shortlist_size,
            doc_candidates=self.doc_candidates,
            workers=self._workers(),
            n_normal=n,
        )
        r, t, e, p, tf = _best_variant(n, alt_rows, r, t, e, p, tf)
        if len(r) == 0:
            return r, t, e, p, np.zeros(n), np.zeros(n, dtype=bool)
        index = self.indexes_[kind]
        exact = _exact_first(r, e, n, index.entries.text, texts, alt_rows, alt, index.text_unique)
        cfeats = _confidence_features(r, p, tf, n, exact)
        conf = _predict(self.confidences_[kind], cfeats)
        return r, t, e, p, conf, cfeats[:, -1] > 0.5

    def _normalise_block(
        self, phrases: list[str], kind: str, top_k: int, contexts: list[str] | None
    ) -> tuple[list[NormalisationResult], list[float]]:
        index = self.indexes_[kind]
        texts = [normalise_text(p) for p in phrases]
        n = len(texts)
        parents = getattr(self, "parents_", {}).get(kind)
        tail = parents is not None and top_k > self.keep_by_probability
        pool = max(top_k, self.shortlist_size) if tail else top_k
        if contexts is None:
            r, t, e, p, conf, exact = self._score(texts, kind, pool, phrases)
            same = np.ones(n, dtype=bool)
        else:
            r, t, e, p, conf, exact, same = self._score_with_context(texts, phrases, contexts, pool)
        if tail and parents is not None and len(r):
            r, t, e, p = _sibling_tail(r, t, e, p, n, top_k, self.keep_by_probability, parents)
        thresholds = self.thresholds_[kind]
        auto_at = np.where(
            exact, thresholds.get("auto_exact", thresholds["auto"]), thresholds["auto"]
        ).tolist()
        ent = index.entries
        codes, labels = ent.target_code[t], ent.target_label[t]
        matched = np.where(e >= 0, ent.label[np.maximum(e, 0)], labels)
        romes = ent.target_rome[t] if ent.target_rome is not None else np.full(len(t), None)
        scores = np.round(p.astype(np.float64), 6).tolist()
        codes, labels, matched = (list(map(str, a.tolist())) for a in (codes, labels, matched))
        romes = [None if x is None else str(x) for x in romes.tolist()]
        # every candidate of the block in one pass, then sliced per phrase
        flat = [
            _candidate(kind, *c) for c in zip(codes, labels, matched, scores, romes, strict=True)
        ]
        bounds = np.searchsorted(r, np.arange(n + 1)).tolist()
        conf = conf.tolist()
        results = []
        for i in range(n):
            a, b = bounds[i], bounds[i + 1]
            cands = tuple(flat[a:b])
            top = conf[i]
            if b == a or top < thresholds["review"]:
                decision = "unknown"
            elif top >= auto_at[i] and same[i]:
                decision = "auto"
            else:
                decision = "review"
            results.append(
                NormalisationResult(phrase=phrases[i], candidates=cands, decision=decision)
            )
        return results, conf

    def _score_with_context(self, texts, phrases, contexts, top_k):
        """Mix title scores and context cosine over all fiches (dense per block).

        The decision stays the title's: "auto" only when the context keeps the title's first
        fiche first (``same``)."""
        index = self.indexes_["occupation"]
        n_t = index.entries.target_code.shape[0]
        n = len(texts)
        r, t, e, p, conf, exact = self._score(texts, "occupation", self.shortlist_size, phrases)
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
        title_first = np.where(title.max(axis=1) > 0, title.argmax(axis=1), -1)
        same = part[:, 0] == title_first
        return rows, tt, best_entry[rows, tt], mixed[rows, tt], conf, exact, same


def _manifest_hash(manifest: dict) -> str:
    import json

    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]


# --- process-wide cache -----------------------------------------------------------------------
#: Version of the fitted object's layout: a cache file written by another version of this module
#: is never loaded (2: fiche-level stage and confidence model; 3: "exact" stratum of the
#: decisions; 4: fiche definition and skills documents; 5: "exact" by text equality, ambiguous
#: noised variants out of the tuning phrases, no unseen-only threshold; 9: the file name also
#: carries :func:`_sources_fingerprint`).
CACHE_FORMAT = 9


@lru_cache(maxsize=1)
def _sources_fingerprint() -> str:
    """Hash of the sources of :mod:`matching.taxonomy` (text rules, abbreviations, this module):
    the fitted object holds labels normalised by those rules, so a cache file written by other
    rules ("senior" kept, say) is never loaded, even when nobody remembered to bump
    :data:`CACHE_FORMAT`. Empty when the sources cannot be read (a zipped install)."""
    digest = hashlib.sha256()
    try:
        for path in sorted(Path(__file__).parent.glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    except OSError:
        return ""
    return digest.hexdigest()[:8]


@lru_cache(maxsize=4)
def _cached_normaliser(referential_dir: str, cache_dir: str | None, n_jobs: int) -> Normaliser:
    from matching.taxonomy.referential import load_referential

    referential = load_referential(Path(referential_dir))
    key = _manifest_hash(referential.manifest)
    name = f"normaliser-{key}-v{CACHE_FORMAT}-{_sources_fingerprint()}.joblib"
    path = Path(cache_dir) / name if cache_dir else None
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
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # processes sharing the cache never mix
        joblib.dump(model, tmp, compress=3)
        tmp.replace(path)
        # files of this referential written by other versions are never loaded again
        for stale in path.parent.glob(f"normaliser-{key}-*.joblib"):
            if stale != path:
                stale.unlink(missing_ok=True)
    return model


def get_normaliser(
    *, referential_dir: str | Path, cache_dir: str | Path | None = None, n_jobs: int = 1
) -> Normaliser:
    """Return the fitted normaliser of a referential, cached per process and on disk.

    The disk cache (``cache_dir/normaliser-<manifest hash>-v<CACHE_FORMAT>-<sources>.joblib``)
    is keyed by the format of the fitted object, the hash of the referential manifest and that
    of the normaliser's sources (:func:`_sources_fingerprint`), so a rebuilt referential or an
    upgraded Passerelle is refitted once and reloaded quickly after.

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

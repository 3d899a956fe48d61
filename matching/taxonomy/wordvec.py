"""Word-level TF-IDF of a batch of normalised texts, tokenised once for several vectorisers.

The normaliser compares each phrase with the fiches through four word vectorisers (label
documents, profiles, definitions and skills, the fiche classifier). ``TfidfVectorizer.transform``
analyses every phrase again for each of them, in Python, feature by feature: about a fifth of
the time of a batch. Here a :class:`TokenBatch` splits each text once; the features of each
analyser (words, bigrams, light stems) are built once per batch, looked up in a vectoriser's
vocabulary with one dictionary pass, counted with NumPy and weighted exactly as
:class:`~sklearn.feature_extraction.text.TfidfTransformer` does (sublinear tf, idf, norm), so
:func:`transform` returns what ``vectorizer.transform(texts)`` returns (tested).

Character n-grams (``analyzer="char_wb"``, the shortlist and the speller) are per word: the
column ids of each word's n-grams are kept in a :class:`WordGrams` memo, so a batch costs one
dictionary lookup per word instead of one per n-gram (:func:`transform_chars`).

The analysers live here (module level, so fitted vectorisers pickle by name), each the
composition of :func:`~matching.taxonomy.text.normalise_text` and a feature function of the
tokens; :data:`FEATURES` maps an analyser to its feature function. A vectoriser whose analyser
is not in it falls back to its own ``transform``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from matching.taxonomy.text import normalise_text


def stem_features(toks: list[str]) -> list[str]:
    """Tokens plus a light stem (first 5 letters) of the words longer than 5 letters, so that
    "production" meets "producteur" and "laitier" meets "laiterie"."""
    return toks + [t[:5] + "~" for t in toks if len(t) > 5]


def word_features(toks: list[str]) -> list[str]:
    """Tokens and word bigrams."""
    return toks + [f"{a} {b}" for a, b in itertools.pairwise(toks)]


def class_features(toks: list[str]) -> list[str]:
    """Tokens, word bigrams and light stems (first 5 letters of words of 5 letters or more, so a
    word clipped to 5 letters meets the words it was cut from): the fiche classifier's."""
    return (
        toks
        + [f"{a} {b}" for a, b in itertools.pairwise(toks)]
        + [t[:5] + "~" for t in toks if len(t) >= 5]
    )


def stem_analyzer(text: str) -> list[str]:
    """Analyser of the label documents and fiche documents: :func:`stem_features`."""
    return stem_features(normalise_text(text).split())


def word_analyzer(text: str) -> list[str]:
    """Analyser of the fiche profiles: :func:`word_features`."""
    return word_features(normalise_text(text).split())


def class_analyzer(text: str) -> list[str]:
    """Analyser of the fiche classifier: :func:`class_features`."""
    return class_features(normalise_text(text).split())


#: Analyser -> the feature function of its tokens (``analyser(x) == f(normalise_text(x).split())``).
FEATURES: dict[Callable[[str], list[str]], Callable[[list[str]], list[str]]] = {
    stem_analyzer: stem_features,
    word_analyzer: word_features,
    class_analyzer: class_features,
}


class TokenBatch:
    """Texts of a batch split once into normalised tokens; the flat feature list of each
    feature function is built once and shared by the vectorisers that use it.

    Parameters
    ----------
    texts : sequence of str
        The texts, normalised or not (each is passed through ``normalise_text``, as the
        analysers do).
    normalised : sequence of bool, optional
        Per text: it is an output of ``normalise_text`` (with its default arguments), which is
        idempotent (Hypothesis-tested), so passing it through again would give it back: it is
        only split. The others are normalised first.
    """

    def __init__(self, texts: Sequence[str], normalised: Sequence[bool] | None = None):
        self.n = len(texts)
        self.texts = list(texts)
        if normalised is None:
            self.tokens = [normalise_text(x).split() for x in texts]
        else:
            self.tokens = [
                (x if ok else normalise_text(x)).split()
                for x, ok in zip(texts, normalised, strict=True)
            ]
        self._features: dict[Callable, tuple[list[str], np.ndarray]] = {}

    def features(self, func: Callable[[list[str]], list[str]]) -> tuple[list[str], np.ndarray]:
        """All features of the batch in row order, and the row of each."""
        got = self._features.get(func)
        if got is None:
            per_row = [func(ts) for ts in self.tokens]
            counts = np.fromiter((len(f) for f in per_row), dtype=np.int64, count=self.n)
            flat = list(itertools.chain.from_iterable(per_row))
            got = (flat, np.repeat(np.arange(self.n, dtype=np.int64), counts))
            self._features[func] = got
        return got


def _weigh(vectorizer: TfidfVectorizer, rows: np.ndarray, cols: np.ndarray, n: int):
    """Counts of the (row, column) occurrences weighted as ``TfidfTransformer.transform`` does
    (sublinear tf, idf, norm), in the same order and dtype: the vectoriser's own result."""
    n_terms = len(vectorizer.vocabulary_)
    if n == 0:
        return sp.csr_matrix((0, n_terms), dtype=vectorizer.dtype)
    key, counts = np.unique(rows * n_terms + cols, return_counts=True)
    indptr = np.searchsorted(key // n_terms, np.arange(n + 1)).astype(np.int32)
    x = sp.csr_matrix(
        (counts.astype(vectorizer.dtype), (key % n_terms).astype(np.int32), indptr),
        shape=(n, n_terms),
    )
    if vectorizer.sublinear_tf:
        np.log(x.data, x.data)
        x.data += 1.0
    x.data *= vectorizer.idf_[x.indices]
    if vectorizer.norm is not None:
        x = normalize(x, norm=vectorizer.norm, copy=False)
    return sp.csr_matrix(x)


def transform(vectorizer: TfidfVectorizer, batch: TokenBatch) -> sp.csr_matrix:
    """``vectorizer.transform(texts)`` for the texts of ``batch``, sharing its tokens.

    Falls back to the vectoriser's own ``transform`` for an analyser this module does not know,
    or options it does not reproduce (binary counts, no idf)."""
    func = FEATURES.get(vectorizer.analyzer)  # type: ignore[arg-type]
    if func is None or vectorizer.binary or not vectorizer.use_idf:
        return sp.csr_matrix(vectorizer.transform(batch.texts))
    flat, rows = batch.features(func)
    get = vectorizer.vocabulary_.get
    cols = np.array([get(f, -1) for f in flat], dtype=np.int64)
    keep = cols >= 0
    return _weigh(vectorizer, rows[keep], cols[keep], batch.n)


def char_wb_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """The ``char_wb`` n-grams of one word, as scikit-learn makes them: the word padded with a
    space on each side, every n-gram of each length, and a padded word no longer than ``n``
    once, as a whole (``TfidfVectorizer(analyzer="char_wb")._char_wb_ngrams``, tested equal).

    Examples
    --------
    >>> char_wb_ngrams("tig", 3, 5)
    [' ti', 'tig', 'ig ', ' tig', 'tig ', ' tig ']
    """
    w = f" {word} "
    size = len(w)
    out: list[str] = []
    for n in range(min_n, max_n + 1):
        if size <= n:
            out.append(w)
            break
        out.extend([w[i : i + n] for i in range(size - n + 1)])
    return out


class WordGrams:
    """Memo of the vocabulary columns of each word's ``char_wb`` n-grams for one vectoriser
    (with repeats: "papa" has " pa" once and "pa" twice), stored flat (``flat[ptr[i]:ptr[i+1]]``
    for the word of id ``i``) so that a batch gathers them with NumPy. Emptied past
    ``max_words`` words. Thread-safe: a lock guards its growth and the snapshot a call uses.

    Parameters
    ----------
    vectorizer : TfidfVectorizer
        Fitted, ``analyzer="char_wb"``, no custom preprocessor.
    max_words : int, default 500_000
    """

    def __init__(self, vectorizer: TfidfVectorizer, max_words: int = 500_000):
        if (
            vectorizer.analyzer != "char_wb"
            or vectorizer.preprocessor is not None
            or vectorizer.strip_accents is not None
        ):
            raise ValueError(
                "WordGrams: vectoriser 'char_wb' sans préprocesseur ni strip_accents attendu"
            )
        self.vectorizer = vectorizer
        self.max_words = max_words
        self._lock = threading.Lock()
        self.clear()

    def __len__(self) -> int:
        return len(self._ids)

    def clear(self) -> None:
        self._ids: dict[str, int] = {}
        self._flat = np.zeros(0, dtype=np.int64)
        self._ptr = np.zeros(1, dtype=np.int64)

    def lookup(self, words: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ids of ``words`` and the ``(flat, ptr)`` arrays those ids index."""
        with self._lock:
            missing = [w for w in dict.fromkeys(words) if w not in self._ids]
            if len(self._ids) + len(missing) > self.max_words:
                self.clear()
                missing = list(dict.fromkeys(words))
            if missing:
                vec = self.vectorizer
                get = vec.vocabulary_.get
                lo, hi = vec.ngram_range
                cols: list[int] = []
                ends = []
                for w in missing:
                    grams = char_wb_ngrams(w.lower() if vec.lowercase else w, lo, hi)
                    cols.extend(i for g in grams if (i := get(g, -1)) >= 0)
                    ends.append(len(cols))
                self._flat = np.r_[self._flat, np.asarray(cols, dtype=np.int64)]
                self._ptr = np.r_[self._ptr, self._ptr[-1] + np.asarray(ends, dtype=np.int64)]
                start = len(self._ids)
                self._ids.update(zip(missing, range(start, start + len(missing)), strict=True))
            ids = np.fromiter(map(self._ids.__getitem__, words), dtype=np.int64, count=len(words))
            return ids, self._flat, self._ptr


def transform_chars(grams: WordGrams, texts: Sequence[str]) -> sp.csr_matrix:
    """``grams.vectorizer.transform(texts)`` for a ``char_wb`` vectoriser: the n-grams of a text
    are those of its words (``char_wb`` pads each word with spaces; lower case and accents are
    per character), gathered from the memo."""
    split = [x.split() for x in texts]
    words = list(itertools.chain.from_iterable(split))
    ids, flat, ptr = grams.lookup(words)
    per_text = np.fromiter((len(ws) for ws in split), dtype=np.int64, count=len(split))
    lengths = ptr[ids + 1] - ptr[ids]
    total = int(lengths.sum())
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cols = flat[np.repeat(ptr[ids], lengths) + offsets]
    rows = np.repeat(np.repeat(np.arange(len(texts), dtype=np.int64), per_text), lengths)
    return _weigh(grams.vectorizer, rows, cols, len(texts))

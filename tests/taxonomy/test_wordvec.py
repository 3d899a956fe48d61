"""Batched TF-IDF transforms (matching/taxonomy/wordvec.py) give exactly what the fitted
vectorisers give (the normaliser's memos: tests/taxonomy/test_normaliser.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from matching.taxonomy import wordvec

CORPUS = [
    "Préparateur / Préparatrice de commandes",
    "cariste CACES 3 entrepôt logistique",
    "Téléconseiller(e) en centre d'appels",
    "soudeur TIG soudeuse MIG tuyauterie",
    "agent de nettoyage industriel agent d'entretien",
    "conducteur de poids lourd conductrice",
    "production laitière laiterie producteur",
    "plâtrier plaquiste peintre en bâtiment",
]

WORDS = [
    "preparateur", "commande", "cariste", "cace", "entrepot", "soudeur", "tig", "agent",
    "nettoyage", "conducteur", "lait", "laiterie", "plaquiste", "zzz", "a", "production",
    "téléconseiller", "Œuvre", "d'appel",
]  # fmt: skip

texts = st.lists(
    st.one_of(
        st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join),
        st.text(alphabet="abcdeéèlnoprstu '-/()", max_size=30),
    ),
    max_size=8,
)


def _same(a: sp.spmatrix, b: sp.spmatrix) -> None:
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    a.sort_indices()
    b.sort_indices()
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-6, atol=1e-7)
    assert a.dtype == b.dtype


@pytest.fixture(scope="module")
def word_vectorisers():
    out = []
    for analyzer in (wordvec.stem_analyzer, wordvec.word_analyzer, wordvec.class_analyzer):
        for norm in ("l2", None):
            vec = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, dtype=np.float32, norm=norm)
            out.append(vec.fit(CORPUS))
    return out


@settings(max_examples=60, deadline=None)
@given(batch=texts)
def test_shared_tokens_give_the_vectorisers_own_result(word_vectorisers, batch):
    tokens = wordvec.TokenBatch(batch)
    for vec in word_vectorisers:
        if not batch:  # sklearn refuses an empty batch; an empty matrix here
            assert wordvec.transform(vec, tokens).shape == (0, len(vec.vocabulary_))
            continue
        _same(wordvec.transform(vec, tokens), vec.transform(batch))


@settings(max_examples=60, deadline=None)
@given(batch=texts, flags=st.lists(st.booleans(), min_size=8, max_size=8))
def test_texts_flagged_normalised_are_only_split_and_give_the_same_result(
    word_vectorisers, batch, flags
):
    from matching.taxonomy.text import normalise_text

    # a flagged text is an output of normalise_text: normalising it again gives it back
    given_texts = [normalise_text(x) if f else x for x, f in zip(batch, flags, strict=False)]
    plain = wordvec.TokenBatch(given_texts)
    flagged = wordvec.TokenBatch(given_texts, flags[: len(given_texts)])
    assert flagged.tokens == plain.tokens
    for vec in word_vectorisers:
        _same(wordvec.transform(vec, flagged), wordvec.transform(vec, plain))


def test_an_unknown_analyser_falls_back_to_the_vectoriser():
    vec = TfidfVectorizer(analyzer=str.split).fit(CORPUS)
    batch = ["cariste entrepôt", ""]
    _same(wordvec.transform(vec, wordvec.TokenBatch(batch)), vec.transform(batch))


@pytest.fixture(scope="module")
def char_vectorisers():
    return [
        TfidfVectorizer(
            analyzer="char_wb", ngram_range=rng, lowercase=lower, sublinear_tf=True,
            dtype=np.float32, max_df=max_df,
        ).fit(CORPUS)
        for rng, lower, max_df in (((3, 4), False, 0.5), ((2, 3), True, 1.0), ((1, 5), True, 1.0))
    ]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(batch=texts, again=texts)
def test_char_ngrams_per_word_give_the_vectorisers_own_result(char_vectorisers, batch, again):
    for vec in char_vectorisers:
        grams = wordvec.WordGrams(vec, max_words=5)  # small: the memo is emptied on the way
        for x in (batch, again):  # the second with a warm memo (words of the first)
            if x:
                _same(wordvec.transform_chars(grams, x), vec.transform(x))
            else:  # sklearn refuses an empty batch; an empty matrix here
                assert wordvec.transform_chars(grams, x).shape == (0, len(vec.vocabulary_))
        assert len(grams) <= max(5, len({w for x in again for w in x.split()}))


@given(word=st.text(alphabet="abcé '-", min_size=1, max_size=12).filter(lambda w: " " not in w))
def test_char_wb_ngrams_of_a_word_are_scikit_learns(word):
    for lo, hi in ((1, 1), (2, 3), (3, 4), (1, 6)):
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(lo, hi), lowercase=False)
        assert wordvec.char_wb_ngrams(word, lo, hi) == vec.build_analyzer()(word)


def test_word_grams_refuse_other_analysers():
    with pytest.raises(ValueError, match="char_wb"):
        wordvec.WordGrams(TfidfVectorizer(analyzer="word").fit(CORPUS))

"""French text normalisation: gendered forms, accents, abbreviations, and its invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.taxonomy.abbreviations import ABBREVIATIONS, CLIPPED_WORDS
from matching.taxonomy.text import (
    clipped_variants,
    fold_case_accents,
    fold_token,
    normalise_text,
    tokenize,
)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Vendeur/Vendeuse", "vendeur"),
        ("Conducteur / Conductrice de chariot élévateur", "conducteur chariot elevateur"),
        ("téléconseiller(e) en centre d'appels", "teleconseiller centre appel"),
        ("Animateur·rice enfance", "animateur enfance"),
        ("Animateur.rice enfance", "animateur enfance"),
        ("Chargé-e de mission", "charge mission"),
        ("coiffeuse", "coiffeur"),
        ("Technicien / Technicienne", "technicien"),
        ("Infirmière", "infirmier"),
        ("Assistante administrative", "assistant administratif"),
        ("Chef / Cheffe des ventes", "chef vente"),
        ("Agent de nettoyage (H/F)", "agent nettoyage"),
        ("Agent de nettoyage H/F CDI", "agent nettoyage"),
        ("Hôte/hôtesse d'accueil", "hote accueil"),
        ("Développeur/euse web (F/H/X)", "developpeur web"),
        ("Coordinateur/trice de campagne (m/f/d)", "coordinateur campagne"),
        ("Chef(fe) de projet", "chef projet"),
        ("Chef.fe de projet", "chef projet"),
        ("Data Engineer (m/w/d)", "data engineer"),
        ("Tech Lead (f/m/n)", "tech technicien technique lead"),
        ("Tôles de 5 mm", "tole 5 mm"),
        ("Développeur Sénior", "developpeur"),
        ("Acheteur / Acheteuse junior", "acheteur"),
        ("Développeur PL/SQL", "developpeur plsql"),
        ("Chauffeur PL", "chauffeur pl poid lourd"),
        ("permis B", "permi conduire categorie permisb"),
        ("Permis de conduire catégorie B", "permi conduire categorie permisb"),
        ("Permis CE", "permi conduire categorie permisce"),
        ("Permis de conduire catégorie DE", "permi conduire categorie permisde"),
        ("permis de conduire", "permi conduire"),
        ("permis de construire", "permi construire"),
        ("permis d'exploitation", "permi exploitation"),
        ("Animateur de stages permis à points", "animateur stage permi point"),
        ("Permis de conduire catégorie A", "permi conduire categorie permisa"),
    ],
)
def test_gendered_and_boilerplate_forms_meet(typed, expected):
    assert normalise_text(typed) == expected


def test_masculine_and_feminine_titles_give_the_same_key():
    assert normalise_text("Préparatrice de commandes") == normalise_text("préparateur commande")
    assert normalise_text("Accastilleuse-gréeuse") == normalise_text("Accastilleur-gréeur")


def test_abbreviations_are_expanded_after_the_abbreviation():
    assert normalise_text("soudure TIG").split()[:3] == ["soudure", "tig", "soudage"]
    assert "preparation" in normalise_text("prepa commandes").split()
    assert "chariot" in normalise_text("cariste CACES 3").split()
    assert normalise_text("cariste CACES 3", expand=False) == "cariste cace 3"


def test_every_abbreviation_is_a_single_lowercase_ascii_token_with_an_expansion():
    for key, expansion in ABBREVIATIONS.items():
        assert key == fold_case_accents(key) and key.isalnum(), key
        assert normalise_text(expansion), key


def test_non_string_input_is_refused_with_a_type_error():
    with pytest.raises(TypeError, match="texte attendu"):
        tokenize(None)  # type: ignore[arg-type]


@given(st.text())
@settings(max_examples=400, deadline=None)
def test_normalisation_is_idempotent_and_total(text):
    once = normalise_text(text)
    assert normalise_text(once) == once
    assert once == once.strip() and "  " not in once


@given(st.text(alphabet=st.characters(codec="latin-1"), max_size=40))
@settings(max_examples=300, deadline=None)
def test_case_and_accents_do_not_matter(text):
    assert normalise_text(text.upper()) == normalise_text(text.lower())
    assert normalise_text(fold_case_accents(text)) == normalise_text(text)


#: Words ending in chains of the suffixes the folding rules act on ("arrivee", "augmentees"):
#: random letters almost never build them, and one pass of the rules left some foldable.
_SUFFIXED = st.builds(
    lambda stem, ends: stem + "".join(ends),
    st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    st.lists(
        st.sampled_from(
            [
                *("e", "s", "ee", "es", "ive", "euse", "rice", "trice", "ere", "nne", "ante"),
                *("elle", "ale", "x", "eaux", "se", "te", "ffe"),
            ]
        ),
        max_size=3,
    ),
)


@given(st.from_regex(r"[a-z]{1,15}", fullmatch=True) | _SUFFIXED)
@settings(max_examples=400)
def test_token_folding_is_idempotent(token):
    assert fold_token(fold_token(token)) == fold_token(token)


@pytest.mark.parametrize(
    "typed",
    ["arrivée", "réalité augmentée", "matièree plastique", "piqueusees", "Développeur(e)s"],
)
def test_normalising_twice_changes_nothing_where_one_pass_of_the_rules_did(typed):
    once = normalise_text(typed)
    assert normalise_text(once) == once


@given(st.lists(_SUFFIXED, min_size=1, max_size=5).map(" ".join))
def test_normalisation_of_suffixed_words_is_idempotent(text):
    once = normalise_text(text)
    assert normalise_text(once) == once


@given(st.lists(st.sampled_from(["Agent", "de", "quai", "CACES", "soudure", "(H/F)", "é", "/"])))
def test_tokens_are_unique_and_never_stop_words(words):
    tokens = tokenize(" ".join(words))
    assert len(tokens) == len(set(tokens))
    assert "de" not in tokens


def _fold_reference(text: str) -> str:
    """The slow, obviously right folding (no ASCII fast path)."""
    import unicodedata

    text = unicodedata.normalize("NFKC", text).replace("œ", "oe").casefold()
    text = text.replace("œ", "oe").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
@settings(max_examples=300, deadline=None)
def test_ascii_fast_path_folds_like_the_unicode_path(text):
    assert fold_case_accents(text) == _fold_reference(text)


def test_folding_cache_does_not_change_tokens():
    fold_token.cache_clear()
    first = [fold_token(t) for t in ["vendeuses", "conductrice", "cheffe", "commandes"]]
    assert first == [fold_token(t) for t in ["vendeuses", "conductrice", "cheffe", "commandes"]]
    assert first == ["vendeur", "conducteur", "chef", "commande"]


def test_clipped_words_are_replaced_by_each_word_they_stand_for():
    assert clipped_variants(normalise_text("prépa cdes", expand=False)) == [
        "preparateur commande",
        "preparation commande",
    ]
    assert clipped_variants("cariste cace 3") == []  # an acronym is not a clipping
    assert len(clipped_variants("tech maint elec compta", limit=4)) == 4


@given(st.lists(st.sampled_from([*CLIPPED_WORDS, "agent", "de", "quai", "cariste"]), max_size=5))
def test_clipped_variants_keep_every_other_word_and_hold_no_clipping(words):
    text = normalise_text(" ".join(words), expand=False)
    variants = clipped_variants(text)
    clipped = {fold_token(k) for k in CLIPPED_WORDS}
    if clipped.isdisjoint(text.split()):
        assert variants == []
    for v in variants:
        assert clipped.isdisjoint(v.split())
        assert {w for w in text.split() if w not in clipped} <= set(v.split())
        assert len(set(v.split())) == len(v.split())


def _reference_fold(text: str) -> str:
    """The plain definition of fold_case_accents (every combining mark dropped one by one)."""
    import unicodedata

    from matching.taxonomy import text as text_module

    text = unicodedata.normalize("NFKC", text).translate(text_module._LIGATURES).casefold()
    return "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )


@settings(max_examples=300)
@given(
    st.text(
        alphabet=st.one_of(
            st.sampled_from("aeéèêëàâîïôöùûüçœæ·•.-()/ \u0301\u0327\u034f\u0483\u05b0ﬁ"),
            st.characters(),
        ),
        max_size=40,
    )
)
def test_fast_accent_folding_equals_its_definition(text):
    assert fold_case_accents(text) == _reference_fold(text)


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from("ab hfe-().·•‧∙/ritcns"), max_size=30))
def test_skipped_regex_passes_change_nothing(text):
    from matching.taxonomy import text as text_module

    folded = text_module._RE_PLSQL.sub("plsql", fold_case_accents(text))
    expected = text_module._RE_HF.sub(" ", folded)
    for pattern in (
        text_module._RE_PAREN,
        text_module._RE_MIDDOT,
        text_module._RE_HYPHEN,
        text_module._RE_SLASH,
    ):
        expected = pattern.sub("", expected)
    assert text_module._raw_tokens(text) == text_module._RE_NON_WORD.sub(" ", expected).split()

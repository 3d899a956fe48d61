"""French text normalisation for job titles and skills as people type them.

This module owns the one canonical form every intake path compares: :func:`normalise_text`
folds case and accents, removes punctuation and vacancy boilerplate ("(H/F)", "CDI"), collapses
gendered forms ("Vendeur / Vendeuse", "téléconseiller(e)", "animateur·rice", "chargé-e") to the
masculine form used as a key, reduces simple plurals, drops French stop words and expands the
trade abbreviations of :mod:`matching.taxonomy.abbreviations` ("CACES", "TIG", "prépa"...).

The result is a space-separated string of tokens. It is *idempotent* (normalising a normalised
text changes nothing), invariant to case and accents, and total: any ``str`` is accepted.
The masculinising suffix rules are a matching device, not a grammar: they are applied the same
way to referential labels and to queries, so an imperfect lemma ("atmosphere" -> "atmospher")
costs nothing while "conductrice" and "conducteur" meet.

Examples
--------
>>> normalise_text("Téléconseiller(e) en centre d'appels")
'teleconseiller centre appel'
>>> normalise_text("Conducteur / Conductrice de chariot élévateur (H/F)")
'conducteur chariot elevateur'
>>> normalise_text("Prépa commandes")
'prepa preparateur preparation commande'
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from functools import lru_cache

from matching.taxonomy.abbreviations import ABBREVIATIONS, CLIPPED_WORDS

#: French function words and vacancy boilerplate ignored when comparing phrases. Tokens are
#: compared after folding, so the list is written folded (no accents, lower case, singular).
STOP_WORDS: frozenset[str] = frozenset(
    [
        "a",
        "au",
        "aux",
        "avec",
        "ce",
        "ces",
        "cet",
        "cette",
        "chez",
        "d",
        "dans",
        "de",
        "des",
        "du",
        "elle",
        "en",
        "et",
        "il",
        "la",
        "le",
        "les",
        "leur",
        "lui",
        "l",
        "ma",
        "mon",
        "ne",
        "ni",
        "nous",
        "on",
        "ou",
        "par",
        "pas",
        "pour",
        "qu",
        "que",
        "qui",
        "sa",
        "se",
        "ses",
        "son",
        "sur",
        "ta",
        "te",
        "ton",
        "un",
        "une",
        "vo",
        "votre",
        "y",
        "sou",
        "sans",
        "h",
        "f",
        "hf",
        "fh",
        "m",
        "mme",
        "cdi",
        "cdd",
        "interim",
    ]
)

#: Vacancy boilerplate: contract and seniority words of offer titles ("Alternance - Data
#: Analyst", "Ingénieur DevOps expérimenté", "Développeur senior"). No label of the referential
#: contains them (checked against the 13,120 appellations and 1,584 fiche labels) except
#: "senior" / "junior", in 11 appellations that are the same job at another seniority
#: ("Planneur / Planneuse senior", "Acheteur / Acheteuse junior": each, without the word, is
#: its own fiche's label or no label at all); kept there, they pulled "Développeur senior
#: Java" to *Planneur stratégique*. Dropped like stop words, labels included; written as
#: typed, folded below with :func:`fold_token`.
VACANCY_WORDS: tuple[str, ...] = (
    "senior",
    "junior",
    "alternance",
    "alternant",
    "alternante",
    "stagiaire",
    "experimente",
    "experimentee",
    "confirme",
    "confirmee",
    "debutant",
    "debutante",
    "urgent",
    "freelance",
    "professionnalisation",
)

#: Irregular feminine -> masculine forms that the suffix rules below do not cover.
IRREGULAR: dict[str, str] = {
    "cheffe": "chef",
    "chefe": "chef",
    "hotesse": "hote",
    "maitresse": "maitre",
}

# Ordered (suffix, replacement, minimal token length) rules folding feminine forms onto the
# masculine key. No replacement ends with a suffix of another rule, nor with "s", which keeps
# the folding idempotent.
_GENDER_RULES: tuple[tuple[str, str, int], ...] = (
    ("trice", "teur", 7),
    ("euse", "eur", 6),
    ("ienne", "ien", 7),
    ("ere", "er", 6),
    ("ive", "if", 6),
    ("ante", "ant", 6),
    ("ente", "ent", 6),
    ("elle", "el", 6),
    ("ale", "al", 6),
)

_FEMININE_SUFFIX = (
    r"(?:e|es|s|x|se|ses|euse|euses|ere|eres|ne|nne|ve|ive|rice|trice|ice|te|le|lle|fe|ffe)"
)
#: Gender markers of vacancy titles: "(H/F)", "F/H", "h-f", and the forms of English- and
#: German-language vacancies ("m/f", "F/H/X", "m/f/d", "m/w/d", "f/m/n"); "m" only with a
#: separator ("5 mm" is millimetres).
_RE_HF = re.compile(
    r"\(?\b(?:[hf]\s*[/.-]?\s*[hf]|m\s*[/.-]\s*[fw]|f\s*[/.-]\s*m)(?:\s*[/.-]\s*[xdn])?\b\)?"
)
#: A feminine ending written after a slash ("Développeur/euse", "Coordinateur/trice").
_RE_SLASH = re.compile(
    r"(?<=\w)\s?/\s?(?:e|es|euse|euses|se|rice|trice|ere|fe|ffe|ne|nne|ve|ive|ice|le|lle)\b"
)
_RE_PAREN = re.compile(rf"\({_FEMININE_SUFFIX}\)")
_RE_MIDDOT = re.compile(rf"(?<=\w)[·•‧∙.]{_FEMININE_SUFFIX}(?:[·•‧∙.]s)?\b")
_MIDDOTS = frozenset("·•‧∙.")
_RE_HYPHEN = re.compile(r"(?<=\w)-(?:e|es|euse|se|rice|trice|ere|ne|nne|ve|ive)\b")
_RE_PLSQL = re.compile(r"\bpl\s*/\s*sql\b")
#: "permis B", "permis CE": a driving-licence category, written as the ROME savoirs write it
#: ("Permis de conduire catégorie B") with the category as one token ("permisb": alone, "b"
#: weighed nothing, "ce" and "de" are stop words, and "permis B" went to "Permis de conduire
#: E"). The categories DE and A only after "catégorie": "permis de conduire", "permis de
#: construire", "permis à points".
_PERMIS_CATEGORIES = "a1|a2|am|b1|be|b|c1e|c1|ce|c|d1e|d1|d|e"
_RE_PERMIS = re.compile(
    r"\bpermis\s+(?:de\s+conduire\s+)?"
    rf"(?:categorie\s+(de|a|{_PERMIS_CATEGORIES})|({_PERMIS_CATEGORIES}))(?=$|[\s),;.:/|+-])"
)
_RE_NON_WORD = re.compile(r"[\W_]+")
#: Combining marks of the "Combining Diacritical Marks" block (U+0300-U+036F) that
#: ``unicodedata.combining`` counts as combining (not U+034F, the grapheme joiner).
_RE_LATIN_MARKS = re.compile(
    "[" + "".join(chr(c) for c in range(0x300, 0x370) if unicodedata.combining(chr(c))) + "]+"
)
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "’": "'", "ʼ": "'"})


def fold_case_accents(text: str) -> str:
    """Lower-case ``text`` and strip accents and ligatures (``"Œuvre Électrique"`` -> ``"oeuvre electrique"``).

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The case-folded text without combining marks.
    """
    if text.isascii():  # fast path: nothing to decompose (most referential labels are not)
        return text.casefold()
    text = unicodedata.normalize("NFKC", text).translate(_LIGATURES).casefold()
    # the marks of Latin accents (one regex pass), then any other combining mark (rare)
    stripped = _RE_LATIN_MARKS.sub("", unicodedata.normalize("NFKD", text))
    if stripped.isascii():
        return stripped
    return "".join(ch for ch in stripped if not unicodedata.combining(ch))


@lru_cache(maxsize=100_000)
def fold_token(token: str) -> str:
    """Fold one token: simple plural, then feminine onto masculine form (a matching key).

    Parameters
    ----------
    token : str
        A lower-case, accent-free token.

    Returns
    -------
    str
        The folded token; folding it again returns it unchanged.

    Examples
    --------
    >>> [fold_token(t) for t in ["vendeuses", "conductrice", "employee", "commandes", "cheffe"]]
    ['vendeur', 'conducteur', 'employe', 'commande', 'chef']
    >>> fold_token("arrivee")  # "arrivee" -> "arrive" -> "arrif": rules applied to a fixpoint
    'arrif'
    """
    # one pass of the rules may leave a token another rule folds ("augmentee" -> "augmente" ->
    # "augment"): applied until nothing changes (at most a few passes), so that folding is
    # idempotent and so is normalise_text
    for _ in range(8):
        folded = _fold_once(token)
        if folded == token:
            break
        token = folded
    return token


def _fold_once(token: str) -> str:
    if (len(token) > 3 and token.endswith("s") and not token.endswith("ss")) or (
        len(token) > 4 and token.endswith("eaux")
    ):
        token = token[:-1]
    if token in IRREGULAR:
        return IRREGULAR[token]
    if len(token) >= 4 and token.endswith("ee"):
        return token.rstrip("e") + "e"
    for suffix, replacement, min_len in _GENDER_RULES:
        if len(token) >= min_len and token.endswith(suffix):
            return token[: -len(suffix)] + replacement
    return token


def _raw_tokens(text: str) -> list[str]:
    text = fold_case_accents(text)
    if "pl" in text:
        # the language PL/SQL, not the driving licence "PL" (poids lourd) of the abbreviations
        text = _RE_PLSQL.sub("plsql", text)
    if "permis" in text:
        text = _RE_PERMIS.sub(
            lambda m: f"permis de conduire categorie permis{m.group(1) or m.group(2)}", text
        )
    text = _RE_HF.sub(" ", text)
    # each pattern needs its character: skip the pass without it (a third of the time)
    if "(" in text:
        text = _RE_PAREN.sub("", text)
    if not _MIDDOTS.isdisjoint(text):
        text = _RE_MIDDOT.sub("", text)
    if "-" in text:
        text = _RE_HYPHEN.sub("", text)
    if "/" in text:
        text = _RE_SLASH.sub("", text)
    return _RE_NON_WORD.sub(" ", text).split()


def _fold_expansion(expansion: str) -> tuple[str, ...]:
    out = []
    for tok in _raw_tokens(expansion):
        tok = fold_token(tok)
        if tok not in STOP_WORDS:
            out.append(tok)
    return tuple(out)


STOP_WORDS = STOP_WORDS | frozenset(f for w in VACANCY_WORDS for f in (w, fold_token(w)))

_EXPANSIONS: dict[str, tuple[str, ...]] = {
    fold_token(k): _fold_expansion(v) for k, v in ABBREVIATIONS.items()
}


#: Folded tokens that :func:`normalise_text` expands (keys of the abbreviation list).
ABBREVIATION_KEYS: frozenset[str] = frozenset(_EXPANSIONS)

_SUBSTITUTES: dict[str, tuple[str, ...]] = {
    fold_token(k): tuple(" ".join(_fold_expansion(w)) for w in v) for k, v in CLIPPED_WORDS.items()
}


def clipped_variants(text: str, *, limit: int = 4) -> list[str]:
    """``text`` (normalised, without expansion) with each clipped word replaced by one of the
    words it stands for (:data:`~matching.taxonomy.abbreviations.CLIPPED_WORDS`), at most
    ``limit`` variants, duplicate tokens removed; ``[]`` when it holds no clipped word.

    Examples
    --------
    >>> clipped_variants("prepa cde")
    ['preparateur commande', 'preparation commande']
    """
    tokens = text.split()
    choices = [_SUBSTITUTES.get(t, (t,)) for t in tokens]
    if all(len(c) == 1 and c[0] == t for c, t in zip(choices, tokens, strict=True)):
        return []
    out: list[str] = []
    for combo in itertools.islice(itertools.product(*choices), limit):
        words = list(dict.fromkeys(" ".join(combo).split()))
        variant = " ".join(words)
        if variant not in out:
            out.append(variant)
    return out


def tokenize(text: str, *, expand: bool = True) -> list[str]:
    """Normalised tokens of ``text`` (see :func:`normalise_text`), duplicates removed in order.

    Parameters
    ----------
    text : str
        A job title, skill or free phrase as typed.
    expand : bool, default True
        Append the expansion of known trade abbreviations after the abbreviation.

    Returns
    -------
    list of str
    """
    if not isinstance(text, str):
        raise TypeError(f"texte attendu (str), reçu {type(text).__name__}")
    seen: set[str] = set()
    out: list[str] = []
    for raw in _raw_tokens(text):
        tok = fold_token(raw)
        if tok in STOP_WORDS:
            continue
        group = (tok, *_EXPANSIONS.get(tok, ())) if expand else (tok,)
        for t in group:
            if t not in seen:
                seen.add(t)
                out.append(t)
    return out


@lru_cache(maxsize=200_000)
def normalise_text(text: str, *, expand: bool = True) -> str:
    """Canonical form of a French job title, skill or phrase, used as matching and correction key.

    Parameters
    ----------
    text : str
        Any text; never raises on arbitrary unicode.
    expand : bool, default True
        Expand trade abbreviations (see :mod:`matching.taxonomy.abbreviations`).

    Returns
    -------
    str
        Space-separated tokens: lower case, no accents, no punctuation, masculine singular keys,
        no stop words. Idempotent.

    Examples
    --------
    >>> normalise_text("Vendeur/Vendeuse en prêt-à-porter (H/F)")
    'vendeur pret porter'
    >>> normalise_text("Animateur·rice enfance")
    'animateur enfance'
    >>> normalise_text("cariste CACES 3")
    'cariste cace certificat aptitude conduite securite chariot engin 3'
    """
    return " ".join(tokenize(text, expand=expand))


# --- typing variants (evaluation and tuning of the normaliser) --------------------------------
#: Kinds of noise people put in titles, used to tune and evaluate the normaliser.
NOISE_TYPES: tuple[str, ...] = ("typo", "accents", "truncation", "abbreviation", "gender")

#: Clippings written in CVs and vacancies (reverse of the documented abbreviations), keyed by
#: the folded word they shorten.
_CLIPPINGS: dict[str, str] = {
    "preparateur": "prépa",
    "preparation": "prépa",
    "commande": "cdes",
    "manutention": "manut",
    "comptable": "compta",
    "comptabilite": "compta",
    "administratif": "admin",
    "administration": "admin",
    "responsable": "resp",
    "assistant": "assist",
    "technicien": "tech",
    "maintenance": "maint",
}
_CLIPPED_PHRASES: dict[str, str] = {
    "poids lourd": "PL",
    "super poids lourd": "SPL",
    "ressources humaines": "RH",
    "service après-vente": "SAV",
    "bâtiment et travaux publics": "BTP",
    "voirie et réseaux divers": "VRD",
    "agent de service hospitalier": "ASH",
    "accompagnant éducatif et social": "AES",
}


def _gender_parts(label: str) -> tuple[list[str], list[str], list[str]]:
    """Split "Conducteur / Conductrice de chariot" into (["Conducteur"], ["Conductrice"], rest)."""
    if " / " not in label:
        return label.split(), [], []
    left, right = label.split(" / ", 1)
    lw, rw = left.split(), right.split()
    n = min(len(lw), len(rw))
    return lw, rw[:n], rw[n:]


def noisy_variant(label: str, noise: str, rng) -> str:
    """Return ``label`` as a person might type it, with one kind of ``noise``.

    Parameters
    ----------
    label : str
        A referential label ("Conducteur / Conductrice de chariot élévateur").
    noise : {"typo", "accents", "truncation", "abbreviation", "gender"}
        ``typo``: one or two character edits; ``accents``: lower case without accents;
        ``truncation``: masculine form cut to its first words; ``abbreviation``: known clippings
        ("prépa", "PL") or a long word cut to 5 letters and a dot; ``gender``: feminine form only,
        "(e)" or "/" spellings and "(H/F)".
    rng : numpy.random.Generator
        Source of randomness (seeded by the caller for reproducibility).

    Returns
    -------
    str
    """
    if noise not in NOISE_TYPES:
        raise ValueError(f"type de bruit inconnu : {noise!r} (attendu : {', '.join(NOISE_TYPES)})")
    male, female, rest = _gender_parts(label)
    masculine = " ".join(male + rest)
    if noise == "accents":
        return fold_case_accents(masculine)
    if noise == "gender":
        style = int(rng.integers(0, 3)) if female else 1
        if style == 0:
            text = " ".join(female + rest)
        elif style == 1:
            text = " ".join([*male[:-1], male[-1] + "(e)", *rest]) if male else label
        else:
            text = " ".join(male) + "/" + " ".join(female + rest)
        return text + (" (H/F)" if rng.random() < 0.5 else "")
    words = masculine.split()
    if noise == "truncation":
        keep = max(2, -(-2 * len(words) // 3))
        kept = words[:keep]
        while len(kept) > 1 and fold_case_accents(kept[-1]).strip("'’") in STOP_WORDS | {"d", "l"}:
            kept.pop()
        return " ".join(kept)
    if noise == "abbreviation":
        lowered = masculine.lower()
        for phrase, short in _CLIPPED_PHRASES.items():
            if phrase in lowered:
                start = lowered.index(phrase)
                return masculine[:start] + short + masculine[start + len(phrase) :]
        out, done = [], False
        for w in words:
            key = fold_token(fold_case_accents(w))
            if not done and key in _CLIPPINGS:
                out.append(_CLIPPINGS[key])
                done = True
            else:
                out.append(w)
        if not done:
            long_idx = [i for i, w in enumerate(out) if len(w) > 7 and w.isalpha()]
            if long_idx:
                i = long_idx[int(rng.integers(0, len(long_idx)))]
                out[i] = out[i][:5] + "."
        return " ".join(out)
    # typo: one or two edits among swap, delete, duplicate, substitute (letters only)
    chars = list(masculine)
    for _ in range(int(rng.integers(1, 3))):
        letters = [i for i, c in enumerate(chars) if c.isalpha()]
        if len(letters) < 3:
            break
        i = letters[int(rng.integers(0, len(letters)))]
        op = int(rng.integers(0, 4))
        if op == 0 and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op == 1:
            del chars[i]
        elif op == 2:
            chars.insert(i, chars[i])
        else:
            chars[i] = "abcdefghijklmnopqrstuvwxyz"[int(rng.integers(0, 26))]
    return "".join(chars)

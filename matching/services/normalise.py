"""Use cases of free-text normalisation: stored human corrections first, then the normaliser.

Counsellors correct a wrong proposal once ("agent autoroute" -> I1208); the correction is stored
in ``normalisation_corrections`` keyed by the normalised phrase and wins over the model for every
later phrase with the same key, on every intake path (forms, imports, API suggestions, CLI).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select

from matching.exceptions import NotFoundError, ValidationError
from matching.store.db import session_scope
from matching.store.models import NormalisationCorrection
from matching.taxonomy.normaliser import KINDS, Candidate, NormalisationResult, Normaliser
from matching.taxonomy.text import normalise_text

_CHUNK = 500


def phrase_key(phrase: str) -> str:
    """Key under which a correction of ``phrase`` is stored (its normalised text)."""
    return normalise_text(phrase)[:300]


def record_correction(
    engine: Engine,
    *,
    kind: str,
    phrase: str,
    code: str,
    by_user: str,
    normaliser: Normaliser,
) -> Candidate:
    """Store (or replace) the right code for a phrase; later normalisations use it first.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        Migrated store.
    kind : {"occupation", "job_title", "skill"}
        What the phrase names.
    phrase : str
        The phrase as typed.
    code : str
        The right referential code (code_rome for occupations, code_ogr otherwise).
    by_user : str
        Who corrected (login), kept for audit.
    normaliser : Normaliser
        Fitted normaliser, used to check that ``code`` exists and to read its label.

    Returns
    -------
    Candidate
        The stored target.
    """
    if kind not in KINDS:
        raise ValidationError(f"type attendu parmi {', '.join(KINDS)}, reçu {kind!r}")
    key = phrase_key(phrase)
    if not key:
        raise ValidationError(f"phrase vide après normalisation : {phrase!r}")
    target = normaliser.describe(code, kind=kind)
    if target is None:
        raise NotFoundError(f"code {code!r} inconnu du référentiel pour le type « {kind} »")
    with session_scope(engine) as session:
        row = session.scalar(
            select(NormalisationCorrection).where(
                NormalisationCorrection.kind == kind, NormalisationCorrection.phrase_key == key
            )
        )
        if row is None:
            session.add(
                NormalisationCorrection(
                    kind=kind,
                    phrase_key=key,
                    phrase=phrase[:300],
                    code=target.code,
                    label=target.label[:300],
                    by_user=by_user[:80],
                )
            )
        else:
            row.code, row.label, row.by_user = target.code, target.label[:300], by_user[:80]
    return target


def stored_corrections(engine: Engine, *, kind: str, keys: Sequence[str]) -> dict[str, str]:
    """Stored code per phrase key, for the keys that have a correction."""
    unique = sorted(set(keys))
    found: dict[str, str] = {}
    with session_scope(engine) as session:
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            rows = session.execute(
                select(NormalisationCorrection.phrase_key, NormalisationCorrection.code).where(
                    NormalisationCorrection.kind == kind,
                    NormalisationCorrection.phrase_key.in_(chunk),
                )
            )
            found.update({k: c for k, c in rows})
    return found


def normalise_phrases(
    engine: Engine,
    normaliser: Normaliser,
    phrases: Sequence[str],
    *,
    kind: str = "occupation",
    top_k: int = 5,
) -> list[NormalisationResult]:
    """Normalise phrases, stored corrections first.

    A phrase whose key has a stored correction gets the corrected target first (score 1,
    ``corrected=True``, decision "auto"), followed by the normaliser's other candidates.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        Store holding the corrections.
    normaliser : Normaliser
        Fitted normaliser.
    phrases : sequence of str
        Phrases as typed.
    kind : {"occupation", "job_title", "skill"}, default "occupation"
    top_k : int, default 5

    Returns
    -------
    list of NormalisationResult
    """
    results = normaliser.normalise_batch(list(phrases), kind=kind, top_k=top_k)
    keys = [phrase_key(p) for p in phrases]
    corrections = stored_corrections(engine, kind=kind, keys=keys)
    if not corrections:
        return results
    out = []
    for res, key in zip(results, keys, strict=True):
        code = corrections.get(key)
        target = normaliser.describe(code, kind=kind) if code is not None else None
        if target is None:  # no correction, or a code no longer in the referential
            out.append(res)
            continue
        others = tuple(c for c in res.candidates if c.code != target.code)
        out.append(
            NormalisationResult(
                phrase=res.phrase,
                candidates=(target, *others)[:top_k],
                decision="auto",
                corrected=True,
            )
        )
    return out

"""CSV / Excel import and export of every entity: all or nothing, idempotent on natural keys.

:func:`import_file` reads the whole file with pandas, then

1. validates every row with the pydantic models of :mod:`matching.store.schemas` (types,
   enumerations, ranges, referential codes), collecting each problem as
   ``RowError(row, column, message)``; ``row`` is the line as a spreadsheet shows it: the header
   is line 1, the first data row line 2 (blank lines count, so numbers match the editor);
2. turns free text into codes with the normaliser when a need has a title but no ``code_rome``,
   or a skills cell holds a phrase: only "auto" decisions are accepted, the others are row errors
   ("intitulé à vérifier : meilleur candidat ...");
3. checks references (employer, provider, course, jobseeker, need, counsellor login) against
   the database, natural keys and SIRET numbers against duplicates;
4. if any row is invalid and ``skip_invalid`` is false, raises :class:`ImportValidationError`
   listing every error, and nothing is written; otherwise writes the valid rows through
   :class:`matching.store.repository.Repository` in ONE transaction (a database error rolls the
   whole file back) and, with ``skip_invalid``, writes the rejected rows and their reasons to a
   rejects file.

A column absent from the header leaves the stored value untouched when a row updates an
existing entity (so a pseudonymised export, without identity columns, re-imports without erasing
identities); a column present with an empty cell sets the empty value or the documented default.

:func:`export_entity` writes the same column format (CSV or .xlsx); jobseekers are pseudonymised
(no identity column) unless ``include_identity``. Export then import changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload

from matching.exceptions import ImportValidationError, RowError, ValidationError
from matching.store import models as m
from matching.store.db import session_factory
from matching.store.geo import fold
from matching.store.repository import (
    ExperienceSpec,
    NeedSkillSpec,
    PersonSkillSpec,
    Repository,
)
from matching.store.schemas import (
    IDENTITY_COLUMNS,
    ROW_MODELS,
    SkillItem,
    format_bool,
    format_date,
    format_experiences,
    format_need_skills,
    format_number,
    format_person_skills,
    format_skill_codes,
    is_blank,
    parse_text,
)

ENTITIES: tuple[str, ...] = tuple(ROW_MODELS)
ENCODINGS = ("utf-8-sig", "cp1252")
SKILL_COLUMNS = {
    "besoins": ("competences",),
    "demandeurs": ("competences",),
    "formations": ("competences_enseignees", "prerequis"),
}
REJECTS_LINE, REJECTS_REASON = "ligne", "motif_rejet"


@dataclass
class ImportReport:
    """What an import did: counts per outcome, errors of rejected rows, rejects file."""

    entity: str
    source: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    rejects_path: Path | None = None
    ignored_columns: list[str] = field(default_factory=list)
    normalised: int = 0  # phrases turned into codes by the normaliser
    flags_changed: int = 0  # priority-district flags re-derived (priority streets import)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.rejected


def _check_entity(entity: str) -> None:
    if entity not in ROW_MODELS:
        raise ValidationError(f"entité inconnue '{entity}' (attendu : {', '.join(ENTITIES)})")


# --- reading ------------------------------------------------------------------------------------
def _column_name(name: Any) -> str:
    return fold(str(name)).replace(" ", "_")


def _sniff(header: str) -> str:
    counts = {sep: header.count(sep) for sep in (";", ",", "\t")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


_PANDAS_BAD_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (UTF-8 with or without BOM, else Windows-1252; ``;``, ``,`` or tab sniffed
    from the header) or an Excel file (first sheet) into a frame of raw cells.

    Column names are folded to snake_case without accents (``Date_Embauche`` ->
    ``date_embauche``). The frame index is the spreadsheet line number (header = line 1);
    blank rows are kept so that numbering matches the editor.
    """
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"fichier introuvable : {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, dtype=object, sheet_name=0)
        elif suffix == ".xls":
            raise ValidationError(f"{path.name} : format .xls non pris en charge, utilisez .xlsx")
        else:
            raw = path.read_bytes()
            for encoding in ENCODINGS:
                try:
                    text = raw.decode(encoding)
                    break
                except UnicodeDecodeError:
                    continue
            if not text.strip():
                raise ValidationError(f"{path.name} : fichier vide (en-tête attendu en ligne 1)")
            frame = pd.read_csv(
                path,
                sep=_sniff(text.splitlines()[0]),
                dtype=str,
                keep_default_na=False,
                encoding=encoding,
                skip_blank_lines=False,
            )
    except pd.errors.ParserError as exc:
        found = _PANDAS_BAD_LINE.search(str(exc))
        if found:
            want, line, saw = found.groups()
            raise ImportValidationError(
                str(path),
                [
                    RowError(
                        int(line),
                        "*",
                        f"{saw} cellules au lieu de {want} (séparateur ou guillemet en trop ?)",
                    )
                ],
            ) from None
        raise ValidationError(f"{path.name} : fichier illisible ({exc})") from None
    except (ValueError, OSError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"{path.name} : fichier illisible ({exc})") from None
    frame.columns = [_column_name(c) for c in frame.columns]
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    return frame


# --- validation ---------------------------------------------------------------------------------
def _pydantic_errors(exc: PydanticValidationError, line: int) -> list[RowError]:
    out = []
    for err in exc.errors():
        column = str(err["loc"][0]) if err["loc"] else "*"
        if err["type"] == "missing":
            message = "valeur obligatoire manquante"
        elif err["type"] == "value_error":
            message = err["msg"].removeprefix("Value error, ")
        else:
            message = f"valeur invalide '{err.get('input')}'"
        out.append(RowError(line, column, message))
    return out


def validate_frame(
    entity: str, frame: pd.DataFrame, *, referential: Any = None
) -> tuple[list[tuple[int, Any]], list[RowError]]:
    """Validate every row of ``frame`` (from :func:`read_table`) with the entity's model.

    Returns the valid ``(line, row)`` pairs and every error; blank rows are skipped. Header
    problems (missing required column, duplicated column) are errors on line 1.
    """
    _check_entity(entity)
    model = ROW_MODELS[entity]
    columns = [c for c in frame.columns if c in model.model_fields]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    required = [n for n, f in model.model_fields.items() if f.is_required()]
    header_errors = [
        RowError(1, c, "colonne présente deux fois dans l'en-tête") for c in duplicated
    ]
    header_errors += [
        RowError(1, c, "colonne obligatoire absente de l'en-tête")
        for c in required
        if c not in frame.columns
    ]
    if header_errors:
        return [], header_errors
    context = {"referential": referential}
    valid: list[tuple[int, Any]] = []
    errors: list[RowError] = []
    for line, record in zip(frame.index, frame[columns].to_dict("records"), strict=True):
        if all(is_blank(v) for v in record.values()):
            continue
        try:
            valid.append((int(line), model.model_validate(record, context=context)))
        except PydanticValidationError as exc:
            errors += _pydantic_errors(exc, int(line))
    return valid, errors


def _describe(candidate: Any) -> str:
    return f"{candidate.code} « {candidate.label} » (confiance {candidate.score:.0%})"


def _normalise(
    entity: str,
    rows: list[tuple[int, Any]],
    normaliser: Any,
    referential: Any,
) -> tuple[list[tuple[int, Any]], list[RowError], int]:
    """Replace free text by codes (needs' titles without code, skill phrases)."""
    occupation_rows = [
        (i, r) for i, (_, r) in enumerate(rows) if entity == "besoins" and not r.code_rome
    ]
    skill_cells = [
        (i, col, item)
        for i, (_, r) in enumerate(rows)
        for col in SKILL_COLUMNS.get(entity, ())
        for item in getattr(r, col)
        if item.code is None
    ]
    if not occupation_rows and not skill_cells:
        return rows, [], 0
    errors: list[RowError] = []
    if normaliser is not None and not hasattr(normaliser, "normalise_batch"):
        normaliser = normaliser()  # a factory: load the normaliser only when needed
    if normaliser is None:
        for i, _ in occupation_rows:
            errors.append(
                RowError(
                    rows[i][0],
                    "code_rome",
                    "code ROME manquant : renseignez-le (la reconnaissance automatique des "
                    "intitulés n'est pas disponible)",
                )
            )
        for i, col, item in skill_cells:
            errors.append(
                RowError(
                    rows[i][0],
                    col,
                    f"compétence '{item.phrase}' : code OGR attendu (la reconnaissance "
                    "automatique des compétences n'est pas disponible)",
                )
            )
        return rows, errors, 0
    updates: dict[int, dict[str, Any]] = {}
    normalised = 0
    if occupation_rows:
        titles = [r.intitule for _, r in occupation_rows]
        results = normaliser.normalise_batch(titles, kind="occupation", top_k=5)
        for (i, r), res in zip(occupation_rows, results, strict=True):
            best = res.candidates[0] if res.candidates else None
            if (
                res.decision == "auto"
                and best is not None
                and referential.has_occupation(best.code)
            ):
                updates.setdefault(i, {})["code_rome"] = best.code
                normalised += 1
            elif best is not None:
                errors.append(
                    RowError(
                        rows[i][0],
                        "intitule",
                        f"intitulé à vérifier : meilleur candidat {_describe(best)} ; "
                        "indiquez le code_rome",
                    )
                )
            else:
                errors.append(
                    RowError(
                        rows[i][0],
                        "intitule",
                        f"intitulé non reconnu '{r.intitule}' : indiquez le code_rome",
                    )
                )
    if skill_cells:
        phrases = sorted({item.phrase for _, _, item in skill_cells})
        results = normaliser.normalise_batch(phrases, kind="skill", top_k=5)
        by_phrase = dict(zip(phrases, results, strict=True))
        bad: set[tuple[int, str]] = set()
        codes: dict[tuple[int, str, str], int] = {}
        for i, col, item in skill_cells:
            res = by_phrase[item.phrase]
            best = res.candidates[0] if res.candidates else None
            if (
                res.decision == "auto"
                and best is not None
                and referential.has_skill(int(best.code))
            ):
                codes[(i, col, item.phrase)] = int(best.code)
                normalised += 1
                continue
            bad.add((i, col))
            detail = (
                f"à vérifier : meilleur candidat {_describe(best)} ; indiquez le code OGR"
                if best is not None
                else "non reconnue : indiquez le code OGR"
            )
            errors.append(RowError(rows[i][0], col, f"compétence '{item.phrase}' {detail}"))
        for i, col in {(i, col) for i, col, _ in skill_cells} - bad:
            items = [
                SkillItem(codes[(i, col, it.phrase)], "", it.essential, it.level, it.source)
                if it.code is None
                else it
                for it in getattr(rows[i][1], col)
            ]
            codes_seen = [it.code for it in items]
            dup = [c for k, c in enumerate(codes_seen) if c in codes_seen[:k]]
            if dup:
                errors.append(
                    RowError(
                        rows[i][0],
                        col,
                        f"compétence {dup[0]} présente deux fois (après reconnaissance des libellés)",
                    )
                )
                continue
            updates.setdefault(i, {})[col] = items
    out = [
        (line, r.model_copy(update=updates[i]) if i in updates else r)
        for i, (line, r) in enumerate(rows)
    ]
    return out, errors, normalised


def _key(entity: str, r: Any) -> Any:
    if entity == "evenements":
        return (r.demandeur_ref, r.besoin_ref, r.evenement, r.date)
    if entity == "rues-prioritaires":
        from matching.store.geo import street_key

        return (r.commune_insee, street_key(r.rue))
    return r.ref


def _reference_errors(
    entity: str, rows: list[tuple[int, Any]], repo: Repository, frame: pd.DataFrame
) -> list[RowError]:
    """Natural keys unique in the file; references (of every row) known to the database."""
    errors: list[RowError] = []
    seen: dict[Any, int] = {}
    key_column = {"evenements": "date", "rues-prioritaires": "rue"}.get(entity, "ref")
    for line, r in rows:
        key = _key(entity, r)
        if key in seen:
            errors.append(RowError(line, key_column, f"doublon de la ligne {seen[key]}"))
        else:
            seen[key] = line
    foreign_keys: dict[str, list[tuple[str, Any, str]]] = {
        "besoins": [("employeur_ref", m.Employer, "employeur")],
        "formations": [("organisme_ref", m.Provider, "organisme")],
        "sessions": [("formation_ref", m.Course, "formation")],
        "evenements": [
            ("demandeur_ref", m.Jobseeker, "demandeur"),
            ("besoin_ref", m.Need, "besoin"),
        ],
    }
    foreign = foreign_keys.get(entity, [])
    for column, model, label in foreign:
        # raw cells of every row, so that a row with other errors is reported completely
        cells = {
            int(line): parse_text(v)
            for line, v in frame[column].items()
            if not is_blank(v) and not all(is_blank(x) for x in frame.loc[line])
        }
        repo.prefetch(model, cells.values())
        for line, ref in sorted(cells.items()):
            if repo.get(model, ref) is None:
                errors.append(RowError(line, column, f"{label} inconnu(e) : '{ref}'"))
    if entity == "demandeurs":
        logins = {r.conseiller for _, r in rows if r.conseiller}
        known = (
            set(
                repo.session.execute(select(m.User.username).where(m.User.username.in_(logins)))
                .scalars()
                .all()
            )
            if logins
            else set()
        )
        for line, r in rows:
            if r.conseiller and r.conseiller not in known:
                errors.append(
                    RowError(line, "conseiller", f"compte conseiller inconnu '{r.conseiller}'")
                )
    if entity == "employeurs":
        in_file: dict[str, int] = {}
        sirets = {r.siret for _, r in rows if r.siret}
        owners = (
            dict(
                repo.session.execute(
                    select(m.Employer.siret, m.Employer.ref).where(m.Employer.siret.in_(sirets))
                ).all()
            )
            if sirets
            else {}
        )
        for line, r in rows:
            if not r.siret:
                continue
            if r.siret in in_file:
                errors.append(
                    RowError(line, "siret", f"SIRET déjà utilisé ligne {in_file[r.siret]}")
                )
            elif owners.get(r.siret, r.ref) != r.ref:
                errors.append(
                    RowError(
                        line, "siret", f"SIRET déjà enregistré pour l'employeur '{owners[r.siret]}'"
                    )
                )
            in_file.setdefault(r.siret, line)
    return errors


# --- writing ------------------------------------------------------------------------------------
def _or(default: Any) -> Callable[[Any], Any]:
    return lambda v: default if v is None or v == "" else v


_keep = lambda v: v  # noqa: E731
_none_if_empty = _or(None)

#: column -> (model attribute, converter) per entity, for the plain values of each row.
COLUMNS: dict[str, dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "employeurs": {
        "nom": ("name", _keep),
        "siret": ("siret", _none_if_empty),
        "code_naf": ("naf_code", _keep),
        "secteur": ("sector", _keep),
        "commune_insee": ("commune_insee", _keep),
    },
    "besoins": {
        "code_rome": ("code_rome", _keep),
        "intitule": ("title_typed", _keep),
        "description": ("description", _keep),
        "postes": ("positions", _keep),
        "date_embauche": ("hiring_date", _keep),
        "type_contrat": ("contract_type", _keep),
        "heures_hebdo": ("hours_per_week", _or(35.0)),
        "commune_insee": ("commune_insee", _keep),
        "permis_requis": ("driving_licence_required", _keep),
        "niveau_min": ("min_qualification_level", _keep),
        "certification_requise": ("required_certification", _none_if_empty),
        "statut": ("status", _keep),
        "saisi_par": ("captured_by", _keep),
    },
    "demandeurs": {
        "niveau_qualification": ("qualification_level", _keep),
        "permis": ("driving_licence", _keep),
        "vehicule": ("has_vehicle", _keep),
        "trajet_max_km": ("max_commute_km", _or(15.0)),
        "commune_insee": ("home_commune_insee", _keep),
        "date_disponibilite": ("availability_date", _keep),
        "sans_emploi_depuis": ("unemployed_since", _keep),
        "heures_souhaitees": ("desired_hours_per_week", _keep),
        "date_consentement": ("consent_date", _keep),
        "conservation_jusqu_au": ("retention_until", _keep),
        "statut": ("status", _keep),
    },
    "identity": {
        "prenom": ("first_name", _keep),
        "nom": ("last_name", _keep),
        "adresse": ("address", _keep),
        "telephone": ("phone", _keep),
        "email": ("email", _keep),
        "date_naissance": ("birth_date", _keep),
        "genre": ("gender", _none_if_empty),
    },
    "organismes": {"nom": ("name", _keep)},
    "formations": {
        "intitule": ("title", _keep),
        "description": ("description", _keep),
        "formacode": ("formacode", _none_if_empty),
        "code_rncp": ("code_rncp", _none_if_empty),
        "certification": ("certification", _none_if_empty),
        "code_rome": ("code_rome", _none_if_empty),
        "heures": ("hours", _keep),
        "cout_eur": ("cost_eur", _or(0.0)),
        "niveau_min": ("min_qualification_level", _keep),
        "delivre_permis": ("grants_driving_licence", _keep),
    },
    "sessions": {
        "date_debut": ("start_date", _keep),
        "date_fin": ("end_date", _keep),
        "places": ("seats", _keep),
        "places_prises": ("seats_taken", _or(0)),
        "commune_insee": ("commune_insee", _keep),
        "financement": ("funding", _keep),
    },
}


def _values(table: str, r: Any, present: set[str] | None) -> dict[str, Any]:
    return {
        attr: conv(getattr(r, col))
        for col, (attr, conv) in COLUMNS[table].items()
        if present is None or col in present
    }


def _write(entity: str, repo: Repository, r: Any, header: set[str]) -> str:
    """Upsert one validated row; a new entity gets every column (defaults for absent ones)."""
    model = {
        "employeurs": m.Employer,
        "besoins": m.Need,
        "demandeurs": m.Jobseeker,
        "organismes": m.Provider,
        "formations": m.Course,
        "sessions": m.CourseSession,
    }.get(entity)
    creating = model is not None and repo.get(model, r.ref) is None
    present = None if creating else header

    def has(col: str) -> bool:
        return present is None or col in present

    if entity == "employeurs":
        return repo.upsert_employer(r.ref, _values(entity, r, present))[1]
    if entity == "organismes":
        return repo.upsert_provider(r.ref, _values(entity, r, present))[1]
    if entity == "besoins":
        skills = [NeedSkillSpec(s.code, s.essential, s.level) for s in r.competences]
        return repo.upsert_need(
            r.ref,
            _values(entity, r, present),
            employer_ref=r.employeur_ref,
            skills=skills if has("competences") else None,
        )[1]
    if entity == "demandeurs":
        with_identity = any(c in header for c in IDENTITY_COLUMNS)
        return repo.upsert_jobseeker(
            r.ref,
            _values(entity, r, present),
            identity=_values("identity", r, present) if with_identity else None,
            counsellor=r.conseiller if has("conseiller") else None,
            skills=[PersonSkillSpec(s.code, s.level, s.source) for s in r.competences]
            if has("competences")
            else None,
            experiences=[ExperienceSpec(e.code_rome, e.months, e.ended_on) for e in r.experiences]
            if has("experiences")
            else None,
            programmes=r.dispositifs if has("dispositifs") else None,
        )[1]
    if entity == "formations":
        return repo.upsert_course(
            r.ref,
            _values(entity, r, present),
            provider_ref=r.organisme_ref,
            taught=[s.code for s in r.competences_enseignees]
            if has("competences_enseignees")
            else None,
            prerequisites=[s.code for s in r.prerequis] if has("prerequis") else None,
        )[1]
    if entity == "sessions":
        return repo.upsert_session(r.ref, _values(entity, r, present), course_ref=r.formation_ref)[
            1
        ]
    if entity == "evenements":
        return repo.upsert_outcome(
            jobseeker_ref=r.demandeur_ref,
            need_ref=r.besoin_ref,
            event=r.evenement,
            event_date=r.date,
            by_user=r.par,
        )[1]
    if entity == "rues-prioritaires":
        return repo.upsert_priority_street(
            commune_insee=r.commune_insee, street=r.rue, district=r.quartier
        )[1]
    raise ValidationError(f"entité inconnue '{entity}'")  # pragma: no cover - checked before


def _write_rejects(frame: pd.DataFrame, errors: list[RowError], out: Path, source: Path) -> None:
    if out.resolve() == source.resolve():
        raise ValidationError("le fichier de rejets ne peut pas remplacer le fichier importé")
    reasons: dict[int, list[str]] = {}
    for e in errors:
        reasons.setdefault(e.row, []).append(f"{e.field} : {e.message}")
    lines = sorted(line for line in reasons if line in frame.index)
    rejected = frame.loc[lines].copy()
    rejected.insert(0, REJECTS_LINE, lines)
    rejected[REJECTS_REASON] = [" ; ".join(reasons[line]) for line in lines]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".xlsx":
        rejected.to_excel(out, index=False)
    else:
        rejected.to_csv(out, index=False)


FLUSH_EVERY = 500  # rows per flush: lets SQLAlchemy batch the INSERTs


class _WriteFailed(Exception):
    def __init__(self, first: int, last: int, exc: SQLAlchemyError) -> None:
        super().__init__(str(exc))
        self.first, self.last = first, last
        self.detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]


def _write_rows(
    repo: Repository,
    entity: str,
    rows: list[tuple[int, Any]],
    header: set[str],
    flush_every: int,
) -> tuple[dict[str, int], int]:
    """Write rows through the repository, flushing every ``flush_every`` rows; a database error
    becomes :class:`_WriteFailed` naming the lines of the failed flush."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    pending: list[int] = []
    line = 0
    try:
        for line, r in rows:
            pending.append(line)
            counts[_write(entity, repo, r, header)] += 1
            if len(pending) >= flush_every:
                repo.session.flush()
                pending = []
        repo.session.flush()
        flags = repo.refresh_priority_flags() if entity == "rues-prioritaires" else 0
        repo.session.flush()
    except SQLAlchemyError as exc:
        first = pending[0] if pending else line
        raise _WriteFailed(first, pending[-1] if pending else line, exc) from exc
    return counts, flags


def _locate_failure(
    engine: Engine, entity: str, rows: list[tuple[int, Any]], header: set[str], referential: Any
) -> _WriteFailed | None:
    """Replay the write one row per flush (then roll back) to name the refused line."""
    session = session_factory(engine)()
    try:
        _write_rows(Repository(session, referential=referential), entity, rows, header, 1)
    except _WriteFailed as failed:
        return failed
    finally:
        session.rollback()
        session.close()
    return None


def import_file(
    engine: Engine,
    entity: str,
    path: str | Path,
    *,
    referential: Any,
    skip_invalid: bool = False,
    rejects_path: str | Path | None = None,
    normaliser: Any = None,
) -> ImportReport:
    """Validate then import a CSV or Excel file of ``entity`` (see the module docstring).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        Migrated store.
    entity : str
        ``employeurs``, ``besoins``, ``demandeurs``, ``organismes``, ``formations``,
        ``sessions``, ``evenements`` or ``rues-prioritaires``.
    path : path
        ``.csv`` (UTF-8 or Windows-1252, ``;`` or ``,``) or ``.xlsx`` (first sheet).
    referential : Referential
        Codes are checked against it.
    skip_invalid : bool, default False
        Import the valid rows and reject the others instead of importing nothing.
    rejects_path : path, optional
        With ``skip_invalid``: CSV (or .xlsx) receiving the rejected rows, their line number
        (``ligne``) and reasons (``motif_rejet``). Not written when ``None``.
    normaliser : Normaliser or callable returning one, optional
        Turns free-text titles and skills into codes (``normalise_batch``); a callable is only
        called when the file holds free text. Without it, free text is a row error.

    Returns
    -------
    ImportReport

    Raises
    ------
    ImportValidationError
        Some rows are invalid (and not ``skip_invalid``), the header lacks a required column, or
        the database refused a write; nothing was written.
    """
    _check_entity(entity)
    path = Path(path)
    frame = read_table(path)
    model = ROW_MODELS[entity]
    report = ImportReport(entity, str(path))
    report.ignored_columns = [c for c in frame.columns if c not in model.model_fields]
    valid, errors = validate_frame(entity, frame, referential=referential)
    if any(e.row == 1 for e in errors):
        raise ImportValidationError(str(path), errors)
    valid, norm_errors, report.normalised = _normalise(entity, valid, normaliser, referential)
    errors += norm_errors
    header = set(frame.columns)
    session = session_factory(engine)()
    try:
        repo = Repository(session, referential=referential)
        bad = {e.row for e in errors}
        errors += _reference_errors(entity, [(n, r) for n, r in valid if n not in bad], repo, frame)
        errors.sort(key=lambda e: (e.row, e.field))
        bad = {e.row for e in errors}
        if errors and not skip_invalid:
            raise ImportValidationError(str(path), errors)
        _MODELS = {
            "employeurs": m.Employer,
            "besoins": m.Need,
            "demandeurs": m.Jobseeker,
            "organismes": m.Provider,
            "formations": m.Course,
            "sessions": m.CourseSession,
        }
        if entity in _MODELS:
            repo.prefetch(_MODELS[entity], [r.ref for n, r in valid if n not in bad])
        todo = [(n, r) for n, r in valid if n not in bad]
        try:
            counts, report.flags_changed = _write_rows(repo, entity, todo, header, FLUSH_EVERY)
            session.commit()
        except _WriteFailed as failed:
            session.rollback()
            if failed.first != failed.last:  # find the line: write again one row at a time
                failed = _locate_failure(engine, entity, todo, header, referential) or failed
            lines = (
                "" if failed.first == failed.last else f" (lignes {failed.first} à {failed.last})"
            )
            raise ImportValidationError(
                str(path),
                [
                    RowError(
                        failed.first, "*", f"écriture refusée par la base{lines} : {failed.detail}"
                    )
                ],
            ) from failed.__cause__
        for status, n in counts.items():
            setattr(report, status, n)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    report.errors = errors
    report.rejected = len(bad)
    if bad and rejects_path is not None:
        _write_rejects(frame, errors, Path(rejects_path), path)
        report.rejects_path = Path(rejects_path)
    return report


# --- export -------------------------------------------------------------------------------------
def _text(v: Any) -> str:
    return "" if v is None else str(v)


def _grouped(session: Any, model: Any, key: str, order: Any) -> dict[int, list]:
    """Rows of a child table grouped by their parent id, in ``order``."""
    out: dict[int, list] = {}
    for row in session.execute(select(model.__table__).order_by(order)):
        out.setdefault(getattr(row, key), []).append(row)
    return out


def export_rows(engine: Engine, entity: str, *, include_identity: bool = False) -> pd.DataFrame:
    """The rows of ``entity`` in the import column format, every cell as text, ordered by key."""
    _check_entity(entity)
    rows: list[dict[str, str]] = []
    with session_factory(engine)() as s:
        if entity == "employeurs":
            for e in s.execute(select(m.Employer).order_by(m.Employer.ref)).scalars():
                rows.append(
                    dict(
                        ref=e.ref,
                        nom=e.name,
                        siret=_text(e.siret),
                        code_naf=e.naf_code,
                        secteur=e.sector,
                        commune_insee=e.commune_insee,
                    )
                )
        elif entity == "organismes":
            for p in s.execute(select(m.Provider).order_by(m.Provider.ref)).scalars():
                rows.append(dict(ref=p.ref, nom=p.name))
        elif entity == "besoins":
            stmt = (
                select(m.Need)
                .options(selectinload(m.Need.skills), selectinload(m.Need.employer))
                .order_by(m.Need.ref)
            )
            for n in s.execute(stmt).scalars():
                skills = [SkillItem(k.skill_code, "", k.essential, k.level) for k in n.skills]
                rows.append(
                    dict(
                        ref=n.ref,
                        employeur_ref=n.employer.ref,
                        code_rome=n.code_rome,
                        intitule=n.title_typed,
                        description=n.description,
                        postes=str(n.positions),
                        date_embauche=format_date(n.hiring_date),
                        type_contrat=n.contract_type,
                        heures_hebdo=format_number(n.hours_per_week),
                        commune_insee=n.commune_insee,
                        permis_requis=format_bool(n.driving_licence_required),
                        niveau_min=_text(n.min_qualification_level),
                        certification_requise=_text(n.required_certification),
                        statut=n.status,
                        saisi_par=n.captured_by,
                        competences=format_need_skills(skills),
                    )
                )
        elif entity == "demandeurs":
            users = dict(s.execute(select(m.User.id, m.User.username)).all())
            # plain rows (no ORM objects): exports of tens of thousands of people stay fast
            skills_of = _grouped(s, m.JobseekerSkill, "jobseeker_id", m.JobseekerSkill.skill_code)
            exps_of = _grouped(s, m.JobseekerExperience, "jobseeker_id", m.JobseekerExperience.id)
            progs_of = _grouped(
                s, m.JobseekerProgramme, "jobseeker_id", m.JobseekerProgramme.programme
            )
            idents = (
                {i.jobseeker_id: i for i in s.execute(select(m.JobseekerIdentity.__table__))}
                if include_identity
                else {}
            )
            stmt = select(m.Jobseeker.__table__).order_by(m.Jobseeker.ref)
            for j in s.execute(stmt):
                row = dict(ref=j.ref)
                if include_identity:
                    i = idents.get(j.id) or m.JobseekerIdentity()
                    row |= dict(
                        prenom=_text(i.first_name),
                        nom=_text(i.last_name),
                        adresse=_text(i.address),
                        telephone=_text(i.phone),
                        email=_text(i.email),
                        date_naissance=format_date(i.birth_date),
                        genre=_text(i.gender),
                    )
                skills = [
                    SkillItem(k.skill_code, "", level=k.level, source=k.source)
                    for k in skills_of.get(j.id, ())
                ]
                row |= dict(
                    niveau_qualification=_text(j.qualification_level),
                    permis=format_bool(j.driving_licence),
                    vehicule=format_bool(j.has_vehicle),
                    trajet_max_km=format_number(j.max_commute_km),
                    commune_insee=j.home_commune_insee,
                    date_disponibilite=format_date(j.availability_date),
                    sans_emploi_depuis=format_date(j.unemployed_since),
                    heures_souhaitees=format_number(j.desired_hours_per_week),
                    conseiller=users.get(j.counsellor_id, "") if j.counsellor_id else "",
                    date_consentement=format_date(j.consent_date),
                    conservation_jusqu_au=format_date(j.retention_until),
                    statut=j.status,
                    competences=format_person_skills(skills),
                    experiences=format_experiences(exps_of.get(j.id, ())),
                    dispositifs=" | ".join(p.programme for p in progs_of.get(j.id, ())),
                )
                rows.append(row)
        elif entity == "formations":
            courses_stmt = (
                select(m.Course)
                .options(selectinload(m.Course.skills), selectinload(m.Course.provider))
                .order_by(m.Course.ref)
            )
            for c in s.execute(courses_stmt).scalars():
                taught = [SkillItem(k.skill_code) for k in c.skills if k.role == "taught"]
                prereq = [SkillItem(k.skill_code) for k in c.skills if k.role == "prerequisite"]
                rows.append(
                    dict(
                        ref=c.ref,
                        organisme_ref=c.provider.ref,
                        intitule=c.title,
                        description=c.description,
                        formacode=_text(c.formacode),
                        code_rncp=_text(c.code_rncp),
                        certification=_text(c.certification),
                        code_rome=_text(c.code_rome),
                        heures=format_number(c.hours),
                        cout_eur=format_number(c.cost_eur),
                        niveau_min=_text(c.min_qualification_level),
                        delivre_permis=format_bool(c.grants_driving_licence),
                        competences_enseignees=format_skill_codes(taught),
                        prerequis=format_skill_codes(prereq),
                    )
                )
        elif entity == "sessions":
            sessions_stmt = (
                select(m.CourseSession)
                .options(selectinload(m.CourseSession.course))
                .order_by(m.CourseSession.ref)
            )
            for x in s.execute(sessions_stmt).scalars():
                rows.append(
                    dict(
                        ref=x.ref,
                        formation_ref=x.course.ref,
                        date_debut=format_date(x.start_date),
                        date_fin=format_date(x.end_date),
                        places=str(x.seats),
                        places_prises=str(x.seats_taken),
                        commune_insee=x.commune_insee,
                        financement=x.funding,
                    )
                )
        elif entity == "evenements":
            outcomes_stmt = (
                select(m.Outcome, m.Jobseeker.ref, m.Need.ref)
                .join(m.Jobseeker, m.Jobseeker.id == m.Outcome.jobseeker_id)
                .join(m.Need, m.Need.id == m.Outcome.need_id)
                .order_by(m.Outcome.id)
            )
            for o, jr, nr in s.execute(outcomes_stmt).all():
                rows.append(
                    dict(
                        demandeur_ref=jr,
                        besoin_ref=nr,
                        evenement=o.event,
                        date=format_date(o.event_date),
                        par=o.by_user,
                    )
                )
        elif entity == "rues-prioritaires":
            streets_stmt = select(m.PriorityStreet).order_by(
                m.PriorityStreet.commune_insee, m.PriorityStreet.street_key
            )
            for street in s.execute(streets_stmt).scalars():
                rows.append(
                    dict(
                        commune_insee=street.commune_insee,
                        rue=street.street,
                        quartier=street.district,
                    )
                )
    columns = [
        c
        for c in ROW_MODELS[entity].model_fields
        if include_identity or entity != "demandeurs" or c not in IDENTITY_COLUMNS
    ]
    return pd.DataFrame(rows, columns=columns, dtype=object)


def export_entity(
    engine: Engine,
    entity: str,
    path: str | Path,
    *,
    include_identity: bool = False,
    columns: Sequence[str] | None = None,
) -> int:
    """Write ``entity`` in the import column format; return the number of rows written.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    entity : str
        One of :data:`ENTITIES`.
    path : path
        ``.xlsx`` for Excel, anything else for CSV (UTF-8, ``,`` separator).
    include_identity : bool, default False
        Jobseekers only: add the identity columns (name, address, birth date, gender...).
        Without it the export is pseudonymised (``ref`` only).
    columns : sequence of str, optional
        Keep only these columns (in this order).
    """
    path = Path(path)
    frame = export_rows(engine, entity, include_identity=include_identity)
    if columns is not None:
        unknown = [c for c in columns if c not in frame.columns]
        if unknown:
            raise ValidationError(f"colonne(s) inconnue(s) pour {entity} : {', '.join(unknown)}")
        frame = frame[list(columns)]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return len(frame)

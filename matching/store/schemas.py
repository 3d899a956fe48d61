"""Import rows at the edge of the system: one pydantic v2 model per entity, French column names.

Cells arrive as text (CSV) or as Excel values (numbers, dates); the parsers below turn them into
typed values or raise ``ValueError`` with a French message saying what was expected and what was
received, so that the importer reports ``ligne 12, colonne date_embauche : date invalide
'31/02/2026'``. Each parser has a formatter that writes the same syntax back (export), and
``parse(format(x)) == x``. The column format is documented in ``docs/import-formats.md``.

Referential checks (ROME codes, skill codes, the 39 communes, priority districts) run inside the
models when the validation context holds the referential::

    NeedRow.model_validate(record, context={"referential": referential})

Foreign natural keys (an employer's ``ref``...) need the database and are checked by
:mod:`matching.store.io`.

Multi-valued cells separate items with ``|`` (spaces around it are ignored):

* need skills ``competences``: ``code_ogr[:E|O[:niveau]]`` (E essential, O optional, default E;
  level 1-3, default 2), e.g. ``400557:E:2 | 483431:O``;
* jobseeker skills ``competences``: ``code_ogr[:niveau[:source]]`` (source declared, validated or
  certified; French spellings accepted), e.g. ``400557:3:validated``;
* course skills ``competences_enseignees`` / ``prerequis``: ``code_ogr``, e.g. ``400557 | 483431``;
* in every skills cell the code may be replaced by a phrase in free text (``accueil
  téléphonique:E``), which the importer turns into a code with the normaliser;
* ``experiences``: ``code_rome[:mois[:fin]]`` (months default 12, end date optional), e.g.
  ``D1408:18:2025-06-30 | N1103:6``;
* ``dispositifs``: ``PLIE | RSA``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, field_validator

from matching.store import models as m
from matching.store.geo import fold

SEPARATOR = " | "
_FR_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_ROME = re.compile(r"^[A-N]\d{4}$")


# --- cell parsers and formatters ----------------------------------------------------------------
def is_blank(v: Any) -> bool:
    """True for an empty cell: ``None``, NaN, NaT or whitespace only."""
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, str):
        return not v.strip()
    try:  # pandas.NaT and friends
        return bool(v != v)
    except Exception:  # exotic objects are simply not blank
        return False


def parse_text(v: Any) -> str:
    """Cell as stripped text ("" when empty); Excel numbers 12.0 become ``"12"``."""
    if is_blank(v):
        return ""
    if isinstance(v, bool):
        return "oui" if v else "non"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == datetime.min.time() else v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return str(v).strip()


def parse_date(v: Any) -> date | None:
    """ISO ``2026-03-31`` or French ``31/03/2026`` (Excel dates too); ``None`` when empty.

    >>> parse_date("31/03/2026")
    datetime.date(2026, 3, 31)
    """
    if is_blank(v):
        return None
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    text = parse_text(v)
    french, iso = _FR_DATE.match(text), _ISO_DATE.match(text)
    try:
        if french:
            d, mth, y = (int(x) for x in french.groups())
            return date(y, mth, d)
        if iso:
            y, mth, d = (int(x) for x in iso.groups())
            return date(y, mth, d)
    except ValueError:
        pass
    raise ValueError(f"date invalide '{text}'")


def format_date(d: date | None) -> str:
    return d.isoformat() if d is not None else ""


_TRUE = {"oui", "o", "true", "vrai", "1", "yes", "y", "x"}
_FALSE = {"non", "n", "false", "faux", "0", "no"}


def parse_bool(v: Any) -> bool:
    """``oui``/``non`` (also true/false, vrai/faux, 1/0, x); an empty cell is ``non``."""
    if isinstance(v, bool):
        return v
    if is_blank(v):
        return False
    if isinstance(v, int | float) and v in (0, 1):
        return bool(v)
    text = parse_text(v).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"oui ou non attendu, reçu '{parse_text(v)}'")


def format_bool(b: bool) -> str:
    return "oui" if b else "non"


def parse_int(v: Any) -> int | None:
    """Whole number (``12``, ``12.0``, ``12,0``); ``None`` when empty."""
    if is_blank(v):
        return None
    if isinstance(v, bool):
        raise ValueError(f"nombre entier attendu, reçu '{parse_text(v)}'")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    text = parse_text(v)
    if re.fullmatch(r"[+-]?\d{1,18}", text):
        return int(text)
    if re.fullmatch(r"[+-]?\d{1,18}[.,]0+", text):
        return int(re.split(r"[.,]", text)[0])
    raise ValueError(f"nombre entier attendu, reçu '{text}'")


def parse_float(v: Any) -> float | None:
    """Decimal number with ``.`` or ``,`` (spaces as thousands separators allowed)."""
    if is_blank(v):
        return None
    if isinstance(v, bool):
        raise ValueError(f"nombre attendu, reçu '{parse_text(v)}'")
    if isinstance(v, int | float):
        return float(v)
    text = parse_text(v)
    cleaned = text.replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace(",", ".")
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", cleaned):
        raise ValueError(f"nombre attendu, reçu '{text}'")
    value = float(cleaned)
    if not math.isfinite(value):
        raise ValueError(f"nombre attendu, reçu '{text}'")
    return value


def format_number(x: float | int | None) -> str:
    """``35.0`` -> ``"35"``, ``17.5`` -> ``"17.5"``, ``None`` -> ``""``."""
    if x is None:
        return ""
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return repr(x) if isinstance(x, float) else str(x)


def split_items(v: Any) -> list[str]:
    """Items of a multi-valued cell (``a | b``), empty items dropped."""
    text = parse_text(v)
    return [item.strip() for item in text.split("|") if item.strip()] if text else []


@dataclass(frozen=True)
class SkillItem:
    """One item of a skills cell: a skill code, or a phrase to normalise (``code`` is None)."""

    code: int | None
    phrase: str = ""
    essential: bool = True
    level: int = 2
    source: str = "declared"

    @property
    def label(self) -> str:
        return str(self.code) if self.code is not None else f"'{self.phrase}'"


_SOURCES = {
    "declared": "declared",
    "declare": "declared",
    "declaree": "declared",
    "validated": "validated",
    "valide": "validated",
    "validee": "validated",
    "certified": "certified",
    "certifie": "certified",
    "certifiee": "certified",
}


def _skill_head(item: str, head: str) -> tuple[int | None, str]:
    if not head:
        raise ValueError(f"compétence '{item}' : code OGR ou libellé attendu avant ':'")
    if re.fullmatch(r"\d{1,9}", head):
        return int(head), ""
    if re.fullmatch(r"[+-]?\d+([.,]\d*)?", head):
        raise ValueError(f"compétence '{item}' : code OGR entier positif attendu")
    return None, head


def _level(item: str, text: str) -> int:
    if not text:
        return 2
    if text not in ("1", "2", "3"):
        raise ValueError(f"compétence '{item}' : niveau 1, 2 ou 3 attendu, reçu '{text}'")
    return int(text)


def _no_duplicates(items: list[SkillItem], what: str = "compétence") -> list[SkillItem]:
    seen: set[Any] = set()
    for it in items:
        key = it.code if it.code is not None else fold(it.phrase)
        if key in seen:
            raise ValueError(f"{what} {it.label} présente deux fois")
        seen.add(key)
    return items


def parse_need_skills(v: Any) -> list[SkillItem]:
    """``code_ogr[:E|O[:niveau]] | ...`` (a phrase may replace the code).

    >>> [(s.code, s.essential, s.level) for s in parse_need_skills("400557:E:3 | 483431:O")]
    [(400557, True, 3), (483431, False, 2)]
    """
    out = []
    for item in split_items(v):
        parts = [p.strip() for p in item.split(":")]
        if len(parts) > 3:
            raise ValueError(f"compétence '{item}' : code:E|O:niveau attendu (ex. 400557:E:2)")
        code, phrase = _skill_head(item, parts[0])
        kind = parts[1].upper() if len(parts) > 1 and parts[1] else "E"
        if kind not in ("E", "O"):
            raise ValueError(
                f"compétence '{item}' : E (essentielle) ou O (souhaitée) attendu, reçu '{parts[1]}'"
            )
        level = _level(item, parts[2] if len(parts) > 2 else "")
        out.append(SkillItem(code, phrase, essential=kind == "E", level=level))
    return _no_duplicates(out)


def format_need_skills(items: Iterable[SkillItem]) -> str:
    return SEPARATOR.join(
        f"{s.code if s.code is not None else s.phrase}:{'E' if s.essential else 'O'}:{s.level}"
        for s in items
    )


def parse_person_skills(v: Any) -> list[SkillItem]:
    """``code_ogr[:niveau[:source]] | ...`` (a phrase may replace the code).

    >>> [(s.code, s.level, s.source) for s in parse_person_skills("400557:3:validé")]
    [(400557, 3, 'validated')]
    """
    out = []
    for item in split_items(v):
        parts = [p.strip() for p in item.split(":")]
        if len(parts) > 3:
            raise ValueError(
                f"compétence '{item}' : code:niveau:source attendu (ex. 400557:2:declared)"
            )
        code, phrase = _skill_head(item, parts[0])
        level = _level(item, parts[1] if len(parts) > 1 else "")
        raw_source = parts[2] if len(parts) > 2 and parts[2] else "declared"
        source = _SOURCES.get(raw_source.lower()) or _SOURCES.get(fold(raw_source))
        if source is None:
            raise ValueError(
                f"compétence '{item}' : source declared, validated ou certified attendue, "
                f"reçu '{raw_source}'"
            )
        out.append(SkillItem(code, phrase, level=level, source=source))
    return _no_duplicates(out)


def format_person_skills(items: Iterable[SkillItem]) -> str:
    return SEPARATOR.join(
        f"{s.code if s.code is not None else s.phrase}:{s.level}:{s.source}" for s in items
    )


def parse_skill_codes(v: Any) -> list[SkillItem]:
    """``code_ogr | code_ogr | ...`` (course skills; a phrase may replace a code)."""
    out = []
    for item in split_items(v):
        if ":" in item:
            raise ValueError(f"compétence '{item}' : un code OGR par élément attendu (sans ':')")
        code, phrase = _skill_head(item, item)
        out.append(SkillItem(code, phrase))
    return _no_duplicates(out)


def format_skill_codes(items: Iterable[SkillItem]) -> str:
    return SEPARATOR.join(str(s.code) if s.code is not None else s.phrase for s in items)


@dataclass(frozen=True)
class ExperienceItem:
    code_rome: str
    months: int = 12
    ended_on: date | None = None


def parse_experiences(v: Any) -> list[ExperienceItem]:
    """``code_rome[:mois[:fin]] | ...`` e.g. ``D1408:18:2025-06-30 | N1103:6``."""
    out = []
    for item in split_items(v):
        parts = [p.strip() for p in item.split(":")]
        hint = "code_rome:mois:fin attendu (ex. D1408:18 ou D1408:18:2025-06-30)"
        if len(parts) > 3 or not _ROME.match(parts[0].upper()):
            raise ValueError(f"expérience '{item}' : {hint}")
        try:
            months = parse_int(parts[1]) if len(parts) > 1 and parts[1] else 12
            ended = parse_date(parts[2]) if len(parts) > 2 else None
        except ValueError as exc:
            raise ValueError(f"expérience '{item}' : {exc}") from None
        if months is None or not 0 <= months <= 720:
            raise ValueError(f"expérience '{item}' : nombre de mois entre 0 et 720 attendu")
        out.append(ExperienceItem(parts[0].upper(), months, ended))
    return out


def format_experiences(items: Iterable[ExperienceItem]) -> str:
    return SEPARATOR.join(
        f"{e.code_rome}:{e.months}" + (f":{e.ended_on.isoformat()}" if e.ended_on else "")
        for e in items
    )


def parse_programmes(v: Any) -> list[str]:
    """``PLIE | RSA`` (upper-cased, at most 20 characters each, no duplicates)."""
    out: list[str] = []
    for item in split_items(v):
        code = item.upper()
        if len(code) > 20:
            raise ValueError(f"dispositif '{item}' : 20 caractères au plus")
        if code in out:
            raise ValueError(f"dispositif '{item}' présent deux fois")
        out.append(code)
    return out


def _choice(values: tuple[str, ...], label: str, default: str | None = None):
    canonical = {fold(v): v for v in values}

    def check(v: Any) -> str:
        text = parse_text(v)
        if not text and default is not None:
            return default
        if text in values:
            return text
        if fold(text) in canonical:  # case and accents do not matter: "intérim" is "interim"
            return canonical[fold(text)]
        raise ValueError(f"{label} invalide '{text}' (attendu : {', '.join(values)})")

    return check


def _maxlen(n: int):
    def check(v: Any) -> str:
        text = parse_text(v)
        if len(text) > n:
            raise ValueError(f"{n} caractères au plus, reçu {len(text)}")
        return text

    return check


def _required_text(v: Any) -> str:
    text = parse_text(v)
    if not text:
        raise ValueError("valeur obligatoire manquante")
    return text


def _required(parser):
    def check(v: Any):
        if is_blank(v):
            raise ValueError("valeur obligatoire manquante")
        return parser(v)

    return check


Ref = Annotated[str, BeforeValidator(_required_text), BeforeValidator(_maxlen(40))]
Req = Annotated[str, BeforeValidator(_required_text)]
Text = Annotated[str, BeforeValidator(parse_text)]
DateReq = Annotated[date, BeforeValidator(_required(parse_date))]
DateOpt = Annotated[date | None, BeforeValidator(parse_date)]
Bool = Annotated[bool, BeforeValidator(parse_bool)]
IntReq = Annotated[int, BeforeValidator(_required(parse_int))]
IntOpt = Annotated[int | None, BeforeValidator(parse_int)]
FloatReq = Annotated[float, BeforeValidator(_required(parse_float))]
FloatOpt = Annotated[float | None, BeforeValidator(parse_float)]


def _referential(info: ValidationInfo):
    return (info.context or {}).get("referential")


def check_commune(code: str, info: ValidationInfo) -> str:
    ref = _referential(info)
    if ref is not None and code and code not in ref.commune_index:
        raise ValueError(
            f"commune inconnue '{code}' (code INSEE d'une des {len(ref.commune_index)} "
            "communes d'Amiens Métropole attendu, ex. 80021 pour Amiens)"
        )
    return code


def check_rome(code: str, info: ValidationInfo) -> str:
    code = code.upper()
    ref = _referential(info)
    if code and not _ROME.match(code):
        raise ValueError(f"code ROME invalide '{code}' (lettre A-N puis 4 chiffres, ex. D1408)")
    if ref is not None and code and not ref.has_occupation(code):
        raise ValueError(f"code ROME inconnu '{code}'")
    return code


def check_skills(items: list[SkillItem], info: ValidationInfo) -> list[SkillItem]:
    ref = _referential(info)
    if ref is not None:
        unknown = [str(s.code) for s in items if s.code is not None and not ref.has_skill(s.code)]
        if unknown:
            raise ValueError(f"code(s) de compétence inconnu(s) : {', '.join(unknown)}")
    return items


def _level_range(v: int | None) -> int | None:
    if v is not None and not 3 <= v <= 8:
        raise ValueError(f"niveau de qualification 3 à 8 (ou vide) attendu, reçu {v}")
    return v


# --- row models -----------------------------------------------------------------------------------
class Row(BaseModel):
    """One data row of an import file (columns by their French names; unknown columns ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class EmployerRow(Row):
    ref: Ref
    nom: Annotated[str, BeforeValidator(_required_text), BeforeValidator(_maxlen(200))]
    siret: Text = ""
    code_naf: Req
    secteur: Annotated[str, BeforeValidator(_choice(m.SECTORS, "secteur"))]
    commune_insee: Req

    _commune = field_validator("commune_insee")(check_commune)

    @field_validator("siret")
    @classmethod
    def _siret(cls, v: str) -> str:
        v = v.replace(" ", "")
        if v and not re.fullmatch(r"\d{14}", v):
            raise ValueError(f"SIRET de 14 chiffres attendu, reçu '{v}'")
        return v

    @field_validator("code_naf")
    @classmethod
    def _naf(cls, v: str) -> str:
        v = v.upper().replace(".", "")
        if not re.fullmatch(r"\d{2}(\d{2}[A-Z]?)?", v):
            raise ValueError(f"code NAF invalide '{v}' (ex. 82 ou 8220Z)")
        return v


class NeedRow(Row):
    ref: Ref
    employeur_ref: Req
    code_rome: Text = ""
    intitule: Annotated[str, BeforeValidator(_required_text), BeforeValidator(_maxlen(300))]
    description: Text = ""
    postes: IntReq
    date_embauche: DateReq
    type_contrat: Annotated[str, BeforeValidator(_choice(m.CONTRACT_TYPES, "type de contrat"))]
    heures_hebdo: FloatOpt = None
    commune_insee: Req
    permis_requis: Bool = False
    niveau_min: IntOpt = None
    certification_requise: Annotated[str, BeforeValidator(_maxlen(20))] = ""
    statut: Annotated[str, BeforeValidator(_choice(m.NEED_STATUSES, "statut", "open"))] = "open"
    saisi_par: Annotated[str, BeforeValidator(_maxlen(80))] = ""
    competences: Annotated[list[SkillItem], BeforeValidator(parse_need_skills)] = []

    _commune = field_validator("commune_insee")(check_commune)
    _rome = field_validator("code_rome")(check_rome)
    _skills = field_validator("competences")(check_skills)
    _level = field_validator("niveau_min")(_level_range)

    @field_validator("postes")
    @classmethod
    def _positions(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"au moins 1 poste attendu, reçu {v}")
        return v

    @field_validator("heures_hebdo")
    @classmethod
    def _hours(cls, v: float | None) -> float | None:
        if v is not None and not 0 < v <= 48:
            raise ValueError(f"entre 0 et 48 heures par semaine attendu, reçu {format_number(v)}")
        return v


IDENTITY_COLUMNS = ("prenom", "nom", "adresse", "telephone", "email", "date_naissance", "genre")


class JobseekerRow(Row):
    ref: Ref
    prenom: Annotated[str, BeforeValidator(_maxlen(120))] = ""
    nom: Annotated[str, BeforeValidator(_maxlen(120))] = ""
    adresse: Annotated[str, BeforeValidator(_maxlen(300))] = ""
    telephone: Annotated[str, BeforeValidator(_maxlen(30))] = ""
    email: Annotated[str, BeforeValidator(_maxlen(200))] = ""
    date_naissance: DateOpt = None
    genre: Annotated[str, BeforeValidator(_choice(("F", "M", "X"), "genre", ""))] = ""
    niveau_qualification: IntOpt = None
    permis: Bool = False
    vehicule: Bool = False
    trajet_max_km: FloatOpt = None
    commune_insee: Req
    date_disponibilite: DateReq
    sans_emploi_depuis: DateOpt = None
    heures_souhaitees: FloatOpt = None
    conseiller: Text = ""
    date_consentement: DateOpt = None
    conservation_jusqu_au: DateOpt = None
    statut: Annotated[str, BeforeValidator(_choice(m.JOBSEEKER_STATUSES, "statut", "active"))] = (
        "active"
    )
    competences: Annotated[list[SkillItem], BeforeValidator(parse_person_skills)] = []
    experiences: Annotated[list[ExperienceItem], BeforeValidator(parse_experiences)] = []
    dispositifs: Annotated[list[str], BeforeValidator(parse_programmes)] = []

    _commune = field_validator("commune_insee")(check_commune)
    _skills = field_validator("competences")(check_skills)
    _level = field_validator("niveau_qualification")(_level_range)

    @field_validator("trajet_max_km", "heures_souhaitees")
    @classmethod
    def _positive(cls, v: float | None) -> float | None:
        if v is not None and v < 0:
            raise ValueError(f"nombre positif attendu, reçu {format_number(v)}")
        return v

    @field_validator("experiences")
    @classmethod
    def _experiences(cls, v: list[ExperienceItem], info: ValidationInfo):
        ref = _referential(info)
        if ref is not None:
            unknown = [e.code_rome for e in v if not ref.has_occupation(e.code_rome)]
            if unknown:
                raise ValueError(f"code(s) ROME inconnu(s) : {', '.join(unknown)}")
        return v


class ProviderRow(Row):
    ref: Ref
    nom: Annotated[str, BeforeValidator(_required_text), BeforeValidator(_maxlen(200))]


class CourseRow(Row):
    ref: Ref
    organisme_ref: Req
    intitule: Annotated[str, BeforeValidator(_required_text), BeforeValidator(_maxlen(300))]
    description: Text = ""
    formacode: Annotated[str, BeforeValidator(_maxlen(10))] = ""
    code_rncp: Annotated[str, BeforeValidator(_maxlen(20))] = ""
    certification: Annotated[str, BeforeValidator(_maxlen(300))] = ""
    code_rome: Text = ""
    heures: FloatReq
    cout_eur: FloatOpt = None
    niveau_min: IntOpt = None
    delivre_permis: Bool = False
    competences_enseignees: Annotated[list[SkillItem], BeforeValidator(parse_skill_codes)] = []
    prerequis: Annotated[list[SkillItem], BeforeValidator(parse_skill_codes)] = []

    _rome = field_validator("code_rome")(check_rome)
    _skills = field_validator("competences_enseignees", "prerequis")(check_skills)
    _level = field_validator("niveau_min")(_level_range)

    @field_validator("heures")
    @classmethod
    def _hours(cls, v: float) -> float:
        if v <= 0:
            raise ValueError(f"durée en heures > 0 attendue, reçu {format_number(v)}")
        return v

    @field_validator("cout_eur")
    @classmethod
    def _cost(cls, v: float | None) -> float | None:
        if v is not None and v < 0:
            raise ValueError(f"coût positif ou nul attendu, reçu {format_number(v)}")
        return v


class SessionRow(Row):
    ref: Ref
    formation_ref: Req
    date_debut: DateReq
    date_fin: DateReq
    places: IntReq
    places_prises: IntOpt = None
    commune_insee: Req
    financement: Annotated[str, BeforeValidator(_maxlen(80))] = ""

    _commune = field_validator("commune_insee")(check_commune)

    @field_validator("date_fin")
    @classmethod
    def _end(cls, v: date, info: ValidationInfo) -> date:
        start = info.data.get("date_debut")
        if start is not None and v < start:
            raise ValueError(
                f"fin ({v.strftime('%d/%m/%Y')}) avant le début ({start.strftime('%d/%m/%Y')})"
            )
        return v

    @field_validator("places")
    @classmethod
    def _seats(cls, v: int) -> int:
        if v < 0:
            raise ValueError(f"nombre de places positif ou nul attendu, reçu {v}")
        return v

    @field_validator("places_prises")
    @classmethod
    def _taken(cls, v: int | None, info: ValidationInfo) -> int | None:
        seats = info.data.get("places")
        if v is not None and (v < 0 or (seats is not None and v > seats)):
            raise ValueError(f"entre 0 et {seats} (places) attendu, reçu {v}")
        return v


class OutcomeRow(Row):
    demandeur_ref: Req
    besoin_ref: Req
    evenement: Annotated[str, BeforeValidator(_choice(m.OUTCOME_EVENTS, "événement"))]
    date: DateReq
    par: Annotated[str, BeforeValidator(_maxlen(80))] = ""


class PriorityStreetRow(Row):
    commune_insee: Req
    rue: Annotated[str, BeforeValidator(_required_text), BeforeValidator(_maxlen(200))]
    quartier: Req

    _commune = field_validator("commune_insee")(check_commune)

    @field_validator("quartier")
    @classmethod
    def _district(cls, v: str, info: ValidationInfo) -> str:
        ref = _referential(info)
        commune = info.data.get("commune_insee")
        if ref is None or commune is None:
            return v
        table = ref.table("priority_districts")
        names = table.loc[table["code_insee"].astype(str) == commune, "name"].tolist()
        for name in names:
            if fold(name) == fold(v):
                return name
        known = ", ".join(names) if names else "aucun dans cette commune"
        raise ValueError(f"quartier prioritaire inconnu '{v}' (attendu : {known})")


ROW_MODELS: dict[str, type[Row]] = {
    "employeurs": EmployerRow,
    "besoins": NeedRow,
    "demandeurs": JobseekerRow,
    "organismes": ProviderRow,
    "formations": CourseRow,
    "sessions": SessionRow,
    "evenements": OutcomeRow,
    "rues-prioritaires": PriorityStreetRow,
}

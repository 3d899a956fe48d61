"""Typed request/response models of the HTTP API (French field names as exposed).

Response models read the services' typed results (English attribute names) through
``validation_alias``; request models give the services their English values through
``serialization_alias`` (:func:`values`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def values(model: BaseModel, *, exclude: set[str] | None = None) -> dict[str, Any]:
    """English attribute -> value: for a creation (``*In``), every field that has a value
    (defaults included); for an update (``*Patch``), only the fields the client sent."""
    if type(model).__name__.endswith("Patch"):
        return model.model_dump(by_alias=True, exclude_unset=True, exclude=exclude)
    return model.model_dump(by_alias=True, exclude_none=True, exclude=exclude)


# --- errors ---------------------------------------------------------------------------------
class ErrorBody(BaseModel):
    code: str = Field(examples=["introuvable"])
    message: str = Field(examples=["besoin 'BES9999' introuvable"])
    details: list[dict[str, Any]] = Field(
        default_factory=list,
        examples=[[{"champ": "postes", "message": "nombre entier attendu", "type": "int_parsing"}]],
    )


class ErrorResponse(BaseModel):
    erreur: ErrorBody


def errors_doc(*codes: int) -> dict:
    return {c: {"model": ErrorResponse} for c in (401, 403, 422, *codes)}


class PageOf(BaseModel, Generic[T]):
    total: int = Field(description="Nombre total d'éléments correspondant aux filtres")
    limite: int
    decalage: int
    elements: list[T]


# --- accounts -------------------------------------------------------------------------------
class TokenRequest(In):
    identifiant: str = Field(examples=["guichet"])
    mot_de_passe: str = Field(examples=["passerelle"])


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expire_dans: int = Field(description="Durée de validité en secondes", examples=[28800])
    role: str = Field(examples=["desk"])


class UserOut(Out):
    identifiant: str = Field(validation_alias="username")
    nom: str = Field(validation_alias="full_name")
    role: str
    actif: bool = Field(validation_alias="active")


class UserIn(In):
    identifiant: str = Field(min_length=1, max_length=80, examples=["conseiller9"])
    nom: str = Field("", examples=["Camille Martin"])
    role: Literal["counsellor", "desk", "admin"]
    mot_de_passe: str = Field(min_length=8)


class UserPatch(In):
    actif: bool | None = None
    mot_de_passe: str | None = Field(None, min_length=8)


class AuditEntryOut(Out):
    date: dt.datetime = Field(validation_alias="at")
    compte: str = Field(validation_alias="username")
    action: str
    entite: str = Field(validation_alias="entity")
    reference: str = Field(validation_alias="entity_ref")
    motif: str = Field(validation_alias="reason_code")
    detail: str


# --- employers ------------------------------------------------------------------------------
Sector = Literal[
    "relation_client_numerique",
    "metallurgie_btp",
    "logistique",
    "agroalimentaire_biotech_sante",
    "tourisme",
    "energie",
    "autre",
]


class EmployerOut(Out):
    ref: str = Field(examples=["EMP001"])
    nom: str = Field(validation_alias="name")
    siret: str | None
    code_naf: str = Field(validation_alias="naf_code")
    secteur: str = Field(validation_alias="sector")
    commune_insee: str
    besoins_ouverts: int = Field(validation_alias="open_needs")


class EmployerPatch(In):
    nom: str | None = Field(None, serialization_alias="name", max_length=200)
    siret: str | None = Field(None, pattern=r"^\d{14}$")
    code_naf: str | None = Field(None, serialization_alias="naf_code", examples=["8220Z"])
    secteur: Sector | None = Field(None, serialization_alias="sector")
    commune_insee: str | None = Field(None, pattern=r"^\d[0-9AB]\d{3}$", examples=["80021"])


class EmployerIn(EmployerPatch):
    ref: str = Field(min_length=1, max_length=40, examples=["EMP-CALL-01"])
    nom: str = Field(serialization_alias="name", max_length=200, examples=["Centre d'appels"])
    code_naf: str = Field(serialization_alias="naf_code", examples=["8220Z"])
    secteur: Sector = Field(serialization_alias="sector")
    commune_insee: str = Field(pattern=r"^\d[0-9AB]\d{3}$", examples=["80021"])


# --- needs ----------------------------------------------------------------------------------
Contract = Literal["CDI", "CDD", "interim", "alternance", "CDDI", "saisonnier"]
NeedStatus = Literal["draft", "open", "filled", "cancelled"]


class NeedSkillOut(Out):
    code: int
    libelle: str = Field(validation_alias="label")
    essentielle: bool = Field(validation_alias="essential")
    niveau: int = Field(validation_alias="level")


class NeedSkillIn(In):
    code: int = Field(description="Code OGR de la compétence (ROME 4.0)", examples=[117005])
    essentielle: bool = True
    niveau: int = Field(2, ge=1, le=3)


class NeedOut(Out):
    ref: str = Field(examples=["BES0001"])
    intitule: str = Field(validation_alias="title", examples=["Téléconseiller(e)"])
    code_rome: str = Field(examples=["D1408"])
    metier: str = Field(validation_alias="occupation_label")
    employeur: str = Field(validation_alias="employer_ref")
    employeur_nom: str = Field(validation_alias="employer_name")
    postes: int = Field(validation_alias="positions")
    date_embauche: dt.date = Field(validation_alias="hiring_date")
    contrat: str = Field(validation_alias="contract_type")
    heures_semaine: float = Field(validation_alias="hours_per_week")
    commune_insee: str
    permis_requis: bool = Field(validation_alias="driving_licence_required")
    niveau_min: int | None = Field(validation_alias="min_qualification_level")
    certification_requise: str | None = Field(validation_alias="required_certification")
    statut: str = Field(validation_alias="status")
    description: str
    saisi_par: str = Field(validation_alias="captured_by")
    competences: list[NeedSkillOut] = Field(validation_alias="skills")


class NeedPatch(In):
    intitule: str | None = Field(None, serialization_alias="title_typed", max_length=300)
    code_rome: str | None = Field(None, pattern=r"^[A-N]\d{4}$")
    postes: int | None = Field(None, ge=1, serialization_alias="positions")
    date_embauche: dt.date | None = Field(None, serialization_alias="hiring_date")
    contrat: Contract | None = Field(None, serialization_alias="contract_type")
    heures_semaine: float | None = Field(None, gt=0, le=48, serialization_alias="hours_per_week")
    commune_insee: str | None = Field(None, pattern=r"^\d[0-9AB]\d{3}$")
    permis_requis: bool | None = Field(None, serialization_alias="driving_licence_required")
    niveau_min: int | None = Field(None, ge=3, le=8, serialization_alias="min_qualification_level")
    certification_requise: str | None = Field(None, serialization_alias="required_certification")
    statut: NeedStatus | None = Field(None, serialization_alias="status")
    description: str | None = None
    competences: list[NeedSkillIn] | None = Field(
        None, description="Remplace toutes les compétences du besoin"
    )


class NeedIn(NeedPatch):
    """A need captured by the business desk. ``code_rome`` is the occupation the desk confirmed
    among the suggestions (``GET /api/v1/suggestions?type=metier``); without ``competences`` the
    core skills of the occupation (referential) are used."""

    ref: str | None = Field(None, max_length=40, description="Attribuée (BESnnnn) si absente")
    employeur: str = Field(examples=["EMP001"])
    intitule: str = Field(serialization_alias="title_typed", examples=["Téléconseiller(e)"])
    code_rome: str = Field(pattern=r"^[A-N]\d{4}$", examples=["D1408"])
    postes: int = Field(ge=1, serialization_alias="positions", examples=[12])
    date_embauche: dt.date = Field(serialization_alias="hiring_date", examples=["2027-03-01"])
    contrat: Contract = Field("CDI", serialization_alias="contract_type")
    commune_insee: str = Field(pattern=r"^\d[0-9AB]\d{3}$", examples=["80021"])


# --- jobseekers -----------------------------------------------------------------------------
class PersonSkillOut(Out):
    code: int
    libelle: str = Field(validation_alias="label")
    niveau: int = Field(validation_alias="level")
    source: str


class ExperienceOut(Out):
    code_rome: str
    metier: str = Field(validation_alias="label")
    mois: int = Field(validation_alias="months")
    fin: dt.date | None = Field(validation_alias="ended_on")


class JobseekerOut(Out):
    """Profile under a pseudonymous reference (no identity: see ``/identite``)."""

    ref: str = Field(examples=["DE00042"])
    niveau_qualification: int | None = Field(validation_alias="qualification_level")
    permis: bool = Field(validation_alias="driving_licence")
    vehicule: bool = Field(validation_alias="has_vehicle")
    distance_max_km: float = Field(validation_alias="max_commute_km")
    commune_insee: str = Field(validation_alias="home_commune_insee")
    disponible_le: dt.date = Field(validation_alias="availability_date")
    sans_emploi_depuis: dt.date | None = Field(validation_alias="unemployed_since")
    heures_souhaitees: float | None = Field(validation_alias="desired_hours_per_week")
    conseiller: str | None = Field(validation_alias="counsellor")
    statut: str = Field(validation_alias="status")
    competences: list[PersonSkillOut] = Field(validation_alias="skills")
    experiences: list[ExperienceOut]
    dispositifs: list[str] = Field(validation_alias="programmes")


class IdentityOut(Out):
    ref: str
    prenom: str = Field(validation_alias="first_name")
    nom: str = Field(validation_alias="last_name")
    adresse: str = Field(validation_alias="address")
    code_postal: str = Field(validation_alias="postcode")
    telephone: str = Field(validation_alias="phone")
    email: str
    date_naissance: dt.date | None = Field(validation_alias="birth_date")
    genre: str | None = Field(validation_alias="gender")


class IdentityIn(In):
    prenom: str | None = Field(None, serialization_alias="first_name")
    nom: str | None = Field(None, serialization_alias="last_name")
    adresse: str | None = Field(None, serialization_alias="address")
    telephone: str | None = Field(None, serialization_alias="phone")
    email: str | None = None
    date_naissance: dt.date | None = Field(None, serialization_alias="birth_date")
    genre: Literal["F", "M", "X"] | None = Field(None, serialization_alias="gender")


class PersonSkillIn(In):
    code: int = Field(examples=[117005])
    niveau: int = Field(2, ge=1, le=3)
    source: Literal["declared", "validated", "certified"] = "declared"


class ExperienceIn(In):
    code_rome: str = Field(pattern=r"^[A-N]\d{4}$")
    mois: int = Field(ge=0)
    fin: dt.date | None = None


class JobseekerPatch(In):
    niveau_qualification: int | None = Field(
        None, ge=3, le=8, serialization_alias="qualification_level"
    )
    permis: bool | None = Field(None, serialization_alias="driving_licence")
    vehicule: bool | None = Field(None, serialization_alias="has_vehicle")
    distance_max_km: float | None = Field(None, ge=0, serialization_alias="max_commute_km")
    commune_insee: str | None = Field(
        None, pattern=r"^\d[0-9AB]\d{3}$", serialization_alias="home_commune_insee"
    )
    disponible_le: dt.date | None = Field(None, serialization_alias="availability_date")
    sans_emploi_depuis: dt.date | None = Field(None, serialization_alias="unemployed_since")
    heures_souhaitees: float | None = Field(
        None, gt=0, le=48, serialization_alias="desired_hours_per_week"
    )
    statut: Literal["active", "employed", "inactive"] | None = Field(
        None, serialization_alias="status"
    )
    identite: IdentityIn | None = None
    competences: list[PersonSkillIn] | None = None
    experiences: list[ExperienceIn] | None = None
    dispositifs: list[str] | None = None
    conseiller: str | None = Field(None, description="Identifiant du conseiller (admin)")


class JobseekerIn(JobseekerPatch):
    ref: str | None = Field(None, max_length=40, description="Attribuée (DEnnnn) si absente")
    commune_insee: str = Field(
        pattern=r"^\d[0-9AB]\d{3}$", serialization_alias="home_commune_insee", examples=["80021"]
    )
    disponible_le: dt.date = Field(serialization_alias="availability_date")


# --- courses and sessions -------------------------------------------------------------------
class SkillRefOut(Out):
    code: int
    libelle: str = Field(validation_alias="label")


class CourseOut(Out):
    ref: str
    organisme: str = Field(validation_alias="provider_ref")
    organisme_nom: str = Field(validation_alias="provider_name")
    intitule: str = Field(validation_alias="title")
    code_rome: str | None
    code_rncp: str | None
    certification: str | None
    formacode: str | None
    heures: float = Field(validation_alias="hours")
    cout_eur: float = Field(validation_alias="cost_eur")
    niveau_min: int | None = Field(validation_alias="min_qualification_level")
    delivre_permis: bool = Field(validation_alias="grants_driving_licence")
    competences_enseignees: list[SkillRefOut] = Field(validation_alias="taught")
    prerequis: list[SkillRefOut] = Field(validation_alias="prerequisites")


class CoursePatch(In):
    intitule: str | None = Field(None, serialization_alias="title")
    code_rome: str | None = Field(None, pattern=r"^[A-N]\d{4}$")
    code_rncp: str | None = None
    certification: str | None = None
    formacode: str | None = None
    heures: float | None = Field(None, gt=0, serialization_alias="hours")
    cout_eur: float | None = Field(None, ge=0, serialization_alias="cost_eur")
    niveau_min: int | None = Field(None, ge=3, le=8, serialization_alias="min_qualification_level")
    delivre_permis: bool | None = Field(None, serialization_alias="grants_driving_licence")
    description: str | None = None
    organisme: str | None = None
    competences_enseignees: list[int] | None = None
    prerequis: list[int] | None = None


class CourseIn(CoursePatch):
    ref: str = Field(min_length=1, max_length=40, examples=["FOR-CACES-1"])
    organisme: str = Field(examples=["ORG01"])
    intitule: str = Field(serialization_alias="title", examples=["CACES R489"])
    heures: float = Field(gt=0, serialization_alias="hours", examples=[35])


class SessionOut(Out):
    ref: str
    formation: str = Field(validation_alias="course_ref")
    formation_intitule: str = Field(validation_alias="course_title")
    debut: dt.date = Field(validation_alias="start_date")
    fin: dt.date = Field(validation_alias="end_date")
    places: int = Field(validation_alias="seats")
    places_prises: int = Field(validation_alias="seats_taken")
    commune_insee: str
    financement: str = Field(validation_alias="funding")


class SessionPatch(In):
    debut: dt.date | None = Field(None, serialization_alias="start_date")
    fin: dt.date | None = Field(None, serialization_alias="end_date")
    places: int | None = Field(None, ge=0, serialization_alias="seats")
    places_prises: int | None = Field(None, ge=0, serialization_alias="seats_taken")
    commune_insee: str | None = Field(None, pattern=r"^\d[0-9AB]\d{3}$")
    financement: str | None = Field(None, serialization_alias="funding")


class SessionIn(SessionPatch):
    ref: str = Field(min_length=1, max_length=40, examples=["SES-CACES-2027-01"])
    formation: str = Field(examples=["FOR-CACES-1"])
    debut: dt.date = Field(serialization_alias="start_date")
    fin: dt.date = Field(serialization_alias="end_date")
    places: int = Field(ge=0, serialization_alias="seats")
    commune_insee: str = Field(pattern=r"^\d[0-9AB]\d{3}$")


# --- shortlists, matches, paths, plans, decisions -------------------------------------------
class Candidate(Out):
    rang: int = Field(validation_alias="rank")
    demandeur: str = Field(
        validation_alias="jobseeker_ref", description="Référence pseudonyme", examples=["DE01955"]
    )
    score: float = Field(ge=0, le=1, description="0..1, plus haut = meilleur")
    explication: dict | None = Field(
        validation_alias="explanation",
        description="Compétences acquises et manquantes (avec formations), contraintes, "
        "contributions au score, résumé en français",
    )
    decision: str | None = Field(validation_alias="status", description="Dernière décision")
    nom: str | None = Field(
        validation_alias="name",
        description="Prénom et nom, seulement pour le guichet et une fois proposé·e "
        "par un·e conseiller·ère (lecture journalisée)",
    )
    mon_portefeuille: bool = Field(validation_alias="in_my_caseload")


class Shortlist(Out):
    besoin: str = Field(validation_alias="need_ref")
    source: str = Field(description="« publication » (exécution nocturne) ou « calcul immédiat »")
    execution: int | None = Field(validation_alias="run_id")
    candidats: list[Candidate] = Field(validation_alias="candidates")


def shortlist_json(view: Any) -> bytes:
    """The JSON of :class:`Shortlist` for a ``ShortlistView``, encoded directly (orjson).

    The hottest route of the API answers with these bytes: validating 50 candidates with
    pydantic then dumping them (explanations included) cost more than the rest of the request.
    A published explanation arrives already encoded (``explanation_json``, cached per run) and
    is embedded as is. The services guarantee what the model would check (scores in 0..1,
    see ``unit_score``); ``tests/api/test_shortlist_api.py`` checks that the result equals
    ``Shortlist.model_validate(view).model_dump(mode="json")``, the slow reference.
    """
    return orjson.dumps(
        {
            "besoin": view.need_ref,
            "source": view.source,
            "execution": view.run_id,
            "candidats": [
                {
                    "rang": c.rank,
                    "demandeur": c.jobseeker_ref,
                    "score": c.score,
                    "explication": (
                        orjson.Fragment(c.explanation_json)
                        if c.explanation_json is not None
                        else c.explanation
                    ),
                    "decision": c.status,
                    "nom": c.name,
                    "mon_portefeuille": c.in_my_caseload,
                }
                for c in view.candidates
            ],
        },
        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
    )


class MatchOut(Out):
    rang: int = Field(validation_alias="rank")
    besoin: str = Field(validation_alias="need_ref")
    intitule: str = Field(validation_alias="title")
    employeur: str = Field(validation_alias="employer")
    date_embauche: dt.date = Field(validation_alias="hiring_date")
    score: float
    explication: dict | None = Field(validation_alias="explanation")


class Matches(BaseModel):
    demandeur: str
    source: str
    execution: int | None
    besoins: list[MatchOut]


class TrainingPathOut(BaseModel):
    demandeur: str
    besoin: str
    source: str
    resume: str
    pret_le: dt.date | None
    semaines: float
    cout_eur: float
    etapes: list[dict[str, Any]]
    ecart: dict[str, Any]


class PlanIn(In):
    besoins: list[str] = Field(min_length=1, examples=[["BES0001", "BES0002"]])
    date_reference: dt.date | None = Field(None, description="Date du plan (défaut : aujourd'hui)")


class PlanOut(BaseModel):
    id: str
    besoins: list[str]
    resume: str
    graphique: str = Field(description="URL du graphique (PNG) du calendrier")
    detail: dict[str, Any] = Field(description="Plan complet (besoins, affectations, sessions)")


class DecisionIn(In):
    besoin: str = Field(examples=["BES0001"])
    demandeur: str = Field(examples=["DE00042"])
    decision: Literal["proposed", "interviewed", "hired", "rejected", "withdrawn"] = Field(
        description="proposed/rejected/withdrawn : conseiller·ère (son portefeuille) ; "
        "interviewed/hired/rejected : guichet (candidat·e déjà proposé·e)"
    )
    date: dt.date | None = None


class DecisionOut(Out):
    besoin: str = Field(validation_alias="need_ref")
    demandeur: str = Field(validation_alias="jobseeker_ref")
    decision: str = Field(validation_alias="event")
    date: dt.date = Field(validation_alias="event_date")
    par: str = Field(validation_alias="by_user")
    statut: str = Field(validation_alias="status", description="created ou unchanged")


class SuggestionOut(Out):
    code: str
    libelle: str = Field(validation_alias="label")
    score: float
    code_rome: str | None
    correction: bool = Field(validation_alias="corrected")


class Suggestions(BaseModel):
    texte: str
    type: str
    decision: str = Field(description="auto, review ou unknown")
    suggestions: list[SuggestionOut]


class ImportOut(BaseModel):
    entite: str
    crees: int
    modifies: int
    inchanges: int
    rejetes: int
    erreurs: list[dict[str, Any]]


class RunReport(BaseModel):
    publiee: dict[str, Any] | None
    rapport: dict[str, Any]
    historique: list[dict[str, Any]]

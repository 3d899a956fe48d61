"""Seeded, documented generator of the Amiens-metropolitan demo territory.

Everything is drawn from the real referential shipped in ``matching/data/referential`` (ROME 4.0
fiches, appellations, skills and work contexts; RNCP certifications with their Formacode and ROME
v3 links; the NAF divisions of each fiche; the 39 communes of Amiens Métropole and the names of
Amiens' priority districts). Only people, employers, streets and the numbers below are synthetic.

The generator is pure: :func:`generate` returns one DataFrame per table (columns named as in
:mod:`matching.store.models`, ids assigned) and never touches a database;
:mod:`matching.services.demo` writes them. Same ``(seed, as_of, sizes, address_bias)`` ->
identical tables (:meth:`DemoData.checksum`). Every date is relative to ``as_of``.

Generative model
----------------
The figures are deliberate, rough assumptions for a credible demonstration, not statistics.

**Jobseekers** (PLIE participants, default 5,000)

* Home commune drawn by municipal population. Amiens residents live in one of the seven priority
  districts with probability 0.55 (PLIE caseloads concentrate there); Amiens Nord, the largest,
  weighs double, the others equally. Their address uses one of five synthetic streets of that
  district (:data:`DISTRICT_STREETS`, loaded into ``priority_streets``); everybody else lives in
  an ordinary street (:data:`ORDINARY_STREETS`). The ``priority_district`` flag is **not** set
  here: the service derives it from the address with :func:`matching.store.geo.
  resolve_priority_district`, as for any import; ``tables["_intended_qpv"]`` keeps the intended
  district so tests can check that derived == intended.
* Qualification: none recognised 35 % (``NULL``), level 3 (CAP/BEP) 30 %, 4 20 %, 5 10 %, 6 4 %,
  7 1 %. Age 18–25 20 %, 26–49 60 %, 50–62 20 %; gender F/M evenly.
* Current unemployment spell: log-normal, median 16 months (about 64 % over 12 months).
  PLIE entry (consent) 1–12 months after the spell began; last contact in the last 90 days;
  ``retention_until`` = last contact + 2 years.
* One to three past occupations (experiences, the latest ending when the spell began, each
  log-normal with median 18 months): 70 % among the priority-sector fiches of
  :data:`SECTOR_FICHES`, 30 % among the 132 fiches the ROME says are "accessible sans diplôme".
* Skills = skills of those fiches (table ``occupation_skills``): a core ("cœur de métier") skill
  is kept with probability 0.75, another one with 0.15; level 3 after two years in the job;
  source certified (core skill of a qualified person, 25 %), validated by a counsellor (30 %),
  otherwise declared.
* Driving licence 62 % (42 % in priority districts, × 0.6 under 22); vehicle for 75 % of holders
  (60 % in priority districts). Maximum commute 15–40 km with a vehicle, 5–15 km with a licence
  only, 3–12 km otherwise. Available now 75 %, in 1–3 months 15 %, in 3–6 months 10 %. Desired
  hours 35 (60 %), 24, 28 or 30. Programmes: PLIE for all, RSA 40 %, JEUNES under 26, TH 8 %.
  Counsellors ``conseiller1``..``conseiller8`` at random.
* Identity (table ``jobseeker_identities``): first and last names drawn from the short lists
  below (common names in France, of diverse origins), birth date from the age, synthetic address,
  phone number in the range ARCEP reserves for fiction (06 39 98 xx xx), ``example.org`` e-mail.

**Employers and needs**

* ``employers`` (default 40) over the six priority sectors, NAF division drawn among the real
  divisions of their main fiche (``sectors_naf``), commune Amiens 55 % else by population.
* ``needs`` (default 150) current needs, open 75 % / draft 25 %, hiring 1–9 months ahead, fiche
  among the employer's sector fiches, title = a real appellation of the fiche, degraded as people
  type it 45 % of the time (lower case, no accents, abbreviations, masculine form only,
  "(H/F)"); essential skills = up to six core skills of the fiche, two or three optional other
  skills; driving licence required (60 %) when the fiche's work contexts mention professional
  travel, regional/departmental zones, building sites or private homes, 5 % otherwise; minimum
  qualification level 3 for 10 % of needs whose fiche is not "accessible sans diplôme".
* Two precedents:

  - a **call centre** in Amiens (northern districts), sector ``relation_client_numerique``,
    300 positions of D1408 "Conseiller / Conseillère clientèle à distance", 182 days ahead;
  - a **motorway maintenance centre** in Amiens, 20 positions of I1208 "Patrouilleur autoroutier
    / Ouvrier autoroutier" (the fiche of the appellations mentioning "autoroute"), 120 days
    ahead, driving licence required, requiring RNCP38080, the only certification linked to
    I1208's ROME v3 parent I1202 in ``certification_occupations`` (Titre professionnel "Maçon en
    voirie et réseaux divers", successor of RNCP31605 according to France Compétences; it has no
    title in ``certifications``, so its label is documented in :data:`MOTORWAY_CERT_TITLE`).
    Only one course delivers it, and its only session ends after the hiring date: planning has to
    propose commissioning a dedicated session.

**Courses** (default 60 courses, 150 sessions)

* Each course is tied to a real, active RNCP certification of its fiche's ROME v3 parent (title
  from ``certifications``, first Formacode from ``certification_formacodes``); the provider
  follows the kind of certification (AFPA: titres professionnels; GRETA: CAP/BEP/bac pro/MC;
  CFPPA: agri-food; Croix-Rouge: health and care; CCI: the rest). Skills taught = every core
  skill of the fiche; 25 % of the courses (certification level 4+) also list two prerequisite
  skills (other skills of the fiche) and half of those a minimum qualification level 3.
* 210–700 hours at 9–15 €/h; sessions of 8–20 seats starting between 30 days ago and 11 months
  ahead, lasting hours / 35 weeks, in Amiens or a neighbouring commune, funded by the Région
  Hauts-de-France, France Travail, an OPCO or the Département.
* The AFPA "Conseiller relation client à distance" course (RNCP35304, 560 h) has four sessions
  of 12 to 16 seats starting 14, 45, 75 and 150 days ahead: two end before the call-centre
  opening, and even all of them could not train 300 people.

**Outcome history** (two years, default 400 past needs)

Past needs are hired over the last two years (15–730 days ago), filled 85 % / cancelled 15 %.
They are processed in date order. For each one:

1. *Eligible*: PLIE participants at the time (consent before the proposal), unemployed then
   (spell begun at least 14 days before, not in a job obtained through an earlier demo need),
   within their maximum commute, holding a licence when required, and not proposed for another
   need in the previous 60 days (counsellors present one opportunity at a time).
2. *Proposed* by their counsellor: the ``3 × positions + 2`` eligible people with the best noisy
   fit ``3·coverage + 1.2·same + 0.6·close + Gumbel(0, 0.6)``, where ``coverage`` = share of the
   need's essential skills the person holds, ``same`` = experience in the need's fiche, ``close``
   = experience in a fiche of the same ROME domain or linked by a mobility of the referential.
3. *Withdrawn* with probability 0.05; otherwise *interviewed* with probability
   ``sigmoid(-2 + 3·coverage + 1.2·same + 0.6·close + 0.5·[commute < 10 km]
   + 0.4·[available within 30 days of the proposal])`` × ``address_bias`` for priority-district
   residents, else *rejected* after the proposal.
4. Among the interviewed, the employer hires (if the need was filled) up to the positions, in
   the order of ``-1 + 2.5·coverage + 0.8·same + 0.4·close + Normal(0, 0.7)``; the others are
   rejected. A hire ends the person's spell: CDI stays employed (15 % end after the trial
   period, 2–6 months), other contracts last 2–12 months; when it ended before ``as_of`` the job
   becomes an experience and the spell restarts, otherwise the person's status is ``employed``.

Events are dated from the proposal (20–45 days before the hiring date: interview +10 days,
decision +18 days); proposals and withdrawals are recorded by the person's counsellor, the
employer's answers by the business desk (``guichet``).

``address_bias`` (default :data:`DEFAULT_ADDRESS_BIAS` = 0.85) is an explicit, documented
simulation of the address discrimination the partnership fights: it multiplies the interview
probability of priority-district residents, so the fairness audit has something real to detect
in the recorded decisions. The engine never sees that attribute. Set it to 1.0 for an unbiased
history.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import scipy.sparse as sp

from matching.store.geo import street_key
from matching.taxonomy.referential import Referential

#: Real ROME 4.0 fiches typical of each priority sector of the Amiens business desk.
SECTOR_FICHES: dict[str, list[str]] = {
    "relation_client_numerique": ["D1408", "D1401", "M1607", "M1805"],
    "metallurgie_btp": ["H2913", "H2902", "F1703", "F1602", "H2909", "F1702", "F1701"],
    "logistique": ["N1103", "N1101", "N4101", "N1105", "H3302"],
    "agroalimentaire_biotech_sante": ["H2102", "J1501", "K1302", "D1106", "K2204"],
    "tourisme": ["G1602", "G1803", "G1703", "G1501"],
    "energie": ["I1309", "I1307", "I1304"],
}
CALL_CENTRE_ROME = "D1408"
CALL_CENTRE_POSITIONS = 300
CALL_CENTRE_DAYS_AHEAD = 182
CALL_CENTRE_RNCP = "RNCP35304"  # CONSEILLER RELATION CLIENT A DISTANCE (TP)
CALL_CENTRE_COURSE = "Conseiller relation client à distance"
MOTORWAY_ROME = "I1208"
MOTORWAY_POSITIONS = 20
MOTORWAY_DAYS_AHEAD = 120
MOTORWAY_RNCP = "RNCP38080"
MOTORWAY_CERT_TITLE = "Maçon en voirie et réseaux divers (TP)"
DEFAULT_ADDRESS_BIAS = 0.85

#: (ref, name) of the training providers (real organisations of the territory).
PROVIDERS = [
    ("AFPA", "AFPA Amiens"),
    ("GRETA", "GRETA Picardie"),
    ("CCI", "CCI Amiens-Picardie Formation"),
    ("CFPPA", "CFPPA de la Somme"),
    ("IRFSS", "Croix-Rouge Compétence Hauts-de-France"),
]
FUNDING = ["Région Hauts-de-France", "France Travail", "OPCO", "Département de la Somme"]

#: Common first and last names in France, of diverse origins (synthetic people only).
FIRST_F = [
    "Marie",
    "Nathalie",
    "Sandrine",
    "Aïcha",
    "Fatoumata",
    "Inès",
    "Julie",
    "Camille",
    "Leïla",
    "Samira",
    "Chloé",
    "Laura",
    "Nadia",
    "Sophie",
    "Yasmine",
    "Emma",
    "Awa",
    "Khadija",
    "Céline",
    "Amandine",
    "Mélissa",
    "Sarah",
    "Linh",
    "Ana",
    "Justine",
]
FIRST_M = [
    "Jean",
    "Kevin",
    "Mohamed",
    "Thomas",
    "Nicolas",
    "Karim",
    "Julien",
    "Moussa",
    "Mathieu",
    "Yassine",
    "Alexandre",
    "Mamadou",
    "David",
    "Bilal",
    "Romain",
    "Sofiane",
    "Anthony",
    "Hugo",
    "Omar",
    "Jérémy",
    "Dylan",
    "Mehdi",
    "Minh",
    "João",
    "Maxime",
]
LAST = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Benali",
    "Diallo",
    "Traoré",
    "Nguyen",
    "Lefèvre",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Haddad",
    "Mendy",
    "Ferreira",
    "Da Silva",
    "Caron",
    "Vasseur",
    "Lefebvre",
    "Dufour",
    "Boulanger",
    "Cissé",
    "Kaya",
    "Yilmaz",
    "Pereira",
    "Boucher",
    "Delattre",
    "Tran",
    "Bouzid",
    "Kone",
    "Carpentier",
    "Dumont",
]
#: Synthetic street names of each priority district (they are not the real streets).
DISTRICT_STREETS: dict[str, list[str]] = {
    "Amiens Nord": [
        "rue des Fauvettes",
        "allée des Mésanges",
        "avenue des Hirondelles",
        "place des Pinsons",
        "rue des Rouges-Gorges",
    ],
    "Étouvie": [
        "rue des Charmes",
        "allée des Bouleaux",
        "résidence des Aulnes",
        "place des Frênes",
        "rue des Saules Pleureurs",
    ],
    "Salamandre - Marcel Paul": [
        "rue des Ardoisiers",
        "allée des Vanniers",
        "place des Tisserands",
        "rue des Forgerons",
        "impasse des Tonneliers",
    ],
    "Philéas Lebesgue - Condorcet": [
        "rue Orion",
        "allée de Cassiopée",
        "place d'Andromède",
        "rue de la Grande Ourse",
        "avenue de Pégase",
    ],
    "Les Parcheminiers": [
        "rue des Enlumineurs",
        "allée des Copistes",
        "place des Relieurs",
        "rue des Calligraphes",
        "impasse des Graveurs",
    ],
    "Pierre Rollin": [
        "rue des Glycines",
        "allée des Hortensias",
        "place des Capucines",
        "rue des Pervenches",
        "impasse des Iris",
    ],
    "Elbeuf - Lescouvé": [
        "rue des Marais Bleus",
        "allée des Roseaux",
        "place des Nénuphars",
        "rue des Joncs",
        "impasse des Libellules",
    ],
}
#: Synthetic ordinary street names (used in every commune, outside priority districts).
ORDINARY_STREETS = [
    "rue Jean Jaurès",
    "rue Victor Hugo",
    "rue des Écoles",
    "rue du Moulin",
    "rue de la Paix",
    "avenue de la République",
    "rue Pasteur",
    "rue des Acacias",
    "chemin du Marais",
    "rue Saint-Pierre",
    "rue des Marronniers",
    "rue du Château d'eau",
    "allée des Coquelicots",
    "rue Louise Michel",
    "place de l'Église",
    "rue de la Gare",
    "rue du Général Leclerc",
    "route de Paris",
    "rue des Jardins",
    "impasse du Stade",
]
#: How people type a few words of job titles.
TITLE_ABBREVIATIONS = {
    "agent": "agt",
    "technicien": "tech",
    "conducteur": "cond.",
    "responsable": "resp.",
    "opérateur": "opé",
    "préparateur": "prépa",
    "assistant": "asst",
    "conseiller": "cons.",
    "électricien": "elec",
    "maintenance": "maint.",
    "commandes": "cdes",
}
#: Synthetic employer name parts per sector.
EMPLOYER_NAMES: dict[str, list[str]] = {
    "relation_client_numerique": [
        "Somme Contact",
        "Picardie Téléservices",
        "Numérique Amiénois",
        "Hortillons Digital",
        "Relais Clients Somme",
        "Agence Web de la Hotoie",
    ],
    "metallurgie_btp": [
        "Métallerie de la Selle",
        "Chaudronnerie Picarde",
        "BTP Avre et Somme",
        "Bâtisseurs de l'Amiénois",
        "Soudure Industrielle Nord Amiens",
        "Travaux Publics de la Noye",
    ],
    "logistique": [
        "Plateforme Logistique Amiens Sud",
        "Transports de la Vallée de la Somme",
        "Entrepôts du Pôle Jules Verne",
        "Messageries Picardes",
        "Log'Somme",
        "Groupage Amiénois",
    ],
    "agroalimentaire_biotech_sante": [
        "Conserveries de Picardie",
        "Biscuiterie des Hortillonnages",
        "Ehpad Les Tilleuls",
        "Aide à Domicile Amiens Métropole",
        "Laboratoires de la Somme",
        "Épicerie Solidaire du Nord",
    ],
    "tourisme": [
        "Hôtel de la Cathédrale",
        "Brasserie du Beffroi",
        "Auberge des Hortillons",
        "Restaurant Le Quai Bélu",
        "Résidence Hôtelière Saint-Leu",
        "Camping du Val de Somme",
    ],
    "energie": [
        "Énergies Renouvelables de la Somme",
        "Maintenance Électrique Picarde",
        "Solaire Amiénois",
        "Réseaux et Antennes du Nord",
        "Éolien Plateau Picard",
        "Thermique Services Amiens",
    ],
}
#: NAF divisions preferred for each sector, among the real divisions of the employer's fiche.
SECTOR_NAF_DIVISIONS: dict[str, set[str]] = {
    "relation_client_numerique": {"82", "62", "63", "73"},
    "metallurgie_btp": {"24", "25", "28", "41", "42", "43"},
    "logistique": {"49", "52", "46"},
    "agroalimentaire_biotech_sante": {"10", "11", "21", "86", "87", "88", "47"},
    "tourisme": {"55", "56", "79"},
    "energie": {"35", "33", "43"},
}
#: Kinds of certification a PLIE participant is usually trained for (state diplomas and titles).
COURSE_CERT_KINDS = {"TP", "CAP", "BEP", "BAC PRO", "BP", "MC3", "MC4", "MC5", "CS", "BTS"}
_LICENCE_CONTEXTS = {
    "Déplacements professionnels",
    "Zone départementale",
    "Zone régionale",
    "Sur chantier",
    "Au domicile d'un particulier",
}


@dataclass(frozen=True)
class DemoSizes:
    """Sizes of the generated territory (defaults: the documented demo)."""

    jobseekers: int = 5000
    employers: int = 40
    needs: int = 150
    past_needs: int = 400
    courses: int = 60
    sessions: int = 150
    counsellors: int = 8


@dataclass
class DemoData:
    """One DataFrame per table, ids assigned, ready for bulk insertion.

    Tables whose name starts with ``_`` are not stored (``_intended_qpv``: the district each
    jobseeker was placed in, for checks).
    """

    tables: dict[str, pd.DataFrame]
    call_centre_ref: str
    motorway_ref: str

    def checksum(self) -> str:
        """SHA-256 of every table's content (names, columns and values, in order)."""
        h = hashlib.sha256()
        for name in sorted(self.tables):
            frame = self.tables[name]
            h.update(name.encode())
            h.update("|".join(frame.columns).encode())
            h.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy())
        return h.hexdigest()


# --- referential helpers ----------------------------------------------------------------------
class _Ref:
    """Cached look-ups on the referential used by the generator."""

    def __init__(self, ref: Referential) -> None:
        self.ref = ref
        self.occ = ref.occupations.set_index("code_rome")
        links = ref.occupation_skills
        self.core = {
            c: sorted(g.loc[g["core"] != "", "code_ogr"].astype(int).tolist())
            for c, g in links.groupby("code_rome")
        }
        self.other = {
            c: sorted(g.loc[g["core"] == "", "code_ogr"].astype(int).tolist())
            for c, g in links.groupby("code_rome")
        }
        certs = ref.table("certifications")
        self.cert_titles = dict(zip(certs["code_rncp"], certs["title"], strict=True))
        self.cert_v3 = ref.table("certification_occupations")
        self.certs = certs
        fc = ref.table("certification_formacodes").sort_values(["code_rncp", "formacode"])
        self.formacode = fc.drop_duplicates("code_rncp").set_index("code_rncp")["formacode"]
        wc = ref.table("work_contexts")
        self.licence_fiches = set(wc.loc[wc["label"].isin(_LICENCE_CONTEXTS), "code_rome"])
        access = ref.occupations["access"].fillna("")
        self.no_diploma = sorted(
            ref.occupations.loc[
                access.str.contains("sans diplôme", case=False), "code_rome"
            ].tolist()
        )
        self.titles = {
            c: sorted(g["label"].tolist()) for c, g in ref.job_titles.groupby("code_rome")
        }
        mob = ref.mobilities
        self.mobility = {}
        for a, b in zip(mob["code_rome"], mob["code_rome_target"], strict=True):
            self.mobility.setdefault(a, set()).add(b)
            self.mobility.setdefault(b, set()).add(a)
        naf = ref.table("sectors_naf")
        self.naf = {c: sorted(set(g["naf_division"])) for c, g in naf.groupby("code_rome")}

    def certs_for(self, code_rome: str) -> pd.DataFrame:
        """Active certifications with a title linked to the fiche's ROME v3 parent."""
        v3 = self.occ.loc[code_rome, "code_rome_v3"]
        codes = self.cert_v3.loc[self.cert_v3["code_rome_v3"] == v3, "code_rncp"]
        found = self.certs[self.certs["code_rncp"].isin(codes) & self.certs["active"]]
        return found.sort_values("code_rncp").reset_index(drop=True)

    def close(self, a: str, b: str) -> bool:
        return a != b and (a[:3] == b[:3] or b in self.mobility.get(a, ()))


def _strip_accents(text: str) -> str:
    norm = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in norm if not unicodedata.combining(ch))


def masculine_form(title: str) -> str:
    """``"Employé / Employée d'étage"`` -> ``"Employé d'étage"`` (what people often type)."""
    if " / " not in title:
        return title.strip()
    left, right = title.split(" / ", 1)
    words = left.split()
    rest = right.split()[len(words) :]
    return " ".join([*words, *rest]).strip()


def degrade_title(title: str, rng: np.random.Generator) -> str:
    """A job title as a person types it: masculine form, lower case, abbreviations, "(H/F)"."""
    text = masculine_form(title)
    if rng.random() < 0.7:
        text = text.lower()
    if rng.random() < 0.5:
        text = " ".join(
            TITLE_ABBREVIATIONS.get(w.lower(), w) if rng.random() < 0.7 else w for w in text.split()
        )
    if rng.random() < 0.3:
        text = _strip_accents(text)
    if rng.random() < 0.5:
        text += " (H/F)"
    return text


def certification_label(title: str) -> str:
    """``"CONSTRUCTEUR DE ROUTES (CAP)"`` -> ``"Constructeur de routes (CAP)"``."""
    text = title.strip()
    if not text.isupper():
        return text
    m = re.match(r"^(.*?)(\s*\([^)]*\))?$", text)
    body, tail = (m.group(1), m.group(2) or "") if m else (text, "")
    return body[:1].upper() + body[1:].lower() + tail


def _days(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype="int64").astype("timedelta64[D]")


def _dates(base: date, offsets: np.ndarray) -> list[date]:
    day0 = np.datetime64(base, "D")
    return (day0 + _days(offsets)).astype(object).tolist()


# --- generator ----------------------------------------------------------------------------------
def generate(
    ref: Referential,
    *,
    seed: int = 42,
    as_of: date | None = None,
    sizes: DemoSizes | None = None,
    address_bias: float = DEFAULT_ADDRESS_BIAS,
) -> DemoData:
    """Generate the demo territory (pure: no database). See the module docstring.

    Parameters
    ----------
    ref : Referential
        The real referential (codes, skills, certifications, communes).
    seed : int
        Seed of the random generator; same arguments give identical tables.
    as_of : date, optional
        Reference day (default: today); every date is relative to it.
    sizes : DemoSizes, optional
        Number of jobseekers, employers, needs... (default: the documented demo).
    address_bias : float
        Factor applied to the interview probability of priority-district residents in the
        simulated history (1.0 = no discrimination).

    Returns
    -------
    DemoData
        One DataFrame per table and the refs of the two precedent needs.
    """
    sizes = sizes or DemoSizes()
    as_of = as_of or date.today()
    # one independent stream per component: a change in one part never reshuffles the others,
    # and identity draws (gender, names, streets) are independent of everything else by design
    people, identity, employers, needs, courses, history = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)
    )
    r = _Ref(ref)
    tables: dict[str, pd.DataFrame] = {}

    tables["users"] = _users(sizes)
    counsellors = tables["users"].loc[tables["users"]["role"] == "counsellor"]
    tables["priority_streets"] = _priority_streets(ref)
    _jobseekers(r, people, identity, as_of, sizes, counsellors["id"].to_numpy(), tables)
    _employers(r, employers, sizes, tables)
    call_ref, road_ref, first_past = _needs(r, needs, as_of, sizes, tables)
    _courses(r, courses, as_of, sizes, tables)
    _history(r, history, as_of, first_past, address_bias, tables)
    return DemoData(tables=tables, call_centre_ref=call_ref, motorway_ref=road_ref)


def _users(sizes: DemoSizes) -> pd.DataFrame:
    users = [
        ("admin", "Administratrice Passerelle", "admin"),
        ("guichet", "Guichet entreprises", "desk"),
    ]
    users += [
        (f"conseiller{i}", f"Conseiller·ère PLIE {i}", "counsellor")
        for i in range(1, sizes.counsellors + 1)
    ]
    return pd.DataFrame(
        {
            "id": range(1, len(users) + 1),
            "username": [u[0] for u in users],
            "full_name": [u[1] for u in users],
            "role": [u[2] for u in users],
            "password_hash": "",  # argon2 hashes are salted: set by the service, not checksummed
            "active": True,
        }
    )


def _priority_streets(ref: Referential) -> pd.DataFrame:
    districts = ref.table("priority_districts")
    rows = []
    for name, insee in zip(districts["name"], districts["code_insee"], strict=True):
        for street in DISTRICT_STREETS[name]:
            rows.append((str(insee), street_key(street), street, name))
    return pd.DataFrame(rows, columns=["commune_insee", "street_key", "street", "district"])


def _jobseekers(
    r: _Ref, rng, rng_id, as_of: date, sizes: DemoSizes, counsellor_ids, tables
) -> None:
    ref = r.ref
    n = sizes.jobseekers
    communes = ref.communes.reset_index(drop=True)
    pop = communes["population"].to_numpy(float)
    home = rng.choice(len(communes), size=n, p=pop / pop.sum())
    home_insee = communes["code_insee"].to_numpy()[home]
    amiens = communes.loc[communes["name"] == "Amiens", "code_insee"].iloc[0]
    districts = ref.table("priority_districts")["name"].tolist()
    weights = np.array([2.0 if d == "Amiens Nord" else 1.0 for d in districts])
    in_qpv = (home_insee == amiens) & (rng.random(n) < 0.55)
    district_of = np.where(
        in_qpv, rng.choice(len(districts), size=n, p=weights / weights.sum()), -1
    )

    # identity
    age_group = rng.choice(3, size=n, p=[0.2, 0.6, 0.2])
    age = np.select(
        [age_group == 0, age_group == 1],
        [rng.integers(18, 26, n), rng.integers(26, 50, n)],
        rng.integers(50, 63, n),
    )
    gender = rng_id.choice(np.array(["F", "M"]), size=n)
    first = np.where(
        gender == "F",
        np.array(FIRST_F)[rng_id.integers(0, len(FIRST_F), n)],
        np.array(FIRST_M)[rng_id.integers(0, len(FIRST_M), n)],
    )
    last = np.array(LAST)[rng_id.integers(0, len(LAST), n)]
    number = rng_id.integers(1, 140, n)
    street_pick = rng_id.integers(0, 5, n)
    ordinary = np.array(ORDINARY_STREETS)[rng_id.integers(0, len(ORDINARY_STREETS), n)]
    abbreviate = rng_id.random(n) < 0.15
    postcodes = communes["postcodes"].str.split(" | ", regex=False)
    pc_pick = rng_id.integers(0, 3, n)
    addresses, pcs = [], []
    for i in range(n):
        if district_of[i] >= 0:
            street = DISTRICT_STREETS[districts[district_of[i]]][street_pick[i]]
        else:
            street = str(ordinary[i])
        if abbreviate[i]:  # as people type it: the store must still recognise the street
            street = re.sub(r"^(rue|allée|avenue|place|impasse|résidence)\b", _abbr, street)
        codes = postcodes.iloc[home[i]]
        pc = codes[pc_pick[i] % len(codes)]
        pcs.append(pc)
        addresses.append(f"{number[i]} {street}, {pc} {communes.loc[home[i], 'name']}")
    birth = _dates(as_of, -(age * 365.25).astype(int) - rng_id.integers(0, 365, n))
    ids = np.arange(1, n + 1)
    tables["jobseeker_identities"] = pd.DataFrame(
        {
            "jobseeker_id": ids,
            "first_name": first,
            "last_name": last,
            "address": addresses,
            "postcode": pcs,
            "phone": [
                f"06 39 98 {x // 100:02d} {x % 100:02d}" for x in rng_id.integers(0, 10_000, n)
            ],
            "email": [
                f"{_strip_accents(f).lower()}.{_strip_accents(la).lower()}{i}@example.org"
                for f, la, i in zip(first, last, ids, strict=True)
            ],
            "birth_date": birth,
            "gender": gender,
        }
    )
    tables["_intended_qpv"] = pd.DataFrame(
        {"jobseeker_id": ids, "district": [districts[d] if d >= 0 else "" for d in district_of]}
    )

    # profile
    qual = rng.choice([0, 3, 4, 5, 6, 7], size=n, p=[0.35, 0.30, 0.20, 0.10, 0.04, 0.01])
    spell_days = (np.clip(rng.lognormal(np.log(16), 0.8, n), 1, 120) * 30.4).astype(int)
    licence = rng.random(n) < np.where(in_qpv, 0.42, 0.62) * np.where(age < 22, 0.6, 1.0)
    vehicle = licence & (rng.random(n) < np.where(in_qpv, 0.60, 0.75))
    max_commute = np.select(
        [vehicle, licence],
        [rng.integers(15, 41, n), rng.integers(5, 16, n)],
        rng.integers(3, 13, n),
    ).astype(float)
    avail_kind = rng.choice(3, size=n, p=[0.75, 0.15, 0.10])
    avail = np.select(
        [avail_kind == 0, avail_kind == 1],
        [np.zeros(n, int), rng.integers(30, 91, n)],
        rng.integers(91, 183, n),
    )
    consent_offset = np.minimum(-spell_days + rng.integers(30, 366, n), -7)
    last_contact = np.maximum(consent_offset, -rng.integers(0, 91, n))
    tables["jobseekers"] = pd.DataFrame(
        {
            "id": ids,
            "ref": [f"DE{i:05d}" for i in ids],
            "qualification_level": pd.array(np.where(qual == 0, pd.NA, qual), dtype="Int64"),
            "driving_licence": licence,
            "has_vehicle": vehicle,
            "max_commute_km": max_commute,
            "home_commune_insee": home_insee,
            "priority_district": False,  # derived from the address by the service
            "availability_date": _dates(as_of, avail),
            "unemployed_since": _dates(as_of, -spell_days),
            "desired_hours_per_week": rng.choice(
                [35.0, 24.0, 28.0, 30.0], size=n, p=[0.6, 0.15, 0.1, 0.15]
            ),
            "counsellor_id": counsellor_ids[rng.integers(0, len(counsellor_ids), n)],
            "consent_date": _dates(as_of, consent_offset),
            "retention_until": _dates(as_of, last_contact + 730),
            "status": "active",
        }
    )

    # past occupations, vectorised: one row per (person, experience)
    sector_codes = [c for codes in SECTOR_FICHES.values() for c in codes]
    k = rng.choice([1, 2, 3], size=n, p=[0.35, 0.40, 0.25])
    person = np.repeat(ids, k)
    order = np.concatenate([np.arange(x) for x in k])
    m = len(person)
    code = np.where(
        rng.random(m) < 0.7,
        np.array(sector_codes)[rng.integers(0, len(sector_codes), m)],
        np.array(r.no_diploma)[rng.integers(0, len(r.no_diploma), m)],
    )
    months = np.clip(rng.lognormal(np.log(18), 0.9, m), 1, 240).astype(int)
    gap = rng.integers(0, 180, m)
    exp = pd.DataFrame(
        {"jobseeker_id": person, "order": order, "code_rome": code, "months": months}
    )
    # the latest job ends when the spell began; each earlier one ends before the next began
    start_back = exp.groupby("jobseeker_id")["months"].cumsum().to_numpy() - months
    gaps_back = exp.assign(g=gap).groupby("jobseeker_id")["g"].cumsum().to_numpy() - gap
    end_offset = -spell_days[person - 1] - (start_back * 30.4).astype(int) - gaps_back
    exp["ended_on"] = _dates(as_of, end_offset)
    exp = exp.drop_duplicates(["jobseeker_id", "code_rome"]).reset_index(drop=True)
    exp.insert(0, "id", np.arange(1, len(exp) + 1))
    tables["jobseeker_experiences"] = exp[["id", "jobseeker_id", "code_rome", "months", "ended_on"]]

    # skills of those occupations
    links = r.ref.occupation_skills[["code_rome", "code_ogr", "core"]]
    sk = exp[["jobseeker_id", "code_rome", "months"]].merge(links, on="code_rome", how="inner")
    sk = sk.sort_values(["jobseeker_id", "code_rome", "code_ogr"], kind="stable").reset_index(
        drop=True
    )
    is_core = (sk["core"] != "").to_numpy()
    keep = rng.random(len(sk)) < np.where(is_core, 0.75, 0.15)
    u = rng.random(len(sk))
    qualified = ~np.isnan(
        tables["jobseekers"]["qualification_level"].to_numpy(dtype=float, na_value=np.nan)
    )[sk["jobseeker_id"].to_numpy() - 1]
    source = np.select(
        [is_core & qualified & (u < 0.25), u > 0.70], ["certified", "validated"], "declared"
    )
    level = np.where(sk["months"].to_numpy() >= 24, 3, rng.integers(1, 3, len(sk)))
    skills = pd.DataFrame(
        {
            "jobseeker_id": sk["jobseeker_id"].to_numpy(),
            "skill_code": sk["code_ogr"].astype(int).to_numpy(),
            "level": level,
            "source": source,
        }
    )[keep]
    rank = skills["source"].map({"certified": 0, "validated": 1, "declared": 2})
    skills = (
        skills.assign(_r=rank, _l=-skills["level"])
        .sort_values(["jobseeker_id", "skill_code", "_r", "_l"], kind="stable")
        .drop_duplicates(["jobseeker_id", "skill_code"])
        .drop(columns=["_r", "_l"])
        .reset_index(drop=True)
    )
    tables["jobseeker_skills"] = skills

    prog = [pd.DataFrame({"jobseeker_id": ids, "programme": "PLIE"})]
    for name, mask in (
        ("RSA", rng.random(n) < 0.4),
        ("JEUNES", age < 26),
        ("TH", rng.random(n) < 0.08),
    ):
        prog.append(pd.DataFrame({"jobseeker_id": ids[mask], "programme": name}))
    tables["jobseeker_programmes"] = (
        pd.concat(prog).sort_values(["jobseeker_id", "programme"]).reset_index(drop=True)
    )


def _abbr(match: re.Match) -> str:
    return {
        "rue": "r.",
        "allée": "all.",
        "avenue": "av.",
        "place": "pl.",
        "impasse": "imp.",
        "résidence": "rés.",
    }[match.group(1)]


def _employers(r: _Ref, rng, sizes: DemoSizes, tables) -> None:
    communes = r.ref.communes.reset_index(drop=True)
    amiens = communes.loc[communes["name"] == "Amiens", "code_insee"].iloc[0]
    pop = communes["population"].to_numpy(float)
    sectors = list(SECTOR_FICHES)
    used: dict[str, int] = {}
    rows = []
    for e in range(sizes.employers):
        if e == 0:
            sector, fiche, name, commune = (
                "relation_client_numerique",
                CALL_CENTRE_ROME,
                "Centre de relation client Amiens Nord",
                amiens,
            )
        elif e == 1:
            sector, fiche, name, commune = (
                "metallurgie_btp",
                MOTORWAY_ROME,
                "Centre d'entretien autoroutier d'Amiens",
                amiens,
            )
        else:
            sector = sectors[(e - 2) % len(sectors)]
            fiche = SECTOR_FICHES[sector][int(rng.integers(0, len(SECTOR_FICHES[sector])))]
            names = EMPLOYER_NAMES[sector]
            k = used.get(sector, 0)
            used[sector] = k + 1
            name = names[k % len(names)] + (f" {k // len(names) + 1}" if k >= len(names) else "")
            commune = (
                amiens
                if rng.random() < 0.55
                else str(
                    communes["code_insee"].iloc[int(rng.choice(len(communes), p=pop / pop.sum()))]
                )
            )
        divisions = r.naf.get(fiche) or ["82"]
        preferred = [d for d in divisions if d in SECTOR_NAF_DIVISIONS[sector]]
        divisions = preferred or divisions
        rows.append(
            (
                e + 1,
                f"EMP{e + 1:03d}",
                name,
                None,
                divisions[int(rng.integers(0, len(divisions)))],
                sector,
                commune,
            )
        )
    tables["employers"] = pd.DataFrame(
        rows, columns=["id", "ref", "name", "siret", "naf_code", "sector", "commune_insee"]
    )


def _employer_fiches(employer_id: int, sector: str) -> list[str]:
    if employer_id == 2:
        return [MOTORWAY_ROME, "F1702"]
    return SECTOR_FICHES[sector]


def _needs(r: _Ref, rng, as_of: date, sizes: DemoSizes, tables) -> tuple[str, str, int]:
    employers = tables["employers"]
    rows, skill_rows = [], []
    no_diploma = set(r.no_diploma)

    def add(
        nid,
        emp_id,
        code,
        positions,
        hiring,
        status,
        *,
        typed=None,
        cert=None,
        licence=None,
        contract=None,
    ):
        titles = r.titles.get(code) or [r.occ.loc[code, "label"]]
        title = typed or titles[int(rng.integers(0, len(titles)))]
        if typed is None and rng.random() < 0.45:
            title = degrade_title(title, rng)
        if licence is None:
            p = 0.6 if code in r.licence_fiches else 0.05
            licence = bool(code == "N4101" or rng.random() < p)
        sector = employers.loc[emp_id - 1, "sector"]
        if contract is None:
            choices, p = (
                ["CDI", "CDD", "interim", "CDDI", "alternance"],
                [0.4, 0.3, 0.2, 0.05, 0.05],
            )
            if sector == "tourisme":
                choices, p = (["CDI", "CDD", "saisonnier", "alternance"], [0.3, 0.3, 0.3, 0.1])
            contract = str(rng.choice(choices, p=p))
        min_level = 3 if code not in no_diploma and rng.random() < 0.10 and typed is None else None
        rows.append(
            dict(
                id=nid,
                ref=f"BES{nid:04d}",
                employer_id=emp_id,
                code_rome=code,
                title_typed=title,
                description="",
                positions=positions,
                hiring_date=hiring,
                contract_type=contract,
                hours_per_week=float(rng.choice([24.0, 30.0, 35.0, 35.0, 35.0, 39.0])),
                commune_insee=employers.loc[emp_id - 1, "commune_insee"],
                driving_licence_required=licence,
                min_qualification_level=min_level,
                required_certification=cert,
                status=status,
                captured_by="guichet",
            )
        )
        core = r.core.get(code, [])
        essential = (
            sorted(rng.choice(core, size=min(6, len(core)), replace=False).tolist()) if core else []
        )
        others = r.other.get(code, [])
        n_opt = min(int(rng.integers(2, 4)), len(others))
        optional = sorted(rng.choice(others, size=n_opt, replace=False).tolist()) if n_opt else []
        for s in essential:
            skill_rows.append((nid, int(s), True, int(rng.integers(1, 4))))
        for s in optional:
            skill_rows.append((nid, int(s), False, 1))

    add(
        1,
        1,
        CALL_CENTRE_ROME,
        CALL_CENTRE_POSITIONS,
        as_of + timedelta(days=CALL_CENTRE_DAYS_AHEAD),
        "open",
        typed="Téléconseiller(e) en centre d'appels",
        licence=False,
        contract="CDI",
    )
    add(
        2,
        2,
        MOTORWAY_ROME,
        MOTORWAY_POSITIONS,
        as_of + timedelta(days=MOTORWAY_DAYS_AHEAD),
        "open",
        typed="ouvrier autoroutier (H/F)",
        cert=MOTORWAY_RNCP,
        licence=True,
        contract="CDI",
    )
    nid = 3
    sectors = employers["sector"].to_numpy()
    n_emp = len(employers)
    for _ in range(sizes.needs - 2):
        emp = int(rng.integers(3, n_emp + 1)) if n_emp > 2 else 1
        fiches = _employer_fiches(emp, sectors[emp - 1])
        add(
            nid,
            emp,
            fiches[int(rng.integers(0, len(fiches)))],
            int(rng.choice([1, 1, 1, 2, 2, 3, 4, 5, 8, 12])),
            as_of + timedelta(days=int(rng.integers(30, 271))),
            "open" if rng.random() < 0.75 else "draft",
        )
        nid += 1
    first_past = nid
    past_offsets = np.sort(rng.integers(15, 731, sizes.past_needs))[::-1]
    for offset in past_offsets:
        emp = int(rng.integers(1, n_emp + 1))
        fiches = _employer_fiches(emp, sectors[emp - 1])
        code = fiches[int(rng.integers(0, len(fiches)))]
        add(
            nid,
            emp,
            code,
            int(rng.choice([1, 1, 1, 2, 2, 3, 4])),
            as_of - timedelta(days=int(offset)),
            "filled" if rng.random() < 0.85 else "cancelled",
            cert=MOTORWAY_RNCP if code == MOTORWAY_ROME else None,
        )
        nid += 1
    needs = pd.DataFrame(rows)
    needs["min_qualification_level"] = needs["min_qualification_level"].astype("Int64")
    tables["needs"] = needs
    tables["need_skills"] = pd.DataFrame(
        skill_rows, columns=["need_id", "skill_code", "essential", "level"]
    ).drop_duplicates(["need_id", "skill_code"])
    return "BES0001", "BES0002", first_past


def _provider_for(kind: str, code_rome: str) -> int:
    """Index in :data:`PROVIDERS` of the usual provider of a certification."""
    if kind == "TP":
        return 0
    if code_rome[:1] in "JK" and code_rome[:3] != "K22":
        return 4
    if code_rome[:1] == "H" and code_rome.startswith(("H21", "H33")):
        return 3
    if kind in ("CAP", "BEP", "BAC PRO", "MC3", "MC4", "MC5", "BP", "CS"):
        return 1
    return 2


def _courses(r: _Ref, rng, as_of: date, sizes: DemoSizes, tables) -> None:
    communes = r.ref.communes.reset_index(drop=True)
    amiens = communes.loc[communes["name"] == "Amiens", "code_insee"].iloc[0]
    near = [
        amiens,
        amiens,
        amiens,
        "80489",
        "80164",
        "80724",
        "80113",
    ]  # Longueau, Camon, Salouël, Boves
    near = [c for c in near if c in set(communes["code_insee"])]
    course_rows, skill_rows, session_rows = [], [], []

    def add_course(
        code,
        code_rncp,
        title_cert,
        level,
        kind,
        *,
        provider=None,
        title=None,
        hours=None,
        prereq=False,
    ):
        cid = len(course_rows) + 1
        hrs = float(hours or rng.choice([210, 280, 420, 560, 700]))
        min_level = None
        prereq_skills: list[int] = []
        if prereq:
            others = r.other.get(code, [])
            if len(others) >= 2:
                prereq_skills = sorted(rng.choice(others, size=2, replace=False).tolist())
            if rng.random() < 0.5:
                min_level = 3
        label = certification_label(title_cert)
        course_rows.append(
            dict(
                id=cid,
                ref=f"FOR{cid:03d}",
                provider_id=(provider if provider is not None else _provider_for(kind, code)) + 1,
                title=title or label,
                formacode=r.formacode.get(code_rncp),
                code_rncp=code_rncp,
                certification=label,
                code_rome=code,
                hours=hrs,
                cost_eur=float(round(hrs * float(rng.uniform(9, 15)))),
                min_qualification_level=min_level,
                grants_driving_licence=False,
                description=f"Formation préparant la certification {code_rncp} ({label}).",
            )
        )
        for s in r.core.get(code, []):
            skill_rows.append((cid, int(s), "taught"))
        for s in prereq_skills:
            skill_rows.append((cid, int(s), "prerequisite"))
        return cid

    crcd = r.certs[r.certs["code_rncp"] == CALL_CENTRE_RNCP].iloc[0]
    crcd_id = add_course(
        CALL_CENTRE_ROME,
        CALL_CENTRE_RNCP,
        crcd["title"],
        crcd["level"],
        "TP",
        provider=0,
        title=CALL_CENTRE_COURSE,
        hours=560,
    )
    road_id = add_course(
        MOTORWAY_ROME,
        MOTORWAY_RNCP,
        MOTORWAY_CERT_TITLE,
        3,
        "TP",
        provider=0,
        title="Maçon en voirie et réseaux divers",
        hours=490,
    )
    sector_codes = [c for codes in SECTOR_FICHES.values() for c in codes]
    options = []
    for code in sector_codes:
        certs = r.certs_for(code)
        certs = certs[certs["code_rncp"] != MOTORWAY_RNCP]
        # certifications a PLIE participant can aim at: level 3 to 5
        certs = certs[certs["level"].between(3, 5)]
        usual = certs[certs["kind"].isin(COURSE_CERT_KINDS)]
        certs = usual if len(usual) else certs
        options += [(code, row) for row in certs.itertuples(index=False)]
    seen = {(CALL_CENTRE_ROME, CALL_CENTRE_RNCP)}
    attempts = 0
    while len(course_rows) < sizes.courses and attempts < 20 * sizes.courses and options:
        attempts += 1
        code, c = options[int(rng.integers(0, len(options)))]
        if (code, c.code_rncp) in seen and attempts < 10 * sizes.courses:
            continue
        seen.add((code, c.code_rncp))
        add_course(
            code,
            c.code_rncp,
            c.title,
            c.level,
            c.kind,
            prereq=bool(c.level >= 4 and rng.random() < 0.5),
        )
    courses = pd.DataFrame(course_rows)
    courses["min_qualification_level"] = courses["min_qualification_level"].astype("Int64")
    tables["providers"] = pd.DataFrame(
        {
            "id": range(1, len(PROVIDERS) + 1),
            "ref": [p[0] for p in PROVIDERS],
            "name": [p[1] for p in PROVIDERS],
        }
    )
    tables["courses"] = courses
    tables["course_skills"] = pd.DataFrame(
        skill_rows, columns=["course_id", "skill_code", "role"]
    ).drop_duplicates(["course_id", "skill_code"])

    def add_session(course_id, start_offset, *, seats=None, commune=amiens):
        sid = len(session_rows) + 1
        hours = float(courses.loc[course_id - 1, "hours"])
        start = as_of + timedelta(days=int(start_offset))
        end = start + timedelta(days=int(np.ceil(hours / 35.0 * 7)) - 3)
        s = int(seats or rng.integers(8, 21))
        # sessions starting soon are fuller
        fill = 0.6 if start_offset < 30 else 0.3 if start_offset < 120 else 0.1
        session_rows.append(
            dict(
                id=sid,
                ref=f"SES{sid:04d}",
                course_id=course_id,
                start_date=start,
                end_date=end,
                seats=s,
                seats_taken=int(rng.binomial(s, fill)),
                commune_insee=commune,
                funding=str(rng.choice(FUNDING)),
            )
        )

    for offset, seats in zip((14, 45, 75, 150), (16, 14, 16, 12), strict=True):
        add_session(crcd_id, offset, seats=seats)
    # the only session of the motorway certificate ends after the motorway hiring date
    add_session(road_id, MOTORWAY_DAYS_AHEAD + 30, seats=12)
    other_ids = np.arange(3, len(courses) + 1)
    # every other course gets at least one session, then random ones
    for cid in other_ids[: max(0, sizes.sessions - len(session_rows))]:
        add_session(int(cid), int(rng.integers(-30, 331)), commune=str(rng.choice(near)))
    while len(session_rows) < sizes.sessions and len(other_ids):
        add_session(
            int(rng.choice(other_ids)), int(rng.integers(-30, 331)), commune=str(rng.choice(near))
        )
    tables["course_sessions"] = pd.DataFrame(session_rows)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _history(r: _Ref, rng, as_of: date, first_past: int, address_bias: float, tables) -> None:
    """Simulate two years of proposals, interviews and hires (see the module docstring)."""
    ref = r.ref
    js = tables["jobseekers"]
    n = len(js)
    index = ref.skill_index
    held = tables["jobseeker_skills"]
    person_skills = sp.csr_matrix(
        (
            np.ones(len(held), np.float32),
            (held["jobseeker_id"].to_numpy() - 1, held["skill_code"].map(index).to_numpy()),
        ),
        shape=(n, len(index)),
    )
    exp = tables["jobseeker_experiences"]
    exp_codes = sorted(set(exp["code_rome"]))
    code_pos = {c: i for i, c in enumerate(exp_codes)}
    has_exp = sp.csr_matrix(
        (
            np.ones(len(exp), bool),
            (exp["jobseeker_id"].to_numpy() - 1, exp["code_rome"].map(code_pos).to_numpy()),
        ),
        shape=(n, len(exp_codes)),
    )
    dist = ref.distance_matrix_km
    cidx = ref.commune_index
    home = js["home_commune_insee"].map(cidx).to_numpy()
    max_km = js["max_commute_km"].to_numpy()
    licence = js["driving_licence"].to_numpy()
    day0 = np.datetime64(as_of, "D")
    spell_start = (np.array(js["unemployed_since"].tolist(), dtype="datetime64[D]") - day0).astype(
        int
    )
    consent = (np.array(js["consent_date"].tolist(), dtype="datetime64[D]") - day0).astype(int)
    avail_now = (np.array(js["availability_date"].tolist(), dtype="datetime64[D]") - day0).astype(
        int
    )
    qpv = (tables["_intended_qpv"]["district"] != "").to_numpy()
    counsellor = js["counsellor_id"].map(tables["users"].set_index("id")["username"]).to_numpy()
    last_proposed = np.full(n, -(10**6))  # one proposal at a time: 60 days between two
    busy_until = np.full(n, -(10**6))  # end (days from as_of) of a job found through a demo need
    ns = tables["need_skills"]
    ess_by_need = {k: g["skill_code"].to_numpy() for k, g in ns[ns["essential"]].groupby("need_id")}
    needs = tables["needs"]
    past = needs[needs["id"] >= first_past].sort_values(["hiring_date", "id"], kind="stable")
    events: list[tuple] = []
    hires: list[tuple[int, str, int, int]] = []  # person, code_rome, start, end (days)
    for need in past.itertuples(index=False):
        hire_day = int((np.datetime64(need.hiring_date, "D") - day0).astype(int))
        proposal_day = hire_day - int(rng.integers(20, 46))
        codes = ess_by_need.get(need.id, np.array([], int))
        vec = np.zeros(len(index), np.float32)
        vec[[index[int(s)] for s in codes]] = 1.0
        coverage = np.asarray(person_skills @ vec).ravel() / max(len(codes), 1)
        same = np.zeros(n, bool)
        close = np.zeros(n, bool)
        for c, j in code_pos.items():
            col = (
                has_exp[:, j].toarray().ravel()
                if (c == need.code_rome or r.close(need.code_rome, c))
                else None
            )
            if col is None:
                continue
            if c == need.code_rome:
                same |= col
            else:
                close |= col
        km = dist[home, cidx[need.commune_insee]]
        eligible = (
            (consent <= proposal_day)
            & (spell_start <= proposal_day - 14)
            & (busy_until < proposal_day)
            & (proposal_day - last_proposed >= 60)
            & (km <= max_km)
            & (licence | (not need.driving_licence_required))
        )
        k = min(3 * need.positions + 2, int(eligible.sum()))
        if k == 0:
            continue
        fit = 3 * coverage + 1.2 * same + 0.6 * close + rng.gumbel(0, 0.6, n)
        fit[~eligible] = -np.inf
        chosen = np.sort(np.argsort(-fit, kind="stable")[:k])
        # availability then: people declaring a later availability today were often busy then
        available_soon = (avail_now[chosen] <= 30) | (rng.random(k) < 0.5)
        z = (
            -2.0
            + 3 * coverage[chosen]
            + 1.2 * same[chosen]
            + 0.6 * close[chosen]
            + 0.5 * (km[chosen] < 10)
            + 0.4 * available_soon
        )
        p_interview = _sigmoid(z) * np.where(qpv[chosen], address_bias, 1.0)
        withdrawn = rng.random(k) < 0.05
        interviewed = ~withdrawn & (rng.random(k) < p_interview)
        hire_score = (
            -1.0
            + 2.5 * coverage[chosen]
            + 0.8 * same[chosen]
            + 0.4 * close[chosen]
            + rng.normal(0, 0.7, k)
        )
        positions = need.positions if need.status == "filled" else 0
        hired = np.zeros(k, bool)
        cand = np.flatnonzero(interviewed)
        best = cand[np.argsort(-hire_score[cand], kind="stable")][:positions]
        hired[best] = True
        for pos, person in enumerate(chosen):
            jid = int(person + 1)
            d0 = as_of + timedelta(days=proposal_day)
            events.append((jid, int(need.id), "proposed", d0, counsellor[person]))
            if withdrawn[pos]:
                events.append(
                    (jid, int(need.id), "withdrawn", d0 + timedelta(days=5), counsellor[person])
                )
            elif not interviewed[pos]:
                events.append((jid, int(need.id), "rejected", d0 + timedelta(days=7), "guichet"))
            else:
                events.append(
                    (jid, int(need.id), "interviewed", d0 + timedelta(days=10), "guichet")
                )
                events.append(
                    (
                        jid,
                        int(need.id),
                        "hired" if hired[pos] else "rejected",
                        d0 + timedelta(days=18),
                        "guichet",
                    )
                )
        last_proposed[chosen] = proposal_day
        for person in chosen[hired]:
            if need.contract_type == "CDI":
                length = int(rng.integers(60, 181)) if rng.random() < 0.15 else 10**6
            else:
                length = int(rng.integers(60, 366))
            busy_until[person] = hire_day + length
            hires.append((int(person), need.code_rome, hire_day, hire_day + length))
    frame = pd.DataFrame(
        events, columns=["jobseeker_id", "need_id", "event", "event_date", "by_user"]
    )
    frame = frame.drop_duplicates(["jobseeker_id", "need_id", "event", "event_date"]).reset_index(
        drop=True
    )
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    tables["outcomes"] = frame[["id", "jobseeker_id", "need_id", "event", "event_date", "by_user"]]
    _apply_hires(hires, as_of, tables)


def _apply_hires(hires, as_of: date, tables) -> None:
    """A hire ends the spell: finished jobs become experiences, running ones make people employed."""
    if not hires:
        return
    js = tables["jobseekers"]
    exp = tables["jobseeker_experiences"]
    last: dict[int, tuple[str, int, int]] = {}
    new_exp = []
    for person, code, start, end in hires:  # in date order
        last[person] = (code, start, end)
        if end < -14:
            new_exp.append(
                (person + 1, code, max(1, round((end - start) / 30.4)), as_of + timedelta(days=end))
            )
    status = js["status"].to_numpy(dtype=object).copy()
    since = js["unemployed_since"].to_numpy(dtype=object).copy()
    avail = js["availability_date"].to_numpy(dtype=object).copy()
    for person, (_code, _start, end) in last.items():
        if end < -14:
            since[person] = as_of + timedelta(days=end)
        else:
            status[person] = "employed"
            since[person] = None
            avail[person] = as_of + timedelta(days=min(end, 365))
    js["status"] = status
    js["unemployed_since"] = since
    js["availability_date"] = avail
    if new_exp:
        extra = pd.DataFrame(new_exp, columns=["jobseeker_id", "code_rome", "months", "ended_on"])
        merged = pd.concat([exp[["jobseeker_id", "code_rome", "months", "ended_on"]], extra])
        merged = merged.sort_values(["jobseeker_id", "ended_on"], kind="stable")
        merged = merged.drop_duplicates(["jobseeker_id", "code_rome", "ended_on"]).reset_index(
            drop=True
        )
        merged.insert(0, "id", np.arange(1, len(merged) + 1))
        tables["jobseeker_experiences"] = merged

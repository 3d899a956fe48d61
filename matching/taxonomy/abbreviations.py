"""Trade abbreviations and acronyms seen in French job titles, vacancies and CVs, with their expansion.

The list is deliberately SMALL and documented: each entry says what the abbreviation means and
where the meaning comes from, so that a counsellor can check it. Expansions are written in plain
French (accents allowed; :func:`matching.taxonomy.text.normalise_text` folds them) and are
*appended* to the abbreviation, never substituted: referential labels such as "Soudeur / Soudeuse
Tungsten Inert Gas -TIG-" keep matching on the acronym itself.

Keys are lower-case, accent-free single tokens, as produced by the tokeniser of
:mod:`matching.taxonomy.text`. Add an entry only with a source and only when the abbreviation is
unambiguous in an employment context.
"""

from __future__ import annotations

ABBREVIATIONS: dict[str, str] = {
    # --- certificates and permits --------------------------------------------------------------
    # Certificat d'aptitude à la conduite en sécurité (INRS recommendations R482/R489/R490): the
    # permit for fork-lift trucks and construction machines; in vacancies it almost always means
    # driving a fork-lift ("cariste CACES 3") or a construction machine.
    "caces": "certificat aptitude conduite securite chariot engin",
    # Sauveteur secouriste du travail (INRS first-aid-at-work certificate).
    "sst": "sauveteur secouriste travail",
    # Poids lourd / super poids lourd / véhicule léger: driving licence categories C, CE, B
    # (Code de la route, art. R221-4), used as job-title shorthand ("chauffeur PL").
    "pl": "poids lourd",
    "spl": "super poids lourd",
    "vl": "vehicule leger",
    # Formation initiale minimale obligatoire (FIMO): mandatory training of lorry drivers
    # (Code des transports, art. R3314-1).
    "fimo": "formation initiale minimale obligatoire conducteur transport",
    # --- welding processes (ISO 4063 process names, as used in ROME labels) --------------------
    # Tungsten Inert Gas welding (ISO 4063 process 141); ROME: "Soudeur / Soudeuse ... TIG".
    "tig": "soudage tungsten inert gas",
    # Metal Inert Gas / Metal Active Gas welding (ISO 4063 processes 131/135).
    "mig": "soudage metal inert gas",
    "mag": "soudage metal active gas",
    # --- diplomas (French national qualifications framework, RNCP) -----------------------------
    # Certificat d'aptitude professionnelle (level 3).
    "cap": "certificat aptitude professionnelle",
    # Brevet d'études professionnelles (level 3).
    "bep": "brevet etudes professionnelles",
    # Brevet de technicien supérieur (level 5).
    "bts": "brevet technicien superieur",
    # Diplôme universitaire de technologie (level 5).
    "dut": "diplome universitaire technologie",
    # Diplôme d'État d'accompagnant éducatif et social (DEAES, level 3) and its holder (AES);
    # ROME: "Accompagnant éducatif et social / Accompagnante éducative et sociale".
    "deaes": "diplome etat accompagnant educatif social",
    "aes": "accompagnant educatif social",
    # Diplôme d'État d'aide-soignant (DEAS) and "AS" in care vacancies.
    "deas": "diplome etat aide soignant",
    # Agent de service hospitalier (ASH), ROME "Agent / Agente de service hospitalier".
    "ash": "agent service hospitalier",
    # Conseiller relation client à distance: Titre professionnel CRCD (ministère du Travail,
    # RNCP), the call-centre qualification.
    "crcd": "conseiller relation client distance",
    # Certificat de qualification professionnelle (branch certificates).
    "cqp": "certificat qualification professionnelle",
    # --- sectors and settings ------------------------------------------------------------------
    # Bâtiment et travaux publics.
    "btp": "batiment travaux publics",
    # Voirie et réseaux divers (public works trade).
    "vrd": "voirie reseaux divers",
    # Établissement d'hébergement pour personnes âgées dépendantes (care home).
    "ehpad": "etablissement hebergement personne agee dependante",
    # Ressources humaines.
    "rh": "ressources humaines",
    # Grande et moyenne surface (retail).
    "gms": "grande moyenne surface",
    # Service après-vente.
    "sav": "service apres vente",
    # --- digital jobs (ROME 4.0 M18xx labels spell these out) ---------------------------------
    # Business intelligence: ROME "Analyste décisionnel - Business Intelligence" (M1851) and
    # its consultant/developer appellations.
    "bi": "business intelligence decisionnel",
    # Intelligence artificielle (French IA, English AI): ROME "Ingénieur / Ingénieure en
    # Intelligence Artificielle (IA)" (M1889).
    "ia": "intelligence artificielle",
    "ai": "intelligence artificielle",
    # Full-stack developer, written in one word in vacancies; ROME "Développeur / Développeuse
    # full-stack".
    "fullstack": "full stack",
    # Machine-learning operations (MLOps): ROME "Ingénieur / Ingénieure machine learning".
    "mlops": "machine learning",
}

#: Clipped words common in CVs and vacancy titles (French usage, Le Robert "abrév."): each stands
#: for ONE of its words. They are appended like the other expansions (``ABBREVIATIONS``), and a
#: phrase holding one is also matched with each of its words in its place ("prépa commandes" as
#: "preparateur commande" and "preparation commande"): appended, the two words of "prépa" and
#: the clipping in head position hid "Préparateur de commandes" behind fiches of "préparateurs
#: de matières".
CLIPPED_WORDS: dict[str, tuple[str, ...]] = {
    "prepa": ("preparateur", "preparation"),
    "prep": ("preparateur", "preparation"),
    "cde": ("commande",),
    "cdes": ("commande",),
    "manut": ("manutention",),
    "compta": ("comptable", "comptabilite"),
    "admin": ("administratif", "administration"),
    "resp": ("responsable",),
    "assist": ("assistant",),
    "tech": ("technicien", "technique"),
    "maint": ("maintenance",),
    "elec": ("electricien", "electricite"),
}
ABBREVIATIONS.update({k: " ".join(v) for k, v in CLIPPED_WORDS.items()})

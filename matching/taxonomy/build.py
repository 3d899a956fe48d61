"""Derive the compact referential shipped in ``matching/data/referential`` from the source files.

This module owns the one-way transformation *source open-data files -> compact Parquet tables*.
The source layout is the one of ``shared/data`` (see its ``SOURCES.md``): ROME 4.0 (France Travail,
Licence Ouverte), ESCO v1.1.1 with French labels (European Commission, CC BY 4.0), the official
ESCO <-> ROME crosswalk, RNCP <-> ROME / Formacode links and certification titles (France
Compétences, Licence Ouverte) and the communes of Amiens Métropole with the names of its priority
districts.

Nothing is invented: every row of every output table comes from a source row, with columns renamed
and trimmed. The job-offer samples and the La Bonne Boîte files are *not* read here (no licence to
redistribute). ``passerelle taxonomy import DIR`` calls :func:`build_referential`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from matching.exceptions import ReferentialError

#: Tables written by :func:`build_referential`, with the source files each one needs.
REQUIRED_SOURCES: dict[str, list[str]] = {
    "occupations": ["france_travail_rome4/fiches_metiers.csv"],
    "job_titles": ["france_travail_rome4/appellations.csv"],
    "skills": ["france_travail_rome4/competences.csv", "france_travail_rome4/savoirs.csv"],
    "macro_skills": ["france_travail_rome4/macro_competences.csv"],
    "occupation_skills": ["france_travail_rome4/fiche_competences.csv"],
    "mobilities": ["france_travail_rome4/mobilites_partiel.csv"],
    "sectors_naf": ["france_travail_rome4/secteurs_naf_rome.csv"],
    "sectors_activity": ["france_travail_rome4/secteurs_activite_rome.csv"],
    "work_contexts": ["france_travail_rome4/fiche_contextes_travail.csv"],
    "esco_occupations": ["esco_v1.1.1/occupations.csv"],
    "esco_skills": ["esco_v1.1.1/skills.csv"],
    "esco_occupation_skills": ["esco_v1.1.1/occupation_skill_relations.parquet"],
    "esco_rome_crosswalk": ["esco_rome_mapping_pole_emploi/esco_rome_appellations_mapping.csv"],
    "certifications": ["france_competences_rncp/kit_apprentissage_diplomes_rncp_2023-12-18.csv"],
    "certification_occupations": ["france_competences_rncp/rncp_rome.csv"],
    "certification_formacodes": ["france_competences_rncp/rncp_formacode.csv"],
    "communes": ["geo_amiens_metropole/communes_amiens_metropole.csv"],
    "priority_districts": ["geo_amiens_metropole/qpv_amiens_liste_non_officielle.csv"],
}

SOURCE_NOTES = {
    "rome": "ROME 4.0 v460 (France Travail), Licence Ouverte / Etalab 2.0",
    "esco": (
        "ESCO v1.1.1 (European Commission), CC BY 4.0. "
        "This service uses the ESCO classification of the European Commission."
    ),
    "crosswalk": "Mapping ESCO-ROME V1.4 (Pôle emploi, 2022), ESCO portal terms (CC BY 4.0)",
    "rncp": "France Compétences RNCP open data 2026-02 and Kit apprentissage 2023-12, Licence Ouverte",
    "geo": "INSEE COG / La Poste codes postaux (communes); QPV names from press (to verify)",
}


@dataclass(frozen=True)
class BuildReport:
    """Row counts of the tables written, keyed by table name."""

    counts: dict[str, int]
    out_dir: Path


def _read(src: Path, rel: str, **kw) -> pd.DataFrame:
    path = src / rel
    if not path.exists():
        raise ReferentialError(f"fichier source manquant : {path}")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False, **kw)


def _flag(series: pd.Series) -> pd.Series:
    return series.fillna("").str.upper().isin(["O", "OUI", "Y", "1", "TRUE"])


def _clean_rome(src: Path) -> dict[str, pd.DataFrame]:
    fiches = _read(src, "france_travail_rome4/fiches_metiers.csv")
    occupations = pd.DataFrame(
        {
            "code_rome": fiches["code_rome"],
            "label": fiches["libelle_rome"],
            "code_rome_v3": fiches["code_rome_parent"],
            "code_grand_domaine": fiches["code_grand_domaine"],
            "label_grand_domaine": fiches["libelle_grand_domaine"],
            "code_domaine": fiches["code_domaine_professionnel"],
            "label_domaine": fiches["libelle_domaine_professionnel"],
            "riasec": fiches["riasec_majeur"],
            "regulated": fiches["emploi_reglemente"].ne(""),
            "definition": fiches["definition"],
            "access": fiches["acces_metier"],
        }
    )
    app = _read(src, "france_travail_rome4/appellations.csv")
    job_titles = pd.DataFrame(
        {
            "code_ogr": app["code_ogr_appellation"].astype("int64"),
            "label": app["libelle_appellation_long"],
            "label_short": app["libelle_appellation_court"],
            "code_rome": app["code_rome"],
            "classification": app["classification"],
            "rarely_used": _flag(app["peu_usite"]),
        }
    )
    comp = _read(src, "france_travail_rome4/competences.csv")
    sav = _read(src, "france_travail_rome4/savoirs.csv")
    kind = comp["cat_comp"].map(
        {"Savoir-faire": "savoir_faire", "Savoir-être professionnel": "savoir_etre_professionnel"}
    )
    skills = pd.concat(
        [
            pd.DataFrame(
                {
                    "code_ogr": comp["code_ogr"].astype("int64"),
                    "label": comp["libelle_competence"],
                    "kind": kind.fillna("savoir_faire"),
                    "category": comp["sous_cat_comp"],
                    "subcategory": "",
                    "code_macro": pd.to_numeric(comp["code_ogr_macro_comp"], errors="coerce")
                    .fillna(0)
                    .astype("int64"),
                }
            ),
            pd.DataFrame(
                {
                    "code_ogr": sav["code_ogr"].astype("int64"),
                    "label": sav["libelle_savoir"],
                    "kind": "savoir",
                    "category": sav["categorie_savoir"],
                    "subcategory": sav["sous_categorie_savoir"],
                    "code_macro": 0,
                }
            ),
        ],
        ignore_index=True,
    )
    # Fiche-skill links also point at the 507 macro-competences (16,529 of the 90,556 links): they
    # are part of the skill space, flagged ``is_macro``.
    macro_src = _read(src, "france_travail_rome4/macro_competences.csv")
    macro_kind = macro_src["cat_comp"].map(
        {"Savoir-faire": "savoir_faire", "Savoir-être professionnel": "savoir_etre_professionnel"}
    )
    skills["is_macro"] = False
    skills = pd.concat(
        [
            skills,
            pd.DataFrame(
                {
                    "code_ogr": macro_src["code_ogr_macro_comp"].astype("int64"),
                    "label": macro_src["libelle_macro_competence"],
                    "kind": macro_kind.fillna("savoir_faire"),
                    "category": macro_src["sous_cat_comp"],
                    "subcategory": "",
                    "code_macro": macro_src["code_ogr_macro_comp"].astype("int64"),
                    "is_macro": True,
                }
            ),
        ],
        ignore_index=True,
    )
    if skills["code_ogr"].duplicated().any():
        dup = skills.loc[skills["code_ogr"].duplicated(), "code_ogr"].head(3).tolist()
        raise ReferentialError(f"codes OGR de compétence en double dans la source : {dup}")
    macro = _read(src, "france_travail_rome4/macro_competences.csv")
    macro_skills = pd.DataFrame(
        {
            "code_ogr": macro["code_ogr_macro_comp"].astype("int64"),
            "label": macro["libelle_macro_competence"],
            "code": macro["code_macro_comp"],
            "category": macro["sous_cat_comp"],
        }
    )
    links = _read(src, "france_travail_rome4/fiche_competences.csv")
    occupation_skills = pd.DataFrame(
        {
            "code_rome": links["code_rome"],
            "code_ogr": links["code_ogr"].astype("int64"),
            "kind": links["type_item"],
            "core": links["coeur_metier"]
            .map({"Principale": "principale", "Émergente": "emergente"})
            .fillna(""),
        }
    )
    mob = _read(src, "france_travail_rome4/mobilites_partiel.csv")
    mobilities = pd.DataFrame(
        {
            "code_rome": mob["code_rome"],
            "code_rome_target": mob["code_rome_cible"],
            "rank": pd.to_numeric(mob["numero_ordre"], errors="coerce").fillna(0).astype("int64"),
        }
    )
    naf = _read(src, "france_travail_rome4/secteurs_naf_rome.csv")
    sectors_naf = pd.DataFrame(
        {
            "code_sector_naf": naf["code_secteur_naf"],
            "naf_division": naf["code_division_naf"],
            "label": naf["libelle_secteur_naf"],
            "code_rome": naf["code_rome"],
        }
    )
    act = _read(src, "france_travail_rome4/secteurs_activite_rome.csv")
    sectors_activity = pd.DataFrame(
        {
            "code_sector": act["code_sect_activite"],
            "label_sector": act["libelle_sect_activite"],
            "code_subsector": act["code_ss_sect_activite"],
            "label_subsector": act["libelle_ss_sect_activite"],
            "code_rome": act["code_rome"],
            "main": act["principal"].eq("oui"),
        }
    )
    ctx = _read(src, "france_travail_rome4/fiche_contextes_travail.csv")
    work_contexts = pd.DataFrame(
        {
            "code_rome": ctx["code_rome"],
            "code_ogr": ctx["code_ogr"].astype("int64"),
            "label": ctx["libelle_cont_travail"],
            "type": ctx["libelle_type_cont_trav"],
        }
    )
    return {
        "occupations": occupations,
        "job_titles": job_titles,
        "skills": skills,
        "macro_skills": macro_skills,
        "occupation_skills": occupation_skills,
        "mobilities": mobilities,
        "sectors_naf": sectors_naf,
        "sectors_activity": sectors_activity,
        "work_contexts": work_contexts,
    }


def _clean_esco(src: Path) -> dict[str, pd.DataFrame]:
    occ = _read(src, "esco_v1.1.1/occupations.csv")
    esco_occupations = occ[
        ["occupation_uri", "esco_code", "isco_group", "label_fr", "alt_labels_fr", "label_en"]
    ].rename(columns={"occupation_uri": "uri"})
    sk = _read(src, "esco_v1.1.1/skills.csv")
    label_fr = sk["label_fr"].where(sk["label_fr"].ne(""), sk["label_en"])
    esco_skills = pd.DataFrame(
        {
            "uri": sk["skill_uri"],
            "skill_type": sk["skill_type"],
            "reuse_level": sk["reuse_level"],
            "label_fr": label_fr,
            "alt_labels_fr": sk["alt_labels_fr"],
            "label_en": sk["label_en"],
            "label_fr_source": sk["label_fr_source"],
            "transversal": sk["in_transversal"].eq("1"),
        }
    )
    rel = _read(src, "esco_v1.1.1/occupation_skill_relations.parquet")
    esco_occupation_skills = rel[["occupation_uri", "skill_uri", "relation_type"]].copy()
    cw = _read(src, "esco_rome_mapping_pole_emploi/esco_rome_appellations_mapping.csv")
    crosswalk = pd.DataFrame(
        {
            "esco_uri": cw["esco_occupation_uri"],
            "code_ogr_job_title": cw["rome_v3_appellation_ogr"].astype("int64"),
            "code_rome": cw["rome4_code_rome"],
            "relation": cw["mapping_relation"].str.replace("skos:", "", regex=False),
        }
    )
    return {
        "esco_occupations": esco_occupations,
        "esco_skills": esco_skills,
        "esco_occupation_skills": esco_occupation_skills,
        "esco_rome_crosswalk": crosswalk,
    }


def _clean_rncp(src: Path) -> dict[str, pd.DataFrame]:
    kit = _read(src, "france_competences_rncp/kit_apprentissage_diplomes_rncp_2023-12-18.csv")
    level = pd.to_numeric(kit["niveau_rncp"].str.extract(r"(\d)")[0], errors="coerce")
    certs = pd.DataFrame(
        {
            "code_rncp": kit["code_rncp"],
            "title": kit["intitule_diplome"],
            "level": level.fillna(0).astype("int64"),
            "kind": kit["abrege_diplome"],
            "active": kit["actif"].eq("ACTIVE"),
        }
    )
    certs = certs[certs["code_rncp"].str.startswith("RNCP")]
    # One row per certification: keep the active, most recent (last) entry of the kit.
    certs = certs.sort_values(["code_rncp", "active"]).drop_duplicates("code_rncp", keep="last")
    rome = _read(src, "france_competences_rncp/rncp_rome.csv")
    cert_occ = pd.DataFrame({"code_rncp": rome["numero_fiche"], "code_rome_v3": rome["code_rome"]})
    fc = _read(src, "france_competences_rncp/rncp_formacode.csv")
    cert_fc = pd.DataFrame(
        {
            "code_rncp": fc["numero_fiche"],
            "formacode": fc["formacode"],
            "formacode_label": fc["formacode_libelle"],
        }
    )
    return {
        "certifications": certs.reset_index(drop=True),
        "certification_occupations": cert_occ.drop_duplicates(),
        "certification_formacodes": cert_fc.drop_duplicates(),
    }


def _clean_geo(src: Path) -> dict[str, pd.DataFrame]:
    com = _read(src, "geo_amiens_metropole/communes_amiens_metropole.csv")
    communes = pd.DataFrame(
        {
            "code_insee": com["code_insee"],
            "name": com["nom_commune"],
            "population": com["population_municipale"].astype("int64"),
            "postcodes": com["codes_postaux"],
            "latitude": com["latitude"].astype(float),
            "longitude": com["longitude"].astype(float),
        }
    )
    qpv = _read(src, "geo_amiens_metropole/qpv_amiens_liste_non_officielle.csv")
    districts = pd.DataFrame(
        {
            "name": qpv["nom_quartier"],
            "code_insee": qpv["code_insee_commune"],
            "official_code": qpv["code_qpv_officiel"],
            "source_status": qpv["statut_source"],
        }
    )
    return {"communes": communes, "priority_districts": districts}


def build_referential(source_dir: str | Path, out_dir: str | Path) -> BuildReport:
    """Rebuild the compact referential from the open-data source directory.

    Parameters
    ----------
    source_dir : path
        Directory laid out as ``shared/data`` (``france_travail_rome4/``, ``esco_v1.1.1/``...).
    out_dir : path
        Directory receiving one Parquet file per table and ``manifest.json``. Files are written
        to a temporary name then renamed, so a failed build leaves the previous referential intact.

    Returns
    -------
    BuildReport
        Row counts per table.
    """
    src = Path(source_dir)
    out = Path(out_dir)
    missing = [
        rel for rels in REQUIRED_SOURCES.values() for rel in rels if not (src / rel).exists()
    ]
    if missing:
        raise ReferentialError(
            f"répertoire source incomplet ({src}) : fichiers manquants {', '.join(missing[:5])}"
        )
    tables: dict[str, pd.DataFrame] = {}
    for part in (_clean_rome, _clean_esco, _clean_rncp, _clean_geo):
        tables.update(part(src))
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, object] = {
        "built_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "sources": SOURCE_NOTES,
        "tables": {},
    }
    tmp_paths = []
    for name, df in tables.items():
        tmp = out / f".{name}.parquet.tmp"
        df.reset_index(drop=True).to_parquet(tmp, compression="zstd", index=False)
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        manifest["tables"][name] = {"rows": len(df), "sha256": digest}  # type: ignore[index]
        tmp_paths.append((tmp, out / f"{name}.parquet"))
    for tmp, final in tmp_paths:
        tmp.replace(final)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return BuildReport(counts={k: len(v) for k, v in tables.items()}, out_dir=out)

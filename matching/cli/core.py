"""Core commands: database initialisation, statistics, referential (taxonomy) import and stats."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from matching.cli import console
from matching.config import get_settings

taxonomy_app = typer.Typer(help="Référentiel des métiers et compétences (ROME 4.0, ESCO, RNCP).")


def init() -> None:
    """Crée ou met à jour la base de données (migrations Alembic)."""
    from matching.services.store import open_store

    settings = get_settings()
    engine = open_store(settings)
    console.print(f"Base prête : [bold]{engine.url.render_as_string(hide_password=True)}[/]")


def stats() -> None:
    """Affiche le nombre d'enregistrements par entité et par secteur."""
    from matching.services.store import entity_counts, open_store, sector_counts

    engine = open_store(get_settings())
    table = Table(title="Contenu de la base")
    table.add_column("Entité")
    table.add_column("Nombre", justify="right")
    from matching.cli.demo import SECTOR_LABELS

    labels = {"evenements": "décisions enregistrées", "organismes": "organismes de formation"}
    for name, count in entity_counts(engine).items():
        table.add_row(labels.get(name, name), f"{count:,}".replace(",", " "))
    console.print(table)
    sectors = sector_counts(engine)
    st = Table(title="Par secteur prioritaire (besoins actuels et passés)")
    for col in sectors.columns:
        st.add_column(col.capitalize(), justify="left" if col == "secteur" else "right")
    for row in sectors.itertuples(index=False):
        cells = [str(v) for v in row]
        cells[0] = SECTOR_LABELS.get(cells[0], cells[0])
        st.add_row(*cells)
    console.print(st)


@taxonomy_app.command("import")
def taxonomy_import(
    source_dir: Path = typer.Argument(
        ..., help="Dossier des sources (disposition de shared/data)."
    ),
    out: Path = typer.Option(
        None, "--out", help="Dossier de sortie (défaut : référentiel du paquet)."
    ),
) -> None:
    """Reconstruit le référentiel compact à partir des fichiers sources ouverts."""
    from matching.taxonomy.build import build_referential

    settings = get_settings()
    report = build_referential(source_dir, out or settings.referential_dir)
    _print_counts(report.counts, f"Référentiel reconstruit dans {report.out_dir}")


@taxonomy_app.command("stats")
def taxonomy_stats() -> None:
    """Affiche le nombre de métiers, appellations, compétences et liens chargés."""
    from matching.taxonomy.referential import load_referential

    ref = load_referential(get_settings().referential_dir)
    counts = {
        "fiches métiers ROME": len(ref.occupations),
        "appellations (intitulés de poste)": len(ref.job_titles),
        "compétences (savoir-faire, savoir-être)": int(
            ((ref.skills["kind"] != "savoir") & ~ref.skills["is_macro"]).sum()
        ),
        "macro-compétences": int(ref.skills["is_macro"].sum()),
        "savoirs": int((ref.skills["kind"] == "savoir").sum()),
        "liens fiche–compétence": len(ref.occupation_skills),
        "dont « cœur de métier »": int((ref.occupation_skills["core"] != "").sum()),
        "mobilités (partielles)": len(ref.mobilities),
        "secteurs NAF ↔ ROME": len(ref.table("sectors_naf")),
        "métiers ESCO": len(ref.table("esco_occupations")),
        "compétences ESCO": len(ref.table("esco_skills")),
        "liens ESCO métier–compétence": len(ref.table("esco_occupation_skills")),
        "correspondances ESCO ↔ ROME": len(ref.table("esco_rome_crosswalk")),
        "certifications RNCP (titres)": len(ref.table("certifications")),
        "liens RNCP ↔ ROME": len(ref.table("certification_occupations")),
        "communes d'Amiens Métropole": len(ref.communes),
        "quartiers prioritaires": len(ref.table("priority_districts")),
    }
    _print_counts(counts, "Référentiel chargé")


def _print_counts(counts: dict[str, int], title: str) -> None:
    table = Table(title=title)
    table.add_column("Élément")
    table.add_column("Nombre", justify="right")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}".replace(",", " "))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("stats")(stats)
    app.add_typer(taxonomy_app, name="taxonomy")

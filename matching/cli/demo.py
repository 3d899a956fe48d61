"""``passerelle demo``: seed the Amiens demo territory (progress bar and French summary)."""

from __future__ import annotations

from datetime import date

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from matching.cli import console

LABELS = {
    "generate": "génération du territoire",
    "derive": "quartiers prioritaires déduits des adresses",
    "passwords": "comptes de démonstration (argon2)",
    "reset": "remise à zéro de la base",
    "users": "comptes",
    "priority_streets": "rues des quartiers prioritaires (fictives)",
    "employers": "employeurs",
    "needs": "besoins (actuels et passés)",
    "need_skills": "compétences demandées",
    "jobseekers": "demandeurs d'emploi",
    "jobseeker_identities": "identités (table séparée)",
    "jobseeker_experiences": "expériences",
    "jobseeker_skills": "compétences des demandeurs",
    "jobseeker_programmes": "dispositifs (PLIE, RSA...)",
    "providers": "organismes de formation",
    "courses": "formations",
    "course_skills": "compétences enseignées ou prérequises",
    "course_sessions": "sessions de formation",
    "outcomes": "historique des décisions (2 ans)",
}
SECTOR_LABELS = {
    "relation_client_numerique": "Relation client, numérique",
    "metallurgie_btp": "Métallurgie, BTP",
    "logistique": "Logistique",
    "agroalimentaire_biotech_sante": "Agroalimentaire, biotech, santé",
    "tourisme": "Tourisme",
    "energie": "Énergie",
    "autre": "Autre",
}


def _n(value: int) -> str:
    return f"{value:,}".replace(",", "\u202f")


def demo(
    seed: int = typer.Option(42, help="Graine du générateur (même graine = mêmes données)."),
    as_of: str = typer.Option(
        None, "--as-of", help="Date de référence AAAA-MM-JJ (défaut : aujourd'hui)."
    ),
    jobseekers: int = typer.Option(5000, min=1, help="Nombre de demandeurs d'emploi."),
    reset: bool = typer.Option(
        False, "--reset/--no-reset", help="Vider la base avant de la remplir."
    ),
    address_bias: float = typer.Option(
        None,
        "--address-bias",
        min=0.0,
        max=1.0,
        help=(
            "Biais d'adresse simulé dans l'historique : facteur appliqué à la probabilité "
            "d'entretien des résidents des quartiers prioritaires (défaut 0,85 ; 1 = aucun)."
        ),
    ),
) -> None:
    """Remplit la base avec le territoire de démonstration d'Amiens Métropole (données fictives)."""
    from matching.config import get_settings
    from matching.demo import DEFAULT_ADDRESS_BIAS, DemoSizes
    from matching.exceptions import ValidationError
    from matching.services.demo import DEMO_PASSWORD, STEPS, seed_demo
    from matching.services.store import open_store
    from matching.taxonomy.referential import load_referential

    settings = get_settings()
    try:
        ref_date = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise ValidationError(
            f"option --as-of : date invalide {as_of!r} (attendu AAAA-MM-JJ, ex. 2026-09-01)"
        ) from None
    engine = open_store(settings)
    referential = load_referential(settings.referential_dir)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("Préparation", total=len(STEPS))
        started = [False]

        def progress(name: str) -> None:
            if started[0]:
                bar.advance(task)
            started[0] = True
            bar.update(task, description=LABELS.get(name, name))

        report = seed_demo(
            engine,
            referential,
            seed=seed,
            as_of=ref_date,
            sizes=DemoSizes(jobseekers=jobseekers),
            reset=reset,
            progress=progress,
            address_bias=address_bias,
        )
        bar.advance(task)

    table = Table(title="Jeu de démonstration chargé")
    table.add_column("Données")
    table.add_column("Lignes", justify="right")
    for name, count in report.counts.items():
        table.add_row(LABELS.get(name, name), _n(count))
    console.print(table)

    sectors = Table(
        title="Par secteur prioritaire",
        caption="besoins et postes actuels (ouverts ou en brouillon) ; besoins passés sur 2 ans",
    )
    for col in ("Secteur", "Employeurs", "Besoins", "Postes", "Passés", "Embauches"):
        sectors.add_column(col, justify="left" if col == "Secteur" else "right")
    for s in report.sectors:
        sectors.add_row(
            SECTOR_LABELS.get(s.sector, s.sector),
            _n(s.employers),
            _n(s.current_needs),
            _n(s.current_positions),
            _n(s.past_needs),
            _n(s.hires),
        )
    console.print(sectors)
    bias = DEFAULT_ADDRESS_BIAS if address_bias is None else address_bias
    console.print(
        f"Résidents des quartiers prioritaires (déduits des adresses) : "
        f"{_n(report.priority_district_residents)} ; biais d'adresse simulé dans l'historique : "
        f"× {bias:.2f} sur la probabilité d'entretien.".replace(".", ",", 1)
    )
    console.print(
        f"Centre d'appels (300 postes) : besoin [bold]{report.call_centre_ref}[/] ; "
        f"centre d'entretien autoroutier (20 postes) : besoin [bold]{report.motorway_ref}[/]."
    )
    console.print(
        "Comptes de démonstration : admin, guichet, conseiller1 à conseiller8 — mot de passe "
        f"« {DEMO_PASSWORD} ». [bold]Identifiants de démonstration uniquement[/] : ne jamais "
        "les utiliser en production."
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)

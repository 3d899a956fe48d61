"""``passerelle import | export | checksum``: CSV / Excel files for every entity.

Thin over :mod:`matching.services.io`. An invalid file raises
:class:`~matching.exceptions.ImportValidationError`, which the CLI core prints (every
"ligne N, colonne X : ..." error) with exit code 3.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from matching.cli import console
from matching.store.schemas import ROW_MODELS

ENTITY_HELP = ", ".join(ROW_MODELS)
_SHOWN = 50


def _check(entity: str) -> str:
    if entity not in ROW_MODELS:
        from matching.exceptions import ValidationError

        raise ValidationError(f"entité inconnue '{entity}' (attendu : {ENTITY_HELP})")
    return entity


def import_(
    entity: str = typer.Argument(..., help=f"Entité : {ENTITY_HELP}."),
    file: Path = typer.Argument(..., help="Fichier CSV (séparateur ; ou ,) ou Excel (.xlsx)."),
    skip_invalid: bool = typer.Option(
        False,
        "--skip-invalid",
        help="Importer les lignes valides et écrire les autres, avec leur motif, dans un "
        "fichier de rejets.",
    ),
    rejects: Path = typer.Option(
        None,
        "--rejects",
        "--rejets",
        help="Fichier des lignes rejetées (défaut : <dossier de données>/rejets/).",
    ),
) -> None:
    """Importe un fichier : tout ou rien (sauf --skip-invalid) ; ré-importer ne change rien."""
    from matching.config import get_settings
    from matching.services.io import import_entity
    from matching.services.store import open_store

    settings = get_settings()
    report = import_entity(
        open_store(settings),
        settings,
        _check(entity),
        file,
        skip_invalid=skip_invalid,
        rejects_path=rejects,
    )
    table = Table(title=f"Import {entity} : {file.name}")
    for col in ("lignes", "créés", "mis à jour", "inchangés", "rejetés"):
        table.add_column(col, justify="right")
    table.add_row(
        *(
            str(v)
            for v in (
                report.total,
                report.created,
                report.updated,
                report.unchanged,
                report.rejected,
            )
        )
    )
    console.print(table)
    if report.normalised:
        console.print(f"{report.normalised} libellé(s) reconnu(s) automatiquement.")
    if report.flags_changed:
        console.print(
            f"Indicateur « quartier prioritaire » recalculé : {report.flags_changed} demandeur(s)."
        )
    if report.ignored_columns:
        console.print(
            f"Colonnes ignorées (inconnues) : {', '.join(report.ignored_columns)}",
            highlight=False,
        )
    for e in report.errors[:_SHOWN]:
        console.print(f"  {e}", highlight=False)
    if len(report.errors) > _SHOWN:
        console.print(f"  ... et {len(report.errors) - _SHOWN} autre(s)")
    if report.rejects_path:
        console.print(f"Lignes rejetées et motifs : {report.rejects_path}", highlight=False)


def export(
    entity: str = typer.Argument(..., help=f"Entité : {ENTITY_HELP}."),
    file: Path = typer.Argument(..., help="Fichier de sortie (.csv ou .xlsx)."),
    with_identity: bool = typer.Option(
        False,
        "--avec-identite",
        help="Inclure l'identité des demandeurs (pseudonymisé par défaut ; tracé dans le "
        "journal d'audit).",
    ),
) -> None:
    """Exporte une entité au format d'import (demandeurs pseudonymisés par défaut)."""
    from matching.config import get_settings
    from matching.services.io import export_file
    from matching.services.store import open_store

    n = export_file(
        open_store(get_settings()), _check(entity), file, include_identity=with_identity
    )
    console.print(f"{n} ligne(s) écrite(s) dans {file}", highlight=False)


def checksum() -> None:
    """Empreinte SHA-256 du contenu de la base (vérifier qu'un import refusé n'a rien changé)."""
    from matching.config import get_settings
    from matching.services.io import checksum as db_checksum
    from matching.services.store import open_store

    console.print(db_checksum(open_store(get_settings())))


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
    app.command("export")(export)
    app.command("checksum")(checksum)

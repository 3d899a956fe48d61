"""``passerelle gdpr export | erase | purge``: the data-protection rights from the command line."""

from __future__ import annotations

import getpass
import json
from datetime import date
from pathlib import Path

import typer

from matching.cli import console

gdpr_app = typer.Typer(
    help="Protection des données (RGPD) : droit d'accès, effacement, purge des durées dépassées.",
    no_args_is_help=True,
)


def _store():
    from matching.config import get_settings
    from matching.services.store import open_store

    settings = get_settings()
    return settings, open_store(settings)


def _operator(user: str | None) -> str:
    return user or f"cli:{getpass.getuser()}"


@gdpr_app.command("export")
def export_(
    ref: str = typer.Argument(..., help="Référence du demandeur (ex. DE00042)."),
    output: Path = typer.Option(
        None, "--output", "-o", help="Fichier JSON (défaut : affichage à l'écran)."
    ),
    user: str = typer.Option(None, "--user", help="Compte qui fait la demande (journalisé)."),
) -> None:
    """Toutes les données détenues sur une personne, en JSON (droit d'accès, art. 15)."""
    from matching.services.gdpr import access_export, write_export
    from matching.taxonomy.referential import load_referential

    settings, store = _store()
    data = access_export(
        store, ref, username=_operator(user), referential=load_referential(settings.referential_dir)
    )
    if output is None:
        console.print_json(json.dumps(data, ensure_ascii=False, default=str))
    else:
        write_export(data, output)
        console.print(f"Export des données de {ref} écrit dans {output}")


@gdpr_app.command("erase")
def erase(
    ref: str = typer.Argument(..., help="Référence du demandeur (ex. DE00042)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Ne pas demander de confirmation."),
    reason: str = typer.Option("", "--motif", help="Motif (sans donnée d'identité)."),
    user: str = typer.Option(None, "--user", help="Compte qui fait l'effacement (journalisé)."),
) -> None:
    """Efface tout ce qui concerne une personne (droit à l'effacement, art. 17) ; irréversible."""
    from matching.services.gdpr import erase as erase_service

    _, store = _store()
    if not yes:
        typer.confirm(
            f"Effacer définitivement toutes les données de {ref} ? (irréversible)", abort=True
        )
    report = erase_service(store, ref, username=_operator(user), reason=reason)
    console.print(
        f"{ref} effacé : profil, identité, compétences, expériences, dispositifs supprimés ; "
        f"{report.outcomes_aggregated} décision(s) conservée(s) en agrégats anonymes ; "
        f"{report.run_rows_removed} ligne(s) de résultats retirée(s) (listes renumérotées, "
        "prochaine exécution nocturne complète)."
    )


@gdpr_app.command("purge")
def purge(
    today: str = typer.Option(
        None, "--date", help="Date de la purge AAAA-MM-JJ (défaut : aujourd'hui)."
    ),
) -> None:
    """Supprime les profils au-delà de leur durée de conservation ou sans consentement."""
    from matching.exceptions import ValidationError
    from matching.services.gdpr import purge as purge_service

    try:
        day = date.fromisoformat(today) if today else date.today()
    except ValueError:
        raise ValidationError(
            f"option --date : date invalide {today!r} (attendu AAAA-MM-JJ)"
        ) from None
    _, store = _store()
    r = purge_service(store, day)
    console.print(
        f"Purge du {day.isoformat()} : {r.purged} profil(s) supprimé(s) "
        f"({r.expired} durée dépassée, {r.without_consent} sans consentement), "
        f"{r.outcomes_aggregated} décision(s) conservée(s) en agrégats anonymes."
    )


def register(app: typer.Typer) -> None:
    app.add_typer(gdpr_app, name="gdpr")

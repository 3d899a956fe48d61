"""Planning commands: ``passerelle path`` (training path) and ``passerelle plan`` (cohort plan)."""

from __future__ import annotations

import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from matching.cli import console
from matching.config import get_settings


class PlanFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class PathFormat(StrEnum):
    texte = "texte"
    json = "json"


class ScoreKind(StrEnum):
    auto = "auto"
    moteur = "moteur"
    couverture = "couverture"


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    from matching.exceptions import ValidationError

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"--date : date attendue au format AAAA-MM-JJ, reçu « {value} »"
        ) from None


def path(
    jobseeker: str = typer.Argument(..., help="Demandeur d'emploi : identifiant ou référence."),
    need: str = typer.Argument(..., help="Besoin : identifiant ou référence."),
    fmt: PathFormat = typer.Option(PathFormat.texte, "--format", help="texte ou json."),
    as_of: str = typer.Option(None, "--date", help="Date du jour du calcul (AAAA-MM-JJ)."),
) -> None:
    """Parcours de formation le moins coûteux (semaines, puis euros) avant la date d'embauche."""
    from matching.services.planning import path_for

    result = path_for(get_settings(), jobseeker, need, as_of=_parse_date(as_of))
    if fmt is PathFormat.json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    for line in result.gap.describe():
        console.print(f"• {line}", highlight=False)
    if result.steps:
        table = Table(title="Parcours de formation")
        for col in ("Session", "Formation", "Début", "Fin", "Heures", "Coût (€)", "Acquis"):
            table.add_column(col)
        for s in result.steps:
            table.add_row(
                s.session_ref,
                s.course_title,
                f"{s.start:%d/%m/%Y}",
                f"{s.end:%d/%m/%Y}",
                f"{s.hours:g}",
                f"{s.cost_eur:,.0f}".replace(",", " "),
                ", ".join(s.gains_labels),
            )
        console.print(table)
    console.print(result.summary(), highlight=False)


def plan(
    needs: list[str] = typer.Argument(None, help="Besoins (identifiants ou références)."),
    secteur: str = typer.Option(None, "--secteur", help="Ajouter les besoins ouverts du secteur."),
    tous: bool = typer.Option(False, "--tous", help="Planifier tous les besoins ouverts."),
    fmt: PlanFormat = typer.Option(PlanFormat.table, "--format", help="table, csv ou json."),
    chart: Path = typer.Option(None, "--chart", help="Écrire la frise du plan (PNG)."),
    as_of: str = typer.Option(None, "--date", help="Date du jour du plan (AAAA-MM-JJ)."),
    score: ScoreKind = typer.Option(ScoreKind.auto, "--score", help="auto, moteur ou couverture."),
) -> None:
    """Plan de recrutement : prêts, formés dans les sessions existantes, sessions à commander."""
    from matching.exceptions import ValidationError
    from matching.services.planning import plan_for

    if secteur and tous:
        raise ValidationError("--secteur et --tous s'excluent : choisissez l'un des deux")
    result = plan_for(
        get_settings(),
        needs or [],
        sector=secteur,
        all_open=tous,
        as_of=_parse_date(as_of),
        scorer=score.value,
        chart=chart,
    )
    if fmt is PlanFormat.json:
        sys.stdout.write(
            json.dumps(result.to_dict(), ensure_ascii=False, default=str, indent=2) + "\n"
        )
    elif fmt is PlanFormat.csv:
        sys.stdout.write(result.assignments_frame().to_csv(index=False))
    else:
        _print_frame(result.needs_frame(), "Plan par besoin")
        sessions = result.sessions_frame()
        if len(sessions):
            _print_frame(sessions, "Sessions utilisées et à commander")
        console.print(result.summary(), highlight=False)
        for report in result.solver:
            console.print(f"[dim]{report.describe()}[/]", highlight=False)
    if chart:
        (console if fmt is PlanFormat.table else _stderr()).print(f"Frise écrite : {chart}")


def _stderr():
    from matching.cli import err_console

    return err_console


def _print_frame(frame, title: str) -> None:
    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col))
    for row in frame.itertuples(index=False):
        table.add_row(*[str(v) for v in row])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("path")(path)
    app.command("plan")(plan)

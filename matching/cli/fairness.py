"""``passerelle fairness``: the fairness audit of the published shortlists and the decisions."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from matching.cli import console


def _ci(ci) -> str:
    from matching.fairness.audit import fr_number

    return f"[{fr_number(ci[0])}–{fr_number(ci[1])}]" if ci else ""


def fairness(
    run: int = typer.Option(None, "--run", help="Exécution à auditer (défaut : la publiée)."),
    fmt: str = typer.Option("table", "--format", help="table ou json."),
    plot: Path = typer.Option(None, "--plot", help="Graphique PNG des ratios (ex. audit.png)."),
    min_persons: int = typer.Option(
        20, "--effectif-min", help="Effectif minimal d'un groupe pour servir de référence."
    ),
) -> None:
    """Audit d'équité : taux de sélection et exposition par groupe, rapportés au vivier éligible."""
    from matching.config import get_settings
    from matching.exceptions import ValidationError
    from matching.fairness.audit import ATTRIBUTES, fr_number
    from matching.services.fairness import run_audit, save_plot
    from matching.services.store import open_store
    from matching.taxonomy.referential import load_referential

    if fmt not in ("table", "json"):
        raise ValidationError(f"option --format : « table » ou « json » attendu, reçu {fmt!r}")
    settings = get_settings()
    store = open_store(settings)
    with console.status("Audit d'équité en cours..."):
        result = run_audit(
            store,
            load_referential(settings.referential_dir),
            run_id=run,
            min_persons=min_persons,
            use_cache=False,
        )
    if plot is not None:
        save_plot(result, plot)
    if fmt == "json":
        console.print_json(json.dumps(result.to_dict(), ensure_ascii=False, default=str))
        return
    console.print(
        f"[bold]Audit d'équité[/] — exécution n° {result.run_id or '—'}, "
        f"date de référence {result.as_of:%d/%m/%Y}"
    )
    console.print(f"Politique de priorité : {result.policy or 'aucune'}", highlight=False)
    console.print(f"[dim]{result.eligibility}[/]", highlight=False)
    for note in result.notes:
        console.print(note)
    for section in result.sections:
        table = Table(title=f"{section.title} — {section.needs} besoin(s)", title_justify="left")
        for col, just in (
            ("Attribut", "left"),
            ("Groupe", "left"),
            ("Personnes", "right"),
            ("Paires éligibles", "right"),
            ("Retenues", "right"),
            (section.rate_label.capitalize() + " [IC 95 %]", "right"),
            ("Ratio", "right"),
        ):
            table.add_column(col, justify=just)
        with_expo = any(g.exposure is not None for g in section.groups)
        if with_expo:
            table.add_column("Exposition [IC 95 %]", justify="right")
            table.add_column("Ratio expo.", justify="right")
        last = None
        for g in section.groups:
            row = [
                ATTRIBUTES[g.attribute] if g.attribute != last else "",
                g.label + (" (réf.)" if g.reference else "") + ("" if g.enough else " *"),
                str(g.persons),
                str(g.pool),
                str(g.selected),
                f"{fr_number(g.rate)} {_ci(g.rate_ci)}",
                fr_number(g.rate_ratio, 2),
            ]
            if with_expo:
                row += [
                    f"{fr_number(g.exposure)} {_ci(g.exposure_ci)}",
                    fr_number(g.exposure_ratio, 2) if g.exposure_ratio is not None else "",
                ]
            last = g.attribute
            table.add_row(*row)
        console.print(table)
        console.print(f"[dim]Vivier : {section.pool_description}. * effectif insuffisant.[/]")
        for f in section.flags:
            colour = "red" if f.severity == "à examiner" else "yellow"
            console.print(f"[{colour}]⚠ {f.message}[/]", highlight=False)
        if not section.flags:
            console.print("[green]Aucun groupe sous la règle des quatre cinquièmes.[/]")
    if plot is not None:
        console.print(f"Graphique écrit dans {plot}")


def register(app: typer.Typer) -> None:
    app.command("fairness")(fairness)

"""``passerelle shortlist | matches | train | evaluate | mobility``: the matching engine from the
command line (thin: everything goes through :mod:`matching.services.matching`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from matching.cli import console


def _context():
    from matching.config import get_settings
    from matching.services.store import open_store

    settings = get_settings()
    return settings, open_store(settings)


def shortlist(
    need: str = typer.Argument(..., help="Besoin : identifiant ou référence (ex. BES0001)."),
    top: int = typer.Option(50, help="Nombre de candidats."),
) -> None:
    """Liste classée et expliquée des candidats pour un besoin (calculée maintenant)."""
    from matching.services import matching as svc

    settings, store = _context()
    with console.status("Calcul de la liste de candidats..."):
        engine, found, names = svc.shortlist(settings, store, need, top=top)
    table = Table(title=f"Candidats pour le besoin {need} — classement : {engine.model_name}")
    for col, just in (("Rang", "right"), ("Demandeur", "left"), ("Score", "right")):
        table.add_column(col, justify=just)
    table.add_column("Pourquoi")
    table.add_column("Compétences manquantes (formations)")
    table.add_column("Principales contributions")
    for x in found:
        e = x.explanation
        missing = "; ".join(
            s.label + (f" ({s.courses[0]})" if s.courses else "") for s in e.missing_essential[:3]
        )
        contrib = ", ".join(f"{c.label} {c.value:+.2f}" for c in e.contributions[:3])
        table.add_row(
            str(x.rank), names[x.jobseeker_id], f"{x.score:.3f}", e.summary, missing or "—", contrib
        )
    console.print(table)
    if not found:
        console.print("Aucun candidat ne respecte les contraintes (disponibilité, trajet, permis).")


def matches(
    jobseeker: str = typer.Argument(
        ..., help="Demandeur : identifiant ou référence (ex. DE00042)."
    ),
    top: int = typer.Option(20, help="Nombre de besoins."),
) -> None:
    """Besoins ouverts les plus adaptés à un demandeur d'emploi (métiers proches compris)."""
    from matching.services import matching as svc

    settings, store = _context()
    engine, found, names = svc.matches(settings, store, jobseeker, top=top)
    table = Table(title=f"Besoins adaptés au demandeur {jobseeker} — {engine.model_name}")
    for col in ("Rang", "Besoin", "Score", "Pourquoi"):
        table.add_column(col)
    for x in found:
        table.add_row(str(x.rank), names[x.need_id], f"{x.score:.3f}", x.explanation.summary)
    console.print(table)
    if not found:
        console.print("Aucun besoin ouvert ne respecte les contraintes de ce demandeur.")


def _metrics_table(report, title: str) -> Table:
    from matching.evaluation.report import METHOD_LABELS

    table = Table(title=title)
    for col in ("Méthode", "NDCG@10", "Rappel@50", "MAP"):
        table.add_column(col, justify="left" if col == "Méthode" else "right")
    for name, row in report.table.iterrows():
        table.add_row(
            METHOD_LABELS.get(name, name),
            f"{row['ndcg@10']:.4f}",
            f"{row['recall@50']:.4f}",
            f"{row['map']:.4f}",
        )
    return table


def _margins(report) -> str:
    m = report.margins
    return (
        "Écart du modèle appris — NDCG@10 : "
        f"{m['ndcg@10 vs jaccard']:+.4f} (Jaccard), {m['ndcg@10 vs tfidf']:+.4f} (TF-IDF) ; "
        f"rappel@50 : {m['recall@50 vs jaccard']:+.4f}, {m['recall@50 vs tfidf']:+.4f} ; "
        f"MAP : {m['map vs jaccard']:+.4f}, {m['map vs tfidf']:+.4f}."
    )


def train(
    outcomes: Path = typer.Option(
        None, "--outcomes", help="Historique au format CSV documenté (défaut : la base)."
    ),
) -> None:
    """Entraîne le modèle de classement sur l'historique des décisions."""
    from matching.services import matching as svc

    settings, store = _context()
    with console.status("Entraînement du modèle de classement..."):
        path, report = svc.train(settings, store, outcomes_file=outcomes)
    console.print(_metrics_table(report, f"Modèle enregistré : {path}"))
    console.print(
        f"Évaluation sur les {report.n_test_needs} besoins embauchés à partir du {report.cutoff} "
        "(jamais vus à l'entraînement), modèle ré-entraîné ensuite sur tout l'historique."
    )
    console.print(_margins(report))


def evaluate(
    outcomes: Path = typer.Option(
        None, "--outcomes", help="Historique au format CSV documenté (défaut : la base)."
    ),
) -> None:
    """Évalue le classement appris contre les références (découpage temporel)."""
    from matching.services import matching as svc

    settings, store = _context()
    with console.status("Évaluation sur l'historique..."):
        report, js, csv = svc.evaluate(settings, store, outcomes_file=outcomes)
    console.print(
        _metrics_table(
            report,
            f"Évaluation : {report.n_train_needs} besoins d'entraînement, "
            f"{report.n_test_needs} besoins tenus à l'écart (à partir du {report.cutoff})",
        )
    )
    console.print(_margins(report))
    console.print(f"Résultats enregistrés : {js} et {csv}")


def mobility(
    code_rome: str = typer.Argument(..., help="Fiche ROME de départ (ex. D1408)."),
    top: int = typer.Option(20, help="Nombre de métiers proposés."),
    format: str = typer.Option("table", "--format", help="table ou csv"),
) -> None:
    """Métiers vers lesquels une personne de ce métier peut évoluer, avec les compétences
    déjà détenues et celles à acquérir."""
    from matching.ranking.mobility import options_frame
    from matching.services import matching as svc

    settings, _ = _context()
    if format not in ("table", "csv"):
        raise typer.BadParameter(f"format « table » ou « csv » attendu, reçu « {format} »")
    options = svc.mobility(settings, code_rome, top=top)
    if format == "csv":
        typer.echo(options_frame(options).to_csv(index=False), nl=False)
        return
    table = Table(title=f"Mobilités depuis {code_rome.upper()}")
    for col in ("Rang", "Code", "Métier", "Score", "Mobilité ROME", "Détenues", "À acquérir"):
        table.add_column(col)
    for k, o in enumerate(options, start=1):
        table.add_row(
            str(k),
            o.code_rome,
            o.label,
            f"{o.score:.3f}",
            "oui" if o.from_mobilites else "non",
            str(len(o.skills_held)),
            "; ".join(lbl for _, lbl in o.skills_to_acquire[:3])
            + (" ..." if len(o.skills_to_acquire) > 3 else ""),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("shortlist")(shortlist)
    app.command("matches")(matches)
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("mobility")(mobility)

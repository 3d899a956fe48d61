"""``passerelle nightly``: the nightly matching run (Rich progress on a terminal, JSON lines otherwise).

Exit codes (for cron and monitoring): 0 the run completed and was published; 10 the run failed
(published results unchanged); 11 another run is already in progress; 12 the database is
unreachable; 8 invalid options. See ``docs/operations.md``.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, timedelta

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from matching.cli import console, err_console
from matching.config import get_settings
from matching.exceptions import (
    ConfigurationError,
    DatabaseUnavailableError,
    PasserelleError,
    RunInProgressError,
)

EXIT_OK = 0
EXIT_FAILED = 10
EXIT_IN_PROGRESS = 11
EXIT_DATABASE = 12
EXIT_CONFIG = 8

STAGE_LABELS = {
    "recover": "reprise des exécutions interrompues",
    "purge": "purge RGPD",
    "snapshot": "lecture des données",
    "fit": "vectorisation (moteur)",
    "changes": "détection des changements",
    "match": "rapprochement par blocs",
    "paths": "parcours de formation",
    "write": "écriture des résultats",
    "report": "rapport",
    "publish": "publication",
    "prune": "nettoyage des anciennes exécutions",
}


class JsonLog:
    """One JSON object per line on stdout (cron, journald, log shippers)."""

    def __call__(self, event: dict) -> None:
        record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), **event}
        if record.get("event") == "run_end":
            record["report"] = event["report"]
        sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()


class RichLog:
    """A progress bar per stage on a terminal."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> RichLog:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        stage = event.get("stage")
        if kind == "run_start":
            console.print(f"Exécution nocturne n° {event['run_id']} (données au {event['as_of']})")
        elif kind == "recovered":
            console.print(
                f"[yellow]Exécution n° {event['abandoned_run']} abandonnée[/] : {event['reason']}"
            )
        elif kind == "stage_start" and stage:
            self.tasks[stage] = self.progress.add_task(
                STAGE_LABELS.get(stage, stage), total=1 if stage != "match" else None
            )
        elif kind == "progress" and stage in self.tasks:
            self.progress.update(self.tasks[stage], completed=event["done"], total=event["total"])
        elif kind == "stage_end" and stage in self.tasks:
            task = self.progress.tasks[self.tasks[stage]]
            self.progress.update(
                self.tasks[stage], completed=task.total or 1, total=task.total or 1
            )


def print_report(report: dict) -> None:
    c = report["counts"]
    console.print(
        f"[bold green]Exécution n° {report['run_id']} publiée[/] ({report['kind']}"
        + (f" : {report['why_full']}" if report.get("why_full") else "")
        + f") en {report.get('total_s', 0):.1f} s — modèle : {report['model']}"
    )
    t = Table(title="Résultats")
    t.add_column("Élément")
    t.add_column("Nombre", justify="right")
    for label, key in (
        ("besoins ouverts", "open_needs"),
        ("demandeurs actifs", "active_jobseekers"),
        ("lignes de listes de candidats", "shortlist_rows"),
        ("lignes de besoins par demandeur", "match_rows"),
        ("parcours de formation (faisables)", "paths"),
        ("demandeurs recalculés", "jobseekers_recomputed"),
        ("besoins recalculés", "needs_recomputed"),
    ):
        value = c.get(key, 0)
        if key == "paths":
            value = f"{value} ({c.get('paths_feasible', 0)})"
        t.add_row(label, str(value))
    console.print(t)
    d = Table(title="Durées par étape (s)")
    d.add_column("Étape")
    d.add_column("s", justify="right")
    for stage, seconds in report["durations_s"].items():
        d.add_row(STAGE_LABELS.get(stage, stage), f"{seconds:.2f}")
    console.print(d)
    ch = report.get("changes")
    if ch:
        console.print(
            f"Depuis l'exécution n° {report.get('previous_run_id')} : {ch['new_candidates']} "
            f"nouveau(x) candidat(s), {ch['left']} sortie(s) de liste"
        )
        for code, n in ch["left_by_reason"].items():
            if n:
                console.print(f"  · {ch['reasons'][code]} : {n}")


def nightly(
    n_jobs: int = typer.Option(None, "--n-jobs", "-j", help="Processus locaux (défaut : réglage)."),
    backend: str = typer.Option("local", "--backend", help="local (joblib) ou dask."),
    scheduler: str = typer.Option(None, "--scheduler", help="Adresse du planificateur Dask."),
    block_size: int = typer.Option(2000, "--block-size", help="Demandeurs par bloc."),
    top: int = typer.Option(50, "--top", help="Candidats par besoin."),
    top_jobseeker: int = typer.Option(20, "--top-jobseeker", help="Besoins par demandeur."),
    paths_per_need: int = typer.Option(
        10, "--paths-per-need", help="Candidats par besoin examinés pour un parcours."
    ),
    full: bool = typer.Option(False, "--full", help="Tout recalculer (pas d'incrémental)."),
    keep: int = typer.Option(3, "--keep", help="Exécutions complètes conservées."),
    stale_after: float = typer.Option(
        15.0, "--stale-after", help="Minutes sans signe de vie avant d'abandonner une exécution."
    ),
    as_of: str = typer.Option(
        None, "--date", help="Date des données (AAAA-MM-JJ), défaut aujourd'hui."
    ),
    log_format: str = typer.Option(
        "auto", "--log", help="auto (barres sur un terminal, JSON sinon), json ou rich."
    ),
    engine_factory: str = typer.Option(
        None, "--engine-factory", hidden=True, help="module:fonction fabriquant le moteur."
    ),
    status: bool = typer.Option(False, "--status", help="Afficher les dernières exécutions."),
) -> None:
    """Rapprochement nocturne de tout le territoire, publié d'un coup à la fin."""
    from matching.batch import BatchOptions
    from matching.services import nightly as svc

    settings = get_settings()
    try:
        if status:
            _print_status(svc.run_history(svc.connect(settings)))
            return
        if backend not in ("local", "dask"):
            raise ConfigurationError(
                f"--backend : « local » ou « dask » attendu, reçu « {backend} »"
            )
        try:
            today = date.fromisoformat(as_of) if as_of else None
        except ValueError:
            raise ConfigurationError(f"--date : AAAA-MM-JJ attendu, reçu « {as_of} »") from None
        options = BatchOptions(
            top_per_need=top,
            top_per_jobseeker=top_jobseeker,
            paths_per_need=paths_per_need,
            block_size=block_size,
            n_jobs=n_jobs if n_jobs is not None else settings.n_jobs,
            backend=backend,
            scheduler=scheduler,
            full=full,
        )
        factory = svc.load_engine_factory(engine_factory) if engine_factory else None
        fmt = log_format if log_format != "auto" else ("rich" if sys.stdout.isatty() else "json")
        kwargs = {
            "options": options,
            "today": today,
            "keep": keep,
            "stale_after": timedelta(minutes=stale_after),
            "engine_factory": factory,
        }
        if fmt == "json":
            result = svc.run_nightly(settings, on_event=JsonLog(), **kwargs)
        else:
            with RichLog() as log:
                result = svc.run_nightly(settings, on_event=log, **kwargs)
            print_report(result.report)
    except RunInProgressError as exc:
        _fail(exc, EXIT_IN_PROGRESS, log_format)
    except DatabaseUnavailableError as exc:
        _fail(exc, EXIT_DATABASE, log_format)
    except ConfigurationError as exc:
        _fail(exc, EXIT_CONFIG, log_format)
    except PasserelleError as exc:
        _fail(exc, EXIT_FAILED, log_format)


def _fail(exc: Exception, code: int, log_format: str) -> None:
    if log_format == "json" or (log_format == "auto" and not sys.stdout.isatty()):
        sys.stdout.write(
            json.dumps(
                {
                    "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "event": "error",
                    "exit_code": code,
                    "error": type(exc).__name__,
                    "message": str(exc),
                },
                ensure_ascii=False,
            )
            + "\n"
        )
    err_console.print(f"[bold red]Erreur :[/] {exc}", highlight=False)
    raise typer.Exit(code)


def _print_status(rows: list[dict]) -> None:
    t = Table(title="Exécutions nocturnes")
    for col in ("n°", "état", "type", "étape", "début", "fin", "publiée", "lignes"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["status"],
            r["kind"] or "",
            r["stage"] or "",
            f"{r['started_at']:%Y-%m-%d %H:%M}" if r["started_at"] else "",
            f"{r['finished_at']:%Y-%m-%d %H:%M}" if r["finished_at"] else "",
            "oui" if r["published"] else "",
            str(r["shortlist_rows"]),
        )
    console.print(t)


def register(app: typer.Typer) -> None:
    app.command("nightly")(nightly)

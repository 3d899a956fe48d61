"""``passerelle normalise``: free text to referential codes (one phrase, a CSV file, corrections).

Thin over :mod:`matching.services.normalise`: the normaliser is loaded through the process-wide,
disk-cached :func:`~matching.taxonomy.normaliser.get_normaliser`, corrections come from the store.
"""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from matching.cli import console
from matching.config import get_settings
from matching.exceptions import ValidationError

DECISIONS_FR = {
    "auto": "accepté automatiquement",
    "review": "à vérifier",
    "unknown": "inconnu",
}
KIND_FR = {"occupation": "fiche métier", "job_title": "appellation", "skill": "compétence"}
_BATCH = 2_000


def _load():
    from matching.services.store import open_store
    from matching.taxonomy.normaliser import get_normaliser

    settings = get_settings()
    normaliser = get_normaliser(
        referential_dir=settings.referential_dir,
        cache_dir=settings.effective_cache_dir,
        n_jobs=settings.n_jobs,
    )
    return open_store(settings), normaliser


def _check_kind(kind: str) -> None:
    if kind not in KIND_FR:
        raise ValidationError(f"--kind : attendu occupation, job_title ou skill, reçu « {kind} »")


def normalise(
    phrase: str = typer.Argument(None, help="Intitulé ou compétence tel que saisi."),
    kind: str = typer.Option(
        "occupation", "--kind", help="occupation (fiche ROME), job_title (appellation) ou skill."
    ),
    top: int = typer.Option(5, "--top", min=1, max=50, help="Nombre de propositions."),
    file: Path = typer.Option(None, "--file", help="Fichier CSV de phrases à normaliser."),
    column: str = typer.Option("phrase", "--column", help="Colonne du CSV contenant les phrases."),
    out: Path = typer.Option(
        None, "--out", help="CSV de résultats (défaut : <fichier>-normalise.csv)."
    ),
    correct: str = typer.Option(
        None, "--correct", help="Enregistre CODE comme la bonne réponse pour PHRASE."
    ),
    by: str = typer.Option("cli", "--by", help="Auteur de la correction."),
) -> None:
    """Rapproche un texte libre (intitulé, compétence) du référentiel ROME 4.0."""
    from matching.services.normalise import normalise_phrases, record_correction

    _check_kind(kind)
    if file is None and not phrase:
        raise ValidationError("indiquez une PHRASE ou un fichier avec --file")
    if correct is not None:
        if not phrase:
            raise ValidationError("--correct demande la PHRASE à corriger")
        engine, normaliser = _load()
        target = record_correction(
            engine, kind=kind, phrase=phrase, code=correct, by_user=by, normaliser=normaliser
        )
        console.print(
            f"Correction enregistrée : « {phrase} » → [bold]{target.code}[/] {target.label}"
        )
        return
    if file is not None:
        _normalise_file(file, column=column, out=out, kind=kind, top=top)
        return
    engine, normaliser = _load()
    result = normalise_phrases(engine, normaliser, [phrase], kind=kind, top_k=top)[0]
    table = Table(title=f"« {phrase} » → {KIND_FR[kind]}")
    table.add_column("Rang", justify="right")
    table.add_column("Code")
    table.add_column("Libellé")
    table.add_column("Libellé rapproché")
    table.add_column("Score", justify="right")
    if kind == "job_title":
        table.add_column("Fiche ROME")
    for rank, cand in enumerate(result.candidates, start=1):
        row = [str(rank), cand.code, cand.label, cand.matched_label, f"{cand.score:.2f}"]
        if kind == "job_title":
            row.append(cand.code_rome or "")
        table.add_row(*row)
    console.print(table)
    decision = DECISIONS_FR[result.decision]
    suffix = " (correction enregistrée)" if result.corrected else ""
    console.print(f"Décision : [bold]{decision}[/]{suffix}")


def _normalise_file(file: Path, *, column: str, out: Path | None, kind: str, top: int) -> None:
    from matching.services.normalise import normalise_phrases

    if not file.exists():
        raise ValidationError(f"fichier introuvable : {file}")
    with file.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        if column not in columns:
            raise ValidationError(
                f"{file} : colonne « {column} » absente (colonnes trouvées : "
                f"{', '.join(columns) or 'aucune'}) ; précisez --column"
            )
        phrases = [row[column] or "" for row in reader]
    out = out or file.with_name(f"{file.stem}-normalise.csv")
    if out.resolve() == file.resolve():
        raise ValidationError(f"--out ne peut pas remplacer le fichier d'entrée : {file}")
    engine, normaliser = _load()
    counts = dict.fromkeys(DECISIONS_FR, 0)
    with (
        out.open("w", newline="", encoding="utf-8") as fh,
        Progress(
            TextColumn("Normalisation"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        writer = csv.writer(fh)
        writer.writerow(["phrase", "code", "libelle", "libelle_rapproche", "score", "decision"])
        task = progress.add_task("normalise", total=len(phrases))
        for start in range(0, len(phrases), _BATCH):
            chunk = phrases[start : start + _BATCH]
            for res in normalise_phrases(engine, normaliser, chunk, kind=kind, top_k=top):
                best = res.best
                counts[res.decision] += 1
                writer.writerow(
                    [
                        res.phrase,
                        best.code if best else "",
                        best.label if best else "",
                        best.matched_label if best else "",
                        f"{best.score:.4f}" if best else "",
                        DECISIONS_FR[res.decision],
                    ]
                )
            progress.advance(task, len(chunk))
    summary = ", ".join(f"{DECISIONS_FR[k]} : {v}" for k, v in counts.items())
    console.print(f"{len(phrases)} phrase(s) écrites dans [bold]{out}[/] ({summary})")


def register(app: typer.Typer) -> None:
    app.command("normalise")(normalise)

"""``passerelle serve``: the web pages and the API (uvicorn)."""

from __future__ import annotations

import typer

from matching.cli import console


def serve(
    host: str = typer.Option("127.0.0.1", help="Adresse d'écoute."),
    port: int = typer.Option(8000, help="Port."),
    workers: int = typer.Option(1, help="Processus uvicorn (PostgreSQL conseillé au-delà de 1)."),
) -> None:
    """Sert les pages et l'API sur http://HOST:PORT (documentation : /docs)."""
    import uvicorn

    console.print(
        f"Passerelle sur http://{host}:{port}/ (API : http://{host}:{port}/docs) — Ctrl+C pour arrêter"
    )
    uvicorn.run(
        "api.main:create_app", factory=True, host=host, port=port, workers=workers, log_level="info"
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)

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

    from matching.config import DEFAULT_SECRET_KEY, get_settings

    settings = get_settings()
    if host not in ("127.0.0.1", "localhost", "::1"):
        if settings.secret_key == DEFAULT_SECRET_KEY:
            console.print(
                "[bold red]Attention[/] : clé secrète par défaut ; toute personne qui la connaît "
                "peut forger une session. Définissez PASSERELLE_SECRET_KEY avant d'ouvrir le "
                "service au réseau."
            )
        if not settings.cookie_secure:
            console.print(
                "[yellow]Remarque[/] : cookie de session envoyé aussi en HTTP ; derrière un "
                "proxy HTTPS, définissez PASSERELLE_COOKIE_SECURE=true."
            )
    console.print(
        f"Passerelle sur http://{host}:{port}/ (API : http://{host}:{port}/docs) — Ctrl+C pour arrêter"
    )
    uvicorn.run(
        "api.main:create_app", factory=True, host=host, port=port, workers=workers, log_level="info"
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)

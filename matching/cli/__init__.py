"""The ``passerelle`` command line (Typer + Rich), French messages, thin over services.

Each module of this package that defines ``register(app)`` adds its commands; :func:`main`
discovers them, so areas (taxonomy, demo, import, train, plan, nightly...) live in their own files.
Errors raised by the engine (:class:`~matching.exceptions.PasserelleError`) are turned into a
French message and an exit code here, once.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.console import Console

from matching.exceptions import (
    ConfigurationError,
    ImportValidationError,
    ModelArtefactError,
    NotFoundError,
    NoTrainingPathError,
    PasserelleError,
    PermissionDeniedError,
    ReferentialError,
    RunError,
    ValidationError,
)

app = typer.Typer(
    name="passerelle",
    help="Passerelle : rapprochement besoins des employeurs / demandeurs d'emploi / formations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# soft_wrap: a message is never cut in the middle when piped to a log or another program.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

#: Exit codes cron and monitoring can act on.
EXIT_CODES: dict[type[PasserelleError], int] = {
    ImportValidationError: 3,
    ValidationError: 3,
    NotFoundError: 4,
    NoTrainingPathError: 5,
    ReferentialError: 6,
    ModelArtefactError: 7,
    ConfigurationError: 8,
    PermissionDeniedError: 9,
    RunError: 10,
}

_registered = False


def register_all() -> typer.Typer:
    """Import every command module of the package and let it add its commands."""
    global _registered
    if not _registered:
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
            module = importlib.import_module(f"{__name__}.{info.name}")
            register = getattr(module, "register", None)
            if register is not None:
                register(app)
        _registered = True
    return app


def exit_code_for(exc: PasserelleError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 2


def main() -> None:
    register_all()
    try:
        app(standalone_mode=False)
    except PasserelleError as exc:
        err_console.print(f"[bold red]Erreur :[/] {exc}", highlight=False)
        sys.exit(exit_code_for(exc))
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None)
        if code is None:
            code = getattr(exc, "code", 0)
        sys.exit(code or 0)
    except typer.Abort:
        err_console.print("Interrompu.")
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise

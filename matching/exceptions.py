"""Exception hierarchy of Passerelle.

Every error raised on purpose by the engine derives from :class:`PasserelleError` and from the
natural built-in exception, so callers may catch either. Messages are in French because they reach
counsellors through the CLI and the web pages unchanged; they say what was expected, what was
received and where (file, row, field). ``api/errors.py`` maps each class to an HTTP status and the
CLI maps them to exit codes, each in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class PasserelleError(Exception):
    """Base class of all errors raised on purpose by Passerelle."""


class ConfigurationError(PasserelleError, ValueError):
    """A setting is missing or invalid."""


class ReferentialError(PasserelleError, ValueError):
    """The referential (taxonomy) files are missing, incomplete or inconsistent."""


class NotFoundError(PasserelleError, LookupError):
    """An entity asked for by id does not exist."""


class ValidationError(PasserelleError, ValueError):
    """A value given by a user or a file is invalid."""


@dataclass
class RowError:
    """One problem found in an imported file: 1-based data row (as in a spreadsheet), field, message."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"ligne {self.row}, colonne {self.field} : {self.message}"


@dataclass
class ImportValidationError(PasserelleError, ValueError):
    """An import file has invalid rows; nothing was written."""

    source: str
    errors: list[RowError] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        head = "\n".join(f"  {e}" for e in self.errors[:20])
        more = f"\n  ... et {len(self.errors) - 20} autre(s)" if len(self.errors) > 20 else ""
        return f"{self.source} : {len(self.errors)} erreur(s), rien n'a été importé\n{head}{more}"


class ModelArtefactError(PasserelleError, ValueError):
    """A trained model artefact is missing, corrupted or does not match this installation."""


class NoTrainingPathError(PasserelleError, LookupError):
    """No sequence of course sessions closes the skill gap before the hiring date."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or [message]


class PermissionDeniedError(PasserelleError, PermissionError):
    """The current account may not perform this action or read this data."""


class RunError(PasserelleError, RuntimeError):
    """A nightly run failed or was interrupted."""


class RunInProgressError(RunError):
    """Another nightly run is alive (its process exists and its heartbeat is recent)."""


class DatabaseUnavailableError(PasserelleError, ConnectionError):
    """The database cannot be reached (server down, wrong URL, missing file permissions)."""

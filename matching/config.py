"""Typed settings of Passerelle: one pydantic-settings class, read once through :func:`get_settings`.

Environment variables use the prefix ``PASSERELLE_`` (``PASSERELLE_DATABASE_URL``...). Library
functions never read the environment: they receive explicit arguments, and only the CLI, the API
and the batch entry points call :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
REFERENTIAL_DIR = PACKAGE_DIR / "data" / "referential"


#: Development-only default; ``passerelle serve`` warns when it listens beyond this machine.
DEFAULT_SECRET_KEY = "dev-only-change-me"


class Settings(BaseSettings):
    """Runtime settings (environment variables ``PASSERELLE_*`` or a ``.env`` file)."""

    model_config = SettingsConfigDict(env_prefix="PASSERELLE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=PROJECT_DIR / "var", description="Working files (SQLite, runs).")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite file in data_dir when unset."
    )
    referential_dir: Path = Field(default=REFERENTIAL_DIR)
    cache_dir: Path | None = Field(
        default=None,
        description="Fitted normaliser cache (rebuilt when missing); data_dir/cache when unset.",
    )
    models_dir: Path = Field(default=PROJECT_DIR / "models")
    ranker_model: str | None = Field(
        default=None,
        description="Ranker artefact directory under models_dir/ranker (default: the latest).",
    )
    secret_key: str = Field(
        default=DEFAULT_SECRET_KEY, description="Signs session cookies and API tokens."
    )
    cookie_secure: bool = Field(
        default=False,
        description="Session cookie sent over HTTPS only (set it behind TLS in production).",
    )
    n_jobs: int = Field(default=2, ge=-1)
    fresh_concurrency: int = Field(
        default=1,
        ge=1,
        description=(
            "Fresh shortlists computed at once per server process (CPU-bound: more threads in "
            "one process only contend for the interpreter; add processes instead)."
        ),
    )
    priority_district_boost: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Re-ranking lever, off (0) by default."
    )
    programme_boost: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Re-ranking lever for participants of `boosted_programmes`, off (0) by default.",
    )
    boosted_programmes: tuple[str, ...] = Field(
        default=("PLIE",), description="Programmes favoured by `programme_boost` (JSON list)."
    )

    @property
    def effective_cache_dir(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else self.data_dir / "cache"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'passerelle.sqlite').as_posix()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()

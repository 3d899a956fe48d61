"""Shared fixtures: a clean migrated database per test (SQLite by default, PostgreSQL when asked).

Set ``PASSERELLE_TEST_DATABASE_URL`` (``.ci/run`` does) to run the database tests on PostgreSQL.
If that server cannot be reached the session *fails*: a run asked for PostgreSQL never silently
falls back or skips. Every test that uses the ``engine`` fixture is marked ``db`` automatically.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Rich renders tables to the terminal width, 80 columns when there is no terminal (CI): pin
# it before the CLI's consoles are created so that table assertions do not depend on the host.
os.environ["COLUMNS"] = "120"

import pytest
from sqlalchemy import Engine, text

from matching.config import PROJECT_DIR, get_settings
from matching.store.db import make_engine, upgrade
from matching.store.models import Base
from matching.taxonomy.normaliser import _sources_fingerprint

SHARED_DATA = PROJECT_DIR.parent / "shared" / "data"
PG_URL = os.environ.get("PASSERELLE_TEST_DATABASE_URL")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session", autouse=True)
def _shared_normaliser_cache(request, tmp_path_factory):
    """One fitted-normaliser cache (``PASSERELLE_CACHE_DIR``) for the whole run and the next ones
    (CI's SQLite then PostgreSQL runs), in pytest's cache folder, keyed by the normaliser's
    sources: fitting the full referential takes a minute or more, and every test's fresh data
    directory used to refit it. Tests of the cache itself pass their own ``cache_dir``."""
    key = _sources_fingerprint() or "unknown"  # the engine's own key of its cache files
    cache = getattr(request.config, "cache", None)
    root = Path(cache.mkdir("normaliser")) if cache else tmp_path_factory.mktemp("normaliser")
    for old in root.iterdir():  # caches of earlier versions of the sources
        if old.name != key:
            shutil.rmtree(old, ignore_errors=True)
    (root / key).mkdir(exist_ok=True)
    patch = pytest.MonkeyPatch()
    patch.setenv("PASSERELLE_CACHE_DIR", str(root / key))
    get_settings.cache_clear()
    yield root / key
    patch.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ``../shared/data`` directory; tests needing it skip with a visible reason elsewhere."""
    if not SHARED_DATA.exists():
        pytest.skip(f"../shared/data absent ({SHARED_DATA}) : données d'évaluation non disponibles")
    return SHARED_DATA


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory) -> str:
    if PG_URL:
        engine = make_engine(PG_URL)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            pytest.fail(f"PostgreSQL demandé ({PG_URL}) mais injoignable : {exc}", pytrace=False)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
        engine.dispose()
        return PG_URL
    path = tmp_path_factory.mktemp("db") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return str(path)


@pytest.fixture
def db_url(_template_db, tmp_path) -> str:
    """URL of an empty, fully migrated database reserved for this test."""
    if PG_URL:
        engine = make_engine(PG_URL)
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return PG_URL
    path = tmp_path / "passerelle.sqlite"
    shutil.copyfile(_template_db, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(db_url) -> Engine:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(tmp_path, db_url, monkeypatch):
    """Settings pointing at this test's database and a temporary data directory."""
    monkeypatch.setenv("PASSERELLE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PASSERELLE_DATABASE_URL", db_url)
    monkeypatch.setenv("PASSERELLE_MODELS_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def referential():
    from matching.taxonomy.referential import load_referential

    return load_referential()

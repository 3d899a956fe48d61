"""Application factory: settings, store, loaded services, sessions, errors and routers.

Every module of ``api/routes`` that exposes ``router`` is included (auto-discovery), so new
areas add a module without editing this file. The lifespan opens the store and loads the
referential, the normaliser and the fitted matching engine ONCE per process (in a background
thread, so the server answers at once; the first request that needs one of them waits).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import pkgutil
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from api import errors, routes
from matching.config import Settings, get_settings
from matching.services import accounts
from matching.services.catalogue import Catalogue
from matching.services.serving import EngineCache
from matching.services.store import open_store
from matching.store.db import make_engine, upgrade

STATIC_DIR = Path(__file__).parent / "static"
#: SQLite connections kept open per server process: at least the thread pool's size (anyio's
#: default is 40 threads), so that concurrent readers never open and close "overflow"
#: connections per request (each a file open plus three PRAGMAs: measured ~4 % of a published
#: shortlist request under 20 clients with SQLAlchemy's default pool of 5 + 10).
SQLITE_POOL_SIZE = 40


def freeze_loaded() -> None:
    """Move every object alive now (referential, normaliser, fitted engine: ~280,000 tracked
    objects on the demo) out of the garbage collector's reach. They live as long as the process
    (or until the next refit), yet each full collection walked them all: 145 ms, hit every few
    hundred fresh shortlists, which was the p95 of ``?fresh=true`` for a single client."""
    gc.freeze()


class Lazy:
    """A value computed once, on first call or by :meth:`start` in a background thread."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._value: Any = None
        self._done = False

    def __call__(self) -> Any:
        if not self._done:
            with self._lock:
                if not self._done:
                    self._value = self._make()
                    self._done = True
                    freeze_loaded()
        return self._value

    def start(self) -> None:
        threading.Thread(target=self, daemon=True, name="passerelle-preload").start()


def default_normaliser(settings: Settings):
    from matching.taxonomy.normaliser import get_normaliser

    return get_normaliser(
        referential_dir=settings.referential_dir,
        cache_dir=settings.effective_cache_dir,
        n_jobs=1,
    )


def open_server_store(settings: Settings):
    """The store of a server process: as :func:`open_store`, with a pool sized for the thread
    pool on SQLite (WAL mode: readers never wait for each other nor for a writer)."""
    url = settings.effective_database_url
    if url.startswith("sqlite") and ":memory:" not in url:
        store = make_engine(url, pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_SIZE)
        upgrade(store)
        return store
    return open_store(settings)


def create_app(
    settings: Settings | None = None,
    *,
    preload: bool = True,
    normaliser: Callable[[], Any] | None = None,
) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    settings : Settings, optional
        Default: :func:`matching.config.get_settings`.
    preload : bool, default True
        Load the normaliser and fit the engine at start-up (background thread); tests pass
        ``False`` to load them only if a request needs them.
    normaliser : callable, optional
        Returns the fitted normaliser (default: the installation's, cached on disk).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from matching.taxonomy.referential import load_referential

        store = open_server_store(settings)
        referential = load_referential(settings.referential_dir)
        app.state.settings = settings
        app.state.store = store
        app.state.referential = referential
        app.state.catalogue = Catalogue(store, referential)
        app.state.engines = EngineCache(settings, store, referential=referential)
        # computations of ?fresh=true run at most this many at once per process; the others
        # wait their turn on the event loop (see api/routes/needs.py)
        app.state.fresh_slots = asyncio.Semaphore(settings.fresh_concurrency)
        app.state.normaliser = Lazy(normaliser or (lambda: default_normaliser(settings)))
        if preload:
            app.state.normaliser.start()
            threading.Thread(target=app.state.engines.get, daemon=True).start()
        yield
        store.dispose()

    app = FastAPI(
        title="Passerelle",
        summary="Rapprochement besoins des employeurs / demandeurs d'emploi / formations.",
        description=(
            "API du PLIE et du guichet entreprises d'Amiens Métropole. Authentification : "
            "`POST /api/v1/token` (identifiant, mot de passe) puis en-tête "
            "`Authorization: Bearer <jeton>`. Toutes les erreurs ont le corps "
            '`{"erreur": {"code", "message", "details"}}` (messages en français).'
        ),
        version="1.0.0",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="passerelle_session",
        max_age=accounts.SESSION_MAX_AGE_S,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{routes.__name__}.{info.name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)
    return app

"""Fairness audit use cases for the CLI, the API page and the notebook."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, func, select

from matching.fairness.audit import FairnessAudit, audit
from matching.fairness.data import load_audit_data
from matching.store import models as m
from matching.taxonomy.referential import Referential

_CACHE: dict[tuple, FairnessAudit] = {}


def _state(store: Engine, run_id: int | None) -> tuple:
    """What the audit depends on: a change in any of these invalidates the cached result."""
    with store.connect() as conn:
        js = conn.execute(
            select(func.count(), func.max(m.Jobseeker.updated_at)).select_from(m.Jobseeker)
        ).one()
        out = conn.execute(select(func.count(), func.max(m.Outcome.id))).one()
        pub = conn.execute(select(m.Publication.run_id).where(m.Publication.id == 1)).scalar()
        idents = conn.execute(select(func.count()).select_from(m.JobseekerIdentity)).scalar()
    return (str(store.url), run_id, pub, tuple(js), tuple(out), idents)


def run_audit(
    store: Engine,
    referential: Referential,
    *,
    run_id: int | None = None,
    as_of: date | None = None,
    min_persons: int = 20,
    n_boot: int = 400,
    use_cache: bool = True,
) -> FairnessAudit:
    """Audit the shortlists of ``run_id`` (default: the published run) and the decisions."""
    key = (*_state(store, run_id), as_of, min_persons, n_boot)
    if use_cache and key in _CACHE:
        return _CACHE[key]
    data = load_audit_data(store, referential, run_id=run_id, as_of=as_of)
    result = audit(data, min_persons=min_persons, n_boot=n_boot)
    if use_cache:
        _CACHE.clear()  # one audit kept: the page's
        _CACHE[key] = result
    return result


def save_plot(result: FairnessAudit, path: Path) -> Path:
    """Write the audit chart (PNG) and return its path."""
    import matplotlib.pyplot as plt

    from matching.fairness.plot import plot_audit

    fig = plot_audit(result, path)
    plt.close(fig)
    return Path(path)


@lru_cache(maxsize=2)
def _referential(path: str) -> Referential:
    from matching.taxonomy.referential import load_referential

    return load_referential(Path(path))


def audit_for_page(settings, store: Engine, *, run_id: int | None = None) -> FairnessAudit:
    """The audit for the web page (referential loaded once per process, result cached)."""
    return run_audit(store, _referential(str(settings.referential_dir)), run_id=run_id)

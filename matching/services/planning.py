"""Planning use cases (CLI and API): skill gap, training path, cohort recruitment plan.

Each function opens the configured store, reads an identity-free snapshot, indexes it for
planning and calls :mod:`matching.planning`. No printing, no HTTP here. Scores come from the
ranking engine (``MatchingEngine.score_pairs``) when that package is installed, otherwise from
the transparent skill-coverage scorer (:func:`matching.planning.cohort.coverage_scorer`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from matching.config import Settings
from matching.planning.chart import save_plan_chart
from matching.planning.cohort import CohortPlan, Scorer, coverage_scorer, plan_cohort, select_needs
from matching.planning.data import PlanningData
from matching.planning.gaps import SkillGap, skill_gap
from matching.planning.paths import PathFinder, TrainingPath
from matching.store.snapshot import Snapshot, load_snapshot
from matching.taxonomy.referential import load_referential


def _engine_of(settings: Settings) -> Engine:
    from matching.services.store import shared_engine

    return shared_engine(settings)


def load_planning_data(
    settings: Settings, *, as_of: date | None = None, store: Engine | None = None
) -> tuple[Snapshot, PlanningData]:
    """Snapshot of the store (as of ``as_of``, default today) and its planning index."""
    snapshot = load_snapshot(store or _engine_of(settings), as_of=as_of)
    referential = load_referential(settings.referential_dir)
    return snapshot, PlanningData.from_snapshot(snapshot, referential)


def engine_scorer(engine) -> Scorer:
    """Adapt ``MatchingEngine.score_pairs`` to the pairwise scorer planning expects.

    The contract gives one score per (need, jobseeker) pair of aligned arrays; if an engine
    returns a need x jobseeker matrix instead, it is asked for the unique ids and indexed.
    """

    def score(need_ids: np.ndarray, jobseeker_ids: np.ndarray) -> np.ndarray:
        need_ids = np.asarray(need_ids)
        jobseeker_ids = np.asarray(jobseeker_ids)
        out = np.asarray(engine.score_pairs(need_ids, jobseeker_ids), dtype=float)
        if out.ndim == 1 and len(out) == len(need_ids):
            return out
        un, ni = np.unique(need_ids, return_inverse=True)
        uj, ji = np.unique(jobseeker_ids, return_inverse=True)
        matrix = np.asarray(engine.score_pairs(un, uj), dtype=float)
        return matrix[ni, ji]

    score.__name__ = getattr(engine, "ranker_name", None) or "moteur de rapprochement"
    return score


def make_scorer(
    snapshot: Snapshot,
    data: PlanningData,
    *,
    kind: str = "auto",
    settings: Settings | None = None,
) -> Scorer:
    """Scorer for cohort plans: ``"moteur"`` (ranking engine), ``"couverture"``, or ``"auto"``.

    ``auto`` uses the engine when :mod:`matching.ranking.engine` is available, else coverage.
    With ``settings``, the engine ranks with the installation's current ranker (the trained
    model the nightly run and the API use, or the coverage ranker when none is trained), so a
    plan's expected hires come from the same scores as the shortlists.
    """
    if kind == "couverture":
        return coverage_scorer(data)
    try:
        from matching.ranking.engine import MatchingEngine
    except ImportError:
        if kind == "moteur":
            from matching.exceptions import ConfigurationError

            raise ConfigurationError(
                "score « moteur » demandé mais le moteur de rapprochement "
                "(matching.ranking.engine) n'est pas installé"
            ) from None
        return coverage_scorer(data)
    if settings is not None:
        from matching.services.matching import current_ranker

        engine = MatchingEngine(referential=data.referential, ranker=current_ranker(settings))
    else:
        engine = MatchingEngine(referential=data.referential)
    scorer = engine_scorer(engine.fit(snapshot))
    scorer.__name__ = f"moteur de rapprochement ({engine.model_name})"
    return scorer


def gap_for(
    settings: Settings, jobseeker: int | str, need: int | str, *, as_of: date | None = None
) -> SkillGap:
    """Skill gap of one jobseeker (id or ref) for one need (id or ref)."""
    _, data = load_planning_data(settings, as_of=as_of)
    return skill_gap(data, jobseeker, need)


def path_for(
    settings: Settings,
    jobseeker: int | str,
    need: int | str,
    *,
    as_of: date | None = None,
    store: Engine | None = None,
) -> TrainingPath:
    """Cheapest training path; raises :class:`~matching.exceptions.NoTrainingPathError`."""
    _, data = load_planning_data(settings, as_of=as_of, store=store)
    return PathFinder(data).best(jobseeker, need)


def plan_for(
    settings: Settings,
    needs: Iterable[int | str] = (),
    *,
    sector: str | None = None,
    all_open: bool = False,
    as_of: date | None = None,
    scorer: str = "auto",
    chart: str | Path | None = None,
    store: Engine | None = None,
) -> CohortPlan:
    """Plan the named needs, and/or all open needs of ``sector`` or of the territory, together.

    Parameters
    ----------
    settings : Settings
    needs : ids or refs of needs.
    sector : add every open need of this sector.
    all_open : add every open need of the territory.
    as_of : planning date ("today"); default the current date.
    scorer : ``"auto"``, ``"moteur"`` or ``"couverture"`` (see :func:`make_scorer`).
    chart : write the timeline chart (PNG) to this path.
    """
    snapshot, data = load_planning_data(settings, as_of=as_of, store=store)
    chosen = select_needs(data, needs, sector=sector, all_open=all_open)
    plan = plan_cohort(
        data, chosen, scorer=make_scorer(snapshot, data, kind=scorer, settings=settings)
    )
    if chart:
        save_plan_chart(plan, chart)
    return plan

"""Use cases of the matching engine for the CLI, the API and the nightly batch: load the
snapshot and the current model into an engine, shortlist for a need, matches for a jobseeker,
train, evaluate, occupational mobility. Models load here (never at import)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select

from matching.config import Settings
from matching.exceptions import NotFoundError, ValidationError
from matching.ranking.engine import MatchingEngine
from matching.ranking.ranker import CoverageRanker
from matching.ranking.training import current_artefact, load_artefact, train_ranker
from matching.store import models as m
from matching.store.snapshot import load_snapshot
from matching.taxonomy.referential import Referential, load_referential


def current_ranker(settings: Settings):
    """The installed trained ranker (the one named in settings, else the latest), or the
    transparent coverage ranker when none is trained."""
    path = current_artefact(settings.models_dir, settings.ranker_model)
    if path is None:
        return CoverageRanker().fit()
    return load_artefact(path)


def load_engine(settings: Settings, *, referential: Referential | None = None) -> MatchingEngine:
    """An unfitted engine with the current ranker (the batch fits it on its snapshot)."""
    ref = referential or load_referential(settings.referential_dir)
    return MatchingEngine(referential=ref, ranker=current_ranker(settings))


def fitted_engine(settings: Settings, store: Engine) -> MatchingEngine:
    return load_engine(settings).fit(load_snapshot(store))


def resolve_id(store: Engine, model, key: str | int) -> int:
    """Accept a numeric id or a natural key (``ref``)."""
    with store.connect() as conn:
        if str(key).isdigit():
            found = conn.execute(select(model.id).where(model.id == int(key))).scalar_one_or_none()
        else:
            found = conn.execute(select(model.id).where(model.ref == str(key))).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"{model.__tablename__} : aucun enregistrement pour {key!r}")
    return int(found)


def refs(store: Engine, model, ids) -> dict[int, str]:
    with store.connect() as conn:
        rows = conn.execute(
            select(model.id, model.ref).where(model.id.in_([int(i) for i in ids]))
        ).all()
    return {int(i): r for i, r in rows}


def train(settings: Settings, store: Engine, *, outcomes_file: Path | None = None):
    """Train and save the ranker from the store's history (or an outcome CSV); return
    (artefact path, EvaluationReport)."""
    snapshot = load_snapshot(store)
    if outcomes_file is not None:
        snapshot.outcomes = read_outcomes_csv(store, outcomes_file)
    return train_ranker(snapshot, load_referential(settings.referential_dir), settings.models_dir)


def evaluate(settings: Settings, store: Engine, *, outcomes_file: Path | None = None):
    """Time-split evaluation against the baselines, saved under ``data_dir/evaluation``;
    returns (report, json path, csv path)."""
    from matching.evaluation.report import evaluate_time_split

    snapshot = load_snapshot(store)
    if outcomes_file is not None:
        snapshot.outcomes = read_outcomes_csv(store, outcomes_file)
    report = evaluate_time_split(snapshot, load_referential(settings.referential_dir))
    js, csv = report.save(Path(settings.data_dir) / "evaluation")
    return report, js, csv


def shortlist(settings: Settings, store: Engine, need: str | int, *, top: int = 50):
    """(engine, matches, jobseeker refs) for a need given by id or reference."""
    need_id = resolve_id(store, m.Need, need)
    engine = fitted_engine(settings, store)
    found = engine.shortlist(need_id, top=top)
    return engine, found, refs(store, m.Jobseeker, [x.jobseeker_id for x in found])


def matches(settings: Settings, store: Engine, jobseeker: str | int, *, top: int = 20):
    """(engine, matches, need refs) for a jobseeker given by id or reference."""
    js_id = resolve_id(store, m.Jobseeker, jobseeker)
    engine = fitted_engine(settings, store)
    found = engine.matches_for_jobseeker(js_id, top=top, explain=True)
    return engine, found, refs(store, m.Need, [x.need_id for x in found])


def mobility(settings: Settings, code_rome: str, *, top: int = 20):
    """Occupations reachable from a ROME fiche (see :mod:`matching.ranking.mobility`)."""
    from matching.ranking.mobility import OccupationMobility

    ref = load_referential(settings.referential_dir)
    return OccupationMobility().fit(ref).rank(code_rome.strip().upper(), top=top)


def read_outcomes_csv(store: Engine, path: Path) -> pd.DataFrame:
    """Outcome history in the documented CSV format, refs resolved to ids (errors by row/field)."""
    from matching.exceptions import ImportValidationError, RowError

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    needed = ["jobseeker_ref", "need_ref", "event", "event_date"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValidationError(f"{path} : colonne(s) manquante(s) {', '.join(missing)}")
    with store.connect() as conn:
        js = dict(conn.execute(select(m.Jobseeker.ref, m.Jobseeker.id)).all())
        needs = dict(conn.execute(select(m.Need.ref, m.Need.id)).all())
    errors, rows = [], []
    for i, r in enumerate(frame.itertuples(index=False), start=2):
        if r.jobseeker_ref not in js:
            errors.append(RowError(i, "jobseeker_ref", f"demandeur inconnu {r.jobseeker_ref!r}"))
        if r.need_ref not in needs:
            errors.append(RowError(i, "need_ref", f"besoin inconnu {r.need_ref!r}"))
        if r.event not in m.OUTCOME_EVENTS:
            errors.append(RowError(i, "event", f"événement invalide {r.event!r}"))
        try:
            when = pd.Timestamp(r.event_date).date()
        except ValueError:
            errors.append(RowError(i, "event_date", f"date invalide {r.event_date!r}"))
            continue
        rows.append((js.get(r.jobseeker_ref), needs.get(r.need_ref), r.event, when))
    if errors:
        raise ImportValidationError(str(path), errors)
    return pd.DataFrame(rows, columns=["jobseeker_id", "need_id", "event", "event_date"])

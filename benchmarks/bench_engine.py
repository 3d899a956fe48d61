"""Engine benchmark: shortlist latency from a large pool, and ranking of every retrieved pair.

Synthetic, seeded data on the real referential (fiches drawn with a Zipf popularity, needs ask
for the core skills of their fiche plus a few others, people hold 75 % of the core skills of
1–3 past fiches, communes by population, 20 % available later, 60 % with a licence).

    .venv/bin/python benchmarks/bench_engine.py [--jobseekers 100000] [--needs 10000]

Prints medians and percentiles as measured, wall clock and CPU time (the machine is shared:
wall-clock figures are noisy). Shortlists of open needs read the exact top-k of the all-pairs
search done at ``fit``; the latency with the single-need exact retrieval is printed too.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date, timedelta

import numpy as np
import pandas as pd

from matching.store.snapshot import Snapshot
from matching.taxonomy.referential import load_referential


def synthetic_snapshot(n_js: int, n_needs: int, *, seed: int = 0, n_courses: int = 60) -> Snapshot:
    """Seeded territory of the requested size on the real referential."""
    ref = load_referential()
    rng = np.random.default_rng(seed)
    links = ref.occupation_skills
    core = links[links["core"] != ""]
    fiches = np.sort(core["code_rome"].unique())
    pop = rng.zipf(1.6, len(fiches)).astype(float)
    pop /= pop.sum()
    by = {k: v["code_ogr"].to_numpy() for k, v in core.groupby("code_rome")}
    every = {k: v["code_ogr"].to_numpy() for k, v in links.groupby("code_rome")}
    communes = ref.communes["code_insee"].to_numpy()
    cp = ref.communes["population"].to_numpy(float)
    cp /= cp.sum()
    as_of = date(2026, 9, 1)
    nf = rng.choice(fiches, n_needs, p=pop)
    needs = pd.DataFrame(
        dict(
            id=np.arange(1, n_needs + 1),
            ref=[f"B{i}" for i in range(n_needs)],
            employer_id=1,
            code_rome=nf,
            title_typed=[ref.occupation_labels[c] for c in nf],
            description="",
            positions=1,
            hiring_date=[as_of + timedelta(days=int(d)) for d in rng.integers(30, 270, n_needs)],
            contract_type="CDI",
            hours_per_week=35.0,
            commune_insee=rng.choice(communes, n_needs, p=cp),
            driving_licence_required=rng.random(n_needs) < 0.2,
            min_qualification_level=None,
            required_certification=None,
            status="open",
        )
    )
    rows = []
    for i, f in zip(needs["id"], nf, strict=True):
        rows += [(i, s, True, 2) for s in by[f]]
        rows += [(i, s, False, 2) for s in rng.choice(every[f], min(4, len(every[f])), False)]
    need_skills = pd.DataFrame(rows, columns=["need_id", "skill_code", "essential", "level"])
    need_skills = need_skills.drop_duplicates(["need_id", "skill_code"])
    js = pd.DataFrame(
        dict(
            id=np.arange(1, n_js + 1),
            ref=[f"D{i}" for i in range(n_js)],
            qualification_level=rng.choice([np.nan, 3, 4, 5], n_js),
            driving_licence=rng.random(n_js) < 0.6,
            has_vehicle=False,
            max_commute_km=rng.uniform(5, 30, n_js),
            home_commune_insee=rng.choice(communes, n_js, p=cp),
            availability_date=[
                as_of + timedelta(days=int(d)) if r > 0.8 else as_of
                for d, r in zip(rng.integers(0, 120, n_js), rng.random(n_js), strict=True)
            ],
            unemployed_since=as_of - timedelta(days=400),
            desired_hours_per_week=35.0,
            status="active",
            updated_at=None,
        )
    )
    n_exp = rng.integers(1, 4, n_js)
    ej = np.repeat(js["id"].to_numpy(), n_exp)
    ef = rng.choice(fiches, len(ej), p=pop)
    exp = pd.DataFrame(
        dict(jobseeker_id=ej, code_rome=ef, months=rng.integers(2, 60, len(ej)), ended_on=as_of)
    )
    sj, ss = [], []
    for j, f in zip(ej, ef, strict=True):
        keep = by[f][rng.random(len(by[f])) < 0.75]
        sj.append(np.full(len(keep), j))
        ss.append(keep)
    jsk = pd.DataFrame({"jobseeker_id": np.concatenate(sj), "skill_code": np.concatenate(ss)})
    jsk = jsk.drop_duplicates()
    jsk["level"] = 2
    jsk["source"] = rng.choice(["declared", "validated", "certified"], len(jsk), p=[0.6, 0.3, 0.1])
    cf = rng.choice(fiches, n_courses, p=pop)
    courses = pd.DataFrame(
        dict(
            id=np.arange(1, n_courses + 1),
            title=[ref.occupation_labels[c] for c in cf],
            hours=rng.integers(70, 600, n_courses),
            code_rome=cf,
        )
    )
    cs = pd.DataFrame(
        [(i, s, "taught") for i, c in zip(courses["id"], cf, strict=True) for s in by[c]],
        columns=["course_id", "skill_code", "role"],
    )
    return Snapshot(
        needs=needs,
        need_skills=need_skills,
        jobseekers=js,
        jobseeker_skills=jsk,
        experiences=exp,
        courses=courses,
        course_skills=cs,
        as_of=as_of,
    )


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _latencies(engine, need_ids, repeat: int) -> np.ndarray:
    """Milliseconds per explained shortlist of 50, ``repeat`` passes over ``need_ids``, with one
    OpenMP thread as in serving (``matching.services.serving`` limits each request thread)."""
    from threadpoolctl import threadpool_limits

    lat = []
    with threadpool_limits(limits=1, user_api="openmp"):
        engine.shortlist(int(need_ids[0]))  # warm-up
        for _ in range(repeat):
            for nid in need_ids:
                t0 = time.perf_counter()
                engine.shortlist(int(nid), top=50, explain=True)
                lat.append((time.perf_counter() - t0) * 1000)
    return np.array(lat)


def _bench_model(engine, rng) -> object:
    """A learned ranker shaped like a trained one: the default trees (150 iterations, 15
    leaves) fitted on retrieved pairs of this territory, labelled by a noisy logistic of eight
    features, so that the trees split on most features (explanations then probe most of them,
    as with the model ``passerelle train`` fits on the demo history)."""
    from matching.ranking.pair_features import FEATURE_INDEX as F
    from matching.ranking.pair_features import pair_features
    from matching.ranking.ranker import LearnedRanker

    need_js, _ = engine._search()
    picked = rng.choice(len(need_js), min(300, len(need_js)), replace=False)
    n_rows = engine.open_rows_[np.repeat(picked, need_js.shape[1])]
    j_rows = need_js[picked].ravel()
    ok = j_rows >= 0
    X = pair_features(engine.ctx_, n_rows[ok], j_rows[ok])
    z = (
        3.0 * X[:, F["essential_coverage"]]
        + 1.5 * X[:, F["skill_similarity"]]
        + 0.8 * X[:, F["optional_coverage"]]
        + 0.6 * X[:, F["same_occupation"]]
        - 0.03 * X[:, F["commute_km"]]
        + 0.004 * np.clip(X[:, F["days_available_before_hiring"]], -200, 200)
        - 0.02 * X[:, F["months_unemployed"]]
        - 0.3 * X[:, F["qualification_gap"]]
        + rng.logistic(0, 1, len(X))
    )
    y = (z > np.quantile(z, 0.8)).astype(int)
    model = LearnedRanker().fit(X, y, time=np.arange(len(X)))
    model.name = "classement appris (banc d'essai)"
    rows, cols = np.nonzero(model.reference_[None, :] != X[:5000])
    kept = (~model._same_paths(X[:5000][rows, cols], cols)).mean()
    print(
        f"modèle du banc d'essai : {model.model_.n_iter_} arbres, entraîné sur {len(X)} paires ; "
        f"explications : {kept:.0%} des sondes à prédire (les autres ne changent aucun chemin)"
    )
    return model


def main() -> None:
    import os

    from matching.ranking.engine import MatchingEngine

    ap = argparse.ArgumentParser()
    ap.add_argument("--jobseekers", type=int, default=100_000)
    ap.add_argument("--needs", type=int, default=10_000)
    ap.add_argument("--shortlists", type=int, default=200)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="passes for latencies and ranking")
    args = ap.parse_args()
    ref = load_referential()
    t = time.perf_counter()
    snap = synthetic_snapshot(args.jobseekers, args.needs)
    print(
        f"données synthétiques {args.jobseekers} × {args.needs} : {time.perf_counter() - t:.1f} s ;"
        f" {os.cpu_count()} cœurs, charge {os.getloadavg()[0]:.1f}"
    )
    rng = np.random.default_rng(1)
    model = None
    for label in ("couverture", "modèle appris"):
        t = time.perf_counter()
        engine = MatchingEngine(referential=ref, ranker=model, n_jobs=args.n_jobs).fit(snap)
        fit_s = time.perf_counter() - t
        if model is None:
            model = _bench_model(engine, rng)
        need_ids = rng.choice(engine.need_ids_, args.shortlists, replace=False)
        lat = _latencies(engine, need_ids, args.repeat)
        # the same shortlists with the exact single-need retrieval instead of fit's search
        # (drafts, or an engine fitted with precompute=False)
        search, engine.search_ = engine.search_, None
        fresh = _latencies(engine, need_ids, 1)
        engine.search_ = search
        print(
            f"[{label}] fit (vectorisation + recherche exacte de toutes les paires) {fit_s:.1f} s ;"
            f" liste de 50 expliquée sur {len(engine.js_ids_)} demandeurs : p50 "
            f"{np.median(lat):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms (cibles 5 / 20 ms) ; "
            f"avec recherche à la volée p50 {np.median(fresh):.1f} ms, "
            f"p99 {np.percentile(fresh, 99):.1f} ms"
        )
        need_js, js_need = engine._search()
        n_pairs = int((need_js >= 0).sum() + (js_need[:, :20] >= 0).sum())
        walls, cpus = [], []
        for _ in range(max(1, args.repeat - 1)):
            t, c = time.perf_counter(), time.process_time()
            res = engine.block_results(
                engine.js_ids_, top_per_need=50, top_per_jobseeker=20, explain=False
            )
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        print(
            f"[{label}] classement de toutes les paires retrouvées (~{n_pairs} paires, sans "
            f"explications) : médiane {np.median(walls):.1f} s mur / {np.median(cpus):.1f} s CPU "
            f"({len(walls)} exécutions, cible 30 s) ; {len(res.shortlists)} listes, "
            f"{len(res.matches)} demandeurs ; mémoire max du processus {_peak_gb():.2f} Go"
        )


if __name__ == "__main__":
    main()

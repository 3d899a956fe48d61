"""Nightly-run benchmark: full run, incremental run after 1 % of profiles changed, scaling, estimate.

For each size (jobseekers; needs = jobseekers / 10, courses = jobseekers / 50) a seeded synthetic
territory on the real referential (:mod:`matching.batch.synthetic`) is bulk-loaded into a fresh
SQLite file, then:

1. a full ``run_nightly`` (snapshot, fit, blocks, paths, bulk writes, publication): wall time,
   stage durations, peak memory (this process + its worker processes, sampled);
2. 1 % of the profiles are edited and an incremental run is timed.

Finally the scaling of the full run and the measured per-block rate (jobseeker x need pairs per
second per worker, match stage) give the estimate of Dask workers needed for a national run
(6 million jobseekers x 1 million offers) within one hour. Targets: full run at 100k <= 90 s and
<= 4 GB; incremental <= 10 s. Never run as a test; the machine is shared, figures are noisy.

    .venv/bin/python benchmarks/bench_nightly.py [--sizes 10000,30000,100000] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from sqlalchemy import text

from matching.batch import BatchOptions
from matching.batch.synthetic import generate_territory, perturb_profiles
from matching.config import PROJECT_DIR, Settings
from matching.services.nightly import load_territory, run_nightly
from matching.store.db import make_engine, upgrade
from matching.taxonomy.referential import load_referential

TARGET_FULL_S = 90.0
TARGET_MEM_GB = 4.0
TARGET_INCR_S = 10.0
NATIONAL_JOBSEEKERS = 6_000_000
NATIONAL_OFFERS = 1_000_000


class PeakMemory:
    """Peak RSS of this process plus its children, sampled every 0.2 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                rss = me.memory_info().rss + sum(
                    c.memory_info().rss for c in me.children(recursive=True)
                )
                self.peak = max(self.peak, rss)
            except psutil.Error:
                pass
            self._stop.wait(0.2)

    def __enter__(self) -> PeakMemory:
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def engine_factory(kind: str):
    if kind in ("auto", "real"):
        try:
            from matching.ranking.engine import MatchingEngine  # noqa: F401

            return None, "moteur réel (matching.ranking.engine)"
        except ImportError:
            if kind == "real":
                sys.exit("matching.ranking.engine absent")
    sys.path.insert(0, str(PROJECT_DIR / "tests"))
    from batch.toy_engine import factory  # type: ignore[import-not-found]

    return factory, "moteur de test (couverture des compétences, tests/batch/toy_engine.py)"


def apply_edits(store, edits) -> None:
    with store.begin() as conn:
        if len(edits["skills"]):
            conn.execute(
                text(
                    "INSERT INTO jobseeker_skills (jobseeker_id, skill_code, level, source) "
                    "VALUES (:jobseeker_id, :skill_code, :level, :source)"
                ),
                edits["skills"].to_dict("records"),
            )
        if len(edits["commute"]):
            conn.execute(
                text("UPDATE jobseekers SET max_commute_km = :max_commute_km WHERE id = :id"),
                edits["commute"].to_dict("records"),
            )


def one_size(n_js: int, args, ref, factory, workdir: Path) -> dict:
    n_needs, n_courses = max(10, n_js // 10), max(5, n_js // 50)
    t = time.perf_counter()
    terr = generate_territory(
        ref, n_jobseekers=n_js, n_needs=n_needs, n_courses=n_courses, n_occupations=300, seed=1
    )
    gen_s = time.perf_counter() - t
    path = workdir / f"nightly-{n_js}.sqlite"
    url = f"sqlite:///{path}"
    store = make_engine(url)
    upgrade(store)
    t = time.perf_counter()
    load_territory(store, terr)
    load_s = time.perf_counter() - t
    print(
        f"\n== {n_js:,} demandeurs x {n_needs:,} besoins x {n_courses:,} formations "
        f"(généré {gen_s:.1f} s ; chargé en base {load_s:.1f} s)".replace(",", " ")
    )
    settings = Settings(database_url=url, data_dir=workdir)
    opts = BatchOptions(n_jobs=args.n_jobs, block_size=args.block_size)
    with PeakMemory() as mem:
        t = time.perf_counter()
        full = run_nightly(
            settings, options=opts, today=terr.as_of, engine_factory=factory, store=store
        )
        full_s = time.perf_counter() - t
    rep = full.report
    print(
        f"exécution complète : {full_s:.1f} s (cible ≤ {TARGET_FULL_S:.0f} s, ratio "
        f"{full_s / TARGET_FULL_S:.2f}) ; mémoire max {mem.peak / 1e9:.2f} Go "
        f"(cible ≤ {TARGET_MEM_GB:.0f} Go) ; {rep['counts']['shortlist_rows']} lignes de listes, "
        f"{rep['counts']['match_rows']} lignes demandeur, {rep['counts']['paths']} parcours"
    )
    print("  étapes (s) : " + ", ".join(f"{k} {v:.2f}" for k, v in rep["durations_s"].items()))
    apply_edits(store, perturb_profiles(ref, terr, fraction=0.01, seed=2))
    t = time.perf_counter()
    inc = run_nightly(settings, options=opts, today=terr.as_of, engine_factory=factory, store=store)
    inc_s = time.perf_counter() - t
    irep = inc.report
    print(
        f"exécution incrémentale (1 % des profils modifiés) : {inc_s:.1f} s (cible ≤ "
        f"{TARGET_INCR_S:.0f} s, ratio {inc_s / TARGET_INCR_S:.2f}) ; type {irep['kind']} ; "
        f"{irep['counts']['jobseekers_recomputed']} demandeurs et "
        f"{irep['counts']['needs_recomputed']} besoins recalculés"
    )
    print("  étapes (s) : " + ", ".join(f"{k} {v:.2f}" for k, v in irep["durations_s"].items()))
    store.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    match_s = rep["durations_s"]["match"]
    workers = max(1, args.n_jobs)
    return {
        "n": n_js,
        "needs": n_needs,
        "full_s": full_s,
        "inc_s": inc_s,
        "mem_gb": mem.peak / 1e9,
        "match_s": match_s,
        "pairs_per_s_worker": n_js * n_needs / match_s / workers,
        "rest_s_per_js": (full_s - match_s) / n_js,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,30000,100000", help="jobseekers, comma-separated")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--block-size", type=int, default=5000)
    parser.add_argument("--engine", choices=("auto", "real", "toy"), default="auto")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    ref = load_referential()
    factory, label = engine_factory(args.engine)
    print(f"moteur : {label} ; n_jobs={args.n_jobs}, blocs de {args.block_size} demandeurs")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        rows = [one_size(n, args, ref, factory, Path(tmp)) for n in sizes]

    print("\n== mise à l'échelle (exécution complète)")
    print(
        f"{'demandeurs':>11} {'besoins':>8} {'total s':>8} {'rapprochement s':>16} {'incr. s':>8} {'mém. Go':>8}"
    )
    for r in rows:
        print(
            f"{r['n']:>11} {r['needs']:>8} {r['full_s']:>8.1f} {r['match_s']:>16.1f} "
            f"{r['inc_s']:>8.1f} {r['mem_gb']:>8.2f}"
        )
    base = rows[0]
    for r in rows[1:]:
        work = (r["n"] * r["needs"]) / (base["n"] * base["needs"])
        print(
            f"  x{r['n'] / base['n']:.0f} demandeurs (x{work:.0f} paires) : temps x"
            f"{r['full_s'] / base['full_s']:.1f}, rapprochement x{r['match_s'] / base['match_s']:.1f}"
        )
    big = rows[-1]
    rate = big["pairs_per_s_worker"]
    pairs = NATIONAL_JOBSEEKERS * NATIONAL_OFFERS
    workers_match = pairs / (rate * 3600)
    print(
        f"\n== estimation nationale ({NATIONAL_JOBSEEKERS:,} demandeurs x {NATIONAL_OFFERS:,} offres)".replace(
            ",", " "
        )
    )
    print(
        f"débit mesuré par travailleur (étape de rapprochement ; {big['n']} demandeurs) : "
        f"{rate:,.0f} paires/s".replace(",", " ")
    )
    print(
        f"travailleurs Dask (1 cœur chacun) pour le rapprochement en 1 h : {workers_match:,.0f}".replace(
            ",", " "
        )
    )
    rest_h = big["rest_s_per_js"] * NATIONAL_JOBSEEKERS / 3600
    print(
        f"reste de la chaîne (lecture, parcours, écriture ; linéaire en demandeurs, non "
        f"distribué) : {rest_h:.1f} h au débit mesuré"
    )


if __name__ == "__main__":
    main()

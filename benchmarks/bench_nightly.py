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
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
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


def _n(x: float) -> str:
    """12 345 678 (French digit grouping)."""
    return f"{x:,.0f}".replace(",", "\u202f")


class PeakMemory:
    """Peak RSS of this process plus its children (sampled every 0.2 s; PSS every second), and the CPU seconds
    they used meanwhile (the machine is shared: CPU time is steadier than wall time)."""

    def __init__(self) -> None:
        self.peak = 0
        self.peak_pss = 0  # shared pages (the engine mapped by every worker) counted once
        self.stage = ""
        #: stage -> (peak RSS of the whole tree, of the main process at that moment, of the
        #: main process alone at any moment of the stage)
        self.by_stage: dict[str, list[int]] = {}
        self._n = 0
        self.cpu_s = 0.0
        self._cpu: dict[int, float] = {}
        self._start: dict[int, float] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def on_event(self, event: dict) -> None:
        """``run_nightly``'s event callback: attributes the samples to the current stage."""
        if event.get("event") == "stage_start":
            self.stage = event["stage"]

    def _sample(self, me: psutil.Process) -> None:
        rss = pss = main = 0
        self._n += 1
        for p in [me, *me.children(recursive=True)]:
            try:
                one = p.memory_info().rss
                rss += one
                if p is me:
                    main = one
                if self._n % 5 == 0:  # smaps is slow to read: every second
                    pss += p.memory_full_info().pss
                t = p.cpu_times()
                used = t.user + t.system
            except psutil.Error:
                continue
            self._start.setdefault(p.pid, used)
            self._cpu[p.pid] = used
        self.peak = max(self.peak, rss)
        self.peak_pss = max(self.peak_pss, pss)
        cur = self.by_stage.setdefault(self.stage or "-", [0, 0, 0])
        if rss > cur[0]:
            cur[0], cur[1] = rss, main
        cur[2] = max(cur[2], main)

    def stages(self) -> str:
        """Per stage: peak of the tree (main process share), in GB."""
        return ", ".join(
            f"{k} {v[0] / 1e9:.2f} ({v[1] / 1e9:.2f})" for k, v in self.by_stage.items()
        )

    def _loop(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self._sample(me)
            self._stop.wait(0.2)

    def __enter__(self) -> PeakMemory:
        self._start[os.getpid()] = sum(psutil.Process().cpu_times()[:2])
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self._sample(psutil.Process())
        self.cpu_s = sum(self._cpu[p] - self._start.get(p, 0.0) for p in self._cpu)


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


def _median_stages(reports: list[dict]) -> dict[str, float]:
    keys = list(reports[0]["durations_s"])
    out = {k: statistics.median(r["durations_s"].get(k, 0.0) for r in reports) for k in keys}
    for k in ("score", "explain"):
        vals = [r.get("match_detail_s", {}).get(k) for r in reports]
        if all(v is not None for v in vals):
            out[f"match.{k}"] = statistics.median(vals)
    return out


def _stages(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in d.items())


@dataclass
class Runs:
    """Timed runs of one kind: wall times, reports, peak RSS/PSS, CPU seconds."""

    walls: list[float] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)
    psss: list[int] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    mem_stages: str = ""


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
    repeat = args.repeat if args.repeat else (1 if n_js >= 100_000 else 3)

    def timed_runs(full: bool, before_each=None) -> Runs:
        """``repeat`` nightly runs (the first full one from scratch, then ``full`` ones), each
        timed and sampled for memory and CPU."""
        out = Runs()
        for i in range(repeat):
            if before_each is not None:
                before_each(i)
            opts = BatchOptions(n_jobs=args.n_jobs, block_size=args.block_size, full=full and i > 0)
            with PeakMemory() as mem:
                t = time.perf_counter()
                res = run_nightly(
                    settings,
                    options=opts,
                    today=terr.as_of,
                    engine_factory=factory,
                    store=store,
                    on_event=mem.on_event,
                )
                out.walls.append(time.perf_counter() - t)
            out.reports.append(res.report)
            out.mem_stages = mem.stages()
            out.peaks.append(mem.peak)
            out.psss.append(mem.peak_pss)
            out.cpus.append(mem.cpu_s)
        return out

    full_runs = timed_runs(full=True)
    walls, reports, peaks, psss, cpus = (
        full_runs.walls,
        full_runs.reports,
        full_runs.peaks,
        full_runs.psss,
        full_runs.cpus,
    )
    mem_stages = full_runs.mem_stages
    full_s = statistics.median(walls)
    peak = max(peaks)
    rep = reports[-1]
    stages = _median_stages(reports)
    print(
        f"exécution complète (médiane de {repeat}) : {full_s:.1f} s (cible ≤ {TARGET_FULL_S:.0f} s, "
        f"ratio {full_s / TARGET_FULL_S:.2f}) ; mémoire max {peak / 1e9:.2f} Go "
        f"(cible ≤ {TARGET_MEM_GB:.0f} Go ; PSS {max(psss) / 1e9:.2f} Go) ; "
        f"CPU {statistics.median(cpus):.0f} s ; charge {os.getloadavg()[0]:.1f} ; "
        f"{rep['counts']['shortlist_rows']} lignes de listes, "
        f"{rep['counts']['match_rows']} lignes demandeur, {rep['counts']['paths']} parcours"
    )
    print("  étapes (s, médianes) : " + _stages(stages))
    print(
        "  mémoire max par étape, Go (dont processus principal), dernière exécution : " + mem_stages
    )
    inc = timed_runs(
        full=False,
        before_each=lambda i: apply_edits(
            store, perturb_profiles(ref, terr, fraction=0.01, seed=2 + i)
        ),
    )
    inc_walls, inc_reports, inc_peaks, inc_pss, inc_cpus = (
        inc.walls,
        inc.reports,
        inc.peaks,
        inc.psss,
        inc.cpus,
    )
    inc_mem_stages = inc.mem_stages
    inc_s = statistics.median(inc_walls)
    irep = inc_reports[-1]
    print(
        f"exécution incrémentale (1 % des profils modifiés, médiane de {repeat}) : {inc_s:.1f} s "
        f"(cible ≤ {TARGET_INCR_S:.0f} s, ratio {inc_s / TARGET_INCR_S:.2f}) ; type {irep['kind']} ; "
        f"{irep['counts']['jobseekers_recomputed']} demandeurs et "
        f"{irep['counts']['needs_recomputed']} besoins recalculés ; "
        f"mémoire max {max(inc_peaks) / 1e9:.2f} Go (PSS {max(inc_pss) / 1e9:.2f} Go) ; "
        f"CPU {statistics.median(inc_cpus):.0f} s ; charge {os.getloadavg()[0]:.1f}"
    )
    print("  étapes (s, médianes) : " + _stages(_median_stages(inc_reports)))
    print("  mémoire max par étape, Go (dont processus principal) : " + inc_mem_stages)
    print(
        "  écriture par table (s, dernière exécution) : "
        + _stages(irep.get("write_detail_s", {}))
        + f" ; listes reprises telles quelles {irep['counts'].get('needs_copied', 0)}, "
        f"complétées par leur réserve {irep['counts'].get('needs_completed', 0)}"
    )
    changed = irep.get("rows_changed") or {}
    print(
        "  lignes écrites / fermées (les autres sont partagées avec l'exécution précédente) : "
        + ", ".join(
            f"{t} {c.get('inserted', 0)} / {c.get('closed', 0)}" for t, c in changed.items()
        )
    )
    store.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    workers = max(1, args.n_jobs)
    n_active = rep["counts"]["active_jobseekers"]
    return {
        "n": n_js,
        "needs": n_needs,
        "full_s": full_s,
        "inc_s": inc_s,
        "mem_gb": peak / 1e9,
        "cpu_s": statistics.median(cpus),
        "fit_s": stages["fit"],
        "match_s": stages["match"],
        "score_s": stages.get("match.score", stages["match"]),
        "explain_s": stages.get("match.explain", 0.0),
        "paths_s": stages["paths"],
        "write_s": stages["write"],
        # block stage (score + explain): jobseekers per second per worker process
        "js_per_s_worker": n_active / stages["match"] / workers,
        # all-pairs retrieval and vectorisation (the engine's fit, one process)
        "pairs_per_s_fit": n_js * n_needs / stages["fit"],
        "rest_s_per_js": (full_s - stages["match"] - stages["fit"]) / n_js,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,30000,100000", help="jobseekers, comma-separated")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--block-size", type=int, default=5000)
    parser.add_argument(
        "--repeat", type=int, default=0, help="runs per size (default 3, 1 from 100k)"
    )
    parser.add_argument("--engine", choices=("auto", "real", "toy"), default="auto")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    ref = load_referential()
    factory, label = engine_factory(args.engine)
    print(f"moteur : {label} ; n_jobs={args.n_jobs}, blocs de {args.block_size} demandeurs")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        rows = [one_size(n, args, ref, factory, Path(tmp)) for n in sizes]

    print("\n== mise à l'échelle (exécution complète, médianes)")
    print(
        f"{'demandeurs':>11} {'besoins':>8} {'total s':>8} {'fit s':>6} {'rappr. s':>9} "
        f"{'dont expl.':>10} {'parcours s':>10} {'écriture s':>10} {'incr. s':>8} {'mém. Go':>8}"
    )
    for r in rows:
        print(
            f"{r['n']:>11} {r['needs']:>8} {r['full_s']:>8.1f} {r['fit_s']:>6.1f} "
            f"{r['match_s']:>9.1f} {r['explain_s']:>10.1f} {r['paths_s']:>10.1f} "
            f"{r['write_s']:>10.1f} {r['inc_s']:>8.1f} {r['mem_gb']:>8.2f}"
        )
    base = rows[0]
    for r in rows[1:]:
        print(
            f"  x{r['n'] / base['n']:.1f} demandeurs : temps total x{r['full_s'] / base['full_s']:.1f}, "
            f"rapprochement x{r['match_s'] / base['match_s']:.1f}, ajustement (fit) "
            f"x{r['fit_s'] / base['fit_s']:.1f}"
        )
    big = rows[-1]
    js_rate = big["js_per_s_worker"]
    pair_rate = big["pairs_per_s_fit"]
    pairs = NATIONAL_JOBSEEKERS * NATIONAL_OFFERS
    print(
        f"\n== estimation nationale ({_n(NATIONAL_JOBSEEKERS)} demandeurs x {_n(NATIONAL_OFFERS)} offres)"
    )
    print(
        f"débit par bloc mesuré ({_n(big['n'])} demandeurs ; étape de rapprochement : classement "
        f"et explications) : {_n(js_rate)} demandeurs/s par travailleur"
    )
    w_blocks = NATIONAL_JOBSEEKERS / (js_rate * 3600)
    print(f"  -> travailleurs Dask (1 cœur) pour les blocs en 1 h : {_n(w_blocks)}")
    print(
        "recherche exacte de toutes les paires (ajustement du moteur ; un seul processus) : "
        f"{_n(pair_rate)} paires/s"
    )
    w_search = pairs / (pair_rate * 3600)
    print(
        f"  -> travailleurs pour {pairs:.0e} paires en 1 h si elle était distribuée : {_n(w_search)}"
    )
    rest_h = big["rest_s_per_js"] * NATIONAL_JOBSEEKERS / 3600
    print(
        "reste de la chaîne (lecture, parcours, écriture ; linéaire en demandeurs ; non "
        f"distribué) : {rest_h:.1f} h au débit mesuré"
    )


if __name__ == "__main__":
    main()

"""Exact all-pairs retrieval benchmark: top-200 per need and top-50 per jobseeker with the hard
constraints, against the plain matrix-product time of the same shapes and scikit-learn's
``NearestNeighbors(algorithm="brute")`` on the same vectors (without constraints), plus scaling
over 10k / 30k / 100k jobseekers.

    .venv/bin/python benchmarks/bench_retrieval.py [--needs 10000] [--sizes 10000 30000 100000]

Prints medians of ``--repeat`` runs, wall-clock and CPU time (the machine is shared: the CPU time
says what the code costs when the wall clock is inflated by other processes), the search's own
peak memory (tracemalloc, one extra run) and the process peak.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import synthetic_snapshot


def _timed(fn, repeat: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of ``repeat`` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return float(np.median(wall)), float(np.median(cpu))


def main() -> None:
    from sklearn.neighbors import NearestNeighbors

    from matching.ranking.engine import MatchingEngine
    from matching.ranking.retrieval import CandidateIndex
    from matching.taxonomy.referential import load_referential

    ap = argparse.ArgumentParser()
    ap.add_argument("--needs", type=int, default=10_000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-sklearn", action="store_true")
    args = ap.parse_args()
    ref = load_referential()
    big = synthetic_snapshot(max(args.sizes), args.needs)
    engine = MatchingEngine(referential=ref, precompute=False, n_jobs=args.n_jobs).fit(big)
    idx_all = engine.index_
    print(
        f"{args.needs} besoins, {len(engine.js_ids_)} demandeurs ; colonnes utiles "
        f"{len(idx_all.used_columns_)} ; non-nuls par besoin {idx_all.needs_.nnz / args.needs:.1f},"
        f" par demandeur {idx_all.js_.nnz / len(engine.js_ids_):.1f} ; {args.n_jobs} threads, "
        f"{os.cpu_count()} cœurs, charge {os.getloadavg()[0]:.1f} ; médianes de {args.repeat} "
        "exécutions (mur / CPU)"
    )

    def index(n: int) -> CandidateIndex:
        return CandidateIndex(n_jobs=args.n_jobs).fit(
            need_vectors=engine.ctx_.need_vectors,
            js_vectors=engine.ctx_.js_vectors[:n],
            need_hiring_day=idx_all.need_hiring_,
            need_commune=engine.ctx_.need_commune,
            need_licence=engine.need_licence_,
            js_available_day=idx_all.js_available_[:n],
            js_commune=engine.ctx_.js_commune[:n],
            js_max_km=engine.js_max_km_[:n],
            js_licence=engine.js_licence_[:n],
            distance_km=engine.ctx_.distance_km,
        )

    timings = {}
    for n in args.sizes:
        idx = index(n)
        wall, cpu = _timed(lambda idx=idx: idx.search_all(k_need=200, k_js=50), args.repeat)
        timings[n] = (wall, cpu)

        def products(idx=idx, n=n):
            # the plain products of the same shapes and blocks (skill columns, no constraints)
            for a in range(0, n, idx.block_size):
                block = idx.js_[a : min(a + idx.block_size, n)]
                np.asarray(idx.needs_ @ block.toarray(order="F").T)

        p_wall, p_cpu = _timed(products, args.repeat)
        print(
            f"{n:>7} demandeurs : recherche exacte {wall:.2f} s mur / {cpu:.2f} s CPU ; produits "
            f"seuls {p_wall:.2f} s / {p_cpu:.2f} s CPU ; ratio au produit {wall / p_wall:.2f}× "
            f"(CPU {cpu / p_cpu:.2f}×) ; par 10k demandeurs {wall / n * 1e4:.2f} s"
        )
    sizes = sorted(timings)
    first = sizes[0]
    print(
        "mise à l'échelle (mur) : "
        + ", ".join(f"{n}: {timings[n][0] / timings[first][0]:.2f}×" for n in sizes)
        + " ; (CPU) : "
        + ", ".join(f"{n}: {timings[n][1] / timings[first][1]:.2f}×" for n in sizes)
        + f" ; linéaire : {', '.join(f'{n / first:.2f}×' for n in sizes)}"
    )
    n = max(args.sizes)
    idx = index(n)
    w50, c50 = _timed(lambda: idx.search_all(k_need=50, k_js=20), args.repeat)
    print(
        f"{n} demandeurs, top-50 par besoin + top-20 par demandeur : {w50:.2f} s / {c50:.2f} s CPU"
    )
    tracemalloc.start()
    idx.search_all(k_need=200, k_js=50)
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(
        f"mémoire : pic de la recherche {traced / 1024**3:.2f} Go (tracemalloc) ; "
        f"pic du processus {peak:.2f} Go (données synthétiques et moteur compris)"
    )
    if args.skip_sklearn:
        return
    J = idx_all.js_[:n]
    N = idx_all.needs_

    def sklearn_brute():
        NearestNeighbors(
            n_neighbors=200, algorithm="brute", metric="cosine", n_jobs=args.n_jobs
        ).fit(J).kneighbors(N)
        NearestNeighbors(
            n_neighbors=50, algorithm="brute", metric="cosine", n_jobs=args.n_jobs
        ).fit(N).kneighbors(J)

    nn_wall, nn_cpu = _timed(sklearn_brute, 1)
    wall, cpu = timings[n]
    print(
        f"NearestNeighbors(brute) mêmes vecteurs, sans contraintes : {nn_wall:.1f} s mur / "
        f"{nn_cpu:.1f} s CPU ; notre recherche exacte avec contraintes est {nn_wall / wall:.1f}× "
        f"plus rapide (CPU {nn_cpu / cpu:.1f}×)"
    )


if __name__ == "__main__":
    main()

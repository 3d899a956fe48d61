"""Exact all-pairs retrieval benchmark: top-200 per need and top-50 per jobseeker with the hard
constraints, against the matrix-product time of the same shapes and scikit-learn's
``NearestNeighbors(algorithm="brute")`` on the same vectors (without constraints), plus scaling
over 10k / 30k / 100k jobseekers.

    .venv/bin/python benchmarks/bench_retrieval.py [--needs 10000] [--sizes 10000 30000 100000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import synthetic_snapshot


def main() -> None:
    from sklearn.neighbors import NearestNeighbors

    from matching.ranking.engine import MatchingEngine
    from matching.taxonomy.referential import load_referential

    ap = argparse.ArgumentParser()
    ap.add_argument("--needs", type=int, default=10_000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--skip-sklearn", action="store_true")
    args = ap.parse_args()
    ref = load_referential()
    big = synthetic_snapshot(max(args.sizes), args.needs)
    engine = MatchingEngine(referential=ref, precompute=False, n_jobs=args.n_jobs).fit(big)
    idx_all = engine.index_
    print(
        f"{args.needs} besoins, {len(engine.js_ids_)} demandeurs ; colonnes utiles "
        f"{len(idx_all.used_columns_)} ; non-nuls par besoin {idx_all.needs_.nnz / args.needs:.1f},"
        f" par demandeur {idx_all.js_.nnz / len(engine.js_ids_):.1f}"
    )
    from matching.ranking.retrieval import CandidateIndex

    timings = {}
    for n in args.sizes:
        idx = CandidateIndex(n_jobs=args.n_jobs).fit(
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
        runs = []
        for _ in range(2 if n < max(args.sizes) else 1):
            t = time.perf_counter()
            idx.search_all(k_need=200, k_js=50)
            runs.append(time.perf_counter() - t)
        timings[n] = float(np.median(runs))
        # the matrix products alone, same blocks
        t = time.perf_counter()
        for a in range(0, n, idx.block_size):
            rows = np.arange(a, min(a + idx.block_size, n))
            np.asarray(idx.needs_ @ np.ascontiguousarray(idx.js_[rows].toarray().T))
        prod = time.perf_counter() - t
        print(
            f"{n:>7} demandeurs : recherche exacte {timings[n]:.2f} s (médiane), produits seuls "
            f"{prod:.2f} s, ratio {timings[n] / prod:.1f}× ; par 10k demandeurs "
            f"{timings[n] / n * 1e4:.2f} s"
        )
    sizes = sorted(timings)
    print(
        "mise à l'échelle : "
        + ", ".join(f"{n}: {timings[n] / timings[sizes[0]]:.2f}×" for n in sizes)
        + f" (linéaire : {', '.join(f'{n / sizes[0]:.2f}×' for n in sizes)})"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"mémoire max du processus : {peak:.2f} Go")
    if args.skip_sklearn:
        return
    n = max(args.sizes)
    J = idx_all.js_[:n]
    N = idx_all.needs_
    t = time.perf_counter()
    NearestNeighbors(n_neighbors=200, algorithm="brute", metric="cosine", n_jobs=args.n_jobs).fit(
        J
    ).kneighbors(N)
    NearestNeighbors(n_neighbors=50, algorithm="brute", metric="cosine", n_jobs=args.n_jobs).fit(
        N
    ).kneighbors(J)
    nn = time.perf_counter() - t
    print(
        f"NearestNeighbors(brute) mêmes vecteurs, sans contraintes : {nn:.1f} s ; "
        f"notre recherche exacte avec contraintes est {nn / timings[n]:.1f}× plus rapide"
    )


if __name__ == "__main__":
    main()

"""Occupational mobility: recall@10 of held-out ROME mobilités (fit without them) and latency.

.venv/bin/python benchmarks/bench_mobility.py
"""

from __future__ import annotations

import time

import numpy as np

from matching.ranking.mobility import OccupationMobility, recall_at_k_heldout
from matching.taxonomy.referential import load_referential


def main() -> None:
    ref = load_referential()
    for seed in (0, 1, 2):
        res = recall_at_k_heldout(ref, fraction=0.2, k=10, random_state=seed)
        print(
            f"graine {seed} : {res['held_out_sources']} fiches sources tenues à l'écart, "
            f"rappel@10 {res['recall@10']:.3f} (compétences seules {res['recall@10_skills_only']:.3f})"
        )
    t = time.perf_counter()
    model = OccupationMobility().fit(ref)
    print(f"ajustement : {time.perf_counter() - t:.2f} s")
    codes = model.codes_[:200]
    lat = []
    for c in codes:
        t0 = time.perf_counter()
        model.rank(str(c), top=20)
        lat.append((time.perf_counter() - t0) * 1000)
    print(
        f"classement de 20 mobilités : p50 {np.median(lat):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms"
    )


if __name__ == "__main__":
    main()

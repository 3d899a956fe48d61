"""Benchmark and evaluation of the free-text normaliser (prints everything; never run as a test).

0. TUNING figures: what the normaliser was fitted and calibrated on (TUNING buckets 10-19 of the
   appellations: unseen titles clean and noised, titles of the index as typed, junk).
1. Held-out appellations (REPORT buckets 0-9, SYNONYME, labels removed from the index), clean and
   per noise type: top-1, top-5, NDCG@10 (sibling fiches 0.5), share and precision of "auto".
   Noised variants that are another fiche's label once normalised are that fiche's title, not
   a noised version of theirs: left out (as in the tuning phrases); how many per set is
   printed, and so are the figures with them (the earlier protocol), for comparison.
2. Known titles (REPORT appellations, indexed) typed clean and with each noise: the everyday case
   (same rule for ambiguous variants).
3. Real France Travail offers (``../shared/data/france_travail_offres``, read in place): title
   only, then title + description; the mix weight is chosen on the TUNING half, figures are
   printed for both halves (the REPORT half is the one to quote); the character n-gram TF-IDF
   baseline is printed beside.
4. Throughput: 100,000 noised phrases against the full referential (top-5), median of several
   runs, and the same on the distinct phrases only (no help from duplicates); ratio to a plain
   ``rapidfuzz.process.extractOne(..., scorer=WRatio)`` loop timed on a sample and extrapolated.
5. Memory of the loaded normaliser (tracemalloc of ``joblib.load``) and size on disk.

Usage: ``python benchmarks/bench_normaliser.py [--phrases 100000] [--runs 3] [--n-jobs 2]``
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import joblib
import numpy as np
from rapidfuzz import fuzz, process

from matching.config import PROJECT_DIR
from matching.evaluation.normaliser_eval import (
    EvalRow,
    baseline_offers,
    evaluate_heldout,
    evaluate_offers,
    fit_for_evaluation,
    heldout_phrases,
    load_offers,
    mark_ambiguous,
    seen_phrases,
    tune_context_weight,
)
from matching.taxonomy.normaliser import TARGET_FEATURES, Normaliser
from matching.taxonomy.referential import load_referential
from matching.taxonomy.text import NOISE_TYPES, noisy_variant, normalise_text

OFFERS_DIR = PROJECT_DIR.parent / "shared" / "data" / "france_travail_offres"


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _print_rows(title, rows):
    print(f"\n{title}")
    print(
        f"{'ensemble':<28}{'n':>7}{'top-1':>8}{'top-5':>8}{'NDCG@10':>9}{'auto %':>8}{'préc. auto':>11}"
    )
    for r in rows:
        print(
            f"{r.name:<28}{r.n:>7}{r.top1:>8.3f}{r.top5:>8.3f}{r.ndcg10:>9.3f}"
            f"{100 * r.auto_share:>7.1f}%{r.auto_precision:>11.3f}"
        )


def _print_ambiguous(normaliser: Normaliser, ref, phrases, title: str) -> None:
    """Figures without the ambiguous noised variants (the protocol), how many were dropped per
    set, and the figures with them (the earlier protocol)."""
    phrases = mark_ambiguous(normaliser, phrases)
    results = normaliser.normalise_batch(phrases["phrase"].tolist(), kind="occupation", top_k=10)
    dropped = phrases.groupby("noise", sort=False)["ambiguous"].sum()
    _print_rows(title, evaluate_heldout(normaliser, ref, phrases, results=results))
    print(
        "  Variantes bruitées écartées (libellé indexé d'une autre fiche une fois normalisées) : "
        + ", ".join(f"{k} {int(v)}" for k, v in dropped.items())
        + f" ; total {int(dropped.sum())}"
    )
    _print_rows(
        "  … les mêmes, variantes ambiguës comprises (protocole précédent)",
        evaluate_heldout(normaliser, ref, phrases, results=results, drop_ambiguous=False),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phrases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--extract-sample", type=int, default=300)
    args = parser.parse_args()
    ref = load_referential()

    # 0-1. tuning figures, then held-out appellations -----------------------------------------
    t0 = time.perf_counter()
    est = fit_for_evaluation(ref, n_jobs=args.n_jobs)
    print(f"Ajustement sans les appellations tenues à l'écart : {time.perf_counter() - t0:.1f} s")
    print(f"Seuils (calibrés sur le réglage) : {est.thresholds_['occupation']}")
    print(
        "Étape 1 (libellé) : "
        + str(
            dict(
                zip(
                    ["cosinus n-grammes", *est.scorers, "support"],
                    np.round(est.combiners_["occupation"].coef_[0], 2).tolist(),
                    strict=True,
                )
            )
        )
    )
    print(
        "Étape 2 (fiche) : "
        + str(
            dict(
                zip(
                    TARGET_FEATURES,
                    np.round(est.rankers_["occupation"].coef_[0], 2).tolist(),
                    strict=True,
                )
            )
        )
    )
    _print_rows(
        "RÉGLAGE (TUNING, appellations 10-19 ; chiffres en échantillon)",
        [
            EvalRow(
                name=name,
                n=int(v["phrases"]),
                top1=v["top1"],
                top5=v["top5"],
                ndcg10=float("nan"),
                auto_share=v["auto_share"],
                auto_precision=v["auto_precision"],
            )
            for name, v in est.tuning_sets_["occupation"].items()
        ],
    )
    print(
        "Phrases de réglage bruitées écartées (libellé d'une autre fiche) : "
        + str(est.tuning_dropped_["occupation"])
    )
    _print_ambiguous(
        est,
        ref,
        heldout_phrases(ref),
        "RAPPORT — appellations tenues à l'écart (REPORT 0-9, absentes de l'index) → fiche",
    )
    del est

    # 2. known titles, and real offers -----------------------------------------------------------
    full = Normaliser(kinds=("occupation",), n_jobs=args.n_jobs).fit(ref)
    _print_ambiguous(
        full,
        ref,
        seen_phrases(ref),
        "RAPPORT — titres connus (appellations REPORT 0-9, indexées) tapés → fiche",
    )
    if not OFFERS_DIR.exists():
        print(f"\nOffres réelles : {OFFERS_DIR} absent, évaluation sautée.")
    else:
        offers = load_offers(OFFERS_DIR, ref)
        tuning, report = offers[offers.split == "tuning"], offers[offers.split == "report"]
        w, grid = tune_context_weight(full, ref, tuning)
        print(
            f"\nOffres : {len(tuning)} de réglage, {len(report)} de rapport ; poids du titre "
            f"choisi {w} (NDCG@10 réglage : { {k: round(v, 3) for k, v in grid.items()} })"
        )
        for name, part in (
            ("RÉGLAGE (moitié TUNING)", tuning),
            ("RAPPORT (moitié REPORT)", report),
        ):
            _print_rows(
                f"{name} — offres France Travail → fiche",
                [
                    evaluate_offers(full, ref, part, with_description=False),
                    evaluate_offers(full, ref, part, with_description=True),
                    baseline_offers(ref, part, with_description=False),
                    baseline_offers(ref, part, with_description=True),
                ],
            )
    del full

    # 4. throughput ----------------------------------------------------------------------------
    model = Normaliser(n_jobs=args.n_jobs).fit(ref)
    rng = np.random.default_rng(7)
    labels = ref.job_titles["label"].to_numpy()
    picks = rng.integers(0, len(labels), args.phrases)
    noises = rng.integers(0, len(NOISE_TYPES), args.phrases)
    queries = [
        noisy_variant(labels[i], NOISE_TYPES[n], rng) for i, n in zip(picks, noises, strict=True)
    ]
    print(
        f"\nDébit : {len(queries):,} phrases bruitées (distinctes : {len(set(queries)):,}), top-5, "
        f"n_jobs={args.n_jobs}, machine partagée (chiffres sous charge)"
    )

    def timed(model: Normaliser, batch: list[str]) -> tuple[float, float, list[float]]:
        """Median wall time and median CPU time (all threads; the load of the shared machine
        inflates it less) of the runs."""
        times, cpu = [], []
        for _ in range(args.runs):
            model.clear_caches()  # cold runs: no help from the memos and caches of the previous
            t, c = time.perf_counter(), time.process_time()
            model.normalise_batch(batch, kind="occupation", top_k=5)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        return float(np.median(times)), float(np.median(cpu)), times

    load = os.getloadavg()[0]
    med, cpu, times = timed(model, queries)
    print(
        f"  Normaliseur : médiane {med:.2f} s sur {args.runs} essais → {len(queries) / med:,.0f} "
        f"phrases/s (essais : {', '.join(f'{x:.2f}' for x in times)} ; charge machine "
        f"{load:.1f}) ; temps CPU médian {cpu:.2f} s → {len(queries) / cpu:,.0f} phrases "
        "par seconde CPU"
    )
    distinct = list(dict.fromkeys(queries))
    distinct = list({normalise_text(q): q for q in distinct}.values())
    med_d, cpu_d, times_d = timed(model, distinct)
    print(
        f"  Sans doublons ({len(distinct):,} phrases de formes normalisées distinctes) : médiane "
        f"{med_d:.2f} s → {len(distinct) / med_d:,.0f} phrases/s "
        f"(essais : {', '.join(f'{x:.2f}' for x in times_d)}) ; temps CPU {cpu_d:.2f} s → "
        f"{len(distinct) / cpu_d:,.0f} phrases par seconde CPU"
    )
    choices = sorted(
        {normalise_text(x) for x in list(ref.job_titles["label"]) + list(ref.occupations["label"])}
    )
    sample = [normalise_text(q) for q in queries[: args.extract_sample]]
    t, c = time.perf_counter(), time.process_time()
    for q in sample:
        process.extractOne(q, choices, scorer=fuzz.WRatio)
    per = (time.perf_counter() - t) / len(sample)
    per_cpu = (time.process_time() - c) / len(sample)
    est_loop = per * len(queries)
    print(
        f"  Boucle extractOne(WRatio) sur {len(choices):,} libellés : {1 / per:,.0f} phrases/s "
        f"(mesurée sur {len(sample)} phrases, extrapolée à {len(queries):,} : {est_loop:,.0f} s)"
    )
    print(
        f"  Rapport : le normaliseur est {est_loop / med:,.0f} fois plus rapide (top-5 contre "
        f"top-1) ; sans doublons : {per * len(distinct) / med_d:,.0f} fois ; en temps CPU : "
        f"{per_cpu * len(queries) / cpu:,.0f} fois, sans doublons "
        f"{per_cpu * len(distinct) / cpu_d:,.0f} fois"
    )

    # 5. memory --------------------------------------------------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "normaliser.joblib"
        joblib.dump(model, path, compress=3)
        size = os.path.getsize(path) / 1e6
        del model
        tracemalloc.start()
        loaded = joblib.load(path)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        loaded.normalise("cariste")
        print(
            f"\nMémoire : fichier joblib {size:.1f} Mo ; normaliseur chargé {current / 1e6:.0f} Mo "
            f"(tracemalloc, pic {peak / 1e6:.0f} Mo) ; RSS du processus {_rss_mb():.0f} Mo, "
            f"maximum {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} Mo"
        )


if __name__ == "__main__":
    main()

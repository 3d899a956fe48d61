"""Time to seed the default demo territory (5,000 jobseekers): generation alone, then the full
``seed_demo`` (generation, flags, argon2 hashes, one transaction of bulk inserts, reset included)
on SQLite and, when ``--postgres URL`` is given, on PostgreSQL. Prints medians (seconds).

    .venv/bin/python benchmarks/bench_demo.py [--jobseekers 5000] [--repeat 3]
        [--postgres postgresql://postgres@127.0.0.1:5432/test_demo]

The PostgreSQL database is emptied (``reset=True``): never point it at real data.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from matching.demo import DemoSizes, generate
from matching.services.demo import seed_demo
from matching.store.db import make_engine, upgrade
from matching.taxonomy.referential import load_referential

AS_OF = date(2026, 9, 1)


def timed(fn, repeat: int) -> tuple[float, object]:
    out, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobseekers", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    ref = load_referential()
    sizes = DemoSizes(jobseekers=args.jobseekers)
    ref.skill_index, ref.distance_matrix_km  # noqa: B018 - warm the cached look-ups once

    gen, data = timed(lambda: generate(ref, seed=42, as_of=AS_OF, sizes=sizes), args.repeat)
    rows = sum(len(t) for name, t in data.tables.items() if not name.startswith("_"))
    print(f"generate ({args.jobseekers} jobseekers, {rows:,} rows): median {gen:.2f} s")

    urls = {"sqlite": f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite'}"}
    if args.postgres:
        urls["postgresql"] = args.postgres
    for name, url in urls.items():
        engine = make_engine(url)
        upgrade(engine)
        seconds, report = timed(
            lambda e=engine: seed_demo(e, ref, seed=42, as_of=AS_OF, sizes=sizes, reset=True),
            args.repeat,
        )
        print(
            f"seed_demo on {name}: median {seconds:.2f} s "
            f"(inserts and hashing ≈ {seconds - gen:.2f} s; "
            f"{report.counts['jobseekers']} jobseekers, {report.counts['outcomes']} outcomes)"
        )
        engine.dispose()


if __name__ == "__main__":
    main()

"""Fairness and GDPR timings on the demo territory (5,000 jobseekers): audit, no-op purge (the
nightly's daily case), purge of 1 % of the profiles, one erasure. Prints medians (seconds)."""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select, update

from matching.batch import BatchOptions
from matching.config import Settings
from matching.fairness.gdpr import erase_jobseeker, purge_expired
from matching.services.demo import seed_demo
from matching.services.fairness import run_audit
from matching.services.nightly import run_nightly
from matching.services.store import open_store
from matching.store import models as m
from matching.taxonomy.referential import load_referential

AS_OF = date(2026, 3, 1)


def timed(fn, repeat=3):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'bench.sqlite'}")
    store = open_store(settings)
    ref = load_referential()
    seed_demo(store, ref, seed=42, as_of=AS_OF)
    run_nightly(settings, store=store, today=AS_OF, options=BatchOptions())
    print(
        f"audit (published run + decisions): {timed(lambda: run_audit(store, ref, use_cache=False)):.2f} s"
    )
    print(
        f"purge, nobody due (daily case): {timed(lambda: purge_expired(store, AS_OF), 5) * 1000:.1f} ms"
    )
    with store.begin() as conn:
        ids = conn.execute(select(m.Jobseeker.id).order_by(m.Jobseeker.id)).scalars().all()
        due = ids[::100]
        conn.execute(
            update(m.Jobseeker)
            .where(m.Jobseeker.id.in_(due))
            .values(retention_until=AS_OF - timedelta(days=1))
        )
    t = time.perf_counter()
    r = purge_expired(store, AS_OF)
    print(
        f"purge of {r.purged} profiles (1 %): {time.perf_counter() - t:.2f} s "
        f"({r.outcomes_aggregated} outcomes aggregated, {r.run_rows_removed} run rows removed)"
    )
    with store.connect() as conn:
        one = conn.execute(select(m.Jobseeker.ref).order_by(m.Jobseeker.id)).scalars().first()
    t = time.perf_counter()
    erase_jobseeker(store, one, username="bench", today=AS_OF)
    print(f"erasure of one person: {(time.perf_counter() - t) * 1000:.0f} ms")


if __name__ == "__main__":
    main()

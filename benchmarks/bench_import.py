"""Import/export benchmark: rows per second of a first import, a re-import (all unchanged),
a refused import (validation only) and an export, on the demo territory.

    .venv/bin/python benchmarks/bench_import.py [--jobseekers 5000] [--repeat 3] [--url URL]

The demo is seeded into a temporary SQLite database (or ``--url``), its files are exported, then
imported into an empty database. Prints medians of ``--repeat`` runs as measured (the machine is
shared: figures are noisy).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy import text

from matching.demo import DemoSizes
from matching.exceptions import ImportValidationError
from matching.services.demo import seed_demo
from matching.store.checksum import database_checksum
from matching.store.db import make_engine, upgrade
from matching.store.io import export_entity, import_file
from matching.store.models import Base
from matching.taxonomy.referential import load_referential

ORDER = ("employeurs", "besoins", "rues-prioritaires", "demandeurs", "organismes", "formations")


def _fresh(url: str | None, folder: Path, name: str):
    if url is None:
        engine = make_engine(f"sqlite:///{folder / name}.sqlite")
    else:
        engine = make_engine(url)
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    upgrade(engine)
    return engine


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobseekers", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", default=None, help="PostgreSQL URL (emptied!) instead of SQLite")
    args = parser.parse_args()
    ref = load_referential()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = _fresh(args.url, folder, "source")
        seed_demo(
            source, ref, seed=1, as_of=date(2026, 9, 1), sizes=DemoSizes(jobseekers=args.jobseekers)
        )
        files = {}
        for entity in ORDER:
            files[entity] = folder / f"{entity}.csv"
            export_entity(source, entity, files[entity], include_identity=True)
        # accounts are not an import entity: the target database has none
        frame = pd.read_csv(files["demandeurs"], dtype=str, keep_default_na=False)
        frame.drop(columns=["conseiller"]).to_csv(files["demandeurs"], index=False)
        n_js = len(frame)
        export_times = [
            _timed(
                lambda: export_entity(source, "demandeurs", folder / "x.csv", include_identity=True)
            )
            for _ in range(args.repeat)
        ]
        source.dispose()

        first, again, refused = [], [], []
        bad = folder / "demandeurs_bad.csv"
        frame = pd.read_csv(files["demandeurs"], dtype=str, keep_default_na=False)
        frame.loc[len(frame) // 2, "date_disponibilite"] = "31/02/2026"
        frame.to_csv(bad, index=False)
        for i in range(args.repeat):
            target = _fresh(args.url, folder, f"target{i}")
            for entity in ORDER[:3]:
                import_file(target, entity, files[entity], referential=ref)
            first.append(
                _timed(
                    lambda t=target: import_file(
                        t, "demandeurs", files["demandeurs"], referential=ref
                    )
                )
            )
            before = database_checksum(target)
            again.append(
                _timed(
                    lambda t=target: import_file(
                        t, "demandeurs", files["demandeurs"], referential=ref
                    )
                )
            )

            def refuse(t=target):
                try:
                    import_file(t, "demandeurs", bad, referential=ref)
                except ImportValidationError:
                    return
                raise AssertionError("the bad file was accepted")

            refused.append(_timed(refuse))
            assert database_checksum(target) == before
            target.dispose()

    backend = "PostgreSQL" if args.url else "SQLite"
    print(f"demandeurs : {n_js} lignes, base {backend} (mesuré sous charge, machine partagée)")
    for label, times in (
        ("premier import", first),
        ("ré-import (inchangés)", again),
        ("import refusé (1 ligne invalide)", refused),
        ("export avec identité", export_times),
    ):
        med = statistics.median(times)
        print(f"  {label:34s} médiane {med:6.2f} s  ({n_js / med:8.0f} lignes/s)")


if __name__ == "__main__":
    main()

"""Kill test: ``kill -9`` of ``passerelle nightly`` at seeded points of its stages.

After each kill the published results are still served unchanged (or, when the kill landed
after the publication transaction, the run is complete and its results are the right ones);
the next run marks the dead run ``abandoned``, cleans its rows and completes, and its published
results equal those of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, text

from matching.batch import BatchOptions
from matching.batch.synthetic import generate_territory
from matching.services.nightly import load_territory, published_run_id, run_nightly
from matching.store import models as m

from .conftest import edit_profiles, published
from .toy_engine import factory

TESTS_DIR = Path(__file__).resolve().parents[1]
PROJECT_DIR = TESTS_DIR.parent
TARGET_STAGES = (
    "recover",
    "snapshot",
    "fit",
    "changes",
    "match",
    "paths",
    "write",
    "report",
    "publish",
    "prune",
)


def start_nightly(db_url: str, as_of: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PASSERELLE_DATABASE_URL": db_url,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), str(PROJECT_DIR)]),
    }
    cmd = [
        sys.executable,
        "-c",
        "from matching.cli import main; main()",
        "nightly",
        "--engine-factory",
        "batch.toy_engine:factory",
        "--date",
        as_of,
        "--block-size",
        "150",
        "--n-jobs",
        "1",
        "--log",
        "json",
    ]
    return subprocess.Popen(
        cmd, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run_until(proc: subprocess.Popen, stage: str, timeout: float = 120) -> bool:
    """Read the JSON log until ``stage`` starts; False if the run ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            return False
        event = json.loads(line)
        if event.get("event") == "stage_start" and event.get("stage") == stage:
            return True
    raise AssertionError(f"l'étape {stage} n'a pas commencé en {timeout} s")


@pytest.mark.slow
def test_kill_minus_nine_never_breaks_published_results(settings, engine, db_url, referential):
    terr = generate_territory(
        referential, n_jobseekers=2500, n_needs=200, n_courses=40, n_occupations=40, seed=11
    )
    load_territory(engine, terr)
    as_of = terr.as_of.isoformat()
    run_nightly(
        settings,
        options=BatchOptions(block_size=150, n_jobs=1),
        today=terr.as_of,
        engine_factory=factory,
        store=engine,
    )
    before = published(engine)
    first_pub = published_run_id(engine)
    edit_profiles(engine, terr, referential, fraction=0.03, seed=5)

    rng = np.random.default_rng(20261125)
    killed, stages_hit = [], []
    for target in rng.choice(TARGET_STAGES, size=5, replace=False):
        proc = start_nightly(db_url, as_of)
        reached = run_until(proc, str(target))
        time.sleep(float(rng.uniform(0.0, 0.15)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
        with engine.connect() as conn:
            run = conn.execute(select(m.Run).order_by(m.Run.id.desc()).limit(1)).first()
        stages_hit.append((str(target), reached, run.stage, run.status))
        killed.append(run.id)
        if run.status == "complete":  # the kill landed after the publication transaction
            assert published_run_id(engine) == run.id
            before, first_pub = published(engine), run.id
        else:
            assert run.status == "running"  # dead, not yet noticed
            assert published_run_id(engine) == first_pub
            assert published(engine) == before, f"résultats publiés modifiés ({stages_hit[-1]})"

    proc = start_nightly(db_url, as_of)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    end = next(json.loads(line) for line in out.splitlines() if '"run_end"' in line)
    report = end["report"]
    with engine.connect() as conn:
        status = dict(conn.execute(select(m.Run.id, m.Run.status)).all())
    dead = [k for k in killed if status[k] != "complete"]
    assert dead and all(status[k] == "abandoned" for k in dead)
    # each run recovers the dead ones before it: the last one is recovered by the final run
    recovered_now = {a["run_id"] for a in report["abandoned_runs"]}
    assert recovered_now <= set(dead)
    if status[killed[-1]] != "complete":
        assert killed[-1] in recovered_now
    with engine.connect() as conn:
        dead_ids = ", ".join(map(str, dead))
        for table in ("run_shortlists", "run_matches", "run_reserves", "run_paths"):
            rows = conn.execute(
                text(
                    f"SELECT count(*) FROM {table} "
                    f"WHERE from_run IN ({dead_ids}) OR to_run IN ({dead_ids})"
                )
            ).scalar()
            assert rows == 0, f"{table} garde des lignes d'exécutions abandonnées"
        rows = conn.execute(
            text(f"SELECT count(*) FROM run_fingerprints WHERE run_id IN ({dead_ids})")
        ).scalar()
        assert rows == 0, "run_fingerprints garde des lignes d'exécutions abandonnées"
    assert published_run_id(engine) == end["run_id"]
    recovered = published(engine)

    # An uninterrupted run on the same data publishes the very same results.
    run_nightly(
        settings,
        options=BatchOptions(block_size=150, n_jobs=1, full=True),
        today=terr.as_of,
        engine_factory=factory,
        store=engine,
    )
    assert published(engine) == recovered
    print("étapes visées / atteintes / état :", stages_hit)


def test_next_run_removes_temporary_files_of_killed_runs(tmp_path):
    from matching.batch.compute import TEMP_PREFIX, remove_stale_files

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"{TEMP_PREFIX}{dead.pid}-abc"
    stale.mkdir()
    (stale / "chunk-000000.pickle").write_bytes(b"x")
    alive = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-def"
    alive.mkdir()
    assert remove_stale_files(str(tmp_path)) == [str(stale)]
    assert not stale.exists() and alive.exists()

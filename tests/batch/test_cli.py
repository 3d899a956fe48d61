"""``passerelle nightly``: exit codes cron can act on, JSON lines when not on a terminal."""

from __future__ import annotations

import json
import os
import socket

from typer.testing import CliRunner

from matching.cli import register_all
from matching.services.nightly import utcnow
from matching.store import models as m

runner = CliRunner()
FACTORY = ["--engine-factory", "tests.batch.toy_engine:factory"]


def invoke(args, env=None):
    return runner.invoke(register_all(), ["nightly", *args], env=env)


def test_completed_run_logs_json_lines_and_exits_0(settings, engine, territory):
    res = invoke([*FACTORY, "--date", territory.as_of.isoformat(), "--block-size", "200"])
    assert res.exit_code == 0, res.output
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert events[0]["event"] == "run_start"
    stages = [e["stage"] for e in events if e["event"] == "stage_start"]
    assert stages[:3] == ["recover", "purge", "snapshot"] and "publish" in stages
    report = events[-1]["report"]
    assert events[-1]["event"] == "run_end" and report["counts"]["shortlist_rows"] > 0


def test_second_run_while_one_is_alive_exits_11(settings, engine, territory):
    with engine.begin() as conn:
        conn.execute(
            m.Run.__table__.insert().values(
                status="running",
                pid=os.getpid(),
                host=socket.gethostname(),
                heartbeat_at=utcnow(),
                model_name="",
            )
        )
    res = invoke([*FACTORY, "--date", territory.as_of.isoformat()])
    assert res.exit_code == 11
    assert "déjà en cours" in res.stderr


def test_unreachable_database_exits_12(settings, monkeypatch):
    from matching.config import get_settings

    monkeypatch.setenv("PASSERELLE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/absente")
    get_settings.cache_clear()
    res = invoke(FACTORY)
    get_settings.cache_clear()
    assert res.exit_code == 12, res.output
    assert "injoignable" in res.stderr


def test_bad_backend_exits_8(settings):
    res = invoke(["--backend", "spark"])
    assert res.exit_code == 8 and "--backend" in res.stderr

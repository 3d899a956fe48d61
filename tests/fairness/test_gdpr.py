"""Data protection: retention purge, right of access, erasure that leaves nothing behind."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update
from typer.testing import CliRunner

from matching.exceptions import NotFoundError
from matching.fairness.gdpr import erase_jobseeker, purge_expired
from matching.services import results
from matching.services.gdpr import access_export
from matching.services.nightly import published_run_id, run_nightly
from matching.store import models as m
from matching.store.io import export_entity
from tests.fairness.conftest import AS_OF, UNIQUE, give_unique_identity


def _shortlisted_with_history(engine) -> tuple[int, str]:
    """A person present in the published shortlists and in the decision history."""
    with engine.connect() as conn:
        run_id = published_run_id(engine)
        row = conn.execute(
            select(m.RunShortlist.jobseeker_id, m.Jobseeker.ref)
            .join(m.Jobseeker, m.Jobseeker.id == m.RunShortlist.jobseeker_id)
            .where(
                m.visible_at(m.RunShortlist, run_id),
                m.RunShortlist.jobseeker_id.in_(select(m.Outcome.jobseeker_id)),
            )
            .order_by(m.RunShortlist.need_id, m.RunShortlist.jobseeker_id)
        ).first()
    assert row is not None, "the seeded territory should have a shortlisted person with history"
    return int(row[0]), row[1]


def _every_value(engine):
    """(table, column, value) of every cell of every table."""
    with engine.connect() as conn:
        for table in m.Base.metadata.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for col, value in row.items():
                    yield table.name, col, value


def _text(value) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def test_erasure_leaves_nothing_in_database_runs_or_exports(published, settings, tmp_path):
    engine = published
    jid, ref = _shortlisted_with_history(engine)
    give_unique_identity(engine, jid)
    # a second run so that two runs (and their reports) hold the person
    with engine.begin() as conn:
        conn.execute(update(m.Jobseeker).where(m.Jobseeker.id == jid).values(max_commute_km=29))
    run_nightly(settings, store=engine, today=AS_OF)
    access_export(engine, ref, username="admin")  # an audit entry about them
    with engine.connect() as conn:
        n_outcomes = conn.execute(
            select(func.count()).select_from(m.Outcome).where(m.Outcome.jobseeker_id == jid)
        ).scalar_one()
        agg_before = conn.execute(
            select(func.coalesce(func.sum(m.OutcomeAggregate.count), 0))
        ).scalar_one()
        in_runs = conn.execute(
            select(func.count())
            .select_from(m.RunShortlist)
            .where(m.RunShortlist.jobseeker_id == jid)
        ).scalar_one()
    assert n_outcomes > 0 and in_runs > 0

    # the search below does find the person before the erasure
    before = {(t, c) for t, c, v in _every_value(engine) if v is not None and "Quintal" in _text(v)}
    assert ("jobseeker_identities", "last_name") in before
    report = erase_jobseeker(engine, ref, username="admin", today=AS_OF)
    assert report.outcomes_aggregated == n_outcomes

    identity = [str(v) for k, v in UNIQUE.items() if k != "gender"]
    identity += [UNIQUE["birth_date"].isoformat(), UNIQUE["phone"][1:], "Zéphyrine", "Quintal"]
    ref_cells = []
    for table, col, value in _every_value(engine):
        if value is None:
            continue
        cell = _text(value)
        for needle in identity:
            assert needle not in cell, f"{needle!r} found in {table}.{col}"
        if ref in cell:
            ref_cells.append((table, col))
        if col == "jobseeker_id" or (table == "jobseekers" and col == "id"):
            assert int(value) != jid, f"id {jid} found in {table}.{col}"
    # the ref survives in exactly one place: the erasure entry of the audit log
    assert ref_cells == [("audit_log", "entity_ref")]
    with engine.connect() as conn:
        entry = conn.execute(select(m.AuditEntry).where(m.AuditEntry.entity_ref == ref)).one()
        assert entry.action == "erasure"
        assert not any(needle in entry.detail for needle in identity)
        fps = conn.execute(
            select(func.count())
            .select_from(m.RunFingerprint)
            .where(m.RunFingerprint.kind == "jobseeker", m.RunFingerprint.entity_id == jid)
        ).scalar_one()
        assert fps == 0
        for (rep,) in conn.execute(select(m.Run.report)).all():
            rep = json.loads(rep) if isinstance(rep, str) else rep or {}
            for need in (rep.get("changes") or {}).get("needs") or []:
                assert jid not in need.get("new_ids", [])
        # decisions survive only as anonymous counts
        agg_after = conn.execute(select(func.sum(m.OutcomeAggregate.count))).scalar_one()
        assert agg_after == agg_before + n_outcomes
        # published shortlists: no gap in ranks, and the person is in none of them
        run_id = published_run_id(engine)
        needs = (
            conn.execute(
                select(m.RunShortlist.need_id)
                .where(m.visible_at(m.RunShortlist, run_id))
                .distinct()
            )
            .scalars()
            .all()
        )
    assert needs
    for need_id in needs:
        _, rows = results.published_shortlist(engine, need_id)
        assert [r.rank for r in rows] == list(range(1, len(rows) + 1)), need_id
        assert all(r.jobseeker_ref != ref for r in rows)

    # exports (pseudonymised and with identity) hold nothing of them
    for entity, with_identity in (
        ("demandeurs", False),
        ("demandeurs", True),
        ("evenements", False),
    ):
        out = tmp_path / f"{entity}-{with_identity}.csv"
        export_entity(engine, entity, out, include_identity=with_identity)
        content = out.read_text(encoding="utf-8")
        assert ref not in content
        assert not any(needle in content for needle in identity)
    with pytest.raises(NotFoundError):
        access_export(engine, ref, username="admin")

    # the next nightly run recomputes everything and refills the places
    nxt = run_nightly(settings, store=engine, today=AS_OF)
    assert nxt.report["kind"] == "full"


def test_access_export_holds_everything_and_is_logged(published, referential):
    engine = published
    jid, ref = _shortlisted_with_history(engine)
    give_unique_identity(engine, jid)
    data = access_export(engine, ref, username="guichet", referential=referential)
    json.dumps(data, ensure_ascii=False)  # JSON-able
    assert data["identite"]["last_name"] == UNIQUE["last_name"]
    assert data["identite"]["birth_date"] == UNIQUE["birth_date"].isoformat()
    assert data["profil"]["ref"] == ref
    assert data["competences"] and all(s["libelle"] for s in data["competences"])
    assert data["decisions"] and {d["event"] for d in data["decisions"]} >= {"proposed"}
    assert data["resultats_publies"]["listes"], "present in the published shortlists"
    assert data["resultats_publies"]["execution"] == published_run_id(engine)
    second = access_export(engine, ref, username="guichet", referential=referential)
    assert [e["action"] for e in second["journal"]] == ["gdpr_export"]


def test_purge_removes_expired_and_unconsented_profiles_once(seeded):
    engine = seeded
    today = AS_OF
    with engine.begin() as conn:
        ids = conn.execute(select(m.Jobseeker.id).order_by(m.Jobseeker.id)).scalars().all()
        expired, unconsented_old, unconsented_new, kept = ids[0:3], ids[3:5], ids[5:7], ids[7]
        conn.execute(
            update(m.Jobseeker)
            .where(m.Jobseeker.id.in_(expired))
            .values(retention_until=today - timedelta(days=1))
        )
        conn.execute(
            update(m.Jobseeker)
            .where(m.Jobseeker.id.in_(unconsented_old))
            .values(consent_date=None, created_at=datetime(2026, 1, 1))
        )
        conn.execute(
            update(m.Jobseeker)
            .where(m.Jobseeker.id.in_(unconsented_new))
            .values(consent_date=None, created_at=datetime.combine(today, datetime.min.time()))
        )
        conn.execute(
            update(m.Jobseeker).where(m.Jobseeker.id == kept).values(retention_until=today)
        )
        n_out = conn.execute(
            select(func.count())
            .select_from(m.Outcome)
            .where(m.Outcome.jobseeker_id.in_([*expired, *unconsented_old]))
        ).scalar_one()
    report = purge_expired(engine, today)
    assert (report.purged, report.expired, report.without_consent) == (5, 3, 2)
    assert report.outcomes_aggregated == n_out
    with engine.connect() as conn:
        left = set(conn.execute(select(m.Jobseeker.id)).scalars())
        idents = set(conn.execute(select(m.JobseekerIdentity.jobseeker_id)).scalars())
        log = conn.execute(select(m.AuditEntry.action, m.AuditEntry.entity_ref)).all()
    assert not left & {*expired, *unconsented_old}
    assert not idents & {*expired, *unconsented_old}
    assert {*unconsented_new, kept} <= left  # grace period; retention ends at the end of the day
    assert log == [("purge", "")]  # counts only, no ref
    again = purge_expired(engine, today)
    assert again.purged == 0 and again.outcomes_aggregated == 0


def test_nightly_run_purges_before_matching(seeded, settings):
    engine = seeded
    with engine.begin() as conn:
        first = conn.execute(select(m.Jobseeker.id).order_by(m.Jobseeker.id)).scalars().first()
        conn.execute(
            update(m.Jobseeker)
            .where(m.Jobseeker.id == first)
            .values(retention_until=AS_OF - timedelta(days=10))
        )
    res = run_nightly(settings, store=engine, today=AS_OF)
    assert res.report["purge"]["purged"] == 1
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM run_matches WHERE jobseeker_id = :j"), {"j": first}
            ).scalar_one()
            == 0
        )


def test_gdpr_cli_export_and_erase(published, settings, tmp_path):
    from matching.cli import app, register_all

    register_all()
    engine = published
    _, ref = _shortlisted_with_history(engine)
    runner = CliRunner()
    out = tmp_path / "acces.json"
    res = runner.invoke(app, ["gdpr", "export", ref, "--output", str(out), "--user", "admin"])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text(encoding="utf-8"))["reference"] == ref
    res = runner.invoke(app, ["gdpr", "erase", ref, "--yes", "--user", "admin"])
    assert res.exit_code == 0, res.output
    assert "effacé" in res.output
    with engine.connect() as conn:
        assert conn.execute(select(m.Jobseeker).where(m.Jobseeker.ref == ref)).first() is None
    res = runner.invoke(app, ["gdpr", "purge", "--date", date(2026, 9, 2).isoformat()])
    assert res.exit_code == 0 and "Purge du 2026-09-02" in res.output

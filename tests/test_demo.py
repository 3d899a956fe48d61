"""The demo territory: deterministic, real codes only, the two Amiens precedents, a documented
history in which skills drive hires and the simulated address bias is visible, and seeding."""

import sys
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from matching.demo import (
    MOTORWAY_RNCP,
    MOTORWAY_ROME,
    DemoSizes,
    degrade_title,
    generate,
    masculine_form,
)
from matching.exceptions import ValidationError
from matching.services.demo import DEMO_PASSWORD, derive_priority_flags, seed_demo
from matching.store import models as m
from matching.store.snapshot import load_snapshot

AS_OF = date(2026, 9, 1)
SMALL = DemoSizes(jobseekers=400, employers=12, needs=30, past_needs=80, courses=15, sessions=30)


@pytest.fixture(scope="module")
def data(referential):
    d = generate(referential, seed=7, as_of=AS_OF, sizes=SMALL)
    derive_priority_flags(d, referential)
    return d


def _coverage(data) -> pd.DataFrame:
    """Proposed pairs with the share of the need's essential skills the person holds."""
    o = data.tables["outcomes"]
    pairs = o.loc[o["event"] == "proposed", ["jobseeker_id", "need_id"]].drop_duplicates()
    for event in ("interviewed", "hired"):
        done = o.loc[o["event"] == event, ["jobseeker_id", "need_id"]].assign(**{event: True})
        pairs = pairs.merge(done.drop_duplicates(), how="left")
        pairs[event] = pairs[event].notna()
    ns = data.tables["need_skills"]
    ess = ns.loc[ns["essential"], ["need_id", "skill_code"]]
    held = data.tables["jobseeker_skills"][["jobseeker_id", "skill_code"]].assign(h=1)
    cov = (
        pairs[["jobseeker_id", "need_id"]]
        .merge(ess, on="need_id")
        .merge(held, on=["jobseeker_id", "skill_code"], how="left")
        .groupby(["jobseeker_id", "need_id"])["h"]
        .apply(lambda s: s.notna().mean())
        .rename("coverage")
        .reset_index()
    )
    return pairs.merge(cov, how="left").fillna({"coverage": 0.0})


def test_same_seed_same_tables_other_seed_or_date_differs(referential, data):
    again = generate(referential, seed=7, as_of=AS_OF, sizes=SMALL)
    derive_priority_flags(again, referential)
    assert again.checksum() == data.checksum()
    assert generate(referential, seed=8, as_of=AS_OF, sizes=SMALL).checksum() != data.checksum()
    later = generate(referential, seed=7, as_of=AS_OF + timedelta(days=30), sizes=SMALL)
    shift = later.tables["needs"]["hiring_date"] - data.tables["needs"]["hiring_date"]
    assert (shift == timedelta(days=30)).all()  # every date is relative to as_of


def test_only_real_codes_of_the_referential(referential, data):
    t = data.tables
    for name in ("needs", "jobseeker_experiences", "courses"):
        assert t[name]["code_rome"].map(referential.has_occupation).all(), name
    known = set(referential.skills["code_ogr"])
    for name in ("need_skills", "jobseeker_skills", "course_skills"):
        assert t[name]["skill_code"].isin(known).all(), name
    communes = set(referential.communes["code_insee"])
    for name, col in (
        ("jobseekers", "home_commune_insee"),
        ("employers", "commune_insee"),
        ("needs", "commune_insee"),
        ("course_sessions", "commune_insee"),
    ):
        assert t[name][col].isin(communes).all(), name
    # every course's certification is linked to its fiche's ROME v3 parent, with its Formacode
    links = referential.table("certification_occupations")
    v3 = referential.occupations.set_index("code_rome")["code_rome_v3"]
    pairs = set(zip(links["code_rncp"], links["code_rome_v3"], strict=True))
    courses = t["courses"]
    assert all(
        (c, v3[r]) in pairs for c, r in zip(courses["code_rncp"], courses["code_rome"], strict=True)
    )
    fc = referential.table("certification_formacodes")
    fc_pairs = set(zip(fc["code_rncp"], fc["formacode"], strict=True))
    assert all(
        (c, f) in fc_pairs for c, f in zip(courses["code_rncp"], courses["formacode"], strict=True)
    )
    titled = set(referential.table("certifications")["code_rncp"])
    assert courses["code_rncp"].drop(index=1).isin(titled).all()  # all but RNCP38080 (untitled)
    # employers: NAF division of one of the fiches of their sector, in sectors_naf
    naf = referential.table("sectors_naf")
    assert t["employers"]["naf_code"].isin(set(naf["naf_division"])).all()
    assert t["employers"]["sector"].isin(m.SECTORS).all()
    # titles typed are real appellations, possibly degraded
    labels = set(referential.job_titles["label"])
    typed = t["needs"]["title_typed"].iloc[2:]
    assert typed.isin(labels).mean() > 0.4 and (~typed.isin(labels)).any()


def test_needs_and_courses_use_the_fiche_skills(referential, data):
    t = data.tables
    needs = t["needs"].set_index("id")
    for need_id, group in t["need_skills"].groupby("need_id"):
        code = needs.loc[need_id, "code_rome"]
        core = set(referential.occupation_skill_codes(code, core_only=True))
        assert set(group.loc[group["essential"], "skill_code"]) <= core
        assert set(group["skill_code"]) <= set(referential.occupation_skill_codes(code))
    courses = t["courses"].set_index("id")
    taught = t["course_skills"][t["course_skills"]["role"] == "taught"]
    for course_id, group in taught.groupby("course_id"):
        core = referential.occupation_skill_codes(
            courses.loc[course_id, "code_rome"], core_only=True
        )
        assert set(group["skill_code"]) == set(core)
    assert (t["course_skills"]["role"] == "prerequisite").any()
    sessions = t["course_sessions"]
    assert sessions["seats"].between(8, 20).all()
    assert (sessions["seats_taken"] <= sessions["seats"]).all()
    assert (sessions["start_date"] <= AS_OF + timedelta(days=366)).all()


def test_call_centre_and_motorway_precedents(referential, data):
    needs = data.tables["needs"].set_index("ref")
    call = needs.loc[data.call_centre_ref]
    assert (call.code_rome, call.positions, call.status) == ("D1408", 300, "open")
    assert abs((call.hiring_date - AS_OF).days - 182) <= 7
    employers = data.tables["employers"].set_index("id")
    assert employers.loc[call.employer_id, "sector"] == "relation_client_numerique"
    assert employers.loc[call.employer_id, "commune_insee"] == "80021"  # Amiens

    road = needs.loc[data.motorway_ref]
    assert road.positions == 20 and road.code_rome == MOTORWAY_ROME
    titles = referential.job_titles
    assert MOTORWAY_ROME in set(
        titles.loc[titles["label"].str.contains("autorout", case=False), "code_rome"]
    )
    v3 = referential.occupations.set_index("code_rome").loc[MOTORWAY_ROME, "code_rome_v3"]
    links = referential.table("certification_occupations")
    assert road.required_certification == MOTORWAY_RNCP
    assert ((links["code_rncp"] == MOTORWAY_RNCP) & (links["code_rome_v3"] == v3)).any()

    courses = data.tables["courses"]
    sessions = data.tables["course_sessions"]
    delivering = courses.loc[courses["code_rncp"] == MOTORWAY_RNCP, "id"]
    assert len(delivering) == 1
    ours = sessions[sessions["course_id"].isin(delivering)]
    assert len(ours) and (ours["end_date"] > road.hiring_date).all()  # commissioning needed

    crcd = courses.loc[courses["title"] == "Conseiller relation client à distance"]
    assert crcd["code_rncp"].tolist() == ["RNCP35304"] and crcd["provider_id"].tolist() == [1]
    crcd_sessions = sessions[sessions["course_id"] == crcd["id"].iloc[0]]
    before = crcd_sessions[crcd_sessions["end_date"] < call.hiring_date]
    assert len(before) >= 2 and len(before) < len(crcd_sessions)
    assert crcd_sessions["seats"].sum() < 300


def test_priority_flag_is_derived_from_the_address(data):
    js = data.tables["jobseekers"].set_index("id")
    intended = data.tables["_intended_qpv"].set_index("jobseeker_id")["district"] != ""
    assert (js["priority_district"] == intended.reindex(js.index)).all()
    assert 0.15 < js["priority_district"].mean() < 0.6
    ident = data.tables["jobseeker_identities"].set_index("jobseeker_id")
    flagged = ident.loc[js.index[js["priority_district"]], "address"]
    # some addresses are typed with abbreviations ("r.", "all."...) and still recognised
    assert flagged.str.match(r"^\d+ (r|all|av|pl|imp|rés)\. ").any()
    # no district name written in the address: the street table did the work
    districts = data.tables["priority_streets"]["district"].unique()
    assert not any(flagged.str.contains(d, regex=False).any() for d in districts)
    # licence rate lower in priority districts
    assert (
        js.loc[js["priority_district"], "driving_licence"].mean()
        < js.loc[~js["priority_district"], "driving_licence"].mean()
    )


def test_population_looks_like_plie_participants(data):
    t = data.tables
    js = t["jobseekers"]
    assert 0.25 < js["qualification_level"].isna().mean() < 0.45
    assert js["qualification_level"].dropna().isin([3, 4, 5, 6, 7, 8]).all()
    active = js[js["status"] == "active"]
    spell = (pd.Timestamp(AS_OF) - pd.to_datetime(active["unemployed_since"])).dt.days
    # Mostly long-term unemployed (0.57 on the full-size demo; this small territory has five
    # times more past hires per person, and each hire restarts a spell, hence 0.45).
    assert (spell > 365).mean() > 0.45
    assert (js["availability_date"] == AS_OF).mean() > 0.5
    prog = t["jobseeker_programmes"]
    assert set(prog.loc[prog["programme"] == "PLIE", "jobseeker_id"]) == set(js["id"])
    age = (pd.Timestamp(AS_OF) - pd.to_datetime(t["jobseeker_identities"]["birth_date"])).dt.days
    young = set(t["jobseeker_identities"].loc[age < 26 * 365.25 - 400, "jobseeker_id"])
    assert young <= set(prog.loc[prog["programme"] == "JEUNES", "jobseeker_id"])
    assert (js["retention_until"] > js["consent_date"]).all()
    assert set(js["counsellor_id"]) <= set(t["users"].loc[t["users"]["role"] == "counsellor", "id"])
    # skills come from past occupations, with three sources
    assert set(t["jobseeker_skills"]["source"]) == {"declared", "validated", "certified"}
    assert t["jobseeker_identities"]["phone"].str.startswith("06 39 98").all()


def test_history_spans_two_years_and_is_consistent(data):
    o = data.tables["outcomes"]
    needs = data.tables["needs"].set_index("id")
    assert o["event_date"].max() < AS_OF
    assert (AS_OF - o["event_date"].min()).days > 600
    hired = o[o["event"] == "hired"]
    per_need = hired.groupby("need_id").size()
    assert (per_need <= needs.loc[per_need.index, "positions"]).all()
    assert needs.loc[hired["need_id"], "status"].eq("filled").all()
    iv = o[o["event"] == "interviewed"]
    interviewed = set(zip(iv["jobseeker_id"], iv["need_id"], strict=True))
    assert all(p in interviewed for p in zip(hired["jobseeker_id"], hired["need_id"], strict=True))
    counsellors = set(data.tables["users"]["username"])
    assert o["by_user"].isin(counsellors).all()
    # a person hired in a job still running is employed today, not active
    js = data.tables["jobseekers"].set_index("id")
    assert (js["status"] == "employed").any()
    assert js.loc[js["status"] == "employed", "unemployed_since"].isna().all()


def test_interviews_and_hires_follow_skill_coverage(data):
    pairs = _coverage(data)
    assert len(pairs) > 200
    # people hired covered clearly more of the essential skills than those not hired
    gap = (
        pairs.loc[pairs["hired"], "coverage"].mean() - pairs.loc[~pairs["hired"], "coverage"].mean()
    )
    assert gap > 0.05
    low, high = pairs["coverage"].quantile([1 / 3, 2 / 3])
    rate_low = pairs.loc[pairs["coverage"] <= low, "interviewed"].mean()
    rate_high = pairs.loc[pairs["coverage"] >= high, "interviewed"].mean()
    assert rate_high > rate_low + 0.05


def test_address_bias_lowers_interviews_of_priority_district_residents(referential):
    sizes = DemoSizes(jobseekers=500, employers=8, needs=10, past_needs=150, courses=8, sessions=10)

    def ratio(bias: float) -> float:
        d = generate(referential, seed=5, as_of=AS_OF, sizes=sizes, address_bias=bias)
        pairs = _coverage(d)
        qpv = d.tables["_intended_qpv"].set_index("jobseeker_id")["district"] != ""
        in_qpv = pairs["jobseeker_id"].map(qpv)
        return pairs.loc[in_qpv, "interviewed"].mean() / pairs.loc[~in_qpv, "interviewed"].mean()

    fair, biased = ratio(1.0), ratio(0.4)
    assert fair > 0.8
    assert biased < 0.65 and biased < fair - 0.2


def test_degraded_titles_look_typed():
    rng = np.random.default_rng(0)
    title = "Préparateur / Préparatrice de commandes"
    assert masculine_form(title) == "Préparateur de commandes"
    typed = {degrade_title(title, rng) for _ in range(60)}
    assert any(t.endswith("(H/F)") for t in typed)
    assert any(t.islower() for t in typed) and any("cdes" in t or "prépa" in t for t in typed)
    assert all("Préparatrice" not in t for t in typed)


def _count(conn, model) -> int:
    return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_seed_refuses_non_empty_then_resets_to_the_same_content(engine, referential):
    report = seed_demo(engine, referential, seed=3, as_of=AS_OF, sizes=SMALL)
    with engine.connect() as conn:
        assert _count(conn, m.Jobseeker) == 400
        assert _count(conn, m.Outcome) == report.counts["outcomes"]
        assert _count(conn, m.JobseekerSkill) == report.counts["jobseeker_skills"]
        flagged = conn.execute(
            select(func.count()).where(m.Jobseeker.priority_district)
        ).scalar_one()
        hashes = dict(conn.execute(select(m.User.username, m.User.password_hash)).all())
    assert flagged == report.priority_district_residents > 0
    assert set(hashes) == {"admin", "guichet", *(f"conseiller{i}" for i in range(1, 9))}
    assert PasswordHasher().verify(hashes["conseiller3"], DEMO_PASSWORD)
    assert sum(s.current_needs for s in report.sectors) == SMALL.needs
    with pytest.raises(ValidationError, match="--reset"):
        seed_demo(engine, referential, seed=3, as_of=AS_OF, sizes=SMALL)
    again = seed_demo(engine, referential, seed=3, as_of=AS_OF, sizes=SMALL, reset=True)
    assert again.counts == report.counts and again.checksum == report.checksum
    with engine.connect() as conn:
        assert _count(conn, m.Outcome) == report.counts["outcomes"]
    # the engine's snapshot sees the seeded data (and the call-centre need)
    snap = load_snapshot(engine, as_of=AS_OF)
    assert report.call_centre_ref in set(snap.needs["ref"])
    # new rows after seeding get fresh ids (sequences reset on PostgreSQL)
    from matching.store.db import session_scope

    with session_scope(engine) as s:
        p = m.Provider(ref="NEW", name="Nouvel organisme")
        s.add(p)
        s.flush()
        assert p.id > 5


def test_seed_keeps_a_street_list_already_loaded(engine, referential):
    with engine.begin() as conn:
        conn.execute(
            m.PriorityStreet.__table__.insert(),
            [
                dict(
                    commune_insee="80021",
                    street_key="rue des fauvettes",
                    street="Rue des Fauvettes",
                    district="Amiens Nord",
                )
            ],
        )
    report = seed_demo(engine, referential, seed=3, as_of=AS_OF, sizes=SMALL)
    with engine.connect() as conn:
        assert _count(conn, m.PriorityStreet) == 35
    assert report.priority_district_residents > 0


def _cli(args, monkeypatch, capsys):
    from matching.cli import main

    monkeypatch.setattr(sys, "argv", ["passerelle", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out + out.err


def test_cli_seeds_then_refuses_without_reset(settings, monkeypatch, capsys):
    args = ["demo", "--jobseekers", "200", "--as-of", "2026-09-01", "--seed", "4"]
    code, out = _cli(args, monkeypatch, capsys)
    assert code == 0, out
    assert "Jeu de démonstration chargé" in out and "Par secteur prioritaire" in out
    assert "Logistique" in out and "Embauches" in out
    assert "Identifiants de démonstration uniquement" in out
    code, out = _cli(args, monkeypatch, capsys)
    assert code == 3
    assert "la base contient déjà des données" in out and "--reset" in out
    code, out = _cli([*args, "--reset"], monkeypatch, capsys)
    assert code == 0, out
    code, out = _cli(["demo", "--as-of", "01/09/2026"], monkeypatch, capsys)
    assert code == 3 and "AAAA-MM-JJ" in out

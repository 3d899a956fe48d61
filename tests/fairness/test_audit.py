"""Fairness audit: metric limits, the four-fifths flag, group boundaries, detection on the demo."""

from __future__ import annotations

import functools
import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_ratio
from typer.testing import CliRunner

from matching.fairness.audit import (
    audit_section,
    decision_pairs,
    exposure_weight,
    protected_groups,
    shortlist_counts,
)


def _groups(ids, qpv):
    people = pd.DataFrame(
        {
            "id": ids,
            "priority_district": qpv,
            "unemployed_since": [date(2026, 1, 1)] * len(ids),
            "gender": ["F" if i % 2 else "M" for i in ids],
            "birth_date": [date(1990, 1, 1)] * len(ids),
        }
    )
    return protected_groups(people, as_of=date(2026, 6, 1))


def _section(counts, groups, **kw):
    return audit_section(
        counts,
        groups,
        key="shortlists",
        title="t",
        rate_label="taux de sélection",
        pool_description="p",
        needs=1,
        with_exposure=kw.pop("with_exposure", False),
        **kw,
    )


def test_equal_rates_give_ratio_one_and_no_flag():
    ids = list(range(1, 201))
    groups = _groups(ids, [i <= 100 for i in ids])
    counts = pd.DataFrame({"jobseeker_id": ids, "pool": 10, "selected": 3, "exposure": 1.0})
    s = _section(counts, groups, with_exposure=True)
    qpv = {g.group: g for g in s.groups if g.attribute == "qpv"}
    assert qpv["qpv"].rate == pytest.approx(0.3) and qpv["hors_qpv"].rate == pytest.approx(0.3)
    assert qpv["qpv"].rate_ratio == pytest.approx(1.0)
    assert qpv["qpv"].exposure == pytest.approx(0.1)
    assert s.parity_ratio["qpv"] == pytest.approx(1.0)
    assert s.flags == ()


def test_group_never_selected_is_flagged_with_figures():
    ids = list(range(1, 201))
    groups = _groups(ids, [i <= 100 for i in ids])
    counts = pd.DataFrame(
        {"jobseeker_id": ids, "pool": 10, "selected": [0 if i <= 100 else 3 for i in ids]}
    ).assign(exposure=0.0)
    s = _section(counts, groups)
    [flag] = [f for f in s.flags if f.attribute == "qpv"]
    assert flag.severity == "à examiner" and flag.ratio == 0
    assert flag.message.startswith("Résidents QPV : taux de sélection 0,00 contre 0,30 (ratio 0,00")
    assert flag.message.endswith("— à examiner")


def test_four_fifths_message_and_fairlearn_ratio():
    ids = np.arange(1, 2001)
    qpv = ids <= 1000
    # 21 % of 100 pairs selected for residents, 30 % for others
    counts = pd.DataFrame(
        {"jobseeker_id": ids, "pool": 100, "selected": np.where(qpv, 21, 30), "exposure": 0.0}
    )
    groups = _groups(ids, qpv)
    s = _section(counts, groups)
    [flag] = [f for f in s.flags if f.attribute == "qpv"]
    assert flag.message.startswith(
        "Résidents QPV : taux de sélection 0,21 contre 0,30 (ratio 0,70 < 0,80"
    )
    assert "à examiner" in flag.message
    y = np.r_[np.ones(2000), np.zeros(2000)]
    w = np.r_[counts["selected"], 100 - counts["selected"]]
    sens = np.r_[groups["qpv"], groups["qpv"]]
    expected = demographic_parity_ratio(y, y, sensitive_features=sens, sample_weight=w)
    assert s.parity_ratio["qpv"] == pytest.approx(expected) == pytest.approx(0.7)
    g = next(x for x in s.groups if x.group == "qpv")
    assert g.rate_ci[0] < 0.21 < g.rate_ci[1]
    assert g.rate_ratio_ci[1] < 1


def test_small_groups_are_neither_reference_nor_flagged():
    ids = list(range(1, 111))
    groups = _groups(ids, [i <= 10 for i in ids])
    counts = pd.DataFrame(
        {"jobseeker_id": ids, "pool": 10, "selected": [0 if i <= 10 else 5 for i in ids]}
    ).assign(exposure=0.0)
    s = _section(counts, groups, min_persons=20)
    g = next(x for x in s.groups if x.group == "qpv")
    assert not g.enough and not g.reference
    assert not [f for f in s.flags if f.attribute == "qpv"]


def test_group_boundaries():
    people = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "priority_district": [True, False, None, False, True],
            "unemployed_since": [
                date(2025, 6, 1),
                date(2025, 6, 2),
                None,
                date(2020, 1, 1),
                date(2026, 5, 1),
            ],
            "gender": ["F", "M", None, "X", "F"],
            "birth_date": [
                date(2000, 6, 1),
                date(2000, 6, 2),
                None,
                date(1976, 6, 1),
                date(1976, 6, 2),
            ],
        }
    )
    g = protected_groups(people, as_of=date(2026, 6, 1)).set_index("jobseeker_id")
    assert g["age"].tolist() == ["26_49", "moins_26", "inconnu", "50_plus", "26_49"]
    assert g["chomage"].tolist() == [
        "longue_duree",
        "moins_12",
        "inconnu",
        "longue_duree",
        "moins_12",
    ]
    assert g["genre"].tolist() == ["F", "M", "inconnu", "X", "F"]
    assert g["qpv"].tolist() == ["qpv", "hors_qpv", "hors_qpv", "hors_qpv", "qpv"]


def test_shortlist_counts_and_exposure_weights():
    assert exposure_weight(np.array([1, 3]))[0] == 1.0
    assert exposure_weight(np.array([3]))[0] == pytest.approx(0.5)
    eligible = np.array([[True, True], [True, False], [False, False]])
    sl = pd.DataFrame({"need_id": [10, 20], "jobseeker_id": [1, 3], "rank": [1, 3]})
    c = shortlist_counts(eligible, [1, 2, 3], [10, 20], sl).set_index("jobseeker_id")
    assert c.loc[1].tolist() == [2, 1, 1.0]
    assert c.loc[2].tolist() == [1, 0, 0.0]
    assert c.loc[3].tolist() == [1, 1, 0.5]  # shortlisted counts in the pool


def test_decision_pairs_stages():
    out = pd.DataFrame(
        {
            "jobseeker_id": [1, 1, 1, 2, 2, 3, 3],
            "need_id": [5, 5, 5, 5, 5, 5, 5],
            "event": [
                "proposed",
                "interviewed",
                "hired",
                "proposed",
                "rejected",
                "proposed",
                "withdrawn",
            ],
        }
    )
    p = decision_pairs(out).set_index("jobseeker_id")
    assert p.loc[1, ["interviewed", "hired", "withdrawn"]].tolist() == [True, True, False]
    assert p.loc[2, ["interviewed", "hired"]].tolist() == [False, False]
    assert bool(p.loc[3, "withdrawn"])


def test_strong_address_bias_in_decisions_is_flagged(engine, referential, monkeypatch):
    """A demo whose recorded interviews halve the chances of priority-district residents."""
    from matching import demo
    from matching.services import demo as demo_service
    from matching.services.fairness import run_audit

    monkeypatch.setattr(
        demo_service, "generate", functools.partial(demo.generate, address_bias=0.4)
    )
    sizes = demo.DemoSizes(
        jobseekers=600, employers=8, needs=10, past_needs=150, courses=8, sessions=12
    )
    demo_service.seed_demo(engine, referential, seed=3, as_of=date(2026, 9, 1), sizes=sizes)
    result = run_audit(engine, referential, as_of=date(2026, 9, 1), use_cache=False)
    assert [s.key for s in result.sections] == [
        "decisions_proposition",
        "decisions_entretien",
        "decisions_embauche",
    ]
    flags = result.section("decisions_entretien").flags
    qpv = [f for f in flags if f.attribute == "qpv"]
    assert qpv and qpv[0].group == "qpv" and qpv[0].severity == "à examiner"
    assert "Résidents QPV : taux d'entretien" in qpv[0].message
    assert not [f for f in flags if f.attribute == "genre"]


def test_cli_fairness_json_and_plot(published, settings, tmp_path):
    from matching.cli import app, register_all

    register_all()
    png = tmp_path / "audit.png"
    res = CliRunner().invoke(app, ["fairness", "--format", "json", "--plot", str(png)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    keys = [s["key"] for s in data["sections"]]
    assert keys[0] == "shortlists" and "decisions_entretien" in keys
    sl = data["sections"][0]
    assert {g["attribute"] for g in sl["groups"]} == {"qpv", "genre", "age", "chomage"}
    assert all(0 <= g["rate"] <= 1 for g in sl["groups"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = CliRunner().invoke(app, ["fairness"])
    assert res.exit_code == 0 and "Résidents QPV" in res.output


@pytest.mark.slow
def test_documented_demo_bias_is_detected_in_decisions(engine, referential, settings):
    """The documented demo (address_bias 0.85) shows the bias in decisions."""
    from matching.services.demo import seed_demo
    from matching.services.fairness import run_audit
    from matching.services.nightly import run_nightly

    as_of = date(2026, 3, 1)
    seed_demo(engine, referential, seed=42, as_of=as_of)
    run_nightly(settings, store=engine, today=as_of)
    result = run_audit(engine, referential, use_cache=False)
    interview = [f for f in result.section("decisions_entretien").flags if f.attribute == "qpv"]
    assert interview and interview[0].group == "qpv"
    g = next(x for x in result.section("decisions_entretien").groups if x.group == "qpv")
    assert g.rate_ratio < 0.95 and g.rate_ratio_ci[1] < 1
    assert result.section("shortlists").needs > 0

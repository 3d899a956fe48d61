"""Seeded synthetic territory at any size, on the real referential (tests and benchmarks).

The demo generator (:mod:`matching.demo`) builds a realistic Amiens territory of a few thousand
people through the repository; the nightly benchmark needs 100,000 jobseekers x 10,000 needs x
2,000 courses generated in seconds, so this module draws plain tables with numpy and the store
loads them with bulk inserts (:func:`matching.services.nightly.load_territory`). Nothing here is
invented vocabulary: occupations, skills and communes come from the shipped ROME 4.0 referential.

Structure: ``n_occupations`` real ROME occupations with at least five core skills, drawn with a
Zipf-like popularity; each need asks 3 essential and 1-4 optional skills of its occupation; each
jobseeker holds part of the skills of one occupation (sometimes two) and has 0-2 past
experiences; each course teaches 2-4 skills of an occupation and has 1-3 dated sessions.
Statuses: 90 % of needs open; 92 % of jobseekers active, 5 % employed, 3 % inactive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

SECTORS = (
    "relation_client_numerique",
    "metallurgie_btp",
    "logistique",
    "agroalimentaire_biotech_sante",
    "tourisme",
    "energie",
    "autre",
)


@dataclass
class Territory:
    """Tables ready for bulk insertion, keyed by table name (columns = store columns)."""

    tables: dict[str, pd.DataFrame]
    as_of: date

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.tables.items()}


def _occupations(
    referential: Any, n: int, rng: np.random.Generator
) -> list[tuple[str, np.ndarray]]:
    links = referential.occupation_skills
    core = links[links["core"] != ""]
    by_occ = core.groupby("code_rome")["code_ogr"].apply(lambda s: np.sort(s.to_numpy(np.int64)))
    all_skills = links.groupby("code_rome")["code_ogr"].apply(
        lambda s: np.unique(s.to_numpy(np.int64))
    )
    eligible = sorted(c for c, v in by_occ.items() if len(v) >= 5)
    chosen = rng.choice(eligible, size=min(n, len(eligible)), replace=False)
    out = []
    for code in sorted(chosen):
        skills = all_skills[code]
        out.append((str(code), skills[:40] if len(skills) > 40 else skills))
    return out


def generate_territory(
    referential: Any,
    *,
    n_jobseekers: int = 1000,
    n_needs: int = 100,
    n_courses: int = 50,
    n_occupations: int = 120,
    as_of: date = date(2026, 12, 1),
    seed: int = 0,
) -> Territory:
    """Draw a territory (see the module docstring); identical for identical arguments."""
    rng = np.random.default_rng(seed)
    occs = _occupations(referential, n_occupations, rng)
    k = len(occs)
    pop = 1.0 / np.arange(1, k + 1) ** 0.8
    pop /= pop.sum()
    communes = referential.communes["code_insee"].astype(str).to_numpy()
    cpop = referential.communes["population"].to_numpy(float)
    cpop = cpop / cpop.sum()

    def day(offset) -> list[date]:
        return [as_of + timedelta(days=int(x)) for x in np.asarray(offset)]

    # employers ---------------------------------------------------------------------------
    n_emp = max(1, n_needs // 5)
    employers = pd.DataFrame(
        {
            "id": np.arange(1, n_emp + 1),
            "ref": [f"EMP-{i:06d}" for i in range(1, n_emp + 1)],
            "name": [f"Entreprise {i}" for i in range(1, n_emp + 1)],
            "siret": None,
            "naf_code": "0000Z",
            "sector": rng.choice(SECTORS, size=n_emp),
            "commune_insee": rng.choice(communes, size=n_emp, p=cpop),
        }
    )

    # needs -------------------------------------------------------------------------------
    nid = np.arange(1, n_needs + 1)
    n_occ = rng.choice(k, size=n_needs, p=pop)
    need_status = rng.choice(["open", "filled", "draft"], size=n_needs, p=[0.9, 0.06, 0.04])
    needs = pd.DataFrame(
        {
            "id": nid,
            "ref": [f"BES-{i:06d}" for i in nid],
            "employer_id": rng.integers(1, n_emp + 1, size=n_needs),
            "code_rome": [occs[i][0] for i in n_occ],
            "title_typed": [
                referential.occupation_labels.get(occs[i][0], occs[i][0]) for i in n_occ
            ],
            "description": "",
            "positions": rng.integers(1, 6, size=n_needs),
            "hiring_date": day(rng.integers(20, 240, size=n_needs)),
            "contract_type": rng.choice(["CDI", "CDD", "interim"], size=n_needs),
            "hours_per_week": 35.0,
            "commune_insee": rng.choice(communes, size=n_needs, p=cpop),
            "driving_licence_required": rng.random(n_needs) < 0.2,
            "min_qualification_level": None,
            "required_certification": None,
            "status": need_status,
            "captured_by": "synthetique",
        }
    )
    ns_rows: list[tuple[int, int, bool, int]] = []
    for i in range(n_needs):
        skills = occs[n_occ[i]][1]
        m = min(len(skills), 3 + int(rng.integers(1, 5)))
        pick = rng.choice(skills, size=m, replace=False)
        for j, code in enumerate(pick):
            ns_rows.append((int(nid[i]), int(code), j < 3, int(rng.integers(1, 3))))
    need_skills = pd.DataFrame(ns_rows, columns=["need_id", "skill_code", "essential", "level"])

    # jobseekers --------------------------------------------------------------------------
    jid = np.arange(1, n_jobseekers + 1)
    j_occ = rng.choice(k, size=n_jobseekers, p=pop)
    j_occ2 = np.where(rng.random(n_jobseekers) < 0.25, rng.choice(k, size=n_jobseekers, p=pop), -1)
    qual = rng.choice([3, 4, 5, 6, -1], size=n_jobseekers, p=[0.35, 0.3, 0.15, 0.1, 0.1])
    jobseekers = pd.DataFrame(
        {
            "id": jid,
            "ref": [f"DE-{i:07d}" for i in jid],
            "qualification_level": pd.Series(
                [None if q < 0 else int(q) for q in qual], dtype=object
            ),
            "driving_licence": rng.random(n_jobseekers) < 0.6,
            "has_vehicle": rng.random(n_jobseekers) < 0.45,
            "max_commute_km": rng.choice([5.0, 10.0, 15.0, 25.0, 40.0], size=n_jobseekers),
            "home_commune_insee": rng.choice(communes, size=n_jobseekers, p=cpop),
            "priority_district": rng.random(n_jobseekers) < 0.3,
            "availability_date": day(rng.integers(-60, 200, size=n_jobseekers)),
            "unemployed_since": day(-rng.integers(30, 1500, size=n_jobseekers)),
            "desired_hours_per_week": 35.0,
            "status": rng.choice(
                ["active", "employed", "inactive"], size=n_jobseekers, p=[0.92, 0.05, 0.03]
            ),
        }
    )
    js_rows: list[tuple[int, int, int, str]] = []
    exp_rows: list[tuple[int, str, int]] = []
    sources = np.array(["declared", "validated", "certified"])
    for i in range(n_jobseekers):
        pid = int(jid[i])
        skills = occs[j_occ[i]][1]
        m = int(rng.integers(2, min(len(skills), 10) + 1))
        held = set(rng.choice(skills, size=m, replace=False).tolist())
        if j_occ2[i] >= 0:
            s2 = occs[j_occ2[i]][1]
            held |= set(rng.choice(s2, size=min(len(s2), 3), replace=False).tolist())
        levels = rng.integers(1, 4, size=len(held))
        src = sources[rng.integers(0, 3, size=len(held))]
        for code, lv, so in zip(sorted(held), levels, src, strict=True):
            js_rows.append((pid, int(code), int(lv), str(so)))
        for _ in range(int(rng.integers(0, 3))):
            exp_rows.append((pid, occs[j_occ[i]][0], int(rng.integers(3, 60))))
    jobseeker_skills = pd.DataFrame(
        js_rows, columns=["jobseeker_id", "skill_code", "level", "source"]
    )
    experiences = pd.DataFrame(exp_rows, columns=["jobseeker_id", "code_rome", "months"])
    experiences.insert(0, "id", np.arange(1, len(experiences) + 1))
    experiences["ended_on"] = None

    # courses and sessions ----------------------------------------------------------------
    n_prov = max(1, n_courses // 20)
    providers = pd.DataFrame(
        {
            "id": np.arange(1, n_prov + 1),
            "ref": [f"OF-{i:05d}" for i in range(1, n_prov + 1)],
            "name": [f"Organisme {i}" for i in range(1, n_prov + 1)],
        }
    )
    cid = np.arange(1, n_courses + 1)
    c_occ = rng.choice(k, size=n_courses, p=pop)
    courses = pd.DataFrame(
        {
            "id": cid,
            "ref": [f"FOR-{i:06d}" for i in cid],
            "provider_id": rng.integers(1, n_prov + 1, size=n_courses),
            "title": [
                f"Formation {referential.occupation_labels.get(occs[i][0], occs[i][0])}"[:300]
                for i in c_occ
            ],
            "formacode": None,
            "code_rncp": None,
            "certification": None,
            "code_rome": [occs[i][0] for i in c_occ],
            "hours": rng.choice([70.0, 140.0, 280.0, 420.0], size=n_courses),
            "cost_eur": rng.integers(0, 60, size=n_courses) * 100.0,
            "min_qualification_level": None,
            "grants_driving_licence": False,
            "description": "",
        }
    )
    cs_rows: list[tuple[int, int, str]] = []
    ses_rows: list[tuple] = []
    for i in range(n_courses):
        skills = occs[c_occ[i]][1]
        for code in rng.choice(
            skills, size=min(len(skills), int(rng.integers(2, 5))), replace=False
        ):
            cs_rows.append((int(cid[i]), int(code), "taught"))
        for _ in range(int(rng.integers(1, 4))):
            start = int(rng.integers(5, 200))
            length = int(rng.integers(10, 90))
            seats = int(rng.integers(8, 17))
            sid = len(ses_rows) + 1
            ses_rows.append(
                (
                    sid,
                    f"SES-{sid:06d}",
                    int(cid[i]),
                    as_of + timedelta(days=start),
                    as_of + timedelta(days=start + length - 1),
                    seats,
                    int(rng.integers(0, seats // 2)),
                    str(rng.choice(communes, p=cpop)),
                    "Région Hauts-de-France",
                )
            )
    course_skills = pd.DataFrame(cs_rows, columns=["course_id", "skill_code", "role"])
    sessions = pd.DataFrame(
        ses_rows,
        columns=[
            "id",
            "ref",
            "course_id",
            "start_date",
            "end_date",
            "seats",
            "seats_taken",
            "commune_insee",
            "funding",
        ],
    )
    return Territory(
        tables={
            "employers": employers,
            "needs": needs,
            "need_skills": need_skills,
            "jobseekers": jobseekers,
            "jobseeker_skills": jobseeker_skills,
            "jobseeker_experiences": experiences,
            "providers": providers,
            "courses": courses,
            "course_skills": course_skills,
            "course_sessions": sessions,
        },
        as_of=as_of,
    )


def perturb_profiles(
    referential: Any, territory: Territory, *, fraction: float, seed: int = 1
) -> dict[str, pd.DataFrame]:
    """Edits for ``fraction`` of the jobseekers: a new skill, or a new commute limit.

    Returns the rows to apply: ``skills`` (jobseeker_id, skill_code, level, source) to insert,
    ``commute`` (id, max_commute_km) to update.
    """
    rng = np.random.default_rng(seed)
    js = territory.tables["jobseekers"]
    n = max(1, round(len(js) * fraction))
    chosen = np.sort(rng.choice(js["id"].to_numpy(), size=n, replace=False))
    held = territory.tables["jobseeker_skills"]
    pool = referential.occupation_skills["code_ogr"].unique()
    new_skills = []
    commute = []
    held_set = set(zip(held["jobseeker_id"].tolist(), held["skill_code"].tolist(), strict=True))
    for i, pid in enumerate(chosen.tolist()):
        if i % 2 == 0:
            code = int(rng.choice(pool))
            if (pid, code) not in held_set:
                new_skills.append((pid, code, 2, "declared"))
        else:
            commute.append((pid, float(rng.choice([10.0, 30.0, 50.0]))))
    return {
        "skills": pd.DataFrame(
            new_skills, columns=["jobseeker_id", "skill_code", "level", "source"]
        ),
        "commute": pd.DataFrame(commute, columns=["id", "max_commute_km"]),
    }

"""Seeded planning scenario (a :class:`~matching.store.snapshot.Snapshot`) for benchmarks and notebooks.

Built on the real referential (ROME 4.0 occupations and their core skills, a real RNCP title),
at any size, without a database. It reproduces the two situations the business desk plans for:

* a **call centre** announcing 300 positions of *conseiller clientèle à distance* (ROME D1408)
  about six months ahead, with an AFPA course *Conseiller relation client à distance* whose
  scheduled sessions cannot train everyone;
* a **motorway maintenance centre** bringing 20 positions of *ouvrier en voiries* (F1702) that
  require the CAP *Constructeur de routes* (RNCP35888, linked to F1702 in France Compétences'
  data) and a driving licence, whose only scheduled session ends after the hiring date;

plus other needs of Amiens' priority sectors, jobseekers with partial skills and past
experiences, and one course per occupation. The full demo territory is
:mod:`matching.demo`; this scenario exists so planning benchmarks and notebooks do not depend on
a database and can run at a reduced size.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from matching.store.snapshot import Snapshot

CALL_CENTRE_ROME = "D1408"
MOTORWAY_ROME = "F1702"
MOTORWAY_RNCP = "RNCP35888"
CALL_CENTRE_COURSE = "Conseiller relation client à distance"
OTHER_ROMES = (
    "N1103",
    "K2204",
    "H2913",
    "G1602",
    "J1501",
    "N4101",
    "K1302",
    "D1507",
    "I1304",
    "N1105",
    "F1703",
    "H2102",
    "G1603",
)
SECTOR_OF = {
    "D1408": "relation_client_numerique",
    "D1507": "relation_client_numerique",
    "F1702": "metallurgie_btp",
    "F1703": "metallurgie_btp",
    "H2913": "metallurgie_btp",
    "I1304": "metallurgie_btp",
    "N1103": "logistique",
    "N1105": "logistique",
    "N4101": "logistique",
    "H2102": "agroalimentaire_biotech_sante",
    "J1501": "agroalimentaire_biotech_sante",
    "K1302": "agroalimentaire_biotech_sante",
    "G1602": "tourisme",
    "G1603": "tourisme",
    "K2204": "autre",
}


def build_scenario(
    referential,
    *,
    n_jobseekers: int = 5000,
    n_needs: int = 150,
    n_sessions: int = 150,
    as_of: date = date(2026, 1, 5),
    random_state: int = 0,
) -> Snapshot:
    """Build the seeded scenario.

    Parameters
    ----------
    referential : matching.taxonomy.referential.Referential
    n_jobseekers, n_needs, n_sessions : sizes (needs and sessions include the two flagship
        needs and their courses' sessions).
    as_of : the scenario's "today".
    random_state : seed; the same arguments always give the same snapshot.

    Returns
    -------
    Snapshot
        ``needs.ref`` of the flagship needs: ``BES-CENTRE-APPELS`` and ``BES-AUTOROUTE``.
    """
    rng = np.random.default_rng(random_state)
    labels = referential.skill_labels
    communes = referential.communes["code_insee"].tolist()
    romes = [CALL_CENTRE_ROME, MOTORWAY_ROME, *OTHER_ROMES]
    core = {
        r: [c for c in referential.occupation_skill_codes(r, core_only=True) if c in labels][:8]
        for r in romes
    }
    day = lambda k: as_of + timedelta(days=int(k))  # noqa: E731

    # Courses: one per occupation teaching its first core skills; flagship courses named.
    courses, course_skills = [], []
    for i, r in enumerate(romes, start=1):
        title = {
            CALL_CENTRE_ROME: CALL_CENTRE_COURSE,
            MOTORWAY_ROME: "CAP Constructeur de routes",
        }.get(r, f"Formation {referential.occupation_labels[r].split(' / ')[0]}")
        courses.append(
            {
                "id": i,
                "ref": f"FORM-{r}",
                "provider_id": 1,
                "title": title,
                "formacode": None,
                "code_rncp": MOTORWAY_RNCP if r == MOTORWAY_ROME else None,
                "certification": None,
                "code_rome": r,
                "hours": 420.0 if r == CALL_CENTRE_ROME else float(rng.integers(70, 400)),
                "cost_eur": float(rng.integers(8, 60) * 100),
                "min_qualification_level": None,
                "grants_driving_licence": False,
                "updated_at": None,
            }
        )
        for code in core[r][:5]:
            course_skills.append({"course_id": i, "skill_code": code, "role": "taught"})
    # A driving-licence course, and a prerequisite on the welding course (safety basics).
    lic_id = len(courses) + 1
    courses.append(
        {
            **courses[0],
            "id": lic_id,
            "ref": "FORM-PERMIS-B",
            "title": "Permis B (insertion)",
            "code_rome": None,
            "hours": 35.0,
            "cost_eur": 1500.0,
            "grants_driving_licence": True,
        }
    )
    course_ids = {r: i for i, r in enumerate(romes, start=1)}

    # Sessions: the call-centre course has 4 sessions of 16 seats (not enough for 300), the
    # motorway CAP a single session ending after the hiring date; the rest spread at random.
    sessions: list[dict] = []

    def add_session(cid, start, length, seats, taken=0):
        sessions.append(
            {
                "id": len(sessions) + 1,
                "ref": f"SES-{len(sessions) + 1:04d}",
                "course_id": cid,
                "start_date": day(start),
                "end_date": day(start + length - 1),
                "seats": seats,
                "seats_taken": taken,
                "commune_insee": "80021",
                "funding": "Région Hauts-de-France",
            }
        )

    for k in range(4):
        add_session(course_ids[CALL_CENTRE_ROME], 14 + 35 * k, 84, 16, taken=int(k == 0) * 4)
    add_session(course_ids[MOTORWAY_ROME], 100, 90, 12)
    add_session(lic_id, 10, 30, 10)
    others = [course_ids[r] for r in OTHER_ROMES]
    while len(sessions) < n_sessions:
        add_session(
            int(rng.choice(others)),
            int(rng.integers(5, 200)),
            int(rng.integers(14, 90)),
            int(rng.integers(8, 16)),
            int(rng.integers(0, 6)),
        )

    # Needs: the two flagship ones, then smaller ones across the other occupations.
    needs: list[dict] = []
    need_skills: list[dict] = []

    def add_need(ref, rome, positions, hire, *, licence=False, cert=None, n_skills=4, title=None):
        nid = len(needs) + 1
        needs.append(
            {
                "id": nid,
                "ref": ref,
                "employer_id": nid,
                "code_rome": rome,
                "title_typed": title or referential.occupation_labels[rome],
                "description": "",
                "positions": positions,
                "hiring_date": day(hire),
                "contract_type": "CDI",
                "hours_per_week": 35.0,
                "commune_insee": "80021",
                "driving_licence_required": licence,
                "min_qualification_level": None,
                "required_certification": cert,
                "status": "open",
                "updated_at": None,
                "employer_sector": SECTOR_OF[rome],
                "naf_code": "",
            }
        )
        for j, code in enumerate(core[rome][:n_skills]):
            need_skills.append({"need_id": nid, "skill_code": code, "essential": j < 3, "level": 2})

    add_need(
        "BES-CENTRE-APPELS", CALL_CENTRE_ROME, 300, 180, title="Conseiller clientèle à distance"
    )
    add_need(
        "BES-AUTOROUTE",
        MOTORWAY_ROME,
        20,
        150,
        licence=True,
        cert=MOTORWAY_RNCP,
        title="Agent d'entretien des routes (centre autoroutier)",
    )
    while len(needs) < n_needs:
        rome = str(rng.choice(OTHER_ROMES))
        add_need(
            f"BES-{len(needs) + 1:04d}",
            rome,
            int(rng.integers(1, 9)),
            int(rng.integers(60, 240)),
            licence=bool(rng.random() < 0.15),
        )

    # Jobseekers: a past occupation (the call centre's for 5 % of them) with experience
    # long enough to imply its core skills for some, declared skills for others.
    people, skills, experiences = [], [], []
    past = rng.choice(
        [CALL_CENTRE_ROME, *OTHER_ROMES, MOTORWAY_ROME],
        size=n_jobseekers,
        p=[0.05] + [0.90 / len(OTHER_ROMES)] * len(OTHER_ROMES) + [0.05],
    )
    for pid in range(1, n_jobseekers + 1):
        rome = str(past[pid - 1])
        people.append(
            {
                "id": pid,
                "ref": f"DE-{pid:05d}",
                "qualification_level": (None, 3, 3, 4, 5)[int(rng.integers(0, 5))],
                "driving_licence": bool(rng.random() < 0.6),
                "has_vehicle": bool(rng.random() < 0.4),
                "max_commute_km": float(rng.integers(10, 35)),
                "home_commune_insee": str(rng.choice(communes)),
                "availability_date": day(rng.integers(-30, 60)),
                "unemployed_since": day(-rng.integers(30, 900)),
                "desired_hours_per_week": 35.0,
                "status": "active",
                "updated_at": None,
            }
        )
        months = int(rng.integers(0, 48))
        experiences.append(
            {"jobseeker_id": pid, "code_rome": rome, "months": months, "ended_on": day(-60)}
        )
        if months < 12:
            for code in core[rome]:
                if rng.random() < 0.5:
                    skills.append(
                        {
                            "jobseeker_id": pid,
                            "skill_code": code,
                            "level": int(rng.integers(1, 4)),
                            "source": "declared",
                        }
                    )
    frame = pd.DataFrame
    return Snapshot(
        needs=frame(needs),
        need_skills=frame(need_skills),
        jobseekers=frame(people),
        jobseeker_skills=frame(skills, columns=["jobseeker_id", "skill_code", "level", "source"]),
        experiences=frame(experiences),
        courses=frame(courses),
        course_skills=frame(course_skills),
        sessions=frame(sessions),
        as_of=as_of,
    )

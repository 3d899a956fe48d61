"""Training paths: chosen sessions, invariants, French reasons, and a brute-force reference check."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.exceptions import NoTrainingPathError
from matching.planning.data import LICENCE
from matching.planning.gaps import skill_gap
from matching.planning.paths import DAY_WEIGHT, PathFinder, find_training_path
from tests.planning.toy import course, need, person, session, world

LABELS = {
    1: "Accueillir un client",
    2: "Traiter une réclamation",
    3: "Utiliser un CRM",
    4: "Bureautique",
}


def test_ready_person_gets_an_empty_path():
    data = world([person(1, skills={1: 2})], [need(1, essential={1: 2})])
    path = find_training_path(data, 1, 1)
    assert path.steps == ()
    assert path.gap.is_empty
    assert "prête" in path.summary()


def test_cheapest_in_weeks_first_then_euros():
    data = world(
        [person(1)],
        [need(1, essential={1: 2}, hire=120)],
        [
            course(1, teaches={1}, cost=500.0, title="Longue pas chère"),
            course(2, teaches={1}, cost=3000.0, title="Courte chère"),
            course(3, teaches={1}, cost=2000.0, title="Courte moins chère"),
        ],
        [session(1, 1, 10, 60), session(2, 2, 10, 20), session(3, 3, 30, 40)],
        labels=LABELS,
    )
    path = find_training_path(data, "DE0001", "B0001")
    assert [s.course_title for s in path.steps] == ["Courte moins chère"]
    assert path.total_weeks == round(11 / 7, 1)
    assert path.total_eur == 2000.0
    assert path.ready_date == path.steps[-1].end


def test_prerequisite_course_comes_first_and_levels_count():
    # Skill 1 held at level 1 only, level 2 required: the gap includes it.
    data = world(
        [person(1, skills={1: 1})],
        [need(1, essential={1: 2, 2: 2}, hire=150)],
        [
            course(1, teaches={1, 2}, prereq={3}, title="Conseiller relation client"),
            course(2, teaches={3}, title="Remise à niveau CRM"),
        ],
        [session(1, 1, 5, 40), session(2, 2, 1, 20), session(3, 1, 30, 80)],
        labels=LABELS,
    )
    gap = skill_gap(data, 1, 1)
    assert {m.code for m in gap.missing_skills} == {1, 2}
    path = find_training_path(data, 1, 1)
    assert [s.session_id for s in path.steps] == [2, 3]
    assert path.steps[0].end < path.steps[1].start
    assert "« Utiliser un CRM »" in path.steps[0].gains_labels


def test_licence_and_certification_gaps_are_closed_by_the_right_courses():
    data = world(
        [person(1, qual=3)],
        [need(1, licence=True, cert="RNCP35888", qual=4, hire=200)],
        [
            course(1, licence=True, title="Permis B", cost=1500),
            course(2, rncp="RNCP35888", grants=4, title="Titre constructeur de routes"),
        ],
        [session(1, 1, 1, 30), session(2, 2, 35, 120)],
    )
    path = find_training_path(data, 1, 1)
    assert {s.course_title for s in path.steps} == {"Permis B", "Titre constructeur de routes"}


@pytest.mark.parametrize(
    ("sessions", "expected"),
    [
        ([], "aucune session programmée de « Conseiller relation client »"),
        (
            [session(1, 1, 10, 200)],
            "la seule session de « Conseiller relation client » finit après la date d'embauche",
        ),
        (
            [session(1, 1, 10, 40, seats=12, taken=12), session(2, 1, 20, 50, seats=8, taken=8)],
            "plus de place dans les sessions de « Conseiller relation client »",
        ),
    ],
)
def test_no_path_reasons_are_precise(sessions, expected):
    data = world(
        [person(1)],
        [need(1, essential={1: 2}, hire=90)],
        [course(1, teaches={1}, title="Conseiller relation client")],
        sessions,
        labels=LABELS,
    )
    with pytest.raises(NoTrainingPathError) as info:
        find_training_path(data, 1, 1)
    assert any(r.startswith(expected) for r in info.value.reasons), info.value.reasons
    assert isinstance(info.value, LookupError)


def test_no_course_teaches_the_skill():
    data = world(
        [person(1)],
        [need(1, essential={4: 2})],
        [course(1, teaches={1})],
        [session(1, 1, 1, 5)],
        labels=LABELS,
    )
    with pytest.raises(NoTrainingPathError) as info:
        find_training_path(data, 1, 1)
    assert info.value.reasons == ["aucune formation n'enseigne la compétence « Bureautique »"]


def test_unmet_prerequisite_is_reported():
    data = world(
        [person(1)],
        [need(1, essential={1: 2})],
        [course(1, teaches={1}, prereq={3}, title="Conseiller relation client")],
        [session(1, 1, 10, 30)],
        labels=LABELS,
    )
    with pytest.raises(NoTrainingPathError) as info:
        find_training_path(data, 1, 1)
    assert info.value.reasons == [
        "prérequis non satisfait : « Conseiller relation client » demande « Utiliser un CRM », "
        "que la personne n'a pas et qu'aucune session accessible n'enseigne avant"
    ]


def test_person_available_after_hiring_is_told_so():
    data = world(
        [person(1, avail=100)],
        [need(1, essential={1: 2}, hire=90)],
        [course(1, teaches={1})],
        [session(1, 1, 10, 20)],
    )
    with pytest.raises(NoTrainingPathError) as info:
        find_training_path(data, 1, 1)
    assert info.value.reasons == ["disponible le 15/04/2026, après la date d'embauche (05/04/2026)"]


def test_first_session_starts_after_availability_and_today():
    data = world(
        [person(1, avail=15)],
        [need(1, essential={1: 2}, hire=90)],
        [course(1, teaches={1})],
        [session(1, 1, 0, 10), session(2, 1, 10, 20), session(3, 1, 16, 40)],
    )
    assert find_training_path(data, 1, 1).session_ids == (3,)


# --- reference check -------------------------------------------------------------------------
def brute_force(data, pid, nid):
    """Slow reference: enumerate every sequence of distinct sessions; min (days, cents) or None."""
    p, n = data.people[pid], data.needs[nid]
    gap = skill_gap(data, p, n)
    if gap.is_empty:
        return 0
    earliest = data.earliest_start(p)
    held = p.holds() - gap.tokens
    best = None
    sessions = list(data.sessions.values())
    for r in range(1, len(sessions) + 1):
        for seq in itertools.permutations(sessions, r):
            toks, q, prev_end, ok = set(held), p.qualification_level or 0, None, True
            for s in seq:
                c = data.courses[s.course_id]
                if (
                    s.seats_left <= 0
                    or s.end >= n.hiring_date
                    or (prev_end is None and s.start < earliest)
                    or (prev_end is not None and s.start <= prev_end)
                    or not c.prerequisites <= (toks | p.holds())
                    or (c.min_qualification_level and c.min_qualification_level > q)
                ):
                    ok = False
                if not ok:
                    break
                toks |= c.teaches
                q = max(q, c.grants_level or 0)
                prev_end = s.end
            if not ok or not gap.tokens <= toks:
                continue
            if gap.qualification_missing and q < gap.qualification_required:
                continue
            cost = sum(
                s.days * DAY_WEIGHT + round(data.courses[s.course_id].cost_eur * 100) for s in seq
            )
            best = cost if best is None else min(best, cost)
    return best


skill_sets = st.frozensets(st.integers(1, 4), max_size=3)


@st.composite
def catalogues(draw):
    """Random small worlds biased so that roughly half have a path (checked by the reference)."""
    rare = st.sampled_from([False, False, False, True])
    n_courses = draw(st.integers(1, 3))
    courses = []
    for cid in range(1, n_courses + 1):
        rncp = "RNCP1" if draw(rare) else None
        courses.append(
            course(
                cid,
                teaches=draw(st.frozensets(st.integers(1, 3), min_size=1, max_size=3)),
                prereq=draw(st.frozensets(st.integers(1, 4), max_size=1)) if draw(rare) else (),
                min_qual=4 if draw(rare) else None,
                grants=draw(st.sampled_from([None, 4])) if rncp else None,
                rncp=rncp,
                licence=draw(rare),
                cost=float(draw(st.integers(0, 3)) * 500),
            )
        )
    sessions = []
    for cid in range(1, n_courses + 1):
        for _ in range(draw(st.sampled_from([1, 1, 2, 0]))):
            start = draw(st.integers(-3, 40))
            sessions.append(
                session(
                    len(sessions) + 1,
                    cid,
                    start,
                    start + draw(st.integers(0, 20)),
                    seats=draw(st.sampled_from([1, 2, 2, 0])),
                    taken=0,
                )
            )
    people = [
        person(
            1,
            skills={k: draw(st.integers(1, 3)) for k in draw(skill_sets)},
            qual=draw(st.sampled_from([None, 3, 4])),
            licence=draw(st.booleans()),
            avail=draw(st.integers(-10, 10)),
        )
    ]
    needs = [
        need(
            1,
            essential={
                k: draw(st.integers(1, 3))
                for k in draw(st.frozensets(st.integers(1, 3), min_size=1, max_size=2))
            },
            hire=draw(st.integers(40, 100)),
            licence=draw(rare),
            qual=4 if draw(rare) else None,
            cert="RNCP1" if draw(rare) else None,
        )
    ]
    return world(people, needs, courses, sessions)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalogues())
def test_search_matches_brute_force_and_respects_invariants(data):
    expected = brute_force(data, 1, 1)
    p, n = data.people[1], data.needs[1]
    try:
        path = find_training_path(data, 1, 1)
    except NoTrainingPathError as exc:
        assert expected is None, (
            f"le solveur dit « pas de parcours » mais il en existe un ({expected})"
        )
        assert exc.reasons and all(isinstance(r, str) and r for r in exc.reasons)
        return
    assert expected is not None
    cost = sum(s.days * DAY_WEIGHT + round(s.cost_eur * 100) for s in path.steps)
    assert cost == expected
    toks = set(p.holds() - path.gap.tokens)
    q = p.qualification_level or 0
    prev_end = None
    for step in path.steps:
        s, c = data.sessions[step.session_id], data.courses[step.course_id]
        assert s.end < n.hiring_date  # no path ends after the hiring date
        assert s.seats_left > 0  # never in a full session
        assert (s.start >= data.earliest_start(p)) if prev_end is None else (s.start > prev_end)
        assert c.prerequisites <= toks | p.holds()
        assert not c.min_qualification_level or c.min_qualification_level <= q
        toks |= c.teaches
        q = max(q, c.grants_level or 0)
        prev_end = s.end
    assert path.gap.tokens <= toks


def test_k_alternatives_differ_in_their_last_session():
    data = world(
        [person(1)],
        [need(1, essential={1: 2}, hire=120)],
        [course(1, teaches={1})],
        [session(1, 1, 10, 30), session(2, 1, 40, 60), session(3, 1, 70, 130)],
    )
    paths = PathFinder(data).paths(1, 1, k=3)
    assert [p.session_ids for p in paths] == [(1,), (2,)]
    assert LICENCE not in paths[0].gap.tokens

"""Cell parsers and row models: format/parse round trips, and never an unhandled exception on
arbitrary input (a French ``ValueError`` per cell, a ``RowError`` per row)."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.exceptions import RowError
from matching.store.geo import fold
from matching.store.io import validate_frame
from matching.store.schemas import (
    ROW_MODELS,
    ExperienceItem,
    SkillItem,
    format_bool,
    format_date,
    format_experiences,
    format_need_skills,
    format_number,
    format_person_skills,
    format_skill_codes,
    parse_bool,
    parse_date,
    parse_experiences,
    parse_float,
    parse_int,
    parse_need_skills,
    parse_person_skills,
    parse_skill_codes,
)

DATES = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
CELL = st.one_of(
    st.text(max_size=40),
    st.none(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    DATES,
)
#: phrases as a counsellor types them: words, no separator, not a number
PHRASES = st.from_regex(r"[a-zéèàç][a-zéèàç' ]{0,20}[a-zéèàç]", fullmatch=True)


def _only_value_errors(parser, value, needle: str = "") -> None:
    try:
        parser(value)
    except ValueError as exc:
        assert needle in str(exc)
        assert not isinstance(exc, TypeError)


# --- dates ----------------------------------------------------------------------------------------
@given(DATES)
def test_dates_round_trip_iso_french_and_excel(d):
    assert parse_date(format_date(d)) == d
    assert parse_date(d.strftime("%d/%m/%Y")) == d
    assert parse_date(datetime(d.year, d.month, d.day)) == d


@given(st.text(max_size=30))
def test_date_parser_only_raises_a_french_value_error(text):
    _only_value_errors(parse_date, text, "date invalide")


def test_impossible_date_message():
    with pytest.raises(ValueError, match=r"^date invalide '31/02/2026'$"):
        parse_date("31/02/2026")
    assert parse_date("") is None and parse_date(float("nan")) is None


# --- booleans and numbers -------------------------------------------------------------------------
@given(st.booleans())
def test_bool_round_trip(b):
    assert parse_bool(format_bool(b)) is b


@pytest.mark.parametrize(
    ("cell", "value"),
    [("oui", True), ("NON", False), ("true", True), ("False", False), ("1", True), ("0", False)],
)
def test_bool_spellings(cell, value):
    assert parse_bool(cell) is value


@given(st.text(max_size=20))
def test_bool_parser_only_raises_value_error(text):
    _only_value_errors(parse_bool, text, "oui ou non attendu")


@given(st.floats(allow_nan=False, allow_infinity=False, width=32) | st.integers(-(10**9), 10**9))
def test_numbers_round_trip(x):
    assert parse_float(format_number(x)) == float(x)
    if isinstance(x, int):
        assert parse_int(format_number(x)) == x


@given(CELL)
def test_number_parsers_only_raise_value_error(cell):
    _only_value_errors(parse_int, cell, "attendu")
    _only_value_errors(parse_float, cell, "attendu")


# --- multi-valued cells ---------------------------------------------------------------------------
def _unique_by_code(items):
    """Distinct as the parsers see them: by code, else by phrase without case and accents
    ("aaà" and "AAA" are the same skill typed twice, which the parsers refuse)."""
    seen, out = set(), []
    for it in items:
        key = it.code if it.code is not None else fold(it.phrase)
        if key not in seen:
            seen.add(key)
            out.append(it)
    return out


HEADS = st.one_of(
    st.builds(lambda c: (c, ""), st.integers(1, 10**8)), st.builds(lambda p: (None, p), PHRASES)
)
NEED_SKILLS = st.lists(
    st.builds(
        lambda h, e, lv: SkillItem(h[0], h[1], essential=e, level=lv),
        HEADS,
        st.booleans(),
        st.integers(1, 3),
    ),
    max_size=6,
).map(_unique_by_code)
PERSON_SKILLS = st.lists(
    st.builds(
        lambda h, lv, src: SkillItem(h[0], h[1], level=lv, source=src),
        HEADS,
        st.integers(1, 3),
        st.sampled_from(("declared", "validated", "certified")),
    ),
    max_size=6,
).map(_unique_by_code)


@given(NEED_SKILLS)
def test_need_skills_round_trip(items):
    assert parse_need_skills(format_need_skills(items)) == items


@given(PERSON_SKILLS)
def test_person_skills_round_trip(items):
    assert parse_person_skills(format_person_skills(items)) == items


@given(st.lists(st.integers(1, 10**8), unique=True, max_size=6))
def test_course_skill_codes_round_trip(codes):
    items = [SkillItem(c) for c in codes]
    assert parse_skill_codes(format_skill_codes(items)) == items


@given(
    st.lists(
        st.builds(
            ExperienceItem,
            st.from_regex(r"[A-N]\d{4}", fullmatch=True),
            st.integers(0, 720),
            st.none() | DATES,
        ),
        max_size=5,
    )
)
def test_experiences_round_trip(items):
    assert parse_experiences(format_experiences(items)) == items


def test_skill_cell_messages():
    with pytest.raises(ValueError, match="niveau 1, 2 ou 3 attendu, reçu '7'"):
        parse_need_skills("400557:E:7")
    with pytest.raises(ValueError, match="E \\(essentielle\\) ou O"):
        parse_need_skills("400557:X")
    with pytest.raises(ValueError, match="présente deux fois"):
        parse_person_skills("400557:2 | 400557:3")
    assert parse_person_skills("400557:2:Validé")[0].source == "validated"


@given(st.text(max_size=60))
def test_multi_valued_parsers_only_raise_value_error(text):
    for parser in (parse_need_skills, parse_person_skills, parse_skill_codes, parse_experiences):
        _only_value_errors(parser, text)


# --- whole rows -----------------------------------------------------------------------------------
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.sampled_from(sorted(ROW_MODELS)),
    st.data(),
)
def test_any_row_gives_a_model_or_row_errors(referential, entity, data):
    """Arbitrary cells in every column: a valid row or RowErrors naming real columns."""
    columns = list(ROW_MODELS[entity].model_fields)
    record = {c: data.draw(CELL, label=c) for c in columns}
    frame = pd.DataFrame([record], columns=columns, dtype=object)
    frame.index = pd.RangeIndex(2, 3)
    valid, errors = validate_frame(entity, frame, referential=referential)
    assert len(valid) + bool(errors) <= 1
    for e in errors:
        assert isinstance(e, RowError) and e.row == 2 and e.field in columns
        assert e.message and "Value error" not in e.message

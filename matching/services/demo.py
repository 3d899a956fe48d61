"""Seeding the store with the generated demo territory (one transaction, bulk inserts).

:func:`seed_demo` generates the territory with :func:`matching.demo.generate`, derives each
jobseeker's priority-district flag from the address (as the store does for any import), hashes
the demo accounts' password with argon2 and writes every table in one transaction: executemany
on SQLite, ``COPY`` on PostgreSQL. It refuses a database that already holds data unless
``reset=True``, which empties every table of the schema first (demo use only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd
from argon2 import PasswordHasher
from sqlalchemy import Connection, Engine, delete, func, select, text

from matching.demo import DemoData, DemoSizes, generate
from matching.exceptions import ValidationError
from matching.store import models as m
from matching.store.geo import resolve_priority_district
from matching.taxonomy.referential import Referential

#: Password of every demo account (demonstration only; printed by ``passerelle demo``).
DEMO_PASSWORD = "passerelle"

#: Insertion order (parents first).
ORDER = [
    ("users", m.User),
    ("priority_streets", m.PriorityStreet),
    ("employers", m.Employer),
    ("needs", m.Need),
    ("need_skills", m.NeedSkill),
    ("jobseekers", m.Jobseeker),
    ("jobseeker_identities", m.JobseekerIdentity),
    ("jobseeker_experiences", m.JobseekerExperience),
    ("jobseeker_skills", m.JobseekerSkill),
    ("jobseeker_programmes", m.JobseekerProgramme),
    ("providers", m.Provider),
    ("courses", m.Course),
    ("course_skills", m.CourseSkill),
    ("course_sessions", m.CourseSession),
    ("outcomes", m.Outcome),
]
#: Steps reported to ``progress`` in this order.
STEPS = ("generate", "derive", "passwords", "reset", *(name for name, _ in ORDER))
#: Tables whose rows make a database "not empty" for the demo.
_CHECKED = (
    (m.User, "comptes"),
    (m.Employer, "employeurs"),
    (m.Need, "besoins"),
    (m.Jobseeker, "demandeurs d'emploi"),
    (m.Course, "formations"),
    (m.Outcome, "décisions"),
)


@dataclass(frozen=True)
class SectorCount:
    """Demo figures of one sector."""

    sector: str
    employers: int
    current_needs: int
    current_positions: int
    past_needs: int
    hires: int


@dataclass(frozen=True)
class SeedReport:
    """What :func:`seed_demo` wrote."""

    counts: dict[str, int]
    call_centre_ref: str
    motorway_ref: str
    checksum: str
    sectors: list[SectorCount]
    priority_district_residents: int


def existing_rows(engine: Engine) -> dict[str, int]:
    """Non-zero row counts of the tables that make a database "not empty" (French labels)."""
    with engine.connect() as conn:
        counts = {
            label: conn.execute(select(func.count()).select_from(model)).scalar_one()
            for model, label in _CHECKED
        }
    return {k: v for k, v in counts.items() if v}


def is_empty(engine: Engine) -> bool:
    """True when no account, employer, need, jobseeker, course or outcome is stored."""
    return not existing_rows(engine)


def derive_priority_flags(
    data: DemoData, ref: Referential, *, streets: pd.DataFrame | None = None
) -> None:
    """Set ``jobseekers.priority_district`` from the addresses, as the store does for any import.

    ``streets`` (default: the generated ``priority_streets`` table) maps (commune, street key) to
    a district; the referential gives the district names of each commune.
    """
    streets = data.tables["priority_streets"] if streets is None else streets
    lookup = {
        (str(c), str(k)): str(d)
        for c, k, d in zip(
            streets["commune_insee"], streets["street_key"], streets["district"], strict=True
        )
    }
    names: dict[str, list[str]] = {}
    for r in ref.table("priority_districts").itertuples(index=False):
        names.setdefault(str(r.code_insee), []).append(r.name)
    address = data.tables["jobseeker_identities"].set_index("jobseeker_id")["address"]
    js = data.tables["jobseekers"]
    js["priority_district"] = [
        resolve_priority_district(
            address.get(jid, ""), commune, streets=lookup, district_names=names
        )
        is not None
        for jid, commune in zip(js["id"], js["home_commune_insee"], strict=True)
    ]


def sector_counts(data: DemoData) -> list[SectorCount]:
    """Employers, current needs and positions, past needs and hires per sector."""
    t = data.tables
    emp = t["employers"][["id", "sector"]].rename(columns={"id": "employer_id"})
    needs = t["needs"].merge(emp, on="employer_id")
    current = needs["status"].isin(["open", "draft"])
    hired = t["outcomes"].loc[t["outcomes"]["event"] == "hired", "need_id"]
    hires = needs.set_index("id").loc[hired, "sector"].value_counts()
    out = []
    for sector in m.SECTORS:
        mine = needs["sector"] == sector
        n_emp = int((emp["sector"] == sector).sum())
        if not n_emp:
            continue
        out.append(
            SectorCount(
                sector=sector,
                employers=n_emp,
                current_needs=int((mine & current).sum()),
                current_positions=int(needs.loc[mine & current, "positions"].sum()),
                past_needs=int((mine & ~current).sum()),
                hires=int(hires.get(sector, 0)),
            )
        )
    return out


def _records(frame: pd.DataFrame) -> list[dict]:
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


def _reset(conn: Connection) -> None:
    tables = m.Base.metadata.sorted_tables
    if conn.dialect.name == "postgresql":
        names = ", ".join(t.name for t in tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in reversed(tables):
            conn.execute(delete(table))


def _insert(conn: Connection, model, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    table = model.__table__
    columns = [c for c in frame.columns if c in table.c]
    if conn.dialect.name == "postgresql":
        # COPY is the fast bulk path of PostgreSQL; it runs inside the same transaction.
        raw = conn.connection.driver_connection
        values = frame[columns].astype(object).where(frame[columns].notna(), None)
        cols = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
            for row in values.itertuples(index=False, name=None):
                copy.write_row(row)
    else:
        conn.execute(table.insert(), _records(frame[columns]))


def _reset_sequences(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    for _, model in ORDER:
        table = model.__table__
        if "id" in table.c and len(table.primary_key.columns) == 1:
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                )
            )


def seed_demo(
    engine: Engine,
    ref: Referential,
    *,
    seed: int = 42,
    as_of: date | None = None,
    sizes: DemoSizes | None = None,
    reset: bool = False,
    progress: Callable[[str], None] | None = None,
    address_bias: float | None = None,
) -> SeedReport:
    """Generate the demo territory and write it in one transaction.

    Parameters
    ----------
    engine : Engine
        Migrated store.
    ref : Referential
        The real referential.
    seed, as_of, sizes
        Passed to :func:`matching.demo.generate` (same values -> same content).
    reset : bool
        Empty every table first. Without it, a database holding accounts, employers, needs,
        jobseekers, courses or outcomes is refused.
    progress : callable, optional
        Called with each step name of :data:`STEPS` when it starts.
    address_bias : float, optional
        Interview-probability factor of priority-district residents in the simulated history
        (default: the generator's documented :data:`matching.demo.DEFAULT_ADDRESS_BIAS`).

    Raises
    ------
    ValidationError
        The database is not empty and ``reset`` is false.
    """
    step = progress or (lambda _name: None)
    if not reset:
        found = existing_rows(engine)
        if found:
            listed = ", ".join(f"{v:,} {k}".replace(",", "\u202f") for k, v in found.items())
            raise ValidationError(
                f"la base contient déjà des données ({listed}) : le jeu de démonstration ne "
                "s'ajoute pas à des données existantes. Relancez avec --reset pour vider la "
                "base et la remplacer par le jeu de démonstration."
            )
    step("generate")
    options = {} if address_bias is None else {"address_bias": address_bias}
    data = generate(ref, seed=seed, as_of=as_of, sizes=sizes, **options)
    step("derive")
    streets = data.tables["priority_streets"]
    if not reset:
        # keep a street list already loaded by the partnership; add the synthetic streets
        with engine.connect() as conn:
            loaded = pd.read_sql(select(m.PriorityStreet.__table__), conn)
        if len(loaded):
            key = ["commune_insee", "street_key"]
            known = loaded.set_index(key).index
            data.tables["priority_streets"] = streets[~streets.set_index(key).index.isin(known)]
            streets = pd.concat([loaded, data.tables["priority_streets"]], ignore_index=True)
    derive_priority_flags(data, ref, streets=streets)
    checksum = data.checksum()  # before the (salted) password hashes
    step("passwords")
    hasher = PasswordHasher()
    users = data.tables["users"]
    users["password_hash"] = [hasher.hash(DEMO_PASSWORD) for _ in range(len(users))]
    with engine.begin() as conn:
        step("reset")
        if reset:
            _reset(conn)
        for name, model in ORDER:
            step(name)
            _insert(conn, model, data.tables[name])
        _reset_sequences(conn)
    counts = {name: len(data.tables[name]) for name, _ in ORDER}
    return SeedReport(
        counts=counts,
        call_centre_ref=data.call_centre_ref,
        motorway_ref=data.motorway_ref,
        checksum=checksum,
        sectors=sector_counts(data),
        priority_district_residents=int(data.tables["jobseekers"]["priority_district"].sum()),
    )

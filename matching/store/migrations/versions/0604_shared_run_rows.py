"""nightly runs: result rows shared by successive runs (from_run / to_run), ranks derived

Revision ID: 0604
Revises: 0603
Create Date: 2026-11-25 15:30:00

Before, every run held a full copy of its lists: an incremental run copied the 450,000 kept
shortlist rows (550 MB of explanations at 100,000 jobseekers) and 1.8 million per-jobseeker rows
of the previous run. Now a row is written once by run ``from_run`` and closed by the run that
replaces or removes it (``to_run``); runs of one generation (``runs.base_run_id``: the full run
they descend from) share the rows they keep. Ranks are no longer stored (a list is ordered by
score, ties by id), so a candidate leaving a list does not rewrite the rows after it.

Existing rows keep their meaning: each run becomes its own generation (``base_run_id = id``) and
its rows get ``from_run = run_id``, open.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0604"
down_revision = "0603"
branch_labels = None
depends_on = None

# table -> (list key, member key, other columns); the old ``rank`` is dropped
TABLES = {
    "run_shortlists": ("need_id", "jobseeker_id", [("score", sa.Float)]),
    "run_matches": ("jobseeker_id", "need_id", [("score", sa.Float)]),
    "run_reserves": ("need_id", "jobseeker_id", [("score", sa.Float)]),
    "run_paths": ("jobseeker_id", "need_id", [("feasible", sa.Boolean)]),
}
# large JSON columns, last in the new tables (SQLite reads the columns before them without
# walking past them)
BLOBS = {"run_shortlists": "explanation", "run_paths": "path"}
# indexes of the 0603 tables (names are database-wide: dropped before the new tables exist)
OLD_INDEXES = {
    "run_shortlists": ["ix_run_shortlists_jobseeker_id", "ix_run_shortlists_lists"],
}


def _old_name(table: str) -> str:
    return f"{table}_0603"


def _set_aside(table: str) -> None:
    """Rename a 0603 table out of the way, with the names of its constraints on PostgreSQL."""
    for index in OLD_INDEXES.get(table, []):
        op.drop_index(index, table_name=table)
    op.rename_table(table, _old_name(table))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE {_old_name(table)} RENAME CONSTRAINT pk_{table} TO pk_{_old_name(table)}"
        )


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("base_run_id", sa.Integer(), nullable=True))
    op.execute("UPDATE runs SET base_run_id = id")
    for table, (group, member, others) in TABLES.items():
        _set_aside(table)
        op.create_table(
            table,
            sa.Column(group, sa.Integer(), nullable=False),
            sa.Column(member, sa.Integer(), nullable=False),
            *[sa.Column(name, kind(), nullable=False) for name, kind in others],
            sa.Column("from_run", sa.Integer(), nullable=False),
            sa.Column("to_run", sa.Integer(), nullable=True),
            *([sa.Column(BLOBS[table], sa.JSON())] if table in BLOBS else []),
            sa.ForeignKeyConstraint(
                ["from_run"], ["runs.id"], name=f"fk_{table}_from_run_runs", ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint(group, member, "from_run", name=f"pk_{table}"),
        )
        names = ", ".join([group, member, *[name for name, _ in others], *_blob(table)])
        op.execute(
            f"INSERT INTO {table} ({names}, from_run, to_run) "
            f"SELECT {names}, run_id, NULL FROM {_old_name(table)}"
        )
        op.drop_table(_old_name(table))
        closed = sa.text("to_run IS NOT NULL")
        op.create_index(
            f"ix_{table}_to_run", table, ["to_run"], sqlite_where=closed, postgresql_where=closed
        )
    op.create_index("ix_run_shortlists_jobseeker_id", "run_shortlists", ["jobseeker_id"])
    op.create_index(
        "ix_run_shortlists_lists",
        "run_shortlists",
        ["need_id", "from_run", "to_run", "jobseeker_id", "score"],
    )


def _blob(table: str) -> list[str]:
    return [BLOBS[table]] if table in BLOBS else []


def downgrade() -> None:
    # Every complete run gets back its own copy of the rows it shows, ranked.
    op.drop_index("ix_run_shortlists_jobseeker_id", table_name="run_shortlists")
    op.drop_index("ix_run_shortlists_lists", table_name="run_shortlists")
    for table, (group, member, others) in TABLES.items():
        op.drop_index(f"ix_{table}_to_run", table_name=table)
        op.rename_table(table, _old_name(table))
        if op.get_bind().dialect.name == "postgresql":
            op.execute(
                f"ALTER TABLE {_old_name(table)} RENAME CONSTRAINT pk_{table} "
                f"TO pk_{_old_name(table)}"
            )
        ranked = table != "run_paths"
        key = ["run_id", group, "rank"] if ranked else ["run_id", group, member]
        op.create_table(
            table,
            sa.Column("run_id", sa.Integer(), nullable=False),
            sa.Column(group, sa.Integer(), nullable=False),
            *([sa.Column("rank", sa.Integer(), nullable=False)] if ranked else []),
            sa.Column(member, sa.Integer(), nullable=False),
            *[sa.Column(name, kind(), nullable=False) for name, kind in others],
            *([sa.Column(BLOBS[table], sa.JSON())] if table in BLOBS else []),
            sa.ForeignKeyConstraint(
                ["run_id"], ["runs.id"], name=f"fk_{table}_run_id_runs", ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint(*key, name=f"pk_{table}"),
        )
        cols = [group, member, *[name for name, _ in others], *_blob(table)]
        names = ", ".join(cols)
        picked = ", ".join(f"t.{n}" for n in cols)
        rank = (
            f", ROW_NUMBER() OVER (PARTITION BY r.id, t.{group} "
            f"ORDER BY t.score DESC, t.{member})"
            if ranked
            else ""
        )
        op.execute(
            f"INSERT INTO {table} (run_id, {names}{', rank' if ranked else ''}) "
            f"SELECT r.id, {picked}{rank} FROM runs r JOIN {_old_name(table)} t "
            f"ON t.from_run >= r.base_run_id AND t.from_run <= r.id "
            f"AND (t.to_run IS NULL OR t.to_run > r.id) WHERE r.status = 'complete'"
        )
        op.drop_table(_old_name(table))
    op.create_index("ix_run_shortlists_jobseeker_id", "run_shortlists", ["jobseeker_id"])
    op.create_index(
        "ix_run_shortlists_lists",
        "run_shortlists",
        ["run_id", "need_id", "rank", "jobseeker_id", "score"],
    )
    # not batch mode: rebuilding ``runs`` on SQLite would drop it, and the cascade with it the
    # rows just restored (SQLite >= 3.35 drops a column in place)
    op.execute("ALTER TABLE runs DROP COLUMN base_run_id")

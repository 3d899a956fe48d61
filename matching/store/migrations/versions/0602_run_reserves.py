"""nightly runs: per-need reserve of candidates ranked after the shortlist

Revision ID: 0602
Revises: 0601
Create Date: 2026-11-25 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0602"
down_revision = "0601"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Read by the next incremental run only (never by readers): a need that loses a shortlisted
    # candidate is completed from its reserve instead of being recomputed over everyone.
    op.create_table(
        "run_reserves",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("jobseeker_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_run_reserves_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "need_id", "rank", name=op.f("pk_run_reserves")),
    )


def downgrade() -> None:
    op.drop_table("run_reserves")

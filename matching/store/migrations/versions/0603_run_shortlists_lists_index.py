"""nightly runs: covering index of the shortlists' keys and scores

Revision ID: 0603
Revises: 0602
Create Date: 2026-11-25 12:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0603"
down_revision = "0602"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An incremental run reads every need's list (keys and scores) of the previous run. Without
    # this index SQLite reads the whole rows, explanations included (about 550 MB at 100,000
    # jobseekers), to get 450,000 x 4 numbers.
    op.create_index(
        "ix_run_shortlists_lists",
        "run_shortlists",
        ["run_id", "need_id", "rank", "jobseeker_id", "score"],
    )


def downgrade() -> None:
    op.drop_index("ix_run_shortlists_lists", table_name="run_shortlists")

"""Each stored case's matter (objects, demands, places), kept at ingest so matching never segments it again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_matters",
        sa.Column("case_pk", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("matter", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["case_pk"], ["cases.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_pk"),
    )


def downgrade() -> None:
    op.drop_table("case_matters")

"""Initial schema: cases, identities, case vectors, suggestions, decisions, audit (as in triage/store.py).

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ext_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("norm_hash", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=True),
        sa.Column("region", sa.String(length=200), nullable=True),
        sa.Column("domain", sa.String(length=200), nullable=True),
        sa.Column("type", sa.String(length=50), nullable=True),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("petitioner_masked", sa.JSON(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
    )
    op.create_index("ix_cases_domain", "cases", ["domain"])
    op.create_index("ix_cases_ext_id", "cases", ["ext_id"], unique=True)
    op.create_index("ix_cases_norm_hash", "cases", ["norm_hash"])
    op.create_index("ix_cases_received_at", "cases", ["received_at"])

    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["case_pk"], ["cases.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_identities_case_pk", "identities", ["case_pk"])
    op.create_index("ix_identities_hash", "identities", ["hash"])
    op.create_index("ix_identity_kind_hash", "identities", ["kind", "hash"])

    op.create_table(
        "case_vectors",
        sa.Column("case_pk", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["case_pk"], ["cases.pk"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_pk", "model"),
    )

    op.create_table(
        "suggestions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_pk", sa.Integer(), nullable=True),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_pk"], ["cases.pk"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_suggestions_case_pk", "suggestions", ["case_pk"])

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("suggestion_id", sa.Integer(), nullable=False),
        sa.Column("case_pk", sa.Integer(), nullable=True),
        sa.Column("part", sa.String(length=30), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("suggested", sa.JSON(), nullable=True),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("handler", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_pk"], ["cases.pk"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["suggestion_id"], ["suggestions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_decisions_case_pk", "decisions", ["case_pk"])
    op.create_index("ix_decisions_suggestion_id", "decisions", ["suggestion_id"])

    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("model_version", sa.String(length=100), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])


def downgrade() -> None:
    op.drop_table("audit")
    op.drop_table("decisions")
    op.drop_table("suggestions")
    op.drop_table("case_vectors")
    op.drop_table("identities")
    op.drop_table("cases")

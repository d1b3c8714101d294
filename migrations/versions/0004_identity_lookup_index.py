"""Identity look-ups read the newest cases of one (kind, hash) straight from an index on (kind, hash, case_pk).

With (kind, hash) only, a petitioner with many cases (160k rows for one account in the 1M benchmark) made every
reception check sort all of that petitioner's rows to keep the newest 20 (18 ms). The new index replaces the old
one, of which it is an extension. ``IF NOT EXISTS``: a store made by ``create_all`` already has it when stamped.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS ix_identity_kind_hash_case ON identities (kind, hash, case_pk)")
    op.execute("DROP INDEX IF EXISTS ix_identity_kind_hash")


def downgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS ix_identity_kind_hash ON identities (kind, hash)")
    op.execute("DROP INDEX IF EXISTS ix_identity_kind_hash_case")

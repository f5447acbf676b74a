"""claim lease index: the deadline sweeper finds claims whose lease ran out without a scan

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_requests_claimed_claim_expires_at",
            ["claim_expires_at"],
            unique=False,
            sqlite_where=sa.text("status IN ('claimed')"),
            postgresql_where=sa.text("status IN ('claimed')"),
        )


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_requests_claimed_claim_expires_at",
            sqlite_where=sa.text("status IN ('claimed')"),
            postgresql_where=sa.text("status IN ('claimed')"),
        )

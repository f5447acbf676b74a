"""request lists at scale: a tally of requests by key kept by triggers, indexes that read each loop's
requests in the list's order, and a reviewer's answers by time

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from openhitl.requests import tallies

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_tallies",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("loop_id", sa.String(length=24), nullable=False),
        sa.Column("creator_id", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_tallies")),
    )
    tallies.install(op.get_bind())
    op.create_index("ix_requests_loop_created", "requests", ["loop_id", "created_at", "id"])
    op.create_index(
        "ix_requests_creator_loop_created", "requests", ["creator_id", "loop_id", "created_at", "id"]
    )
    op.drop_index("ix_requests_creator_created", table_name="requests")
    op.create_index("ix_requests_response_by_updated", "requests", ["response_by", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_requests_response_by_updated", table_name="requests")
    op.create_index("ix_requests_creator_created", "requests", ["creator_id", "created_at"])
    op.drop_index("ix_requests_creator_loop_created", table_name="requests")
    op.drop_index("ix_requests_loop_created", table_name="requests")
    tallies.uninstall(op.get_bind())
    op.drop_table("request_tallies")

"""claim_seconds: how long a request waited for its first claim, kept on the request so that analytics read
one row per request instead of the claim events

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 15:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from openhitl.requests import tallies

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# From the first request.claimed event; else, for a request answered straight from the queue, its answer.
BACKFILL = {
    "postgresql": (
        "UPDATE requests SET claim_seconds = ROUND(CAST(EXTRACT(EPOCH FROM (claimed.at - requests.created_at))"
        " AS NUMERIC), 3) FROM (SELECT request_id, MIN(created_at) AS at FROM events"
        " WHERE type = 'request.claimed' GROUP BY request_id) AS claimed WHERE claimed.request_id = requests.id"
    ),
    "sqlite": (
        "UPDATE requests SET claim_seconds = ROUND((julianday(claimed.at) - julianday(requests.created_at))"
        " * 86400.0, 3) FROM (SELECT request_id, MIN(created_at) AS at FROM events"
        " WHERE type = 'request.claimed' GROUP BY request_id) AS claimed WHERE claimed.request_id = requests.id"
    ),
}
ANSWERED_UNCLAIMED = (
    "UPDATE requests SET claim_seconds = response_time_seconds"
    " WHERE claim_seconds IS NULL AND response_time_seconds IS NOT NULL"
)


def upgrade() -> None:
    op.add_column("requests", sa.Column("claim_seconds", sa.Float(), nullable=True))
    bind = op.get_bind()
    bind.execute(sa.text(BACKFILL[bind.dialect.name]))
    bind.execute(sa.text(ANSWERED_UNCLAIMED))


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("claim_seconds")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":  # the table was copied anew, without its triggers
        tallies.create_triggers(bind)

"""idempotency keys are claimed before their request is written: the key's reference to the request is
checked at commit

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 05:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "fk_idempotency_keys_request_id_requests"


def _replace(*, deferred: bool) -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_constraint(NAME, type_="foreignkey")
        batch_op.create_foreign_key(
            NAME,
            "requests",
            ["request_id"],
            ["id"],
            ondelete="CASCADE",
            deferrable=True if deferred else None,
            initially="DEFERRED" if deferred else None,
        )


def upgrade() -> None:
    _replace(deferred=True)


def downgrade() -> None:
    _replace(deferred=False)

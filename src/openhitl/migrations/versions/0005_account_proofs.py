"""account proofs: a sign-up waits in its emailed link until the address is proven; a browser's push
subscription belongs to the session that made it, so signing out removes it

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("invite_code", sa.String(length=6), nullable=True))
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.String(length=24), nullable=True))
        batch_op.create_index("ix_push_subscriptions_session_id", ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_push_subscriptions_session_id")
        batch_op.drop_column("session_id")
    with op.batch_alter_table("login_links", schema=None) as batch_op:
        batch_op.drop_column("invite_code")
        batch_op.drop_column("password_hash")
        batch_op.drop_column("name")

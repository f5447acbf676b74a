"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 05:33:45.464453
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openhitl.kit.types
from openhitl.kit.types import JSONType

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("loop_id", sa.String(length=24), nullable=True),
        sa.Column("request_id", sa.String(length=24), nullable=True),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("actor_id", sa.String(length=24), nullable=True),
        sa.Column(
            "data",
            JSONType,
            nullable=False,
        ),
        sa.Column("created_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_loop_id_id", ["loop_id", "id"], unique=False)
        batch_op.create_index("ix_events_request_id", ["request_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column(
            "permissions",
            JSONType,
            nullable=False,
        ),
        sa.Column("created_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("digest", name=op.f("uq_api_keys_digest")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_user_id"), ["user_id"], unique=False)

    op.create_table(
        "loops",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("icon", sa.String(length=100), nullable=False),
        sa.Column("creator_id", sa.String(length=24), nullable=False),
        sa.Column("invite_code", sa.String(length=12), nullable=False),
        sa.Column(
            "settings",
            JSONType,
            nullable=False,
        ),
        sa.Column("created_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["users.id"], name=op.f("fk_loops_creator_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loops")),
        sa.UniqueConstraint("invite_code", name=op.f("uq_loops_invite_code")),
    )
    with op.batch_alter_table("loops", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loops_creator_id"), ["creator_id"], unique=False)

    op.create_table(
        "memberships",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("loop_id", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.String(length=24), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("joined_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_active", openhitl.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["loop_id"], ["loops.id"], name=op.f("fk_memberships_loop_id_loops"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("loop_id", "user_id", name=op.f("uq_memberships_loop_id_user_id")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index("ix_memberships_user_status", ["user_id", "status"], unique=False)

    op.create_table(
        "requests",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("loop_id", sa.String(length=24), nullable=False),
        sa.Column("creator_id", sa.String(length=24), nullable=False),
        sa.Column("api_key_id", sa.String(length=24), nullable=True),
        sa.Column("processing_type", sa.String(length=20), nullable=False),
        sa.Column("content_type", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("priority_rank", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("request_text", sa.Text(), nullable=False),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column(
            "context",
            JSONType,
            nullable=True,
        ),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("platform_version", sa.String(length=50), nullable=True),
        sa.Column("response_type", sa.String(length=20), nullable=False),
        sa.Column(
            "response_config",
            JSONType,
            nullable=False,
        ),
        sa.Column(
            "default_response",
            JSONType,
            nullable=True,
        ),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("timeout_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column(
            "tags",
            JSONType,
            nullable=True,
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("claimed_by", sa.String(length=24), nullable=True),
        sa.Column("claimed_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claim_expires_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("broadcast_count", sa.Integer(), nullable=False),
        sa.Column("notifications_sent", sa.Integer(), nullable=False),
        sa.Column("response_by", sa.String(length=24), nullable=True),
        sa.Column("response_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "response_data",
            JSONType,
            nullable=True,
        ),
        sa.Column("response_time_seconds", sa.Float(), nullable=True),
        sa.Column("cancelled_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("previous_status", sa.String(length=20), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["users.id"], name=op.f("fk_requests_creator_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["loop_id"], ["loops.id"], name=op.f("fk_requests_loop_id_loops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests")),
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index("ix_requests_creator_created", ["creator_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_requests_loop_queue", ["loop_id", "status", "priority_rank", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_requests_open_timeout_at",
            ["timeout_at"],
            unique=False,
            sqlite_where=sa.text("status IN ('pending', 'claimed')"),
            postgresql_where=sa.text("status IN ('pending', 'claimed')"),
        )

    op.create_table(
        "feedback",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("request_id", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.String(length=24), nullable=False),
        sa.Column(
            "feedback",
            JSONType,
            nullable=False,
        ),
        sa.Column("created_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_feedback_request_id_requests"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_feedback_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_request_id"), ["request_id"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.String(length=24), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("body_digest", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=24), nullable=False),
        sa.Column("created_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_idempotency_keys_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_idempotency_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_idempotency_keys_user_id_key")),
    )
    op.create_table(
        "responses",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("request_id", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.String(length=24), nullable=False),
        sa.Column(
            "response_data",
            JSONType,
            nullable=False,
        ),
        sa.Column("created_at", openhitl.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_responses_request_id_requests"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_responses_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responses")),
    )
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_responses_request_id"), ["request_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_responses_request_id"))

    op.drop_table("responses")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_request_id"))

    op.drop_table("feedback")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_requests_open_timeout_at",
            sqlite_where=sa.text("status IN ('pending', 'claimed')"),
            postgresql_where=sa.text("status IN ('pending', 'claimed')"),
        )
        batch_op.drop_index("ix_requests_loop_queue")
        batch_op.drop_index("ix_requests_creator_created")

    op.drop_table("requests")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_memberships_user_status")

    op.drop_table("memberships")
    with op.batch_alter_table("loops", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loops_creator_id"))

    op.drop_table("loops")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_user_id"))

    op.drop_table("api_keys")
    op.drop_table("users")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_request_id")
        batch_op.drop_index("ix_events_loop_id_id")

    op.drop_table("events")

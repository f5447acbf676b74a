"""Loops and their memberships."""

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from openhitl.kit.db import Base
from openhitl.kit.types import JSONType, UTCDateTime

ROLES = ("creator", "admin", "member", "viewer")
MANAGER_ROLES = ("creator", "admin")
# Who reads every request of the loop and its answers, as its managers do: a viewer reads, nothing more.
READER_ROLES = (*MANAGER_ROLES, "viewer")


def answering(role: Any) -> Any:
    """The condition on a membership's role column that it is asked to answer the loop's requests (queue,
    claims, answers, pushes and emails): every role but viewer. A plain comparison, so that statements
    prepared once (kit/prepared.py) take it as they take a literal status."""
    return role != "viewer"


class Loop(Base):
    __tablename__ = "loops"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    icon: Mapped[str] = mapped_column(String(100))
    creator_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    invite_code: Mapped[str] = mapped_column(String(12), unique=True)
    # e.g. {"members_can_create_requests": false}; read through loops.service.loop_setting.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("loop_id", "user_id"),
        Index("ix_memberships_user_status", "user_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    loop_id: Mapped[str] = mapped_column(ForeignKey("loops.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20), default="member")
    status: Mapped[str] = mapped_column(String(20), default="active")
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_active: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # How this member wants to hear about the loop's requests.
    notify_push: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    notify_email: Mapped[str] = mapped_column(String(20), default="none", server_default="none")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Invitation(Base):
    """An emailed invitation: a pending membership until the invitee signs in or follows the link."""

    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    loop_id: Mapped[str] = mapped_column(ForeignKey("loops.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str | None] = mapped_column(String(24), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

"""Who hears of a request: the one definition of it.

Delivery reads these to find whom to push, email and call back; creating a request asks the same
questions in one statement first (`requests/repository.create_access`), to skip delivery's lookups when
nobody would hear. Both take the rules from here, so the prediction cannot drift from what delivery does
(`tests/integration/test_audience.py` checks every combination).
"""

from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import InstrumentedAttribute, aliased

from openhitl.accounts.models import User
from openhitl.delivery.models import PushSubscription, WebhookEndpoint
from openhitl.loops.models import Membership, answering

# A loop id: a value, or a column of an enclosing query (the create path's `Loop.id`).
LoopRef = str | ColumnElement[Any] | InstrumentedAttribute[Any]


def listening_members(loop_id: LoopRef, *, push: bool = False, email: bool = False) -> Select[str]:
    """Active members who answer (not viewers), with active accounts: those who keep push on (`push`), who
    take emails (`email`)."""
    member = aliased(Membership)
    statement = (
        select(member.user_id)
        .join(User, User.id == member.user_id)
        .where(
            member.loop_id == loop_id,
            member.status == "active",
            answering(member.role),
            User.status == "active",
        )
        .correlate_except(member, User)  # a loop column given is the enclosing query's, at any depth
    )
    if push:
        statement = statement.where(member.notify_push.is_(True))
    if email:
        statement = statement.where(member.notify_email == "on")
    return statement


def push_subscriptions(loop_id: LoopRef, *, user_id: str | None = None) -> Select[str]:
    """The subscriptions a push about the loop goes to (only `user_id`'s when given)."""
    members = listening_members(loop_id, push=True)
    if user_id is not None:
        members = members.where(members.selected_columns.user_id == user_id)
    return select(PushSubscription.id).where(PushSubscription.user_id.in_(members.scalar_subquery()))


def webhook_endpoints(*, creator_id: Any, loop_creator_id: Any) -> ColumnElement[bool]:
    """The endpoints a request's events go to: enabled ones of its creator and of its loop's creator."""
    return WebhookEndpoint.is_active.is_(True) & or_(
        WebhookEndpoint.user_id == creator_id, WebhookEndpoint.user_id == loop_creator_id
    )


def pushes_at_once(*, processing_type: str) -> bool:
    """Time-sensitive requests push to every listening member when created; deferred ones wait."""
    return processing_type == "time-sensitive"


def wants_email(*, priority: str, processing_type: str) -> bool:
    """Emails go out for critical requests and deferred ones (which push nobody at once)."""
    return priority == "critical" or processing_type == "deferred"


def new_request_reaches(
    *, has_endpoints: bool, has_push: bool, has_email: bool, processing_type: str, priority: str
) -> bool:
    """Whether a new request may cause a webhook, push or email, given who listens to its loop."""
    return (
        has_endpoints
        or (has_push and pushes_at_once(processing_type=processing_type))
        or (has_email and wants_email(priority=priority, processing_type=processing_type))
    )

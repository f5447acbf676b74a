"""Every table, imported in one place so metadata (and Alembic) sees them all."""

from openhitl.accounts.models import ApiKey, LoginLink, User, WebSession
from openhitl.delivery.models import Delivery, OutboxMessage, PushSubscription, ServerSecret, WebhookEndpoint
from openhitl.kit.db import Base
from openhitl.loops.models import Invitation, Loop, Membership
from openhitl.realtime.models import Event
from openhitl.requests.models import Feedback, IdempotencyKey, Request, Response

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Delivery",
    "Event",
    "Feedback",
    "IdempotencyKey",
    "Invitation",
    "LoginLink",
    "Loop",
    "Membership",
    "OutboxMessage",
    "PushSubscription",
    "Request",
    "Response",
    "ServerSecret",
    "User",
    "WebSession",
    "WebhookEndpoint",
]

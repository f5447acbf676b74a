"""Every table, imported in one place so metadata (and Alembic) sees them all."""

from openhitl.accounts.models import ApiKey, User
from openhitl.kit.db import Base
from openhitl.loops.models import Loop, Membership
from openhitl.realtime.models import Event
from openhitl.requests.models import Feedback, IdempotencyKey, Request, Response

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Event",
    "Feedback",
    "IdempotencyKey",
    "Loop",
    "Membership",
    "Request",
    "Response",
    "User",
]

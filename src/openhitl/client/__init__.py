"""The OpenHITL Python SDK: ask a human from code and get a typed answer back."""

from openhitl.client.aio import AsyncClient
from openhitl.client.api import AskOptions
from openhitl.client.approval import require_approval
from openhitl.client.errors import (
    APIError,
    ApprovalDenied,
    AuthenticationFailed,
    BadRequest,
    Conflict,
    ConnectionFailed,
    InvalidId,
    NotFound,
    OpenHITLError,
    PermissionDenied,
    RateLimited,
    ServerError,
    WaitTimedOut,
)
from openhitl.client.models import (
    ApiKey,
    Cancelled,
    CreatedApiKey,
    CreatedLoop,
    CreatedRequest,
    Decision,
    Feedback,
    Loop,
    Member,
    Members,
    Person,
    Request,
    RequestPage,
    Webhook,
)
from openhitl.client.sync import Client
from openhitl.client.webhooks import InvalidSignature, verify_webhook

__all__ = [
    "APIError",
    "ApiKey",
    "ApprovalDenied",
    "AskOptions",
    "AsyncClient",
    "AuthenticationFailed",
    "BadRequest",
    "Cancelled",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "CreatedApiKey",
    "CreatedLoop",
    "CreatedRequest",
    "Decision",
    "Feedback",
    "InvalidId",
    "InvalidSignature",
    "Loop",
    "Member",
    "Members",
    "NotFound",
    "OpenHITLError",
    "PermissionDenied",
    "Person",
    "RateLimited",
    "Request",
    "RequestPage",
    "ServerError",
    "WaitTimedOut",
    "Webhook",
    "require_approval",
    "verify_webhook",
]

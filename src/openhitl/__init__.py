"""OpenHITL: a self-hosted human-in-the-loop server that speaks the HITL.sh API, and its Python SDK.

`from openhitl import Client` loads only the SDK (httpx and pydantic), never the server's modules.
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from openhitl.client import (
        APIError,
        ApprovalDenied,
        AsyncClient,
        Client,
        ConnectionFailed,
        Decision,
        InvalidId,
        InvalidSignature,
        OpenHITLError,
        WaitTimedOut,
        require_approval,
        verify_webhook,
    )

__all__ = [
    "APIError",
    "ApprovalDenied",
    "AsyncClient",
    "Client",
    "ConnectionFailed",
    "Decision",
    "InvalidId",
    "InvalidSignature",
    "OpenHITLError",
    "WaitTimedOut",
    "require_approval",
    "verify_webhook",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from openhitl import client

        return getattr(client, name)
    raise AttributeError(f"module 'openhitl' has no attribute {name!r}")

"""What the SDK raises: the server's answer (status, `msg`, `data`), a connection that failed, a refusal."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openhitl.client.models import Decision


class OpenHITLError(Exception):
    """Everything the SDK raises derives from this."""


class InvalidId(OpenHITLError, ValueError):
    """An id given to the SDK is not an OpenHITL id (24 hexadecimal characters): nothing was sent. Ids become
    part of request paths, so a string such as `../webhooks/<id>` must never reach one."""

    def __init__(self, name: str, value: object) -> None:
        self.name = name
        self.value = value
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        super().__init__(f"{name} must be a 24-character hexadecimal id, got {shown}; nothing was sent")


class ConnectionFailed(OpenHITLError):
    """The server could not be reached (after the retries the call allows)."""


class APIError(OpenHITLError):
    """The server answered with an error envelope; `msg` and `data` are what it said."""

    def __init__(self, status_code: int, msg: str, data: Any = None) -> None:
        self.status_code = status_code
        self.msg = msg
        self.data = data
        detail = f": {data}" if isinstance(data, str) and data else ""
        super().__init__(f"{msg}{detail} (status {status_code})")


class BadRequest(APIError):
    """400: the call was invalid; `data` says what to fix."""


class AuthenticationFailed(APIError):
    """401: the API key is missing, wrong, revoked or expired."""


class PermissionDenied(APIError):
    """403: the key may not do this (a missing permission, or not this loop's manager)."""


class NotFound(APIError):
    """404."""


class Conflict(APIError):
    """409: the request or loop is not in a state that allows this."""


class RateLimited(APIError):
    """429: the key's hourly limit is used up; `data.reset_at` says when it resets."""


class ServerError(APIError):
    """5xx."""


class WaitTimedOut(OpenHITLError):
    """`wait(..., timeout=)` gave up before the request was decided; the request itself is still open."""

    def __init__(self, request_id: str, seconds: float) -> None:
        self.request_id = request_id
        super().__init__(f"request {request_id} was not decided within {seconds:g} seconds")


class ApprovalDenied(OpenHITLError):
    """`require_approval`: the human rejected the call, or nobody approved it before it timed out or was
    cancelled. The function did not run; `decision` is what happened."""

    def __init__(self, name: str, decision: "Decision") -> None:
        self.decision = decision
        reason = {
            "completed": f"rejected by {decision.answered_by.name if decision.answered_by else 'a reviewer'}",
            "timeout": "not approved before the request timed out",
            "cancelled": "the approval request was cancelled",
        }.get(decision.status, decision.status)
        super().__init__(f"{name} was not run: {reason}")


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def api_error(status_code: int, msg: str, data: Any) -> APIError:
    kind = _BY_STATUS.get(status_code, ServerError if status_code >= 500 else APIError)
    return kind(status_code, msg, data)

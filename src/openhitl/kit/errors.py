"""Domain errors that carry their HTTP status, HITL.sh message and optional detail."""

from typing import Any


class ApiError(Exception):
    status_code = 400

    def __init__(self, msg: str, data: Any = None, *, status_code: int | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.data = data
        if status_code is not None:
            self.status_code = status_code

    @property
    def headers(self) -> dict[str, str]:
        """Headers the answer carries, whether it is the JSON envelope or a web page."""
        return {}


class BadRequest(ApiError):
    status_code = 400


class ValidationFailed(BadRequest):
    def __init__(self, detail: str) -> None:
        super().__init__("Validation failed", detail)


class Unauthorized(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class UnsupportedMediaType(ApiError):
    status_code = 415


class TooManyRequests(ApiError):
    status_code = 429

    @property
    def headers(self) -> dict[str, str]:
        # A minute frees the guessing guards; the hourly key limit states its reset_at in the body.
        return {"Retry-After": "60"}

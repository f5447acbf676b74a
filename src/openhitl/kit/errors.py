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


class TooManyRequests(ApiError):
    status_code = 429

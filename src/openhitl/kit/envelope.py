"""The HITL.sh response envelope `{"error", "msg", "data"}` and its OpenAPI models."""

from typing import Any, Generic, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    error: bool = False
    msg: str
    data: T


class ErrorEnvelope(BaseModel):
    error: bool = True
    msg: str
    data: Any = None


def ok(data: T, msg: str) -> Envelope[T]:
    return Envelope[T](error=False, msg=msg, data=data)


def error_response(
    status_code: int, msg: str, data: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": True, "msg": msg, "data": data}, status_code=status_code, headers=headers)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each listed status documented with the error envelope."""
    return {code: {"model": ErrorEnvelope} for code in codes}


HTML_PAGE = {"text/html": {"schema": {"type": "string"}}}


def page_error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """For routes browsers use too: the envelope for scripts, a page saying what went wrong for forms."""
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    return {
        code: {"description": HTTP_STATUS_PHRASES.get(code, "Error"), "content": {**envelope, **HTML_PAGE}}
        for code in codes
    }


HTTP_STATUS_PHRASES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
}

"""limit/offset pagination with the HITL.sh answer shape (count, total, has_more, pagination)."""

from pydantic import BaseModel

from openhitl.kit.errors import BadRequest

MAX_LIMIT = 100
MAX_OFFSET = 2**31 - 1  # beyond any table; larger numbers overflow the databases' OFFSET
DEFAULT_LIMIT = 50


class Page(BaseModel):
    limit: int
    offset: int


class PaginationInfo(BaseModel):
    limit: int
    offset: int
    next_offset: int | None


def page_params(limit: int = DEFAULT_LIMIT, offset: int = 0) -> Page:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest("Invalid pagination parameters", f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise BadRequest("Invalid pagination parameters", "offset must be 0 or more")
    if offset > MAX_OFFSET:
        raise BadRequest("Invalid pagination parameters", f"offset must be at most {MAX_OFFSET}")
    return Page(limit=limit, offset=offset)


def page_info(page: Page, *, count: int, total: int) -> tuple[bool, PaginationInfo]:
    has_more = page.offset + count < total
    return has_more, PaginationInfo(
        limit=page.limit, offset=page.offset, next_offset=page.offset + count if has_more else None
    )

"""Reviewer shapes: joining, the inbox and its items, answers."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from openhitl.accounts.schemas import InviteCode
from openhitl.kit.bodies import JsonBody
from openhitl.kit.pagination import PaginationInfo
from openhitl.requests.schemas import ContentType, Priority, ResponseType, Status, UserRef


class JoinBody(JsonBody):
    invite_code: InviteCode = Field(
        description="The loop's 6-character code; case, spaces and a dash are ignored"
    )


class JoinedLoop(BaseModel):
    id: str
    name: str
    description: str
    icon: str
    role: str
    member_count: int


class JoinedLoopOne(BaseModel):
    loop: JoinedLoop


class LeftLoop(BaseModel):
    loop_id: str
    left_at: datetime


class RespondBody(JsonBody):
    response_data: Any = Field(description='A raw value ("approve", 4, true, ["a"]) or the structured form')


class ReviewItem(BaseModel):
    """A request as a reviewer sees it: what to decide, how to answer, how long is left."""

    id: str
    request_id: str
    loop_id: str
    loop_name: str
    loop_icon: str
    title: str
    request_text: str
    type: ContentType
    image_url: str | None
    context: dict[str, Any] | None
    priority: Priority
    processing_type: str
    response_type: ResponseType
    response_config: dict[str, Any]
    status: Status
    claimed_by: str | None
    claimed_by_me: bool
    claim_expires_at: datetime | None
    timeout_at: datetime
    time_left_seconds: int
    created_at: datetime
    response_data: Any = None
    response_value: Any = None
    response_by: str | None = None
    response_at: datetime | None = None
    answered_by_me: bool = False


class ReviewItemOne(BaseModel):
    request: ReviewItem


class HistoryCounts(BaseModel):
    all: int
    completed: int
    timeout: int
    cancelled: int


class Inbox(BaseModel):
    view: Literal["queue", "history"]
    requests: list[ReviewItem]
    count: int
    total: int
    has_more: bool
    pagination: PaginationInfo
    counts: HistoryCounts | None = Field(None, description="History only: how many of each outcome")


class Answered(BaseModel):
    id: str
    request_id: str
    status: Status
    response_data: Any
    response_value: Any
    response_by: UserRef
    response_at: datetime
    response_time_seconds: float


class AnsweredOne(BaseModel):
    request: Answered

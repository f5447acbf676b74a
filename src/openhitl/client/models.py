"""Typed answers of the OpenHITL (HITL.sh) API, and the Decision a waiting caller gets.

Models keep fields they do not name (`extra="allow"`), so a newer server's additions are not lost.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TERMINAL_STATUSES = ("completed", "timeout", "cancelled")
Outcome = Literal["completed", "timeout", "cancelled"]


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Person(Model):
    user_id: str
    name: str = ""
    email: str = ""


class Member(Model):
    user_id: str
    email: str
    name: str = ""
    status: str
    role: str = "member"
    joined_at: datetime | None = None
    last_active: datetime | None = None


class Loop(Model):
    id: str
    name: str
    description: str = ""
    icon: str = ""
    creator_id: str
    role: str = ""
    members: list[Member] = Field(default_factory=list)
    member_count: int = 0
    pending_count: int = 0
    invite_code: str | None = None
    join_url: str | None = None
    qr_code_url: str | None = None
    created_at: datetime
    updated_at: datetime | None = None


class CreatedLoop(Model):
    loop: Loop
    invite_code: str
    join_url: str
    qr_code_url: str
    qr_code_base64: str = ""


class Members(Model):
    loop_id: str
    members: list[Member]
    total_count: int
    active_count: int
    pending_count: int


class Request(Model):
    id: str
    loop_id: str
    status: str
    request_text: str
    title: str = ""
    priority: str = "medium"
    processing_type: str = "time-sensitive"
    response_type: str
    response_config: dict[str, Any] = Field(default_factory=dict)
    default_response: Any = None
    context: dict[str, Any] | None = None
    tags: list[str] | None = None
    response_data: Any = None
    response_value: Any = None
    response_by: str | None = None
    response_by_user: Person | None = None
    response_at: datetime | None = None
    response_time_seconds: float | None = None
    timeout_seconds: int | None = None
    timeout_at: datetime
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    created_at: datetime
    updated_at: datetime | None = None

    @property
    def is_closed(self) -> bool:
        return self.status in TERMINAL_STATUSES


class CreatedRequest(Model):
    request_id: str
    status: str
    timeout_at: datetime
    polling_url: str
    broadcasted_to: int = 0
    notifications_sent: int = 0


class RequestPage(Model):
    requests: list[Request]
    count: int
    total: int
    has_more: bool


class Cancelled(Model):
    request_id: str
    status: str
    previous_status: str
    cancelled_at: datetime
    reason: str | None = None


class Feedback(Model):
    request_id: str
    feedback_id: str
    feedback: dict[str, Any]
    submitted_at: datetime


class Webhook(Model):
    id: str
    url: str
    events: list[str]
    enabled: bool
    description: str | None = None
    secret: str | None = Field(None, description="Only in answers about one webhook")
    created_at: datetime
    updated_at: datetime | None = None


class ApiKey(Model):
    id: str
    name: str
    key_prefix: str
    permissions: list[str]
    is_active: bool
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class CreatedApiKey(Model):
    api_key: ApiKey
    key: str = Field(description="The key itself; shown only in this answer")


class Decision(Model):
    """How a request ended. `value` is the human's answer, or the request's default when nobody answered
    in time or it was cancelled (then `is_default` is true and `answered_by` is None)."""

    request_id: str
    status: Outcome
    value: Any
    is_default: bool
    response_data: Any = None
    answered_by: Person | None = None
    answered_at: datetime | None = None
    request: Request

    @property
    def answered(self) -> bool:
        return self.status == "completed"

    @property
    def response_by(self) -> Person | None:
        """`answered_by` by the API's name for it."""
        return self.answered_by

    @classmethod
    def of(cls, request: Request) -> "Decision":
        if request.status not in TERMINAL_STATUSES:
            raise ValueError(f"request {request.id} is still {request.status}")
        answered = request.status == "completed"
        return cls(
            request_id=request.id,
            status=request.status,
            value=request.response_value if answered else request.default_response,
            is_default=not answered,
            response_data=request.response_data if answered else None,
            answered_by=request.response_by_user if answered else None,
            answered_at=request.response_at if answered else None,
            request=request,
        )

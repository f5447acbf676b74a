"""Request shapes: the create/update bodies and every answer (HITL.sh §3.3, §4.3)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictInt

from openhitl.kit.bodies import JsonBody
from openhitl.kit.pagination import PaginationInfo
from openhitl.requests.response_configs import RESPONSE_CONFIG_DESCRIPTION

ProcessingType = Literal["time-sensitive", "deferred"]
ContentType = Literal["markdown", "image"]
Priority = Literal["low", "medium", "high", "critical"]
ResponseType = Literal["text", "single_select", "multi_select", "rating", "number", "boolean"]
Platform = Literal["n8n", "zapier", "web_portal", "api", "mobile", "webhook", "make", "sdk", "mcp", "cli"]
Status = Literal["pending", "claimed", "completed", "timeout", "cancelled"]


def _not_blank(field: str) -> Any:
    def check(value: str) -> str:
        if not value.strip():
            raise ValueError(f"{field} must not be empty")
        return value

    return AfterValidator(check)


def _max_length(field: str, limit: int) -> Any:
    def check(value: str | None) -> str | None:
        if value is not None and len(value) > limit:
            raise ValueError(f"{field} must be at most {limit} characters")
        return value

    return AfterValidator(check)


def _tags(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if len(value) > 50:
        raise ValueError("tags must have at most 50 items")
    if any(len(tag) > 100 for tag in value):
        raise ValueError("each tag must be at most 100 characters")
    return value


RequestText = Annotated[str, _not_blank("request_text"), Field(json_schema_extra={"minLength": 1})]
Title = Annotated[str | None, _max_length("title", 200), Field(json_schema_extra={"maxLength": 200})]
ImageUrl = Annotated[str | None, _max_length("image_url", 2048), Field(json_schema_extra={"maxLength": 2048})]
CallbackUrl = Annotated[
    str | None, _max_length("callback_url", 2048), Field(json_schema_extra={"maxLength": 2048})
]
PlatformVersion = Annotated[str | None, _max_length("platform_version", 50)]
Tags = Annotated[list[str] | None, AfterValidator(_tags)]


DEFAULT_RESPONSE_DESCRIPTION = (
    "Reported as the outcome if nobody answers in time. It is the caller's fallback, not a reviewer's answer, "
    "so only its type is checked: a string for text, an option value for single_select, a list of option "
    "values for multi_select, a number for rating and number, true or false for boolean (raw or structured). "
    "The rules meant for reviewers (min_length/max_length, min/max, steps, decimal places, allow_negative, "
    'min_selections/max_selections, required) do not apply: "No summary provided" is a valid default '
    "under min_length 20, and so is 0 on a 1-5 scale. Text defaults may be up to 5000 characters."
)


class RequestCreate(JsonBody):
    processing_type: ProcessingType
    type: ContentType = Field(description="How request_text is shown: markdown, or an image with a caption")
    priority: Priority = "medium"
    request_text: RequestText
    title: Title = None
    image_url: ImageUrl = None
    context: dict[str, Any] | None = None
    timeout_seconds: StrictInt | None = Field(
        None, description="Required for time-sensitive requests; deferred ones default to 30 days"
    )
    response_type: ResponseType
    response_config: dict[str, Any] = Field(description=RESPONSE_CONFIG_DESCRIPTION)
    default_response: Any = Field(description=DEFAULT_RESPONSE_DESCRIPTION)
    platform: Platform = "api"
    platform_version: PlatformVersion = None
    callback_url: CallbackUrl = None
    tags: Tags = None


class RequestUpdate(JsonBody):
    processing_type: ProcessingType | None = None
    type: ContentType | None = None
    priority: Priority | None = None
    request_text: RequestText | None = None
    title: Title = None
    image_url: ImageUrl = None
    context: dict[str, Any] | None = None
    timeout_seconds: StrictInt | None = None
    response_type: ResponseType | None = None
    response_config: dict[str, Any] | None = Field(None, description=RESPONSE_CONFIG_DESCRIPTION)
    default_response: Any = Field(None, description=DEFAULT_RESPONSE_DESCRIPTION)
    platform: Platform | None = None
    platform_version: PlatformVersion = None
    callback_url: CallbackUrl = None
    tags: Tags = None
    status: Literal["cancelled"] | None = Field(
        None, description="Only 'cancelled', which cancels the request"
    )


class CancelBody(JsonBody):
    reason: Annotated[str | None, _max_length("reason", 1000)] = None


class RequestCreated(BaseModel):
    request_id: str
    id: str
    status: Status
    processing_type: ProcessingType
    type: ContentType
    priority: Priority
    timeout_at: datetime
    broadcasted_to: int = Field(description="Active members the request went to")
    notifications_sent: int = Field(description="Pushes accepted by a push service")
    polling_url: str
    created_at: datetime


class UserRef(BaseModel):
    user_id: str
    name: str
    email: str


class BroadcastRecipient(BaseModel):
    user_id: str
    email: str
    role: str
    notification_sent: bool
    notification_error: str | None


class FeedbackRead(BaseModel):
    feedback_id: str
    feedback: dict[str, Any]
    submitted_by: str
    submitted_at: datetime


class RequestSummary(BaseModel):
    id: str
    request_id: str
    loop_id: str
    loop_name: str | None
    creator_id: str
    api_key_id: str | None
    processing_type: ProcessingType
    type: ContentType
    priority: Priority
    title: str
    request_text: str
    image_url: str | None
    context: dict[str, Any] | None
    platform: str
    platform_version: str | None
    response_type: ResponseType
    response_config: dict[str, Any]
    default_response: Any
    timeout_seconds: int
    timeout_at: datetime
    callback_url: str | None
    tags: list[str] | None
    status: Status
    claimed_by: str | None
    claimed_at: datetime | None
    broadcast_count: int
    notifications_sent: int
    response_by: str | None
    response_by_user: UserRef | None
    response_at: datetime | None
    response_data: Any = Field(description="The structured answer (text answers are plain strings)")
    response_value: Any = Field(
        description="The plain answer: option value, list of values, number, bool or text"
    )
    response_time_seconds: float | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    created_at: datetime
    updated_at: datetime


class RequestRead(RequestSummary):
    broadcasted_to: list[BroadcastRecipient]
    broadcasted_at: datetime
    feedback: list[FeedbackRead]


class RequestDetail(RequestRead):
    """The request's fields at the top level (the seed's polling code) and again under `request`."""

    request: RequestRead


class RequestList(BaseModel):
    requests: list[RequestSummary]
    count: int
    total: int
    has_more: bool
    pagination: PaginationInfo


class LoopRequestList(RequestList):
    loop_id: str


class RefundInfo(BaseModel):
    refunded: bool
    reason: str


class RequestCancelled(BaseModel):
    request_id: str
    status: Literal["cancelled"]
    cancelled_at: datetime
    previous_status: str
    reason: str | None
    refund_info: RefundInfo


class RequestOne(BaseModel):
    request: RequestRead


class FeedbackBody(JsonBody):
    feedback: dict[str, Any] = Field(
        description="Any of rating, accuracy, timeliness, helpfulness (1-5), comment (<=1000), "
        "would_recommend, follow_up_needed, tags, category (positive|constructive|issue), plus any other keys"
    )


class FeedbackCreated(BaseModel):
    request_id: str
    feedback_id: str
    feedback: dict[str, Any]
    submitted_at: datetime
    reviewer_notified: bool

"""Building request answers from rows: the one place the wire shape of a request is assembled."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts.models import User
from openhitl.requests import repository
from openhitl.requests.answers import ResponseDataError, plain_value
from openhitl.requests.models import Request
from openhitl.requests.response_configs import ResponseConfigError, parse_config
from openhitl.requests.schemas import (
    BroadcastRecipient,
    FeedbackRead,
    RequestCreated,
    RequestRead,
    RequestSummary,
    UserRef,
)

POLLING_PATH = "/v1/api/requests/{id}"


def plain_answer(request: Request) -> object:
    """The plain value of a request's answer: option value, list of values, number, bool or text."""
    if request.response_data is None:
        return None
    try:
        return plain_value(
            parse_config(request.response_type, request.response_config), request.response_data
        )
    except (ResponseConfigError, ResponseDataError):  # an answer that predates a config change
        return request.response_data


def answer_text(value: object) -> str:
    """A plain answer value as words, as people read it: lists joined, booleans as yes/no."""
    if isinstance(value, list):
        return ", ".join(answer_text(part) for part in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def user_ref(user: User | UserRef | None) -> UserRef | None:
    if user is None or isinstance(user, UserRef):
        return user
    return UserRef(user_id=user.id, name=user.name, email=user.email)


def summary(request: Request, *, loop_name: str | None, responder: User | UserRef | None) -> RequestSummary:
    return RequestSummary(
        id=request.id,
        request_id=request.id,
        loop_id=request.loop_id,
        loop_name=loop_name,
        creator_id=request.creator_id,
        api_key_id=request.api_key_id,
        processing_type=request.processing_type,
        type=request.content_type,
        priority=request.priority,
        title=request.title,
        request_text=request.request_text,
        image_url=request.image_url,
        context=request.context,
        platform=request.platform,
        platform_version=request.platform_version,
        response_type=request.response_type,
        response_config=request.response_config,
        default_response=request.default_response,
        timeout_seconds=request.timeout_seconds,
        timeout_at=request.timeout_at,
        callback_url=request.callback_url,
        tags=request.tags,
        status=request.status,
        claimed_by=request.claimed_by,
        claimed_at=request.claimed_at,
        broadcast_count=request.broadcast_count,
        notifications_sent=request.notifications_sent,
        response_by=request.response_by,
        response_by_user=user_ref(responder),
        response_at=request.response_at,
        response_data=request.response_data,
        response_value=plain_answer(request),
        response_time_seconds=request.response_time_seconds,
        cancelled_at=request.cancelled_at,
        cancel_reason=request.cancel_reason,
        created_at=request.created_at,
        updated_at=request.updated_at,
    )


async def summaries(session: AsyncSession, rows: list[tuple[Request, str]]) -> list[RequestSummary]:
    responders = await repository.users_by_id(session, {r.response_by for r, _ in rows if r.response_by})
    return [summary(r, loop_name=name, responder=responders.get(r.response_by or "")) for r, name in rows]


def closed_detail(parked: RequestRead, request: Request, responder: UserRef | None) -> RequestRead:
    """The detail of a request just closed, from the detail read while it was open (its loop, recipients and
    feedback) and the request as the closing unit of work left it (see realtime.events.closing)."""
    return RequestRead(
        **summary(request, loop_name=parked.loop_name, responder=responder).model_dump(),
        broadcasted_to=parked.broadcasted_to,
        broadcasted_at=request.created_at,
        feedback=parked.feedback,
    )


async def detail(
    session: AsyncSession, request: Request, *, loop_name: str, responder: User | None = None
) -> RequestRead:
    """`responder`: the user who answered, when the caller read it already (saves a query)."""
    if responder is not None and responder.id == request.response_by:
        responders = {responder.id: responder}
    else:
        responders = await repository.users_by_id(
            session, {request.response_by} if request.response_by else set()
        )
    base = summary(request, loop_name=loop_name, responder=responders.get(request.response_by or ""))
    recipients = await repository.recipients(session, request)
    feedback = await repository.feedback_for(session, request.id)
    return RequestRead(
        **base.model_dump(),
        broadcasted_to=[
            BroadcastRecipient(
                user_id=user.id,
                email=user.email,
                role=membership.role,
                notification_sent=False,
                notification_error=None,
            )
            for membership, user in recipients
        ],
        broadcasted_at=request.created_at,
        feedback=[
            FeedbackRead(
                feedback_id=f.id, feedback=f.feedback, submitted_by=f.user_id, submitted_at=f.created_at
            )
            for f in feedback
        ],
    )


def created(values: Mapping[str, Any]) -> RequestCreated:
    """The answer to a create, from the request's column values (a new request is answered from the values
    it was inserted with, without an ORM object)."""
    return RequestCreated(
        request_id=values["id"],
        id=values["id"],
        status=values["status"],
        processing_type=values["processing_type"],
        type=values["content_type"],
        priority=values["priority"],
        timeout_at=values["timeout_at"],
        broadcasted_to=values["broadcast_count"],
        notifications_sent=values["notifications_sent"],
        polling_url=POLLING_PATH.format(id=values["id"]),
        created_at=values["created_at"],
    )

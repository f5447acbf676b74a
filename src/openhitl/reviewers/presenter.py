"""The reviewer's view of a request: an inbox item, and the history filters of the inbox."""

from datetime import datetime

from openhitl.loops.models import Loop
from openhitl.requests.models import Request
from openhitl.requests.presenter import plain_answer
from openhitl.reviewers.schemas import ReviewItem

HISTORY_FILTERS = {
    "all": None,
    "completed": "completed",
    "timeout": "timeout",
    "timed_out": "timeout",
    "cancelled": "cancelled",
}


def review_item(request: Request, loop: Loop, *, user_id: str, now: datetime) -> ReviewItem:
    return ReviewItem(
        id=request.id,
        request_id=request.id,
        loop_id=loop.id,
        loop_name=loop.name,
        loop_icon=loop.icon,
        title=request.title,
        request_text=request.request_text,
        type=request.content_type,
        image_url=request.image_url,
        context=request.context,
        priority=request.priority,
        processing_type=request.processing_type,
        response_type=request.response_type,
        response_config=request.response_config,
        status=request.status,
        claimed_by=request.claimed_by,
        claimed_by_me=request.claimed_by == user_id and request.status == "claimed",
        claim_expires_at=request.claim_expires_at,
        timeout_at=request.timeout_at,
        time_left_seconds=max(0, int((request.timeout_at - now).total_seconds())),
        created_at=request.created_at,
        response_data=request.response_data,
        response_value=plain_answer(request),
        response_by=request.response_by,
        response_at=request.response_at,
        answered_by_me=request.response_by == user_id,
    )

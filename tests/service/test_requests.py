"""Request rules (requests/service.py) called directly: who may create, change, cancel and rate a request."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from openhitl.config import Settings
from openhitl.kit.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from openhitl.kit.work import WritingSession
from openhitl.loops import service as loops
from openhitl.loops.schemas import LoopCreate
from openhitl.requests import service
from openhitl.requests.models import Feedback, IdempotencyKey, Request
from openhitl.requests.schemas import RequestUpdate
from openhitl.reviewers import service as reviewers
from tests.service.conftest import NOW, Team, create, make_team, stored
from tests.support.payloads import request_body

pytestmark = pytest.mark.anyio


async def count(session: WritingSession, model: type[Request | IdempotencyKey | Feedback]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def readable(session: WritingSession, request_id: str, user_id: str) -> service.Readable:
    return await service.get_readable(session, request_id=request_id, user_id=user_id)


async def read_earlier(session: WritingSession, request_id: str, user_id: str) -> service.Readable:
    """The request as a caller read it in a unit of work of their own: what changes it later leaves this
    copy as it was (in the session it would be refreshed in place)."""
    found = await readable(session, request_id, user_id)
    session.expunge(found.request)
    return found


async def update(
    session: WritingSession, settings: Settings, found: service.Readable, **fields: Any
) -> Request:
    return await service.update(
        session,
        readable=found,
        body=RequestUpdate.model_validate(fields),
        actor_id=found.request.creator_id,
        settings=settings,
        now=NOW + timedelta(minutes=1),
    )


# --- create: who may ---


async def test_the_creator_creates_a_pending_request_that_reaches_every_active_member(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    created = await create(session, settings, team.loop.id, team.creator.id, timeout_seconds=600)
    assert not created.replayed
    request = await stored(session, created.values["id"])
    assert (request.status, request.version, request.creator_id) == ("pending", 1, team.creator.id)
    assert request.timeout_at == NOW + timedelta(seconds=600)
    assert request.broadcast_count == 3  # creator, admin and member
    assert request.title == request_body()["request_text"][:200]


@pytest.mark.parametrize(
    ("loop_settings", "who", "allowed"),
    [
        ({}, "admin", True),
        ({"admins_can_create_requests": False}, "admin", False),
        ({}, "member", False),
        ({"members_can_create_requests": True}, "member", True),
        ({"admins_can_create_requests": False, "members_can_create_requests": False}, "creator", True),
    ],
)
async def test_the_loop_settings_decide_whether_admins_and_members_create(
    session: WritingSession, settings: Settings, loop_settings: dict[str, bool], who: str, allowed: bool
) -> None:
    team = await make_team(session, **loop_settings)
    caller = getattr(team, who)
    if allowed:
        created = await create(session, settings, team.loop.id, caller.id)
        assert (await stored(session, created.values["id"])).creator_id == caller.id
    else:
        with pytest.raises(Forbidden, match="Only loop creators and admins can create requests"):
            await create(session, settings, team.loop.id, caller.id)
        assert await count(session, Request) == 0


async def test_someone_outside_the_loop_or_a_missing_loop_gets_not_found(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    with pytest.raises(NotFound, match="Loop not found"):
        await create(session, settings, team.loop.id, team.stranger.id)
    with pytest.raises(NotFound, match="Loop not found"):
        await create(session, settings, "f" * 24, team.creator.id)
    assert await count(session, Request) == 0


async def test_a_member_removed_from_the_loop_can_no_longer_create(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    access = await loops.get_access(session, loop_id=team.loop.id, user_id=team.creator.id)
    await loops.remove_member(
        session, access=access, user_id=team.admin.id, actor_id=team.creator.id, now=NOW
    )
    with pytest.raises(NotFound):
        await create(session, settings, team.loop.id, team.admin.id)


# --- create: what ---


@pytest.mark.parametrize(
    ("fields", "error", "detail"),
    [
        ({"type": "image"}, ValidationFailed, "image_url is required when type is 'image'"),
        ({"type": "image", "image_url": "ftp://x/y.png"}, ValidationFailed, "image_url must be a valid http"),
        (
            {"timeout_seconds": ...},
            ValidationFailed,
            "timeout_seconds is required for time-sensitive requests",
        ),
        ({"timeout_seconds": 10**9}, ValidationFailed, "timeout_seconds must be between"),
        ({"callback_url": "http://169.254.169.254/latest"}, ValidationFailed, "callback_url"),
        ({"callback_url": "ftp://example.com/hook"}, ValidationFailed, "callback_url must be a valid http"),
        ({"timeout_seconds": 5}, ValidationFailed, "timeout_seconds must be between 60 and"),
        ({"response_config": {"options": []}}, BadRequest, "options"),
        ({"default_response": "Maybe"}, ValidationFailed, "default_response is not a valid option"),
        ({"default_response": None}, ValidationFailed, "default_response is required"),
        ({"context": {"blob": "x" * 70_000}}, ValidationFailed, "context must be at most"),
        ({"request_text": "x" * 2001}, ValidationFailed, "request_text must be between 1 and"),
    ],
)
async def test_a_body_that_breaks_a_rule_is_refused_and_nothing_is_stored(
    session: WritingSession,
    settings: Settings,
    team: Team,
    fields: dict[str, Any],
    error: type[ApiError],
    detail: str,
) -> None:
    with pytest.raises(error) as raised:
        await create(session, settings, team.loop.id, team.creator.id, **fields)
    assert type(raised.value) is error
    assert detail in f"{raised.value.msg} {raised.value.data}"
    assert await count(session, Request) == 0


async def test_a_deferred_request_without_a_timeout_takes_the_default(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    created = await create(
        session, settings, team.loop.id, team.creator.id, processing_type="deferred", timeout_seconds=...
    )
    request = await stored(session, created.values["id"])
    assert request.timeout_seconds == settings.deferred_default_timeout_seconds
    assert request.timeout_at == NOW + timedelta(seconds=settings.deferred_default_timeout_seconds)


# --- create: Idempotency-Key ---


async def test_the_same_key_and_body_replays_the_first_request(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    first = await create(session, settings, team.loop.id, team.creator.id, idempotency_key="k-1")
    again = await create(session, settings, team.loop.id, team.creator.id, idempotency_key="k-1")
    assert (first.replayed, again.replayed) == (False, True)
    assert again.values["id"] == first.values["id"]
    assert again.values["timeout_at"] == first.values["timeout_at"]
    assert (await count(session, Request), await count(session, IdempotencyKey)) == (1, 1)


async def test_the_same_key_with_another_body_or_loop_is_a_conflict(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    await create(session, settings, team.loop.id, team.creator.id, idempotency_key="k-1")
    with pytest.raises(Conflict, match="Idempotency-Key reused with a different request"):
        await create(session, settings, team.loop.id, team.creator.id, idempotency_key="k-1", priority="high")
    other = await loops.create(
        session, creator=team.creator, data=LoopCreate(name="Other", icon="star"), now=NOW
    )
    with pytest.raises(Conflict, match="Idempotency-Key reused"):
        await create(session, settings, other.loop.id, team.creator.id, idempotency_key="k-1")
    assert await count(session, Request) == 1


async def test_keys_belong_to_their_caller(session: WritingSession, settings: Settings, team: Team) -> None:
    mine = await create(session, settings, team.loop.id, team.creator.id, idempotency_key="k-1")
    theirs = await create(session, settings, team.loop.id, team.admin.id, idempotency_key="k-1")
    assert not theirs.replayed and theirs.values["id"] != mine.values["id"]
    assert await count(session, Request) == 2


async def test_a_refused_body_under_a_key_stores_no_key(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    with pytest.raises(ValidationFailed):
        await create(session, settings, team.loop.id, team.creator.id, idempotency_key="k-1", type="image")
    created = await create(session, settings, team.loop.id, team.creator.id, idempotency_key="k-1")
    assert not created.replayed


# --- who may read ---


async def test_the_creator_and_managers_read_a_request_members_are_refused_others_never_see_it(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = (await create(session, settings, team.loop.id, team.creator.id)).values["id"]
    assert (await readable(session, request_id, team.creator.id)).role == "creator"
    assert (await readable(session, request_id, team.admin.id)).role == "admin"
    with pytest.raises(Forbidden, match="Access denied to this request"):
        await readable(session, request_id, team.member.id)
    with pytest.raises(NotFound):
        await readable(session, request_id, team.stranger.id)


# --- update ---


async def test_an_update_changes_the_fields_and_bumps_the_version(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = (await create(session, settings, team.loop.id, team.creator.id)).values["id"]
    found = await readable(session, request_id, team.creator.id)
    updated = await update(session, settings, found, request_text="New question", priority="critical")
    assert (updated.request_text, updated.priority, updated.version) == ("New question", "critical", 2)
    assert updated.title == "New question"  # the title was derived from the text, so it follows
    stored_now = await stored(session, request_id)
    assert (stored_now.priority_rank, stored_now.version) == (updated.priority_rank, 2)


async def test_an_update_against_an_older_version_is_a_conflict(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = (await create(session, settings, team.loop.id, team.creator.id)).values["id"]
    stale = await read_earlier(session, request_id, team.creator.id)
    await update(session, settings, await readable(session, request_id, team.creator.id), priority="high")
    with pytest.raises(Conflict, match="Request changed while you were updating it"):
        await update(session, settings, stale, priority="low")
    assert (await stored(session, request_id)).priority == "high"


async def test_an_update_of_a_request_answered_meanwhile_is_refused(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = (await create(session, settings, team.loop.id, team.creator.id)).values["id"]
    stale = await read_earlier(session, request_id, team.creator.id)
    await reviewers.respond(
        session, request_id=request_id, user_id=team.member.id, response_data="Reject", now=NOW
    )
    with pytest.raises(BadRequest, match="Only pending requests can be updated") as raised:
        await update(session, settings, stale, priority="low")
    assert raised.value.data == "Request is completed"


async def test_an_update_needs_a_field_and_keeps_required_ones(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = (await create(session, settings, team.loop.id, team.creator.id)).values["id"]
    found = await readable(session, request_id, team.creator.id)
    with pytest.raises(BadRequest, match="Provide at least one field to update"):
        await update(session, settings, found)
    with pytest.raises(ValidationFailed) as removed:
        await update(session, settings, found, request_text=None)
    assert removed.value.data == "request_text cannot be removed"
    with pytest.raises(ValidationFailed) as retyped:
        await update(session, settings, found, response_type="text")
    assert retyped.value.data == "response_config is required when response_type changes"
    with pytest.raises(ValidationFailed) as past:
        await update(session, settings, found, timeout_seconds=60)  # created at NOW, it is NOW + 1 min
    assert past.value.data == "timeout_seconds would put timeout_at in the past"
    assert (await stored(session, request_id)).version == 1


async def test_an_admin_removed_from_the_loop_may_cancel_but_not_change_their_request(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = (await create(session, settings, team.loop.id, team.admin.id)).values["id"]
    access = await loops.get_access(session, loop_id=team.loop.id, user_id=team.creator.id)
    await loops.remove_member(
        session, access=access, user_id=team.admin.id, actor_id=team.creator.id, now=NOW
    )
    found = await readable(session, request_id, team.admin.id)
    assert found.role is None
    with pytest.raises(Forbidden, match="You can no longer change requests in this loop"):
        await update(session, settings, found, priority="high")
    cancelled = await update(session, settings, found, status="cancelled")
    assert (cancelled.status, cancelled.previous_status) == ("cancelled", "pending")


async def test_an_update_can_cancel_with_its_changes(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = (await create(session, settings, team.loop.id, team.creator.id)).values["id"]
    found = await readable(session, request_id, team.creator.id)
    done = await update(session, settings, found, tags=["late"], status="cancelled")
    assert (done.status, done.tags) == ("cancelled", ["late"])


# --- cancel ---


async def test_cancel_closes_a_pending_or_claimed_request_and_nothing_after(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    pending = (await create(session, settings, team.loop.id, team.creator.id)).values["id"]
    claimed = (await create(session, settings, team.loop.id, team.creator.id)).values["id"]
    await reviewers.claim(session, request_id=claimed, user_id=team.member.id, lease_seconds=60, now=NOW)
    for request_id, before in ((pending, "pending"), (claimed, "claimed")):
        found = await readable(session, request_id, team.creator.id)
        cancelled = await service.cancel(
            session, readable=found, actor_id=team.creator.id, reason="not needed", now=NOW
        )
        assert (cancelled.status, cancelled.previous_status) == ("cancelled", before)
        assert (cancelled.cancel_reason, cancelled.cancelled_at) == ("not needed", NOW)
        with pytest.raises(BadRequest, match="Request cannot be cancelled in current state") as raised:
            await service.cancel(session, readable=found, actor_id=team.creator.id, reason=None, now=NOW)
        assert raised.value.data == "Request is cancelled"


async def test_an_answered_request_cannot_be_cancelled(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = (await create(session, settings, team.loop.id, team.creator.id)).values["id"]
    await reviewers.respond(
        session, request_id=request_id, user_id=team.member.id, response_data="Approve", now=NOW
    )
    found = await readable(session, request_id, team.creator.id)
    with pytest.raises(BadRequest) as raised:
        await service.cancel(session, readable=found, actor_id=team.creator.id, reason=None, now=NOW)
    assert raised.value.data == "Request is completed"
    assert (await stored(session, request_id)).status == "completed"


# --- feedback ---


async def test_feedback_is_taken_on_completed_requests_only(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = (await create(session, settings, team.loop.id, team.creator.id)).values["id"]
    with pytest.raises(BadRequest, match="Feedback can only be added to completed requests"):
        await service.add_feedback(
            session,
            readable=await readable(session, request_id, team.creator.id),
            feedback={"rating": 5},
            user_id=team.creator.id,
            now=NOW,
        )
    await reviewers.respond(
        session, request_id=request_id, user_id=team.member.id, response_data="Approve", now=NOW
    )
    entry = await service.add_feedback(
        session,
        readable=await readable(session, request_id, team.creator.id),
        feedback={"rating": 4, "comment": "Quick", "tags": ["good"], "category": "positive"},
        user_id=team.creator.id,
        now=NOW,
    )
    saved = (await session.execute(select(Feedback).where(Feedback.id == entry.id))).scalar_one()
    assert (saved.request_id, saved.user_id, saved.feedback["rating"]) == (request_id, team.creator.id, 4)


@pytest.mark.parametrize(
    ("feedback", "message"),
    [
        ({}, "feedback must not be empty"),
        ({"rating": 6}, "rating must be a number from 1 to 5"),
        ({"accuracy": True}, "accuracy must be a number from 1 to 5"),
        ({"comment": "x" * 1001}, "Comment exceeds maximum length of 1000 characters"),
        ({"would_recommend": "yes"}, "would_recommend must be a boolean"),
        ({"tags": ["a", 1]}, "tags must be an array of strings"),
        ({"category": "rant"}, "category must be one of"),
    ],
)
async def test_feedback_that_breaks_a_rule_is_refused(
    session: WritingSession, settings: Settings, team: Team, feedback: dict[str, Any], message: str
) -> None:
    request_id = (await create(session, settings, team.loop.id, team.creator.id)).values["id"]
    await reviewers.respond(
        session, request_id=request_id, user_id=team.member.id, response_data="Approve", now=NOW
    )
    found = await readable(session, request_id, team.creator.id)
    with pytest.raises(BadRequest) as raised:
        await service.add_feedback(
            session, readable=found, feedback=feedback, user_id=team.creator.id, now=NOW
        )
    assert message in f"{raised.value.msg} {raised.value.data}"
    assert await count(session, Feedback) == 0

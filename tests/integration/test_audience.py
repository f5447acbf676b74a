"""Creating a request predicts whether anyone will hear of it (to skip delivery's lookups when nobody
would); delivery then decides whom. The prediction must never say "nobody" when delivery would queue a
webhook, push or email: here every combination of listeners is set up and both are asked."""

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from openhitl.accounts.models import User
from openhitl.channels import Channels
from openhitl.delivery import fanout
from openhitl.delivery.models import OutboxMessage, PushSubscription, WebhookEndpoint
from openhitl.kit.db import Database
from openhitl.kit.ids import new_id
from openhitl.kit.work import WritingSession
from openhitl.loops.models import Loop, Membership
from openhitl.requests import repository, service
from openhitl.requests.models import PRIORITY_RANK, Request

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ENDPOINTS = ("none", "caller's", "caller's disabled", "loop owner's", "a stranger's")
MEMBER_STATES = ("active", "account suspended", "left the loop")
PUSH = ("none", "subscribed, push on", "subscribed, push off")
EMAIL = ("none", "on")
CALLER_ROLES = ("creator", "admin")
KINDS = (("time-sensitive", "high"), ("time-sensitive", "critical"), ("deferred", "low"))


class Undo(Exception):
    """Rolls a scenario's unit of work back."""


def user(name: str, *, status: str = "active") -> User:
    return User(
        id=new_id(),
        email=f"{name}-{new_id()}@example.com",
        name=name,
        status=status,
        created_at=NOW,
        updated_at=NOW,
    )


def member(
    loop: Loop, who: User, role: str, *, status: str = "active", push: bool = True, email: str = "none"
) -> Membership:
    return Membership(
        id=new_id(),
        loop_id=loop.id,
        user_id=who.id,
        role=role,
        status=status,
        joined_at=NOW,
        notify_push=push,
        notify_email=email,
        created_at=NOW,
    )


def endpoint(owner: User, *, active: bool = True) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=new_id(),
        user_id=owner.id,
        url="https://hooks.example.com/x",
        events=["request.created"],
        secret="whsec_" + "a" * 32,
        is_active=active,
        created_at=NOW,
        updated_at=NOW,
    )


def request_row(loop: Loop, caller: User, processing_type: str, priority: str) -> dict[str, Any]:
    return {
        "id": new_id(),
        "loop_id": loop.id,
        "creator_id": caller.id,
        "api_key_id": None,
        "processing_type": processing_type,
        "content_type": "markdown",
        "priority": priority,
        "priority_rank": PRIORITY_RANK[priority],
        "title": "Refund?",
        "request_text": "Refund?",
        "image_url": None,
        "context": None,
        "platform": "api",
        "platform_version": None,
        "response_type": "boolean",
        "response_config": {},
        "default_response": False,
        "timeout_seconds": 600,
        "timeout_at": NOW + timedelta(seconds=600),
        "callback_url": None,
        "tags": None,
        "status": "pending",
        "broadcast_count": 2,
        "notifications_sent": 0,
        "version": 1,
        "created_at": NOW,
        "updated_at": NOW,
    }


async def scenario(
    session: WritingSession, setup: tuple[str, str, str, str, str], reviewer_role: str = "member"
) -> list[tuple[bool, int]]:
    """(predicted, messages queued) for each kind of new request, with these listeners."""
    endpoints, state, push, email, role = setup
    owner, caller, reviewer, stranger = (
        user("owner"),
        user("caller"),
        user("reviewer", status="suspended" if state == "account suspended" else "active"),
        user("stranger"),
    )
    loop_creator = caller if role == "creator" else owner
    loop = Loop(
        id=new_id(),
        name="Refunds",
        icon="x",
        creator_id=loop_creator.id,
        invite_code=new_id()[:6],
        settings={},
        created_at=NOW,
        updated_at=NOW,
    )
    session.add_all([owner, caller, reviewer, stranger])
    await session.flush()
    session.add(loop)
    await session.flush()
    memberships = [member(loop, caller, role)]
    if role == "admin":
        memberships.append(member(loop, owner, "creator"))
    memberships.append(
        member(
            loop,
            reviewer,
            reviewer_role,
            status="left" if state == "left the loop" else "active",
            push=push != "subscribed, push off",
            email=email,
        )
    )
    session.add_all(memberships)
    holder = {
        "caller's": caller,
        "caller's disabled": caller,
        "loop owner's": owner,
        "a stranger's": stranger,
    }.get(endpoints)
    if holder is not None:
        session.add(endpoint(holder, active=endpoints != "caller's disabled"))
    if push != "none":
        session.add(
            PushSubscription(
                id=new_id(),
                user_id=reviewer.id,
                endpoint=f"https://push.example.com/{new_id()}",
                p256dh="p",
                auth="a",
                created_at=NOW,
            )
        )
    await session.flush()
    seen = []
    for processing_type, priority in KINDS:
        access = await repository.create_access(session, loop_id=loop.id, user_id=caller.id)
        assert access is not None
        row = request_row(loop, caller, processing_type, priority)
        predicted = service._reaches_anyone(access, row)
        session.add(Request(**row))
        await session.flush()
        before = await session.scalar(select(func.count()).select_from(OutboxMessage))
        await fanout.request_event(
            session, event="request.created", request=Request(**row), actor_id=caller.id, now=NOW
        )
        after = await session.scalar(select(func.count()).select_from(OutboxMessage))
        seen.append((predicted, int(after or 0) - int(before or 0)))
    return seen


@pytest.fixture
async def database(db: Database) -> AsyncIterator[Database]:
    db.listen(before_commit=[], after_commit=[], channels=Channels())  # delivery as the app wires it
    yield db


async def test_the_create_paths_prediction_matches_what_delivery_queues(database: Database) -> None:
    outcomes = []
    for setup in itertools.product(ENDPOINTS, MEMBER_STATES, PUSH, EMAIL, CALLER_ROLES):
        try:
            async with database.write() as session:
                found = await scenario(session, setup)
                raise Undo
        except Undo:
            pass
        for (processing_type, priority), (predicted, queued) in zip(KINDS, found, strict=True):
            outcomes.append((setup, processing_type, priority, predicted, queued))
    wrong = [o for o in outcomes if o[3] != (o[4] > 0)]
    assert not wrong, "prediction differs from delivery (setup, kind, predicted, queued): " + repr(wrong[:5])
    # Both answers occur, for each kind of listener: the check is not vacuous.
    assert {o[3] for o in outcomes} == {True, False}
    assert any(o[0][0] == "loop owner's" and o[3] for o in outcomes)
    assert any(
        o[0][2] == "subscribed, push on" and o[0][0] == "none" and o[0][3] == "none" and o[3]
        for o in outcomes
    )
    assert any(o[0][3] == "on" and o[0][0] == "none" and o[0][2] == "none" and o[3] for o in outcomes)


async def test_a_viewer_is_never_asked_to_answer(database: Database) -> None:
    """A viewer who keeps push and email on hears of no new request: they read, they do not answer."""
    for caller_role in CALLER_ROLES:
        try:
            async with database.write() as session:
                found = await scenario(
                    session,
                    ("none", "active", "subscribed, push on", "on", caller_role),
                    reviewer_role="viewer",
                )
                raise Undo
        except Undo:
            pass
        assert found == [(False, 0)] * len(KINDS)
        try:
            async with database.write() as session:
                as_member = await scenario(
                    session, ("none", "active", "subscribed, push on", "on", caller_role)
                )
                raise Undo
        except Undo:
            pass
        assert all(queued > 0 for _, queued in as_member)  # the same listener as a member hears of each

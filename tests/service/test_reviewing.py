"""Reviewer answer rules (reviewers/service.py) called directly: claim, release, respond, and when each is
refused."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from openhitl.config import Settings
from openhitl.kit.errors import BadRequest, Conflict, NotFound
from openhitl.kit.work import WritingSession, unit_of_work
from openhitl.loops import service as loops
from openhitl.loops.models import Membership
from openhitl.requests import service as requests
from openhitl.requests.models import Response
from openhitl.reviewers import service
from tests.service.conftest import NOW, Team, create, stored

pytestmark = pytest.mark.anyio
LEASE = 600
LATER = NOW + timedelta(minutes=5)  # within the lease and the request's hour


async def ask(session: WritingSession, settings: Settings, team: Team, **overrides: Any) -> str:
    return str((await create(session, settings, team.loop.id, team.creator.id, **overrides)).values["id"])


async def claim(session: WritingSession, request_id: str, user_id: str, now: datetime = NOW) -> None:
    await service.claim(session, request_id=request_id, user_id=user_id, lease_seconds=LEASE, now=now)


async def responses(session: WritingSession, request_id: str) -> list[tuple[str, object]]:
    rows = await session.execute(
        select(Response.user_id, Response.response_data).where(Response.request_id == request_id)
    )
    return [(user_id, data) for user_id, data in rows.all()]


# --- claim ---


async def test_a_member_claims_a_pending_request_for_the_lease(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = await ask(session, settings, team)
    claimed, loop = await service.claim(
        session, request_id=request_id, user_id=team.member.id, lease_seconds=LEASE, now=LATER
    )
    assert loop.id == team.loop.id
    assert (claimed.status, claimed.claimed_by, claimed.claimed_at) == ("claimed", team.member.id, LATER)
    assert claimed.claim_expires_at == LATER + timedelta(seconds=LEASE)
    assert (claimed.version, claimed.previous_status) == (2, "pending")
    membership = (
        await session.execute(
            select(Membership).where(Membership.loop_id == team.loop.id, Membership.user_id == team.member.id)
        )
    ).scalar_one()
    await session.refresh(membership)
    assert membership.last_active == LATER


async def test_claiming_again_renews_the_lease(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = await ask(session, settings, team)
    await claim(session, request_id, team.member.id)
    await claim(session, request_id, team.member.id, LATER)
    request = await stored(session, request_id)
    assert (request.claimed_by, request.claim_expires_at) == (
        team.member.id,
        LATER + timedelta(seconds=LEASE),
    )


def recorded(session: WritingSession, request_id: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    """The events this unit of work will write for the request: type, actor, data."""
    return [
        (event["type"], event["actor_id"], event["data"])
        for event in unit_of_work(session).events
        if event["request_id"] == request_id
    ]


async def test_a_renewal_is_not_a_transition(session: WritingSession, settings: Settings, team: Team) -> None:
    request_id = await ask(session, settings, team)
    await claim(session, request_id, team.member.id)
    first = await stored(session, request_id)
    version, claimed_at = first.version, first.claimed_at
    before = len(unit_of_work(session).events)
    renewed, _ = await service.claim(
        session, request_id=request_id, user_id=team.member.id, lease_seconds=LEASE, now=LATER
    )
    assert len(unit_of_work(session).events) == before, "no event, so no webhook and no audit row"
    assert (renewed.status, renewed.version, renewed.claimed_at) == ("claimed", version, claimed_at)
    assert renewed.claim_expires_at == LATER + timedelta(seconds=LEASE)


async def test_a_claim_names_its_reviewer_in_its_event(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = await ask(session, settings, team)
    await claim(session, request_id, team.member.id)
    await service.respond(
        session, request_id=request_id, user_id=team.member.id, response_data="Reject", now=LATER
    )
    assert [(kind, actor, data.get("by_name")) for kind, actor, data in recorded(session, request_id)] == [
        ("request.created", team.creator.id, None),
        ("request.claimed", team.member.id, "Member"),
        ("request.completed", team.member.id, "Member"),
    ]


async def test_taking_over_a_lapsed_claim_expires_it_first(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = await ask(session, settings, team)
    await claim(session, request_id, team.member.id)
    await claim(session, request_id, team.admin.id, NOW + timedelta(seconds=LEASE))
    moves = [
        (kind, actor, data["from"], data["to"]) for kind, actor, data in recorded(session, request_id)[1:]
    ]
    assert moves == [
        ("request.claimed", team.member.id, "pending", "claimed"),
        ("request.claim_expired", None, "claimed", "pending"),
        ("request.claimed", team.admin.id, "pending", "claimed"),
    ]


async def test_a_request_held_by_someone_else_cannot_be_claimed_until_their_lease_lapses(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = await ask(session, settings, team)
    await claim(session, request_id, team.member.id)
    with pytest.raises(Conflict, match="Request already claimed by another reviewer"):
        await claim(session, request_id, team.admin.id, LATER)
    assert (await stored(session, request_id)).claimed_by == team.member.id

    lapsed = NOW + timedelta(seconds=LEASE)
    await claim(session, request_id, team.admin.id, lapsed)
    assert (await stored(session, request_id)).claimed_by == team.admin.id


async def test_only_members_see_a_request_to_claim(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = await ask(session, settings, team)
    with pytest.raises(NotFound, match="Request not found"):
        await claim(session, request_id, team.stranger.id)
    access = await loops.get_access(session, loop_id=team.loop.id, user_id=team.creator.id)
    await loops.remove_member(
        session, access=access, user_id=team.member.id, actor_id=team.creator.id, now=NOW
    )
    with pytest.raises(NotFound):
        await claim(session, request_id, team.member.id)
    assert (await stored(session, request_id)).status == "pending"


async def test_a_closed_or_expired_request_cannot_be_claimed(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    cancelled = await ask(session, settings, team)
    await requests.cancel(
        session,
        readable=await requests.get_readable(session, request_id=cancelled, user_id=team.creator.id),
        actor_id=team.creator.id,
        reason=None,
        now=NOW,
    )
    with pytest.raises(Conflict, match="Request is no longer open") as closed:
        await claim(session, cancelled, team.member.id)
    assert closed.value.data == "Request is cancelled"

    expired = await ask(session, settings, team, timeout_seconds=60)
    with pytest.raises(Conflict, match="Request is no longer open") as late:
        await claim(session, expired, team.member.id, NOW + timedelta(seconds=60))
    assert late.value.data == "Request is timeout"  # the sweeper had not got to it yet
    assert (await stored(session, expired)).status == "pending"


# --- release ---


async def test_a_reviewer_releases_their_claim_back_to_the_queue(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = await ask(session, settings, team)
    await claim(session, request_id, team.member.id)
    released, _ = await service.release(session, request_id=request_id, user_id=team.member.id, now=LATER)
    assert (released.status, released.claimed_by, released.claim_expires_at) == ("pending", None, None)
    with pytest.raises(Conflict, match="Request is not claimed by you") as again:
        await service.release(session, request_id=request_id, user_id=team.member.id, now=LATER)
    assert again.value.data == "Request is pending"


async def test_someone_elses_claim_cannot_be_released(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = await ask(session, settings, team)
    await claim(session, request_id, team.member.id)
    with pytest.raises(Conflict, match="Request already claimed by another reviewer"):
        await service.release(session, request_id=request_id, user_id=team.admin.id, now=LATER)
    assert (await stored(session, request_id)).claimed_by == team.member.id


async def test_leaving_the_loop_releases_what_the_member_held(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    held, other = await ask(session, settings, team), await ask(session, settings, team)
    await claim(session, held, team.member.id)
    await claim(session, other, team.admin.id)
    access = await loops.get_access(session, loop_id=team.loop.id, user_id=team.member.id)
    await service.leave(session, access=access, user_id=team.member.id, now=LATER)
    assert ((await stored(session, held)).status, (await stored(session, held)).claimed_by) == (
        "pending",
        None,
    )
    assert (await stored(session, other)).claimed_by == team.admin.id


# --- respond ---


async def test_an_answer_completes_the_request_and_is_kept_as_given(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = await ask(session, settings, team)
    answered, _ = await service.respond(
        session, request_id=request_id, user_id=team.member.id, response_data="Reject", now=LATER
    )
    expected = {"selected_value": "Reject", "selected_label": "Reject"}
    assert (answered.status, answered.response_by, answered.response_at) == (
        "completed",
        team.member.id,
        LATER,
    )
    assert answered.response_data == expected
    assert answered.response_time_seconds == 300.0
    # Answered straight from the queue: a claim taken and closed at the same moment.
    assert (answered.claimed_by, answered.claimed_at, answered.claim_expires_at) == (
        team.member.id,
        LATER,
        None,
    )
    assert await responses(session, request_id) == [(team.member.id, expected)]


async def test_an_answer_over_ones_own_claim_keeps_when_the_claim_began(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = await ask(
        session, settings, team, response_type="text", response_config={}, default_response=""
    )
    await claim(session, request_id, team.member.id)
    answered, _ = await service.respond(
        session, request_id=request_id, user_id=team.member.id, response_data="Looks fine", now=LATER
    )
    assert (answered.status, answered.response_data, answered.claimed_at) == ("completed", "Looks fine", NOW)


async def test_an_answer_that_does_not_fit_the_question_is_refused(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = await ask(session, settings, team)
    with pytest.raises(BadRequest, match="Invalid response_data"):
        await service.respond(
            session, request_id=request_id, user_id=team.member.id, response_data="Maybe", now=LATER
        )
    request = await stored(session, request_id)
    assert (request.status, request.version) == ("pending", 1)
    assert await responses(session, request_id) == []


async def test_a_request_held_by_someone_else_cannot_be_answered(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    request_id = await ask(session, settings, team)
    await claim(session, request_id, team.member.id)
    with pytest.raises(Conflict, match="Request already claimed by another reviewer"):
        await service.respond(
            session, request_id=request_id, user_id=team.admin.id, response_data="Approve", now=LATER
        )
    assert (await stored(session, request_id)).status == "claimed"
    assert await responses(session, request_id) == []


@pytest.mark.parametrize("closed_by", ["answer", "cancel", "timeout"])
async def test_a_closed_request_cannot_be_answered(
    session: WritingSession, settings: Settings, team: Team, closed_by: str
) -> None:
    request_id = await ask(session, settings, team)
    when, status = LATER, {"answer": "completed", "cancel": "cancelled", "timeout": "timeout"}[closed_by]
    if closed_by == "answer":
        await service.respond(
            session, request_id=request_id, user_id=team.admin.id, response_data="Approve", now=NOW
        )
    elif closed_by == "cancel":
        readable = await requests.get_readable(session, request_id=request_id, user_id=team.creator.id)
        await requests.cancel(session, readable=readable, actor_id=team.creator.id, reason=None, now=NOW)
    else:
        when = NOW + timedelta(seconds=3600)  # the seed's timeout: due, even before the sweeper marks it
    with pytest.raises(Conflict, match="Request is no longer open") as raised:
        await service.respond(
            session, request_id=request_id, user_id=team.member.id, response_data="Reject", now=when
        )
    assert raised.value.data == f"Request is {status}"
    kept = [(team.admin.id, {"selected_value": "Approve", "selected_label": "Approve"})]
    assert await responses(session, request_id) == (kept if closed_by == "answer" else [])


async def test_only_members_answer(session: WritingSession, settings: Settings, team: Team) -> None:
    request_id = await ask(session, settings, team)
    with pytest.raises(NotFound, match="Request not found"):
        await service.respond(
            session, request_id=request_id, user_id=team.stranger.id, response_data="Approve", now=LATER
        )
    assert (await stored(session, request_id)).status == "pending"

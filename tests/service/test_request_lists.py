"""Request lists read loop by loop and take their totals from the tally (requests/tallies.py): the same
pages and totals as one plain statement over every readable request, for every filter, sort and offset;
and the tally the triggers keep equals a count of the requests, whatever moved them."""

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from openhitl.config import Settings
from openhitl.kit.work import WritingSession
from openhitl.loops import service as loops
from openhitl.loops.schemas import LoopCreate
from openhitl.requests import repository, service, tallies
from openhitl.requests.models import Request, RequestTally
from openhitl.requests.repository import RequestFilters
from openhitl.requests.schemas import RequestCreate
from openhitl.reviewers import service as reviewers
from tests.service.conftest import NOW, Team
from tests.support.payloads import request_body

pytestmark = pytest.mark.anyio
PRIORITIES = ("low", "medium", "high", "critical")


async def make(session: WritingSession, settings: Settings, loop_id: str, user_id: str, n: int) -> str:
    """A request created n minutes after NOW, its priority going round the four."""
    created = await service.create(
        session,
        loop_id=loop_id,
        body=RequestCreate.model_validate(
            request_body(priority=PRIORITIES[n % 4], request_text=f"Request {n}", timeout_seconds=3600)
        ),
        user_id=user_id,
        api_key_id=None,
        idempotency_key=None,
        settings=settings,
        now=NOW + timedelta(minutes=n),
    )
    return str(created.values["id"])


async def counted(session: WritingSession) -> dict[tuple[str, ...], int]:
    keys = (Request.loop_id, Request.creator_id, Request.status, Request.priority)
    rows = await session.execute(select(*keys, func.count()).group_by(*keys))
    return {tuple(row[:4]): int(row[4]) for row in rows.all()}


async def tallied(session: WritingSession) -> dict[tuple[str, ...], int]:
    keys = (RequestTally.loop_id, RequestTally.creator_id, RequestTally.status, RequestTally.priority)
    rows = await session.execute(select(*keys, func.sum(RequestTally.n)).group_by(*keys))
    return {tuple(row[:4]): int(row[4]) for row in rows.all() if row[4]}


async def plain_list(
    session: WritingSession, *, user_id: str, filters: RequestFilters, limit: int, offset: int
) -> tuple[list[str], int]:
    """What the list must answer: one statement over every readable request, counted and sorted whole."""
    conditions: list[Any] = [repository.readable(user_id)]
    for name in ("status", "priority", "loop_id"):
        if getattr(filters, name):
            conditions.append(getattr(Request, name) == getattr(filters, name))
    if filters.created_from:
        conditions.append(Request.created_at >= filters.created_from)
    total = await session.scalar(select(func.count()).select_from(Request).where(*conditions))
    order: list[Any] = {
        "created_at_desc": [Request.created_at.desc(), Request.id.desc()],
        "created_at_asc": [Request.created_at.asc(), Request.id.asc()],
        "priority_desc": [Request.priority_rank.desc(), Request.created_at.desc(), Request.id.desc()],
        "status_asc": [Request.status.asc(), Request.created_at.desc(), Request.id.desc()],
    }[filters.sort]
    ids = await session.scalars(
        select(Request.id).where(*conditions).order_by(*order).limit(limit).offset(offset)
    )
    return list(ids), int(total or 0)


async def two_loops(session: WritingSession, settings: Settings, team: Team) -> str:
    """The team's loop, and a second loop of the stranger's. The admin creates requests in the team's
    loop and is then made a plain member there: they still read their own requests in it, no others. In the
    stranger's loop the admin is an admin and reads them all. Some requests are claimed and some closed."""
    other = await loops.create(
        session, creator=team.stranger, data=LoopCreate(name="Refunds", icon="shield-check"), now=NOW
    )
    await reviewers.join(session, user_id=team.admin.id, invite_code=other.loop.invite_code, now=NOW)
    await loops.set_role(session, access=other, user_id=team.admin.id, role="admin", now=NOW)
    made: list[str] = []
    for n in range(9):
        made.append(await make(session, settings, team.loop.id, team.creator.id, n))
    for n in range(9, 14):
        made.append(await make(session, settings, team.loop.id, team.admin.id, n))
    for n in range(14, 20):
        made.append(await make(session, settings, other.loop.id, team.stranger.id, n))
    for n in range(20, 23):
        made.append(await make(session, settings, other.loop.id, team.admin.id, n))
    access = await loops.get_access(session, loop_id=team.loop.id, user_id=team.creator.id)
    await loops.set_role(session, access=access, user_id=team.admin.id, role="member", now=NOW)
    later = NOW + timedelta(minutes=30)
    await reviewers.claim(session, request_id=made[1], user_id=team.member.id, lease_seconds=60, now=later)
    await reviewers.respond(
        session, request_id=made[2], user_id=team.member.id, response_data="Approve", now=later
    )
    for request_id, actor in ((made[10], team.admin.id), (made[15], team.stranger.id)):
        found = await service.get_readable(session, request_id=request_id, user_id=actor)
        await service.cancel(session, readable=found, actor_id=actor, reason=None, now=later)
    return other.loop.id


async def test_pages_and_totals_are_those_of_one_statement_over_every_readable_request(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    other = await two_loops(session, settings, team)
    choices = {
        "status": (None, "pending", "cancelled"),
        "priority": (None, "high"),
        "loop_id": (None, team.loop.id, other),
        "sort": ("created_at_desc", "created_at_asc", "priority_desc", "status_asc"),
    }
    checked = 0
    for user in (team.admin, team.creator, team.stranger, team.member):
        for values in itertools.product(*choices.values()):
            status, priority, loop_id, sort = values
            filters = RequestFilters(status=status, priority=priority, loop_id=loop_id, sort=str(sort))
            for limit, offset in ((4, 0), (4, 4), (50, 0), (3, 20)):
                rows, total = await repository.list_readable(
                    session, user_id=user.id, filters=filters, limit=limit, offset=offset
                )
                want = await plain_list(session, user_id=user.id, filters=filters, limit=limit, offset=offset)
                assert ([request.id for request, _ in rows], total) == want, (user.name, filters, offset)
                checked += bool(want[0])
    assert checked > 100  # most of the combinations have rows to compare, not only empty pages


async def test_the_admin_demoted_in_a_loop_reads_only_their_own_requests_there(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    await two_loops(session, settings, team)
    rows, total = await repository.list_readable(
        session,
        user_id=team.admin.id,
        filters=RequestFilters(loop_id=team.loop.id),
        limit=50,
        offset=0,
    )
    assert total == 5 and {request.creator_id for request, _ in rows} == {team.admin.id}
    _, everything = await repository.list_readable(
        session, user_id=team.admin.id, filters=RequestFilters(), limit=50, offset=0
    )
    assert everything == 5 + 9  # their own in the first loop, all of the second
    _, nothing = await repository.list_readable(
        session, user_id=team.member.id, filters=RequestFilters(), limit=50, offset=0
    )
    assert nothing == 0  # a plain member reads requests in the reviewer app, not the caller's list


async def test_a_date_filter_is_counted_from_the_requests(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    await two_loops(session, settings, team)
    filters = RequestFilters(created_from=NOW + timedelta(minutes=12))
    rows, total = await repository.list_readable(
        session, user_id=team.admin.id, filters=filters, limit=50, offset=0
    )
    want = await plain_list(session, user_id=team.admin.id, filters=filters, limit=50, offset=0)
    assert ([request.id for request, _ in rows], total) == want
    assert total == 2 + 9  # the admin's last two in the first loop, everything from minute 14 on


async def test_the_tally_equals_a_count_after_creates_claims_answers_cancels_and_a_deleted_loop(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    other = await two_loops(session, settings, team)
    assert await tallied(session) == await counted(session)
    assert sum((await tallied(session)).values()) == 23
    access = await loops.get_access(session, loop_id=other, user_id=team.stranger.id)
    await reviewers.delete_loop(session, access=access, actor_id=team.stranger.id, now=NOW)
    assert await tallied(session) == await counted(session)
    assert sum((await tallied(session)).values()) == 14


async def test_compacting_keeps_every_sum_and_folds_the_rows(
    session: WritingSession, settings: Settings, team: Team
) -> None:
    await two_loops(session, settings, team)
    before = await tallied(session)
    rows_before = int(await session.scalar(select(func.count()).select_from(RequestTally)) or 0)
    last = await session.scalar(select(func.max(RequestTally.id)))
    for statement in tallies.compact_statements(session.get_bind().dialect.name):
        await session.execute(statement, {"last": last})
    assert await tallied(session) == before
    rows_after = await session.scalar(select(func.count()).select_from(RequestTally))
    assert rows_after == len(before) < rows_before
    smallest = await session.scalar(select(func.min(RequestTally.n)))
    assert smallest is not None and smallest > 0  # one positive row per key

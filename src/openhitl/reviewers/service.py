"""Reviewer rules: join and leave loops, claim, release and answer requests."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Float, Table, and_, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request as HTTPRequest

from openhitl.delivery import fanout
from openhitl.kit.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    ValidationFailed,
)
from openhitl.kit.guessing import client_address
from openhitl.kit.ids import new_id
from openhitl.kit.prepared import Statements, execute_soon
from openhitl.kit.state import AppState
from openhitl.kit.types import UTCDateTime
from openhitl.kit.work import WritingSession
from openhitl.loops import repository as loops_repository
from openhitl.loops.models import Loop, Membership, answering
from openhitl.loops.service import LoopAccess, active_member
from openhitl.realtime.events import append_event
from openhitl.requests import lifecycle
from openhitl.requests.answers import ResponseDataError, validate_response
from openhitl.requests.lifecycle import NOW
from openhitl.requests.models import Request, Response
from openhitl.requests.response_configs import ResponseConfigError, parse_config
from openhitl.reviewers import repository
from openhitl.reviewers.repository import USER_ID

INVITE_CODE_LENGTH = 6
LOOP_DELETED = "The loop was deleted"


@dataclass(frozen=True)
class Joined:
    loop: Loop
    membership: Membership


def normalise_invite_code(raw: str) -> str:
    code = "".join(raw.split()).replace("-", "").upper()
    if len(code) != INVITE_CODE_LENGTH:
        raise ValidationFailed("invite_code must be exactly 6 characters")
    if not code.isascii() or not code.isalnum():
        raise ValidationFailed("invite_code must be letters and digits only")
    return code


async def join(session: WritingSession, *, user_id: str, invite_code: str, now: datetime) -> Joined:
    code = normalise_invite_code(invite_code)
    loop = await repository.loop_by_invite_code(session, code)
    if loop is None:
        raise NotFound("No loop found with that invite code")
    membership = await loops_repository.get_member(session, loop_id=loop.id, user_id=user_id)
    if membership is not None and membership.status == "active":
        raise Conflict("You are already a member of this loop")
    if membership is None:
        membership = active_member(loop_id=loop.id, user_id=user_id, role="member", now=now)
        session.add(membership)
    else:  # invited by email earlier: the code accepts the invitation too
        membership.status, membership.joined_at, membership.last_active = "active", now, now
    await session.flush()
    await append_event(
        session,
        type="loop.member_joined",
        at=now,
        loop_id=loop.id,
        actor_id=user_id,
        data={"user_id": user_id, "via": "invite_code"},
    )
    await fanout.member_joined(session, loop_id=loop.id, user_id=user_id, now=now)
    return Joined(loop, membership)


async def leave(session: WritingSession, *, access: LoopAccess, user_id: str, now: datetime) -> None:
    if access.is_creator:
        raise BadRequest("The loop creator cannot leave the loop", "Delete the loop instead")
    await release_all(session, loop_id=access.loop.id, user_id=user_id, now=now)
    await loops_repository.delete_member(session, access.membership.id)
    await append_event(
        session,
        type="loop.member_left",
        at=now,
        loop_id=access.loop.id,
        actor_id=user_id,
        data={"user_id": user_id},
    )


async def release_all(session: WritingSession, *, loop_id: str, user_id: str, now: datetime) -> None:
    """Whatever a departing member held goes back to the queue."""
    for request_id in await repository.claimed_in_loop(session, loop_id=loop_id, user_id=user_id):
        await lifecycle.apply(
            session,
            lifecycle.RELEASE,
            request_id=request_id,
            now=now,
            actor_id=user_id,
            where=(Request.claimed_by == user_id,),
            values={"claimed_by": None, "claimed_at": None, "claim_expires_at": None},
            event_data={"reason": "member_left"},
        )


@dataclass(frozen=True)
class Deleted:
    members: int
    requests: int
    responses: int
    cancelled: list[str]  # ids of the requests that were still open


async def delete_loop(
    session: WritingSession, *, access: LoopAccess, actor_id: str, now: datetime
) -> Deleted:
    """Deletes the loop and everything in it. Its open requests are cancelled first, through the lifecycle
    and in the same transaction: their callers get the `request.cancelled` event, webhook and callback,
    and whoever waits on them is answered, before the requests go with the loop."""
    if not access.is_creator:
        raise Forbidden("Access denied to this loop")
    loop_id = access.loop.id
    await loops_repository.lock(
        session, loop_id
    )  # no request joins the loop between the cancel and the delete
    cancelled = await lifecycle.apply_all(
        session,
        lifecycle.CANCEL,
        where=Request.loop_id == loop_id,
        now=now,
        actor_id=actor_id,
        values=lifecycle.cancelled(now, LOOP_DELETED),
        event_data={"reason": LOOP_DELETED},
    )
    members, requests, responses = await repository.count_loop_contents(session, loop_id)
    await loops_repository.delete_loop(session, loop_id)
    await append_event(session, type="loop.deleted", at=now, loop_id=loop_id, actor_id=actor_id)
    return Deleted(members, requests, responses, [request.id for request in cancelled])


async def not_answerable(session: AsyncSession, *, request_id: str, user_id: str) -> ApiError:
    """Why a reviewer cannot reach a request: a viewer of its loop is told they only read; others, that
    it does not exist for them."""
    if await repository.viewer_of_request_loop(session, request_id=request_id, user_id=user_id):
        return Forbidden(
            "Viewers cannot claim or answer requests",
            "Ask a loop admin to make you a member to answer this loop's requests",
        )
    return NotFound("Request not found")


async def _get(session: WritingSession, *, request_id: str, user_id: str) -> repository.MemberRequest:
    found = await repository.member_request(session, request_id=request_id, user_id=user_id)
    if found is None:
        raise await not_answerable(session, request_id=request_id, user_id=user_id)
    return found


def _named(found: repository.MemberRequest) -> dict[str, Any]:
    """What a claim's or an answer's event adds: who, by the name the loop's members see (no address)."""
    return {"by_name": found.member_name}


def _conflict(request: Request, user_id: str, now: datetime, *, read_version: int | None = None) -> Conflict:
    """Why a transition found no row: the message tells the loser what happened. `read_version`: the
    version the caller's input was checked against, when `request` is the row as it is now."""
    if request.status in ("completed", "cancelled", "timeout") or request.timeout_at <= now:
        status = "timeout" if request.status in ("pending", "claimed") else request.status
        return Conflict("Request is no longer open", f"Request is {status}")
    if request.status == "claimed" and request.claimed_by != user_id:
        return Conflict("Request already claimed by another reviewer", "Pick another request from the inbox")
    if read_version is not None and request.version != read_version:
        return Conflict(
            "Request changed while you were answering",
            "Read the request again and answer its current question",
        )
    return Conflict("Request is not claimed by you", f"Request is {request.status}")


_TOUCH_MEMBER = Statements(
    lambda: (
        update(Membership)
        .where(Membership.loop_id == bindparam("loop_id"), Membership.user_id == USER_ID)
        .values(last_active=NOW)
    )
)
_INSERT_RESPONSE = Statements(
    lambda: insert(cast(Table, Response.__table__)),
    keys=("id", "request_id", "user_id", "response_data", "created_at"),
)


async def _touch_member(session: WritingSession, *, loop_id: str, user_id: str, now: datetime) -> None:
    await execute_soon(session, _TOUCH_MEMBER, {"loop_id": loop_id, "user_id": user_id, "now": now})


def _member_guard(user_id: lifecycle.UserId) -> Any:
    # Part of the guarded UPDATE itself: a member removed a moment ago cannot slip an answer in.
    return Request.loop_id.in_(
        select(Membership.loop_id).where(
            Membership.user_id == user_id,
            Membership.status == "active",
            answering(Membership.role),
        )
    )


# Claim or answer: only while the request is open to this user and they are still a member. Built once
# (lifecycle.Move): a reviewer claims and answers all day. A claim starts from pending only: the holder's
# claim again is a renewal (no transition), and a lapsed claim of someone else's is expired first.
_CLAIM = lifecycle.Move(
    lifecycle.CLAIM,
    condition=lambda: and_(Request.status == "pending", Request.timeout_at > NOW),
    where=lambda: (_member_guard(USER_ID),),
    values=lambda: {
        "claimed_by": USER_ID,
        "claimed_at": NOW,
        "claim_expires_at": bindparam("claim_expires_at", type_=UTCDateTime()),
        "claim_seconds": func.coalesce(Request.claim_seconds, bindparam("claim_seconds", type_=Float())),
    },
)
_RESPOND = lifecycle.Move(
    lifecycle.RESPOND,
    condition=lambda: lifecycle.open_to(USER_ID, NOW),
    where=lambda: (_member_guard(USER_ID),),
    versioned=True,
    values=lambda: {
        "response_by": USER_ID,
        "response_at": NOW,
        "response_data": bindparam("response_data", type_=Request.response_data.type),
        "response_time_seconds": bindparam("response_time_seconds", type_=Request.response_time_seconds.type),
        # The record keeps who held it when it closed. An answer straight from the queue (or over a
        # lapsed claim of someone else's) is a claim taken and closed at the same moment.
        "claimed_by": USER_ID,
        "claimed_at": lifecycle.claim_started(USER_ID, NOW),
        "claim_expires_at": None,
        "claim_seconds": func.coalesce(
            Request.claim_seconds,
            bindparam("response_time_seconds", type_=Request.response_time_seconds.type),
        ),
    },
)


async def claim(
    session: WritingSession, *, request_id: str, user_id: str, lease_seconds: int, now: datetime
) -> tuple[Request, Loop]:
    """Take a request for `lease_seconds`; claiming one you hold renews the lease (not a transition: no
    event, no webhook, the claim keeps when it began)."""
    found = await _get(session, request_id=request_id, user_id=user_id)
    request, loop = found.request, found.loop
    expires = now + timedelta(seconds=lease_seconds)
    if request.status == "claimed" and request.claimed_by == user_id:
        renewed = await lifecycle.renew_claim(
            session,
            request_id=request_id,
            user_id=user_id,
            now=now,
            claim_expires_at=expires,
            where=(_member_guard(user_id),),
        )
        if renewed is not None:
            await _touch_member(session, loop_id=loop.id, user_id=user_id, now=now)
            return renewed, loop
    elif _lapsed(request, now):
        await _expire_claim(session, request_id=request_id, now=now)
    claimed = await lifecycle.make(
        session,
        _CLAIM,
        request_id=request_id,
        now=now,
        actor_id=user_id,
        params={
            "user_id": user_id,
            "claim_expires_at": expires,
            "claim_seconds": round((now - request.created_at).total_seconds(), 3),
        },
        event_data=_named(found),
    )
    if claimed is None:
        raise _conflict(await repository.reload(session, request_id) or request, user_id, now)
    await _touch_member(session, loop_id=loop.id, user_id=user_id, now=now)
    return claimed, loop


def _lapsed(request: Request, now: datetime) -> bool:
    """Someone's claim whose lease ran out before the sweeper got to it."""
    return (
        request.status == "claimed"
        and request.claim_expires_at is not None
        and request.claim_expires_at <= now < request.timeout_at
    )


async def _expire_claim(session: WritingSession, *, request_id: str, now: datetime) -> None:
    """What the sweeper would do next, done now: the lapsed claim goes back to pending, with its own event,
    so that the audit trail reads "claim expired, claimed" and never "claimed → claimed"."""
    await lifecycle.apply(
        session,
        lifecycle.EXPIRE_CLAIM,
        request_id=request_id,
        now=now,
        actor_id=None,
        condition=and_(
            Request.status == "claimed", Request.claim_expires_at <= now, Request.timeout_at > now
        ),
        values={"claimed_by": None, "claimed_at": None, "claim_expires_at": None},
    )


async def release(
    session: WritingSession, *, request_id: str, user_id: str, now: datetime
) -> tuple[Request, Loop]:
    found = await _get(session, request_id=request_id, user_id=user_id)
    request, loop = found.request, found.loop
    released = await lifecycle.apply(
        session,
        lifecycle.RELEASE,
        request_id=request_id,
        now=now,
        actor_id=user_id,
        where=(Request.claimed_by == user_id,),
        values={"claimed_by": None, "claimed_at": None, "claim_expires_at": None},
    )
    if released is None:
        raise _conflict(request, user_id, now)
    return released, loop


async def respond(
    session: WritingSession, *, request_id: str, user_id: str, response_data: Any, now: datetime
) -> tuple[Request, Loop]:
    found = await _get(session, request_id=request_id, user_id=user_id)
    request, loop = found.request, found.loop
    if request.status not in ("pending", "claimed") or request.timeout_at <= now:
        raise _conflict(request, user_id, now)
    try:
        structured = validate_response(
            parse_config(request.response_type, request.response_config), response_data
        )
    except (ResponseConfigError, ResponseDataError) as exc:
        raise BadRequest(f"Invalid response_data: {exc}", str(exc)) from exc
    # The answer was checked against the request as read: if its question or config changed since (a PATCH
    # committing meanwhile), the guarded UPDATE finds no row and the answer is refused, never stored.
    answered = await lifecycle.make(
        session,
        _RESPOND,
        request_id=request_id,
        now=now,
        actor_id=user_id,
        version=request.version,
        params={
            "user_id": user_id,
            "response_data": structured,
            "response_time_seconds": round((now - request.created_at).total_seconds(), 3),
        },
        event_data=_named(found),
    )
    if answered is None:
        read_version = request.version  # read first: the reload refreshes `request` if the session holds it
        current = await repository.reload(session, request_id)
        if current is None:
            raise NotFound("Request not found")
        raise _conflict(current, user_id, now, read_version=read_version)
    response = {
        "id": new_id(),
        "request_id": request_id,
        "user_id": user_id,
        "response_data": structured,
        "created_at": now,
    }
    await execute_soon(session, _INSERT_RESPONSE, response)
    await _touch_member(session, loop_id=loop.id, user_id=user_id, now=now)
    return answered, loop


async def guard_guessing(state: AppState, request: HTTPRequest, user_id: str) -> None:
    address = client_address(request)
    settings = state.settings
    if not await state.throttle.allow("join-user", user_id, settings.join_attempts_per_minute) or not (
        await state.throttle.allow("join-address", address, settings.join_attempts_per_minute_per_address)
    ):
        raise TooManyRequests("Too many invite code attempts", "Wait a minute before trying again")

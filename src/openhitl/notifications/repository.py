"""Queries for reviewer notifications: push subscriptions, who wants to hear about a loop, digest contents."""

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts.models import User
from openhitl.delivery.models import PushSubscription
from openhitl.kit import upsert
from openhitl.kit.ids import new_id
from openhitl.loops import audience
from openhitl.loops.models import Loop, Membership, answering
from openhitl.realtime.models import Event
from openhitl.requests.models import Request


async def push_subscription_ids(
    session: AsyncSession, *, loop_id: str, user_id: str | None = None
) -> list[str]:
    """Subscriptions of the loop's members who keep push on (only `user_id`'s when given)."""
    statement = audience.push_subscriptions(loop_id, user_id=user_id).order_by(PushSubscription.id)
    return list((await session.execute(statement)).scalars())


async def email_recipient_ids(session: AsyncSession, *, loop_id: str) -> list[str]:
    members = audience.listening_members(loop_id, email=True)
    statement = members.order_by(members.selected_columns.user_id)
    return list((await session.execute(statement)).scalars())


async def loop_name(session: AsyncSession, loop_id: str) -> str | None:
    name: str | None = await session.scalar(select(Loop.name).where(Loop.id == loop_id))
    return name


async def last_claimer(session: AsyncSession, *, request_id: str) -> str | None:
    """Who claimed the request last, from the event log (a cancel clears `claimed_by` on the row)."""
    statement = (
        select(Event.actor_id)
        .where(Event.request_id == request_id, Event.type == "request.claimed")
        .order_by(Event.id.desc())
        .limit(1)
    )
    actor: str | None = await session.scalar(statement)
    return actor


# Push subscriptions.


async def get_subscription(session: AsyncSession, subscription_id: str) -> PushSubscription | None:
    return await session.get(PushSubscription, subscription_id)


async def subscription_exists(session: AsyncSession, endpoint: str) -> bool:
    found = await session.scalar(select(PushSubscription.id).where(PushSubscription.endpoint == endpoint))
    return found is not None


async def upsert_subscription(
    session: AsyncSession,
    *,
    user_id: str,
    session_id: str | None,
    endpoint: str,
    p256dh: str,
    auth: str,
    user_agent: str,
    now: datetime,
) -> PushSubscription | None:
    """One row per endpoint: the same user subscribing again updates theirs; None when the endpoint is
    another user's (it is never taken over)."""
    statement = upsert.insert(session, PushSubscription).values(
        id=new_id(),
        user_id=user_id,
        session_id=session_id,
        endpoint=endpoint,
        p256dh=p256dh,
        auth=auth,
        user_agent=user_agent,
        created_at=now,
    )
    keep_newest = statement.on_conflict_do_update(
        index_elements=[PushSubscription.endpoint],
        set_={
            "session_id": statement.excluded.session_id,
            "p256dh": statement.excluded.p256dh,
            "auth": statement.excluded.auth,
            "user_agent": statement.excluded.user_agent,
        },
        where=PushSubscription.user_id == statement.excluded.user_id,
    ).returning(PushSubscription)
    row: PushSubscription | None = (
        await session.execute(keep_newest.execution_options(populate_existing=True))
    ).scalar_one_or_none()
    return row


async def delete_session_subscriptions(session: AsyncSession, *, session_id: str) -> None:
    """Signing out: the browser's subscriptions made in that session stop receiving pushes."""
    await session.execute(delete(PushSubscription).where(PushSubscription.session_id == session_id))


async def keep_newest_subscriptions(session: AsyncSession, *, user_id: str, keep: int) -> None:
    newest = (
        select(PushSubscription.id)
        .where(PushSubscription.user_id == user_id)
        .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())
        .limit(keep)
    )
    await session.execute(
        delete(PushSubscription).where(
            PushSubscription.user_id == user_id, PushSubscription.id.not_in(newest.scalar_subquery())
        )
    )


async def delete_subscription(session: AsyncSession, *, user_id: str, endpoint: str) -> bool:
    statement = (
        delete(PushSubscription)
        .where(PushSubscription.user_id == user_id, PushSubscription.endpoint == endpoint)
        .returning(PushSubscription.id)
    )
    return (await session.execute(statement)).first() is not None


async def delete_subscription_by_id(session: AsyncSession, subscription_id: str) -> None:
    await session.execute(delete(PushSubscription).where(PushSubscription.id == subscription_id))


async def record_accepted_push(
    session: AsyncSession, *, subscription_id: str, request_id: str | None, now: datetime
) -> None:
    await session.execute(
        update(PushSubscription).where(PushSubscription.id == subscription_id).values(last_success_at=now)
    )
    if request_id is not None:
        await session.execute(
            update(Request)
            .where(Request.id == request_id)
            .values(notifications_sent=Request.notifications_sent + 1)
            .execution_options(synchronize_session=False)
        )


# Email notifications.


async def alert_context(
    session: AsyncSession, *, request_id: str, user_id: str
) -> tuple[Request, Loop, User] | None:
    """The request, its loop and the user, while the user still wants email about that loop."""
    statement = (
        select(Request, Loop, User)
        .join(Loop, Loop.id == Request.loop_id)
        .join(Membership, (Membership.loop_id == Loop.id) & (Membership.user_id == user_id))
        .join(User, User.id == Membership.user_id)
        .where(
            Request.id == request_id,
            Membership.status == "active",
            answering(Membership.role),
            Membership.notify_email == "on",
            User.status == "active",
        )
    )
    row = (await session.execute(statement)).one_or_none()
    return (row[0], row[1], row[2]) if row else None


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def digest_requests(
    session: AsyncSession, *, user_id: str, created_from: datetime, created_before: datetime, now: datetime
) -> list[tuple[Request, Loop]]:
    """Deferred, non-critical requests of the user's email-on loops from the window, still waiting."""
    statement = (
        select(Request, Loop)
        .join(Loop, Loop.id == Request.loop_id)
        .join(Membership, (Membership.loop_id == Loop.id) & (Membership.user_id == user_id))
        .where(
            Membership.status == "active",
            answering(Membership.role),
            Membership.notify_email == "on",
            Request.processing_type == "deferred",
            Request.priority != "critical",
            Request.status == "pending",
            Request.timeout_at > now,
            Request.created_at >= created_from,
            Request.created_at < created_before,
        )
        .order_by(Request.priority_rank.desc(), Request.created_at, Request.id)
    )
    return [(request, loop) for request, loop in (await session.execute(statement)).all()]


# Preferences.


async def set_preferences(
    session: AsyncSession, *, membership_id: str, push: bool | None, email: str | None
) -> Membership:
    values: dict[str, object] = {}
    if push is not None:
        values["notify_push"] = push
    if email is not None:
        values["notify_email"] = email
    statement = (
        update(Membership)
        .where(Membership.id == membership_id)
        .values(**values)
        .returning(Membership)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if not values:
        return (await session.execute(select(Membership).where(Membership.id == membership_id))).scalar_one()
    return (await session.execute(statement)).scalar_one()

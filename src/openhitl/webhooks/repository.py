"""Queries on webhook endpoints, account signing secrets and the delivery log, scoped to their owner."""

from typing import Any, cast

from sqlalchemy import ColumnElement, String, Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts.models import User
from openhitl.delivery.models import Delivery, OutboxMessage, WebhookEndpoint
from openhitl.kit.prepared import Statements, driver
from openhitl.kit.work import WritingSession
from openhitl.loops import audience
from openhitl.loops.models import Loop
from openhitl.webhooks.reasons import MessageState

_ENDPOINT_COLUMNS = tuple(cast(Table, WebhookEndpoint.__table__).columns)


def _endpoints_for_request() -> Any:
    creator_id, loop_id = bindparam("creator_id", type_=String()), bindparam("loop_id", type_=String())
    loop_creator = select(Loop.creator_id).where(Loop.id == loop_id).scalar_subquery()
    return (
        select(*_ENDPOINT_COLUMNS)
        .where(audience.webhook_endpoints(creator_id=creator_id, loop_creator_id=loop_creator))
        .order_by(WebhookEndpoint.id)
    )


_ENDPOINTS_FOR_REQUEST = Statements(_endpoints_for_request)


async def endpoints_for_request(
    session: WritingSession, *, creator_id: str, loop_id: str
) -> list[WebhookEndpoint]:
    """Enabled endpoints of the request's creator and of its loop's creator (each endpoint once), not in the
    session. Asked in the unit of work of every request change, mostly to find none: one prepared statement
    on its connection (kit/prepared.py)."""
    connection = await driver(session)
    rows = await connection.fetchall(_ENDPOINTS_FOR_REQUEST, {"creator_id": creator_id, "loop_id": loop_id})
    keys = [column.key for column in _ENDPOINT_COLUMNS]
    return [WebhookEndpoint(**dict(zip(keys, row, strict=True))) for row in rows]


async def loop_name(session: AsyncSession, loop_id: str) -> str:
    return str((await session.execute(select(Loop.name).where(Loop.id == loop_id))).scalar_one())


async def list_endpoints(session: AsyncSession, *, user_id: str) -> list[WebhookEndpoint]:
    statement = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.user_id == user_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return list((await session.execute(statement)).scalars())


async def get_endpoint(session: AsyncSession, *, endpoint_id: str, user_id: str) -> WebhookEndpoint | None:
    statement = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.user_id == user_id
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def get_endpoint_for_delivery(session: AsyncSession, endpoint_id: str) -> WebhookEndpoint | None:
    """For the sender only: it acts for the endpoint's owner, whose id the outbox message carries."""
    return await session.get(WebhookEndpoint, endpoint_id)


async def delete_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    await session.execute(delete(Delivery).where(Delivery.endpoint_id == endpoint.id))
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))


async def account_secret(session: AsyncSession, user_id: str) -> str | None:
    statement = select(User.webhook_secret).where(User.id == user_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def set_account_secret_if_unset(session: AsyncSession, *, user_id: str, secret: str) -> str | None:
    """Sets the secret unless someone else did first; returns the secret in force."""
    statement = (
        update(User)
        .where(User.id == user_id, User.webhook_secret.is_(None))
        .values(webhook_secret=secret)
        .returning(User.webhook_secret)
        .execution_options(synchronize_session=False)
    )
    if (await session.execute(statement)).first() is not None:
        return secret
    return await account_secret(session, user_id)


async def replace_account_secret(session: AsyncSession, *, user_id: str, secret: str) -> None:
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(webhook_secret=secret)
        .execution_options(synchronize_session=False)
    )


async def list_deliveries(
    session: AsyncSession,
    *,
    user_id: str,
    endpoint_id: str | None = None,
    request_id: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Delivery], int]:
    """The owner's delivery attempts (to one endpoint, or about one request), newest first."""
    conditions: list[ColumnElement[bool]] = [Delivery.user_id == user_id]
    if endpoint_id is not None:
        conditions.append(Delivery.endpoint_id == endpoint_id)
    if request_id is not None:
        conditions.append(Delivery.request_id == request_id)
    total = await session.scalar(select(func.count()).select_from(Delivery).where(*conditions))
    statement = (
        select(Delivery)
        .where(*conditions)
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.execute(statement)).scalars()), int(total or 0)


async def get_delivery(session: AsyncSession, *, delivery_id: str, user_id: str) -> Delivery | None:
    statement = select(Delivery).where(Delivery.id == delivery_id, Delivery.user_id == user_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def outbox_message_exists(session: AsyncSession, message_id: str) -> bool:
    statement = select(OutboxMessage.id).where(OutboxMessage.id == message_id)
    return (await session.execute(statement)).first() is not None


async def message_states(session: AsyncSession, outbox_ids: set[str]) -> dict[str, MessageState]:
    """Where each attempt's event stands (retrying, failed for good, done), by outbox message id."""
    if not outbox_ids:
        return {}
    statement = select(
        OutboxMessage.id,
        OutboxMessage.attempts,
        OutboxMessage.run_at,
        OutboxMessage.done_at,
        OutboxMessage.failed_at,
    ).where(OutboxMessage.id.in_(outbox_ids))
    return {
        row.id: MessageState(row.attempts, row.run_at, row.done_at, row.failed_at)
        for row in await session.execute(statement)
    }


async def failing_endpoints(session: AsyncSession, *, user_id: str) -> dict[str, Delivery]:
    """The owner's endpoints whose latest attempt failed, with that attempt."""
    latest = (
        select(Delivery.endpoint_id, func.max(Delivery.created_at).label("at"))
        .where(Delivery.user_id == user_id, Delivery.endpoint_id.is_not(None))
        .group_by(Delivery.endpoint_id)
        .subquery()
    )
    statement = (
        select(Delivery)
        .join(latest, (Delivery.endpoint_id == latest.c.endpoint_id) & (Delivery.created_at == latest.c.at))
        .where(Delivery.user_id == user_id, Delivery.succeeded.is_(False))
        .order_by(Delivery.id)
    )
    return {delivery.endpoint_id or "": delivery for delivery in (await session.execute(statement)).scalars()}

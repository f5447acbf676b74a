"""HTTP routes for notifications: the VAPID key, this browser's push subscription, per-loop preferences."""

from fastapi import APIRouter, Request, Response

from openhitl.accounts.auth import CurrentPrincipal
from openhitl.kit.envelope import Envelope, error_responses, ok
from openhitl.kit.params import LoopId
from openhitl.kit.uow import ReadSession, State, WriteSession
from openhitl.loops.models import Membership
from openhitl.notifications import service, vapid
from openhitl.notifications.schemas import (
    NotificationPreferences,
    NotificationPreferencesUpdate,
    PushSubscriptionCreate,
    PushSubscriptionDelete,
    PushSubscriptionOne,
    PushSubscriptionRead,
    PushUnsubscribed,
    VapidPublicKey,
)

router = APIRouter(tags=["notifications"])
ERRORS = error_responses(400, 401, 403, 404, 429)
SUBSCRIBE_ERRORS = error_responses(400, 401, 403, 404, 409, 429)


def _preferences(membership: Membership) -> NotificationPreferences:
    return NotificationPreferences(
        loop_id=membership.loop_id,
        push=membership.notify_push,
        email="on" if membership.notify_email == "on" else "none",
    )


@router.get("/push/vapid-public-key")
async def vapid_public_key(state: State) -> Envelope[VapidPublicKey]:
    """The server's VAPID public key, to pass as applicationServerKey when subscribing (no sign-in needed)."""
    keys = await vapid.load(state.db, now=state.clock.now())
    return ok(VapidPublicKey(public_key=keys.public_key), "VAPID public key retrieved")


@router.post(
    "/push/subscriptions",
    status_code=201,
    responses={
        200: {"model": Envelope[PushSubscriptionOne], "description": "Already subscribed: updated"},
        **SUBSCRIBE_ERRORS,
    },
)
async def subscribe(
    body: PushSubscriptionCreate,
    principal: CurrentPrincipal,
    session: WriteSession,
    state: State,
    request: Request,
    response: Response,
) -> Envelope[PushSubscriptionOne]:
    """Register this browser's PushSubscription for the signed-in user (the same endpoint again updates it).
    An endpoint registered by another account is refused (409). Signing out removes the subscriptions a
    browser registered in that session."""
    subscribed = await service.subscribe(
        session,
        user_id=principal.user_id,
        session_id=principal.session_id,
        endpoint=body.endpoint,
        p256dh=body.keys.p256dh,
        auth=body.keys.auth,
        user_agent=request.headers.get("user-agent", ""),
        allow_private=state.settings.callback_allow_private,
        now=state.clock.now(),
    )
    if not subscribed.created:
        response.status_code = 200
    row = subscribed.subscription
    return ok(
        PushSubscriptionOne(
            subscription=PushSubscriptionRead(id=row.id, endpoint=row.endpoint, created_at=row.created_at)
        ),
        "Push subscription saved",
    )


@router.delete("/push/subscriptions", responses=ERRORS)
async def unsubscribe(
    body: PushSubscriptionDelete, principal: CurrentPrincipal, session: WriteSession
) -> Envelope[PushUnsubscribed]:
    """Stop pushes to this endpoint (one of your own subscriptions)."""
    await service.unsubscribe(session, user_id=principal.user_id, endpoint=body.endpoint)
    return ok(PushUnsubscribed(endpoint=body.endpoint), "Push subscription removed")


@router.get("/loops/{loop_id}/notifications", responses=ERRORS)
async def get_notification_preferences(
    loop_id: LoopId, principal: CurrentPrincipal, session: ReadSession
) -> Envelope[NotificationPreferences]:
    """How you hear about this loop's requests."""
    membership = await service.get_membership(session, loop_id=loop_id, user_id=principal.user_id)
    return ok(_preferences(membership), "Notification preferences retrieved")


@router.put("/loops/{loop_id}/notifications", responses=ERRORS)
async def set_notification_preferences(
    loop_id: LoopId, body: NotificationPreferencesUpdate, principal: CurrentPrincipal, session: WriteSession
) -> Envelope[NotificationPreferences]:
    """Turn push on or off, and email (critical requests at once, deferred ones in a digest) on or off."""
    membership = await service.set_preferences(
        session, loop_id=loop_id, user_id=principal.user_id, push=body.push, email=body.email
    )
    return ok(_preferences(membership), "Notification preferences updated")

"""The owner's settings: API keys, webhook endpoints and their deliveries, signing secret, notifications."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts import service as accounts
from openhitl.accounts.auth import Principal
from openhitl.kit.errors import ApiError, ValidationFailed
from openhitl.kit.guessing import client_address, throttle_sign_in
from openhitl.kit.params import LoopId
from openhitl.kit.uow import ReadSession, State, WriteSession
from openhitl.loops import repository as loops_repository
from openhitl.notifications import service as notifications
from openhitl.web.dashboard.common import ItemId, back, page, parse
from openhitl.web.pages import problem
from openhitl.web.routing import page_kwargs
from openhitl.web.security import FormViewer, Viewer
from openhitl.webhooks import repository as webhooks_repository
from openhitl.webhooks import service as webhooks
from openhitl.webhooks.filters import DEFAULT_EVENTS, REQUEST_EVENTS
from openhitl.webhooks.reasons import failure_reason
from openhitl.webhooks.schemas import WebhookCreate

router = APIRouter(prefix="/dashboard/settings", **page_kwargs())
DELIVERIES_SHOWN = 50


async def render_settings(
    request: Request, viewer: Principal, session: AsyncSession, *, status_code: int = 200, **context: Any
) -> Response:
    state = request.app.state.openhitl
    context.setdefault("webhook_values", {"events": list(DEFAULT_EVENTS)})
    return page(
        request,
        "dashboard/settings.html",
        viewer=viewer,
        section="settings",
        status_code=status_code,
        keys=await accounts.list_api_keys(session, user_id=viewer.user_id),
        now=state.clock.now(),
        endpoints=await webhooks.list_all(session, user_id=viewer.user_id),
        signing_secret=await webhooks_repository.account_secret(session, viewer.user_id),
        loops=await loops_repository.list_for_member(session, user_id=viewer.user_id),
        request_events=REQUEST_EVENTS,
        has_password=await accounts.has_password(session, user_id=viewer.user_id),
        failing=await webhooks_repository.failing_endpoints(session, user_id=viewer.user_id),
        failure_reason=failure_reason,
        **context,
    )


@router.get("")
async def settings_page(
    request: Request,
    viewer: Viewer,
    session: ReadSession,
    failing: Annotated[
        str, Query(max_length=5, description="1: only the endpoints whose last attempt failed")
    ] = "",
) -> Response:
    return await render_settings(request, viewer, session, only_failing=failing == "1")


@router.post("/password")
async def set_password(
    request: Request,
    viewer: FormViewer,
    state: State,
    new_password: Annotated[str, Form(max_length=2000)] = "",
    confirm_password: Annotated[str, Form(max_length=2000)] = "",
    current_password: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Sets a first password (an account made on the command line or by invitation, signed in by a link),
    or changes it: then the current one is needed. Throttled as signing in is."""
    await throttle_sign_in(state, "password", viewer.user_id, client_address(request))
    try:
        if new_password != confirm_password:
            raise ValidationFailed("The two new passwords differ: type the same one twice")
        async with state.db.read() as session:
            replaces = await accounts.check_password_change(
                session, user_id=viewer.user_id, current_password=current_password, new_password=new_password
            )
        password_hash = await accounts.hash_password_off_loop(new_password)
        async with state.db.write() as session:
            await accounts.store_password(
                session,
                user_id=viewer.user_id,
                password_hash=password_hash,
                replaces=replaces,
                now=state.clock.now(),
            )
    except ApiError as exc:
        async with state.db.read() as session:
            return await render_settings(
                request, viewer, session, status_code=exc.status_code, **problem(exc)
            )
    return back("/dashboard/settings", "password_changed" if replaces else "password_set")


@router.post("/api-keys")
async def create_api_key(
    request: Request,
    viewer: FormViewer,
    session: WriteSession,
    state: State,
    name: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """The new key is shown on this page, once; only its digest is kept."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        exc = ValidationFailed("name must be between 1 and 100 characters")
        return await render_settings(request, viewer, session, status_code=400, **problem(exc))
    issued = await accounts.issue_api_key(
        session,
        user=viewer.user_id,
        name=name,
        secret_key=state.settings.resolved_secret_key,
        now=state.clock.now(),
    )
    return await render_settings(
        request, viewer, session, new_key=issued.secret, flash=f"API key “{name}” created. Copy it now."
    )


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(key_id: ItemId, viewer: FormViewer, session: WriteSession, state: State) -> Response:
    await accounts.revoke_api_key(session, user_id=viewer.user_id, api_key_id=key_id, now=state.clock.now())
    return back("/dashboard/settings", "revoked")


@router.post("/webhooks")
async def create_webhook(
    request: Request, viewer: FormViewer, session: WriteSession, state: State
) -> Response:
    form = await request.form()
    values = {
        "url": form.get("url") or "",
        "events": [event for event in form.getlist("events") if isinstance(event, str)],
        "description": form.get("description") or "",
    }
    try:
        body = parse(WebhookCreate, values)
        endpoint = await webhooks.create(
            session, user_id=viewer.user_id, body=body, settings=state.settings, now=state.clock.now()
        )
    except ApiError as exc:
        return await render_settings(
            request, viewer, session, status_code=exc.status_code, webhook_values=values, **problem(exc)
        )
    return back(f"/dashboard/settings/webhooks/{endpoint.id}", "webhook")


@router.get("/webhooks/{webhook_id}")
async def webhook_page(
    request: Request, webhook_id: ItemId, viewer: Viewer, session: ReadSession
) -> Response:
    endpoint = await webhooks.get(session, user_id=viewer.user_id, webhook_id=webhook_id)
    deliveries, total = await webhooks_repository.list_deliveries(
        session, user_id=viewer.user_id, endpoint_id=webhook_id, limit=DELIVERIES_SHOWN, offset=0
    )
    return page(
        request,
        "dashboard/webhook.html",
        viewer=viewer,
        section="settings",
        endpoint=endpoint,
        deliveries=await webhooks.explain(session, deliveries),
        delivery_total=total,
        back_to=f"/dashboard/settings/webhooks/{webhook_id}",
    )


@router.post("/webhooks/{webhook_id}/test")
async def test_webhook(
    webhook_id: ItemId, viewer: FormViewer, session: WriteSession, state: State
) -> Response:
    endpoint = await webhooks.get(session, user_id=viewer.user_id, webhook_id=webhook_id)
    await webhooks.send_test(session, endpoint=endpoint, now=state.clock.now())
    return back(f"/dashboard/settings/webhooks/{webhook_id}", "tested")


@router.post("/webhooks/{webhook_id}/delete")
async def delete_webhook(webhook_id: ItemId, viewer: FormViewer, session: WriteSession) -> Response:
    endpoint = await webhooks.get(session, user_id=viewer.user_id, webhook_id=webhook_id)
    await webhooks.delete(session, endpoint=endpoint)
    return back("/dashboard/settings", "webhook_deleted")


@router.post("/signing-secret")
async def rotate_signing_secret(viewer: FormViewer, session: WriteSession) -> Response:
    await webhooks.rotate_signing_secret(session, user_id=viewer.user_id)
    return back("/dashboard/settings", "rotated")


@router.post("/notifications/{loop_id}")
async def notification_preferences(
    loop_id: LoopId,
    viewer: FormViewer,
    session: WriteSession,
    push: Annotated[str, Form(pattern="^(on|off)$")] = "off",
    email: Annotated[str, Form(pattern="^(none|on)$")] = "none",
) -> Response:
    await notifications.set_preferences(
        session, loop_id=loop_id, user_id=viewer.user_id, push=push == "on", email=email
    )
    return back("/dashboard/settings", "saved")

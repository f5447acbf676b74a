"""Loops for their owners: list, create, edit, delete; invite code, QR code, invitations, members; and a
form to try the loop with a request (web/dashboard/trying.py), followed live on the page."""

import re
from collections.abc import Coroutine, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts.auth import Principal
from openhitl.kit.errors import ApiError
from openhitl.kit.params import LoopId
from openhitl.kit.uow import ReadSession, State, WriteSession
from openhitl.kit.urls import join_url, public_base_url
from openhitl.loops import invitations, repository, service
from openhitl.loops.schemas import LoopCreate, LoopUpdate
from openhitl.loops.service import LoopAccess
from openhitl.realtime.feed import latest_event_id
from openhitl.requests import service as requests_service
from openhitl.reviewers import repository as reviewer_repository
from openhitl.reviewers import service as reviewer_service
from openhitl.web.dashboard import trying
from openhitl.web.dashboard.common import ItemId, back, page, parse
from openhitl.web.pages import problem, render
from openhitl.web.routing import page_kwargs
from openhitl.web.security import FormViewer, Viewer

router = APIRouter(prefix="/dashboard/loops", **page_kwargs())
ROLE_CHOICES = "^(admin|member|viewer)$"
INVITE_ROLES = "^(member|viewer)$"
EMAIL_SEPARATORS = re.compile(r"[\s,;]+")


def loop_values(form: dict[str, Any]) -> dict[str, Any]:
    """The loop form's fields as the API's body: empty description is none, the checkbox is a setting."""
    return {
        "name": form.get("name", ""),
        "description": form.get("description") or None,
        "icon": form.get("icon") or "🔁",
        "settings": {
            "members_can_create_requests": form.get("members_can_create_requests") == "on",
            "admins_can_create_requests": form.get("admins_can_create_requests") == "on",
        },
    }


async def loop_form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {name: value for name, value in form.items() if isinstance(value, str)}


@router.get("")
async def loops_list(request: Request, viewer: Viewer, session: ReadSession) -> Response:
    pairs = await repository.list_for_member(session, user_id=viewer.user_id)
    members = await repository.members_of(session, [loop.id for loop, _ in pairs])
    return page(request, "dashboard/loops.html", viewer=viewer, section="loops", pairs=pairs, members=members)


def _loop_form(request: Request, viewer: Principal, values: Mapping[str, Any], **context: Any) -> Response:
    """The create / edit form, filled in; with `the_loop` it edits that loop."""
    return page(request, "dashboard/loop_form.html", viewer=viewer, section="loops", values=values, **context)


@router.get("/new")
async def new_loop(request: Request, viewer: Viewer) -> Response:
    values = {"icon": "🔁", "admins_can_create_requests": "on"}
    return _loop_form(request, viewer, values)


@router.post("")
async def create_loop(request: Request, viewer: FormViewer, session: WriteSession, state: State) -> Response:
    form = await loop_form(request)
    try:
        data = parse(LoopCreate, loop_values(form))
    except ApiError as exc:
        return _loop_form(request, viewer, form, status_code=exc.status_code, **problem(exc))
    access = await service.create(session, creator=viewer.user_id, data=data, now=state.clock.now())
    return back(f"/dashboard/loops/{access.loop.id}", "created")


async def render_loop(
    request: Request,
    viewer: Principal,
    session: AsyncSession,
    access: LoopAccess,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    members = (await repository.members_of(session, [access.loop.id])).get(access.loop.id, [])
    state = request.app.state.openhitl
    return page(
        request,
        "dashboard/loop.html",
        viewer=viewer,
        section="loops",
        status_code=status_code,
        access=access,
        the_loop=access.loop,
        members=members,
        join_link=join_url(public_base_url(request, state.settings), access.loop.invite_code),
        **{**trying.form_context(access), **context},
    )


@router.get("/{loop_id}")
async def loop_page(request: Request, loop_id: LoopId, viewer: Viewer, session: ReadSession) -> Response:
    access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    return await render_loop(request, viewer, session, access)


@router.get("/{loop_id}/edit")
async def edit_loop(request: Request, loop_id: LoopId, viewer: Viewer, session: ReadSession) -> Response:
    access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    loop = access.loop
    settings = loop.settings or {}
    values = {
        "name": loop.name,
        "description": loop.description,
        "icon": loop.icon,
        "members_can_create_requests": "on" if settings.get("members_can_create_requests") else "",
        "admins_can_create_requests": "on" if settings.get("admins_can_create_requests", True) else "",
    }
    return _loop_form(request, viewer, values, the_loop=loop)


@router.post("/{loop_id}/edit")
async def update_loop(
    request: Request, loop_id: LoopId, viewer: FormViewer, session: WriteSession, state: State
) -> Response:
    access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    form = await loop_form(request)
    try:
        data = parse(LoopUpdate, loop_values(form))
        await service.update(
            session, access=access, data=data, actor_id=viewer.user_id, now=state.clock.now()
        )
    except ApiError as exc:
        return _loop_form(
            request, viewer, form, status_code=exc.status_code, the_loop=access.loop, **problem(exc)
        )
    return back(f"/dashboard/loops/{loop_id}", "updated")


@router.get("/{loop_id}/delete")
async def confirm_delete(request: Request, loop_id: LoopId, viewer: Viewer, session: ReadSession) -> Response:
    access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    members, requests, responses = await reviewer_repository.count_loop_contents(session, loop_id)
    return page(
        request,
        "dashboard/loop_delete.html",
        viewer=viewer,
        section="loops",
        the_loop=access.loop,
        is_creator=access.is_creator,
        counts={"members": members, "requests": requests, "responses": responses},
    )


@router.post("/{loop_id}/delete")
async def delete_loop(loop_id: LoopId, viewer: FormViewer, session: WriteSession, state: State) -> Response:
    access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    await reviewer_service.delete_loop(session, access=access, actor_id=viewer.user_id, now=state.clock.now())
    return back("/dashboard/loops", "deleted")


@router.post("/{loop_id}/invitations")
async def invite(
    request: Request,
    loop_id: LoopId,
    viewer: FormViewer,
    session: WriteSession,
    state: State,
    emails: Annotated[str, Form(max_length=20_000)] = "",
    role: Annotated[str, Form(pattern=INVITE_ROLES)] = "member",
) -> Response:
    access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    try:
        outcomes = await invitations.invite(
            session,
            loop=access.loop,
            emails=[email for email in EMAIL_SEPARATORS.split(emails) if email],
            invited_by=viewer.user_id,
            inviter_name=viewer.name,
            base_url=state.settings.link_base_url,  # never the caller's Host: the link goes in an email
            settings=state.settings,
            now=state.clock.now(),
            role=role,
        )
    except ApiError as exc:
        return await render_loop(
            request,
            viewer,
            session,
            access,
            status_code=exc.status_code,
            emails=emails,
            invite_role=role,
            **problem(exc),
        )
    invited = [o for o in outcomes if o.status == "invited"]
    already = [o.email for o in outcomes if o.status == "already_member"]
    email_off = not state.settings.smtp_url
    verb = "made" if email_off else "sent"
    summary = f"Invitations {verb} for {len(invited)} address{'es' if len(invited) != 1 else ''}."
    if already:
        summary += f" Already members: {', '.join(already)}."
    # Without an email server nobody receives them: the links are shown once, to the manager who invited.
    links = [{"email": o.email, "url": o.url} for o in invited] if email_off else []
    return await render_loop(
        request, viewer, session, access, flash=summary, invitation_links=links, email_off=email_off
    )


@router.post("/{loop_id}/members/{user_id}/invitation-link")
async def new_invitation_link(
    request: Request,
    loop_id: LoopId,
    user_id: ItemId,
    viewer: FormViewer,
    session: WriteSession,
    state: State,
) -> Response:
    """A fresh link for a pending invitation, shown once to a manager of the loop (its earlier link stops
    working): how an invitation reaches someone when no email leaves this server."""
    access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    try:
        renewed = await invitations.renew_link(
            session,
            loop=access.loop,
            user_id=user_id,
            base_url=state.settings.link_base_url,
            settings=state.settings,
            now=state.clock.now(),
        )
    except ApiError as exc:
        return await render_loop(
            request, viewer, session, access, status_code=exc.status_code, **problem(exc)
        )
    return await render_loop(
        request,
        viewer,
        session,
        access,
        flash=f"New invitation link made for {renewed.email}.",
        invitation_links=[{"email": renewed.email, "url": renewed.url}],
        email_off=not state.settings.smtp_url,
    )


@router.post("/{loop_id}/invite-code")
async def regenerate_code(
    loop_id: LoopId, viewer: FormViewer, session: WriteSession, state: State
) -> Response:
    access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    await service.regenerate_invite_code(
        session, access=access, actor_id=viewer.user_id, now=state.clock.now()
    )
    return back(f"/dashboard/loops/{loop_id}", "code")


async def member_action(
    request: Request,
    session: AsyncSession,
    access: LoopAccess,
    viewer: Principal,
    change: Coroutine[Any, Any, object],
    *,
    done: str,
) -> Response:
    """Runs a change to a member; a refusal (not the creator, member gone) is shown on the loop page."""
    try:
        await change
    except ApiError as exc:
        return await render_loop(
            request, viewer, session, access, status_code=exc.status_code, **problem(exc)
        )
    return back(f"/dashboard/loops/{access.loop.id}", done)


@router.post("/{loop_id}/members/{user_id}/role")
async def change_role(
    request: Request,
    loop_id: LoopId,
    user_id: ItemId,
    viewer: FormViewer,
    session: WriteSession,
    state: State,
    role: Annotated[str, Form(pattern=ROLE_CHOICES)],
) -> Response:
    access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    change = service.set_role(session, access=access, user_id=user_id, role=role, now=state.clock.now())
    return await member_action(request, session, access, viewer, change, done="role")


@router.post("/{loop_id}/members/{user_id}/remove")
async def remove_member(
    request: Request,
    loop_id: LoopId,
    user_id: ItemId,
    viewer: FormViewer,
    session: WriteSession,
    state: State,
) -> Response:
    access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    change = service.remove_member(
        session, access=access, user_id=user_id, actor_id=viewer.user_id, now=state.clock.now()
    )
    return await member_action(request, session, access, viewer, change, done="removed")


@router.post("/{loop_id}/try")
async def try_request(request: Request, loop_id: LoopId, viewer: FormViewer, state: State) -> Response:
    """Sends the form's request into the loop as the API would; the page then follows it live."""
    form = await loop_form(request)
    async with state.db.read() as session:
        access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    kept = trying.form_context(access, form)
    try:
        created = await requests_service.create_soon(
            state,
            loop_id=loop_id,
            body=trying.read_form(form),
            user_id=viewer.user_id,
            api_key_id=None,
            idempotency_key=None,
        )
    except ApiError as exc:
        async with state.db.read() as session:
            return await render_loop(
                request,
                viewer,
                session,
                access,
                status_code=exc.status_code,
                **{**kept, **trying.refusal(exc)},
            )
    # Read before the request: the live feed resumes after it, so a claim landing meanwhile is not missed.
    after = await latest_event_id(state.db)
    async with state.db.read() as session:
        tried = await trying.tried(
            session, loop_id=loop_id, request_id=created.values["id"], user_id=viewer.user_id, after=after
        )
        return await render_loop(request, viewer, session, access, **kept, tried=tried)


@router.get("/{loop_id}/try/{request_id}")
async def tried_request(
    request: Request, loop_id: LoopId, request_id: ItemId, viewer: Viewer, session: ReadSession
) -> Response:
    """The result panel of a request sent from the form, as it is now (the page's script fetches it)."""
    access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    tried = await trying.tried(session, loop_id=loop_id, request_id=request_id, user_id=viewer.user_id)
    return render(request, "dashboard/_try_result.html", viewer=viewer, the_loop=access.loop, tried=tried)


@router.post("/{loop_id}/try/preview")
async def preview(request: Request, loop_id: LoopId, viewer: FormViewer, session: ReadSession) -> Response:
    """The request text as the reviewer app shows it: the same server-side Markdown renderer."""
    access = await service.get_managed(session, loop_id=loop_id, user_id=viewer.user_id)
    form = await loop_form(request)
    return render(
        request,
        "dashboard/_try_preview.html",
        viewer=viewer,
        the_loop=access.loop,
        text=form.get("request_text", "")[: trying.TEXT_LIMIT],
        image_url=form.get("image_url", "").strip() if form.get("type") == "image" else "",
    )


@router.get("/{loop_id}/try")
async def try_form(loop_id: LoopId) -> Response:
    """The form lives on the loop's page (a reload after sending lands here)."""
    return RedirectResponse(f"/dashboard/loops/{loop_id}#try-it", status_code=303)

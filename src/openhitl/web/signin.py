"""Sign-up, sign-in (password or emailed link), sign-out and invitation links, for browsers and scripts.

Form posts get a redirect with the session cookie; JSON posts get the envelope and the cookie.
"""

import contextlib
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from openhitl.accounts import service as accounts
from openhitl.accounts import sessions
from openhitl.accounts.auth import check_origin, session_principal
from openhitl.accounts.models import User
from openhitl.accounts.schemas import EmailLinkRequest, Notice, SignedIn, SignIn, SignUp, UserRead
from openhitl.delivery.email import enqueue_email
from openhitl.kit.bodies import unparseable_body_hint
from openhitl.kit.envelope import Envelope, ok, page_error_responses
from openhitl.kit.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    UnsupportedMediaType,
)
from openhitl.kit.guessing import client_address, guarded_lookup, throttle_sign_in
from openhitl.kit.state import AppState
from openhitl.kit.uow import State
from openhitl.kit.urls import public_base_url
from openhitl.kit.work import WritingSession
from openhitl.loops import invitations
from openhitl.notifications import repository as push_repository
from openhitl.reviewers import repository as reviewer_repository
from openhitl.reviewers import service as reviewer_service
from openhitl.web.routing import PageRoute, sent_form
from openhitl.web.security import check_anonymous_form, check_viewer_form

router = APIRouter(tags=["accounts"], route_class=PageRoute)
M = TypeVar("M", bound=BaseModel)


FORM_REDIRECT = {"description": "A form was posted: on to the next page"}


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_body(request: Request, model: type[M]) -> M:
    """The same fields from an HTML form (which must carry its CSRF token) or a JSON body. Another site's
    page can post a form, or text/plain that looks like JSON, but not application/json without asking
    first (CORS); and a browser's Origin naming another site is refused either way."""
    if sent_form(request):
        await check_anonymous_form(request)
    elif not _is_json(request):
        raise UnsupportedMediaType(
            "Unsupported content type", "Send JSON (Content-Type: application/json) or a form"
        )
    else:
        check_origin(request, request.app.state.openhitl.settings)
    try:
        raw: Any = dict(await request.form()) if sent_form(request) else await request.json()
    except (ValueError, RecursionError) as exc:
        hint = unparseable_body_hint(exc, "Send JSON (Content-Type: application/json) or a form")
        raise BadRequest("Invalid request body", hint) from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from exc


def _form_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model as a form carries it: a field is a string or left out, never null."""
    schema = model.model_json_schema()
    for name, field in schema["properties"].items():
        options = [option for option in field.get("anyOf", []) if option.get("type") != "null"]
        if len(options) == 1:
            schema["properties"][name] = {**{k: v for k, v in field.items() if k != "anyOf"}, **options[0]}
            schema["properties"][name].pop("default", None)
    return schema


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": ref},
                "application/x-www-form-urlencoded": {"schema": _form_schema(model)},
            },
        }
    }


def _secure(request: Request, state: AppState) -> bool:
    return public_base_url(request, state.settings).startswith("https://")


async def signed_in(
    request: Request,
    state: AppState,
    session: WritingSession,
    user: User,
    *,
    next_path: str | None,
    now: datetime,
    status_code: int = 200,
    joined: list[str] | None = None,
) -> Response:
    """Accept the user's pending invitations, open a session, and answer in the caller's language."""
    accepted = await invitations.accept_pending(session, user_id=user.id, now=now)
    new = await sessions.create(
        session,
        user_id=user.id,
        user_agent=request.headers.get("user-agent", ""),
        settings=state.settings,
        now=now,
    )
    body = SignedIn(
        user=UserRead.model_validate(user, from_attributes=True),
        csrf_token=new.csrf_token,
        joined_loop_ids=list(dict.fromkeys([*(joined or []), *accepted])),
    )
    response: Response
    if (sent_form(request) or request.method == "GET") and not wants_json(request):
        response = RedirectResponse(accounts.safe_next_path(next_path), status_code=303)
    else:
        response = JSONResponse(ok(body, "Signed in").model_dump(mode="json"), status_code=status_code)
    sessions.set_cookie(response, new, secure=_secure(request, state))
    return response


SIGN_UP_SENT = Notice(detail="Check your email: a link to finish signing up is on its way")


@router.post(
    "/signup",
    status_code=201,
    openapi_extra=_body_schema(SignUp),
    responses={
        201: {
            "model": Envelope[SignedIn],
            "description": "Signed up and signed in (the first account, or "
            "an email invitation's token proved the address)",
        },
        202: {
            "model": Envelope[Notice],
            "description": "A link to finish was emailed to the address. The "
            "answer is the same whether or not the address already has an account",
        },
        303: FORM_REDIRECT,
        **page_error_responses(400, 403, 404, 409, 415, 429),
    },
)
async def sign_up(request: Request, state: State) -> Response:
    """Create an account. Unless sign-up is open, bring an invite code or an email invitation. The address
    is proven before anything is made: by the invitation's token, or by a link emailed to it."""
    body = await read_body(request, SignUp)
    name, email = accounts.check_sign_up(name=body.name, email=body.email, password=body.password)
    await throttle_sign_in(state, "signup", client_address(request), email)
    password_hash = await accounts.hash_password_off_loop(body.password)
    now = state.clock.now()
    async with state.db.write() as session:
        if body.invitation:
            async with guarded_lookup(state, request):
                user, loop_id = await _sign_up_invited(
                    session, state, body.invitation, name, email, password_hash, now
                )
            return await signed_in(
                request, state, session, user, next_path=body.next, now=now, status_code=201, joined=[loop_id]
            )
        invite_code = None
        if body.invite_code:
            invite_code = reviewer_service.normalise_invite_code(body.invite_code)
            async with guarded_lookup(state, request):
                if await reviewer_repository.loop_by_invite_code(session, invite_code) is None:
                    raise NotFound(
                        "No loop found with that invite code", "Check the code, or ask for a new one"
                    )
        if await accounts.is_first_account(session):
            user = await accounts.create_account(
                session, name=name, email=email, password_hash=password_hash, now=now
            )
            joined = await join_by_code(session, user.id, invite_code, now)
            return await signed_in(
                request, state, session, user, next_path=body.next, now=now, status_code=201, joined=joined
            )
        if invite_code is None and state.settings.signup != "open":
            # The same answer for an address with an account, an invited one and an unknown one.
            raise Forbidden(
                "Sign-up is by invitation",
                "Use a join link, an invite code or the link in an invitation email; "
                "if you already have an account, sign in",
            )
        link = await accounts.sign_up_link(
            session,
            name=name,
            email=email,
            password_hash=password_hash,
            invite_code=invite_code,
            next_path=body.next,
            settings=state.settings,
            now=now,
        )
        await _email_sign_up_link(session, state, email, link, now)
    if sent_form(request):
        return RedirectResponse("/signup?sent=1", status_code=303)
    return JSONResponse(ok(SIGN_UP_SENT, "Check your email").model_dump(mode="json"), status_code=202)


async def _sign_up_invited(
    session: WritingSession,
    state: AppState,
    token: str,
    name: str,
    email: str,
    password_hash: str,
    now: datetime,
) -> tuple[User, str]:
    """An email invitation's token proves its address: its placeholder account is finished at once."""
    invitation = await invitations.by_token(session, token=token, settings=state.settings)
    if invitation is None:
        raise invitations.not_found()
    if invitation.email != email:
        raise BadRequest(
            "This invitation was sent to another address",
            f"Sign up with the invited address, {invitation.email}",
        )
    user = await session.get(User, invitation.user_id)
    assert user is not None
    if user.password_hash is not None:
        raise Conflict("An account with this email already exists", "Sign in instead")
    spent = await invitations.spend(session, token=token, settings=state.settings, now=now)
    user.name, user.password_hash, user.updated_at = name, password_hash, now
    await session.flush()
    return user, spent.loop_id


async def join_by_code(
    session: WritingSession, user_id: str, invite_code: str | None, now: datetime
) -> list[str]:
    if invite_code is None:
        return []
    with contextlib.suppress(Conflict, NotFound):  # already in it, or the code changed meanwhile
        member = await reviewer_service.join(session, user_id=user_id, invite_code=invite_code, now=now)
        return [member.loop.id]
    return []


async def _email_sign_up_link(
    session: WritingSession, state: AppState, email: str, link: accounts.SignUpLink, now: datetime
) -> None:
    url = accounts.login_link_url(state.settings, link.token)
    minutes = state.settings.login_link_minutes
    if link.existing:
        subject = "Signing in to OpenHITL"
        text = (
            "Someone asked to sign up to OpenHITL with this address, which already has an account. "
            f"If it was you, sign in with this link: {url}\n\nThe link works once, for the next {minutes} "
            "minutes. Your account was not changed. If you did not ask, ignore this email.\n"
        )
    else:
        subject = "Finish signing up to OpenHITL"
        text = (
            f"Finish signing up to OpenHITL: {url}\n\nThe link works once, for the next {minutes} minutes. "
            "If you did not sign up, ignore this email: no account is made without it.\n"
        )
    await enqueue_email(session, to=email, subject=subject, text=text, now=now)


@router.post(
    "/login",
    openapi_extra=_body_schema(SignIn),
    responses={
        200: {"model": Envelope[SignedIn]},
        303: FORM_REDIRECT,
        **page_error_responses(400, 401, 403, 415, 429),
    },
)
async def log_in(request: Request, state: State) -> Response:
    """Sign in with email and password."""
    body = await read_body(request, SignIn)
    await throttle_sign_in(state, "login", body.email.strip().lower(), client_address(request))
    async with state.db.read() as session:
        user = await accounts.authenticate_password(session, email=body.email, password=body.password)
    now = state.clock.now()
    async with state.db.write() as session:
        return await signed_in(request, state, session, user, next_path=body.next, now=now)


@router.post(
    "/logout",
    responses={200: {"model": Envelope[Notice]}, 303: FORM_REDIRECT, **page_error_responses(403)},
)
async def log_out(request: Request, state: State) -> Response:
    """End this browser's session."""
    token = request.cookies.get(sessions.SESSION_COOKIE)
    signed_in = None
    if token:
        try:
            signed_in = await session_principal(state, token)
        except ApiError:
            signed_in = None  # an expired session has nothing left to protect
        if signed_in is not None:  # another site must not sign people out: form or header token
            await check_viewer_form(request, signed_in)
    if token:
        async with state.db.write() as session:
            if signed_in is not None and signed_in.session_id is not None:
                await push_repository.delete_session_subscriptions(session, session_id=signed_in.session_id)
            await sessions.destroy(session, token=token, settings=state.settings)
    response: Response = (
        RedirectResponse("/login", status_code=303)
        if sent_form(request)
        else JSONResponse(ok(Notice(detail="Signed out"), "Signed out").model_dump(mode="json"))
    )
    sessions.clear_cookie(response, secure=_secure(request, state))
    return response


@router.post(
    "/login/email",
    status_code=202,
    openapi_extra=_body_schema(EmailLinkRequest),
    responses={
        202: {"model": Envelope[Notice]},
        303: FORM_REDIRECT,
        **page_error_responses(400, 403, 415, 429),
    },
)
async def email_sign_in_link(request: Request, state: State) -> Response:
    """Email a single-use sign-in link. The answer is the same whether or not the address has an account."""
    body = await read_body(request, EmailLinkRequest)
    email = accounts.clean_email(body.email)
    await throttle_sign_in(state, "login-link", email, client_address(request))
    now = state.clock.now()
    async with state.db.write() as session:
        token = await accounts.create_login_link(
            session, email=email, next_path=body.next or "/", settings=state.settings, now=now
        )
        if token is not None:
            link = accounts.login_link_url(state.settings, token)
            await enqueue_email(
                session,
                to=email,
                subject="Your OpenHITL sign-in link",
                text=(
                    f"Sign in to OpenHITL: {link}\n\nThe link works once, for the next "
                    f"{state.settings.login_link_minutes} minutes. If you did not ask for it, ignore this email.\n"
                ),
                now=now,
            )
    notice = Notice(detail="If that address can sign in here, a sign-in link is on its way")
    if sent_form(request):
        return RedirectResponse("/login?sent=1", status_code=303)
    return JSONResponse(ok(notice, "Sign-in link requested").model_dump(mode="json"), status_code=202)

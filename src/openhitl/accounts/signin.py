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
from sqlalchemy.ext.asyncio import AsyncSession

from openhitl.accounts import service as accounts
from openhitl.accounts import sessions
from openhitl.accounts.auth import session_principal
from openhitl.accounts.models import User
from openhitl.accounts.schemas import EmailLinkRequest, Notice, SignedIn, SignIn, SignUp, UserRead
from openhitl.delivery.email import enqueue_email
from openhitl.kit.bodies import unparseable_body_hint
from openhitl.kit.envelope import Envelope, ok, page_error_responses
from openhitl.kit.errors import ApiError, BadRequest, Conflict, NotFound, TooManyRequests
from openhitl.kit.state import AppState
from openhitl.kit.uow import State
from openhitl.kit.urls import public_base_url
from openhitl.loops import invitations
from openhitl.reviewers import repository as reviewer_repository
from openhitl.reviewers import service as reviewer_service
from openhitl.web.routing import PageRoute
from openhitl.web.security import check_anonymous_form, check_viewer_form

router = APIRouter(tags=["accounts"], route_class=PageRoute)
M = TypeVar("M", bound=BaseModel)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _not_invited() -> NotFound:
    return NotFound("Invitation not found", "Check the link in the email, or ask for a new invitation")


FORM_REDIRECT = {"description": "A form was posted: on to the next page"}


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() in FORM_TYPES


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


async def read_body(request: Request, model: type[M]) -> M:
    """The same fields from an HTML form (which must carry its CSRF token) or a JSON body."""
    if _is_form(request):
        await check_anonymous_form(request)
    try:
        raw: Any = dict(await request.form()) if _is_form(request) else await request.json()
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


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _throttle(state: AppState, scope: str, *keys: str) -> None:
    for key in keys:
        if not await state.throttle.allow(scope, key, state.settings.login_attempts_per_minute):
            raise TooManyRequests("Too many attempts", "Wait a minute before trying again")


async def _signed_in(
    request: Request,
    state: AppState,
    session: AsyncSession,
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
    if _is_form(request) or (request.method == "GET" and not _wants_json(request)):
        response = RedirectResponse(accounts.safe_next_path(next_path), status_code=303)
    else:
        response = JSONResponse(ok(body, "Signed in").model_dump(mode="json"), status_code=status_code)
    sessions.set_cookie(response, new, secure=_secure(request, state))
    return response


@router.post(
    "/signup",
    status_code=201,
    openapi_extra=_body_schema(SignUp),
    responses={
        201: {"model": Envelope[SignedIn]},
        303: FORM_REDIRECT,
        **page_error_responses(400, 403, 404, 409, 429),
    },
)
async def sign_up(request: Request, state: State) -> Response:
    """Create an account. Unless sign-up is open, bring an invite code or an email invitation."""
    body = await read_body(request, SignUp)
    await _throttle(state, "signup", _client(request))
    name, email = accounts.check_sign_up(name=body.name, email=body.email, password=body.password)
    password_hash = await accounts.hash_password_off_loop(body.password)
    now = state.clock.now()
    async with state.db.write() as session:
        invited = False
        loop_to_join = None
        if body.invite_code:
            code = reviewer_service.normalise_invite_code(body.invite_code)
            loop_to_join = await reviewer_repository.loop_by_invite_code(session, code)
            invited = loop_to_join is not None
        if body.invitation:
            invitation = await invitations.by_token(session, token=body.invitation, settings=state.settings)
            if invitation is None:
                raise _not_invited()
            if not invitations.is_live(invitation, now):
                raise BadRequest(
                    "This invitation has expired or was already used", "Ask for a new invitation"
                )
            if invitation.email != email:
                raise BadRequest(
                    "This invitation was sent to another address",
                    f"Sign up with the invited address, {invitation.email}",
                )
            invited = True
        user = await accounts.sign_up(
            session,
            name=name,
            email=email,
            password_hash=password_hash,
            invited=invited,
            settings=state.settings,
            now=now,
        )
        joined = []
        if loop_to_join is not None:
            with contextlib.suppress(Conflict):  # already in it: nothing to do
                member = await reviewer_service.join(
                    session, user_id=user.id, invite_code=loop_to_join.invite_code, now=now
                )
                joined.append(member.loop.id)
        return await _signed_in(
            request, state, session, user, next_path=body.next, now=now, status_code=201, joined=joined
        )


@router.post(
    "/login",
    openapi_extra=_body_schema(SignIn),
    responses={
        200: {"model": Envelope[SignedIn]},
        303: FORM_REDIRECT,
        **page_error_responses(400, 401, 403, 429),
    },
)
async def log_in(request: Request, state: State) -> Response:
    """Sign in with email and password."""
    body = await read_body(request, SignIn)
    await _throttle(state, "login", body.email.strip().lower(), _client(request))
    async with state.db.read() as session:
        user = await accounts.authenticate_password(session, email=body.email, password=body.password)
    now = state.clock.now()
    async with state.db.write() as session:
        return await _signed_in(request, state, session, user, next_path=body.next, now=now)


@router.post(
    "/logout",
    responses={200: {"model": Envelope[Notice]}, 303: FORM_REDIRECT, **page_error_responses(403)},
)
async def log_out(request: Request, state: State) -> Response:
    """End this browser's session."""
    token = request.cookies.get(sessions.SESSION_COOKIE)
    if token and _is_form(request):
        try:
            signed_in = await session_principal(state, token)
        except ApiError:
            signed_in = None  # an expired session has nothing left to protect
        if signed_in is not None:
            await check_viewer_form(request, signed_in)
    if token:
        async with state.db.write() as session:
            await sessions.destroy(session, token=token, settings=state.settings)
    response: Response = (
        RedirectResponse("/login", status_code=303)
        if _is_form(request)
        else JSONResponse(ok(Notice(detail="Signed out"), "Signed out").model_dump(mode="json"))
    )
    sessions.clear_cookie(response, secure=_secure(request, state))
    return response


@router.post(
    "/login/email",
    status_code=202,
    openapi_extra=_body_schema(EmailLinkRequest),
    responses={202: {"model": Envelope[Notice]}, 303: FORM_REDIRECT, **page_error_responses(400, 403, 429)},
)
async def email_sign_in_link(request: Request, state: State) -> Response:
    """Email a single-use sign-in link. The answer is the same whether or not the address has an account."""
    body = await read_body(request, EmailLinkRequest)
    email = accounts.clean_email(body.email)
    await _throttle(state, "login-link", email, _client(request))
    now = state.clock.now()
    async with state.db.write() as session:
        token = await accounts.create_login_link(
            session, email=email, next_path=body.next or "/", settings=state.settings, now=now
        )
        if token is not None:
            link = f"{public_base_url(request, state.settings)}/login/email/{token}"
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
    if _is_form(request):
        return RedirectResponse("/login?sent=1", status_code=303)
    return JSONResponse(ok(notice, "Sign-in link requested").model_dump(mode="json"), status_code=202)


@router.get(
    "/login/email/{token}",
    responses={
        303: {"description": "Signed in; on to the next page"},
        200: {"model": Envelope[SignedIn]},
        **page_error_responses(401, 403),
    },
)
async def use_sign_in_link(token: str, request: Request, state: State) -> Response:
    """Follow an emailed sign-in link (once)."""
    now = state.clock.now()
    async with state.db.write() as session:
        user, next_path = await accounts.use_login_link(
            session, token=token, settings=state.settings, now=now
        )
        return await _signed_in(request, state, session, user, next_path=next_path, now=now)


@router.get(
    "/invitations/{token}",
    responses={
        303: {"description": "Joined; on to the inbox"},
        200: {"model": Envelope[SignedIn]},
        **page_error_responses(400, 404),
    },
)
async def accept_invitation(token: str, request: Request, state: State) -> Response:
    """Follow an email invitation: signs the invitee in and makes them an active member of the loop."""
    now = state.clock.now()
    async with state.db.write() as session:
        invitation = await invitations.by_token(session, token=token, settings=state.settings)
        if invitation is None:
            raise _not_invited()
        if not invitations.is_live(invitation, now):
            raise BadRequest(
                "This invitation has expired or was already used", "Ask the loop's owner for a new one"
            )
        user = await session.get(User, invitation.user_id)
        assert user is not None
        return await _signed_in(request, state, session, user, next_path="/", now=now)

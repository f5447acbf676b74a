"""Following an emailed link: a sign-in (or sign-up) link, or an invitation.

A browser opening one is shown a page whose one tap (a form post with the page's token) uses it: opening a
link changes nothing, so a mail scanner fetching it spends nothing, and another site sending a browser to
someone else's link does not sign that browser in unasked. A script asking for JSON uses it at once.
"""

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from openhitl.accounts import service as accounts
from openhitl.accounts.auth import check_origin
from openhitl.accounts.models import User
from openhitl.accounts.schemas import SignedIn
from openhitl.kit.envelope import Envelope, page_error_responses
from openhitl.kit.errors import Forbidden, Unauthorized
from openhitl.kit.guessing import guarded_lookup
from openhitl.kit.state import AppState
from openhitl.kit.uow import State
from openhitl.loops import invitations
from openhitl.web.pages import render
from openhitl.web.routing import PageRoute
from openhitl.web.security import check_anonymous_form, form_token
from openhitl.web.signin import join_by_code, signed_in, wants_json

router = APIRouter(tags=["accounts"], route_class=PageRoute)
Handler = Callable[[str, Request, AppState], Awaitable[Response]]


def _confirm_page(request: Request, *, heading: str, detail: str, button: str) -> Response:
    """What a browser opening an emailed link sees: one tap signs in. Opening a link changes nothing, so a
    mail scanner that fetches it spends nothing, and another site sending a browser to someone else's link
    does not sign that browser in unasked."""
    return render(
        request,
        "auth/confirm_link.html",
        viewer=None,
        heading=heading,
        detail=detail,
        button=button,
        action=request.url.path,
        csrf_token=form_token(request, None),
    )


@router.get(
    "/login/email/{token}",
    responses={
        200: {"model": Envelope[SignedIn], "description": "Signed in (a script asking for JSON)"},
        **page_error_responses(401, 403, 429),
    },
)
async def use_sign_in_link(token: str, request: Request, state: State) -> Response:
    """Follow an emailed sign-in link (once). A script asking for JSON is signed in at once; a browser is
    shown a page that signs in with one tap (a form post to the same address)."""
    if wants_json(request):  # a script spends it at once; a page elsewhere fetching it must not
        check_origin(request, state.settings)
        return await _spend_sign_in_link(token, request, state)
    async with state.db.read() as session, guarded_lookup(state, request, misses=(Unauthorized,)):
        link = await accounts.find_login_link(
            session, token=token, settings=state.settings, now=state.clock.now()
        )
        if link is None:
            raise accounts.login_link_used()
    if link.password_hash is not None:
        return _confirm_page(
            request,
            heading="Finish signing up",
            detail=f"Create the account for {link.email}.",
            button="Create my account",
        )
    return _confirm_page(
        request, heading="Sign in", detail=f"Sign in to OpenHITL as {link.email}.", button="Sign in"
    )


TAP_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {"csrf_token": {"type": "string"}},
                    "required": ["csrf_token"],
                }
            }
        },
    }
}


def _tap(path: str, done: str, *errors: int) -> Callable[[Handler], Handler]:
    """The route of the tap on a link's page: a form post carrying that page's token."""
    return router.post(
        path,
        openapi_extra=TAP_FORM,
        responses={
            200: {"model": Envelope[SignedIn], "description": f"{done} (a script asking for JSON)"},
            303: {"description": f"{done}; on to the next page"},
            **page_error_responses(*errors),
        },
    )


@_tap("/login/email/{token}", "Signed in", 401, 403, 429)
async def confirm_sign_in_link(token: str, request: Request, state: State) -> Response:
    """The tap on the page an emailed sign-in link shows: the form carries that page's token."""
    await check_anonymous_form(request)
    return await _spend_sign_in_link(token, request, state)


async def _spend_sign_in_link(token: str, request: Request, state: AppState) -> Response:
    now = state.clock.now()
    async with state.db.write() as session:
        async with guarded_lookup(state, request, misses=(Unauthorized,)):
            used = await accounts.use_login_link(session, token=token, settings=state.settings, now=now)
        joined = await join_by_code(session, used.user.id, used.invite_code, now)
        return await signed_in(
            request, state, session, used.user, next_path=used.next_path, now=now, joined=joined
        )


@router.get(
    "/invitations/{token}",
    responses={
        200: {"model": Envelope[SignedIn], "description": "Joined and signed in (a script asking for JSON)"},
        **page_error_responses(400, 403, 404, 429),
    },
)
async def accept_invitation(token: str, request: Request, state: State) -> Response:
    """Follow an email invitation: signs the invitee in and makes them an active member of the loop. A
    script asking for JSON is answered at once; a browser is shown a page that accepts with one tap."""
    if wants_json(request):
        check_origin(request, state.settings)
        return await _spend_invitation(token, request, state)
    async with state.db.read() as session, guarded_lookup(state, request):
        found = await invitations.find_live(
            session, token=token, settings=state.settings, now=state.clock.now()
        )
        if found is None:
            raise await invitations.refusal(session, token=token, settings=state.settings)
    invitation, loop = found
    return _confirm_page(
        request,
        heading=f"Join {loop.name}",
        detail=f"You're invited to review for {loop.name}, as {invitation.email}.",
        button="Join and sign in",
    )


@_tap("/invitations/{token}", "Joined and signed in", 400, 403, 404, 429)
async def confirm_invitation(token: str, request: Request, state: State) -> Response:
    """The tap on the page an invitation link shows: the form carries that page's token."""
    await check_anonymous_form(request)
    return await _spend_invitation(token, request, state)


async def _spend_invitation(token: str, request: Request, state: AppState) -> Response:
    now = state.clock.now()
    async with state.db.write() as session:
        async with guarded_lookup(state, request):
            spent = await invitations.spend(session, token=token, settings=state.settings, now=now)
        user = await session.get(User, spent.user_id)
        assert user is not None
        if user.status != "active":
            raise Forbidden("Account suspended")
        return await signed_in(request, state, session, user, next_path="/", now=now, joined=[spent.loop_id])

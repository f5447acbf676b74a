"""Who is looking at a page, and proof that a form was sent from one of our pages (CSRF).

Signed-in forms carry the session's own CSRF token. Forms shown before sign-in (sign-up, sign-in) carry a
random token that is also set as an HttpOnly cookie (double submit), so another site cannot sign a browser
into an account of its choosing.
"""

import hmac
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response

from openhitl.accounts import sessions
from openhitl.accounts.auth import CSRF_HEADER, Principal, check_origin, session_principal
from openhitl.kit.errors import ApiError, Forbidden
from openhitl.kit.state import AppState, app_state

CSRF_COOKIE = "openhitl_csrf"
CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """The page needs a signed-in browser; it is answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


async def optional_viewer(
    request: Request, state: Annotated[AppState, Depends(app_state)]
) -> Principal | None:
    token = request.cookies.get(sessions.SESSION_COOKIE)
    if not token:
        return None
    try:
        return await session_principal(state, token)
    except ApiError:
        return None


async def required_viewer(
    viewer: Annotated[Principal | None, Depends(optional_viewer)], request: Request
) -> Principal:
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return viewer


Viewer = Annotated[Principal, Depends(required_viewer)]
MaybeViewer = Annotated[Principal | None, Depends(optional_viewer)]


def sign_in_url(next_path: str) -> str:
    return f"/login?next={quote(next_path, safe='')}"


def form_token(request: Request, viewer: Principal | None) -> str:
    """The token a page's forms carry: the session's, or before sign-in a fresh double-submit token."""
    if viewer is not None and viewer.csrf_token:
        return viewer.csrf_token
    existing = request.cookies.get(CSRF_COOKIE)
    if existing:
        return existing
    token = getattr(request.state, "new_csrf_cookie", None) or secrets.token_urlsafe(24)
    request.state.new_csrf_cookie = token
    return token


def set_csrf_cookie(request: Request, response: Response, *, secure: bool) -> None:
    token = getattr(request.state, "new_csrf_cookie", None)
    if token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="lax", secure=secure, path="/")


async def submitted_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


def _same(submitted: str, expected: str | None) -> bool:
    return bool(expected) and hmac.compare_digest(submitted.encode(), (expected or "").encode())


FORM_EXPIRED = Forbidden("This form has expired", "Reload the page and send it again")


async def check_viewer_form(request: Request, viewer: Principal) -> None:
    check_origin(request, request.app.state.openhitl.settings)
    if not _same(await submitted_token(request), viewer.csrf_token):
        raise FORM_EXPIRED


async def check_anonymous_form(request: Request) -> None:
    check_origin(request, request.app.state.openhitl.settings)
    if not _same(await submitted_token(request), request.cookies.get(CSRF_COOKIE)):
        raise FORM_EXPIRED


async def checked_viewer(request: Request, viewer: Viewer) -> Principal:
    """A signed-in viewer whose changing request carries their CSRF token."""
    if request.method != "GET":
        await check_viewer_form(request, viewer)
    return viewer


FormViewer = Annotated[Principal, Depends(checked_viewer)]

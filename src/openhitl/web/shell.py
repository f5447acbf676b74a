"""Sign-in pages and the installable shell: manifest, service worker, offline page."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from openhitl.accounts.service import safe_next_path
from openhitl.kit.envelope import HTML_PAGE, page_error_responses
from openhitl.web.pages import STATIC_DIR, render
from openhitl.web.routing import PageRoute, page_kwargs
from openhitl.web.security import MaybeViewer, form_token

router = APIRouter(**page_kwargs())
NO_NUL = r"^[^\x00]*$"
NextPath = Annotated[
    str, Query(max_length=2000, pattern=NO_NUL, description="Local path to go to after signing in")
]
# The two pages of the interface contract (GET/POST /signup, GET/POST /login) are in the API document.
contract_pages = APIRouter(route_class=PageRoute, tags=["accounts"])
CONTRACT_PAGE: dict[str, Any] = {
    "response_class": HTMLResponse,
    "responses": {
        200: {"description": "The page, with its form", "content": HTML_PAGE},
        303: {"description": "Already signed in: on to the next page"},
        **page_error_responses(400),
    },
}


@contract_pages.get("/login", **CONTRACT_PAGE)
async def login_page(
    request: Request, viewer: MaybeViewer, next: NextPath = "/", sent: bool = False
) -> Response:
    """The sign-in page: password, or a sign-in link by email."""
    if viewer is not None:
        return RedirectResponse(safe_next_path(next), status_code=303)
    return render(
        request,
        "auth/login.html",
        viewer=None,
        values={"next": safe_next_path(next)},
        sent=sent,
        csrf_token=form_token(request, None),
    )


@contract_pages.get("/signup", **CONTRACT_PAGE)
async def signup_page(
    request: Request,
    viewer: MaybeViewer,
    next: NextPath = "/",
    code: Annotated[str, Query(max_length=20, pattern=NO_NUL, description="A loop's invite code")] = "",
    invitation: Annotated[
        str, Query(max_length=200, pattern=NO_NUL, description="An email invitation's token")
    ] = "",
    sent: bool = False,
) -> Response:
    """The sign-up page, with a loop's invite code or an email invitation's token filled in."""
    if viewer is not None:
        return RedirectResponse(safe_next_path(next), status_code=303)
    values = {"next": safe_next_path(next), "invite_code": code, "invitation": invitation}
    return render(
        request,
        "auth/signup.html",
        viewer=None,
        values=values,
        sent=sent,
        csrf_token=form_token(request, None),
    )


@router.get("/offline")
async def offline_page(request: Request) -> Response:
    return render(request, "offline.html", viewer=None)


@router.get("/manifest.webmanifest")
async def manifest() -> Response:
    return FileResponse(STATIC_DIR / "manifest.webmanifest", media_type="application/manifest+json")


@router.get("/sw.js")
async def service_worker() -> Response:
    """Served from the root so that it controls every page of the app."""
    return FileResponse(
        STATIC_DIR / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )

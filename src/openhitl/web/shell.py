"""Sign-in pages and the installable shell: manifest, service worker, offline page."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from openhitl.accounts.service import safe_next_path
from openhitl.web.pages import STATIC_DIR, render
from openhitl.web.routing import page_kwargs
from openhitl.web.security import MaybeViewer, form_token

router = APIRouter(**page_kwargs())
NextPath = Annotated[str, Query(max_length=2000)]


@router.get("/login")
async def login_page(
    request: Request, viewer: MaybeViewer, next: NextPath = "/", sent: bool = False
) -> Response:
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


@router.get("/signup")
async def signup_page(
    request: Request,
    viewer: MaybeViewer,
    next: NextPath = "/",
    code: Annotated[str, Query(max_length=20)] = "",
    invitation: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    if viewer is not None:
        return RedirectResponse(safe_next_path(next), status_code=303)
    values = {"next": safe_next_path(next), "invite_code": code, "invitation": invitation}
    return render(
        request, "auth/signup.html", viewer=None, values=values, csrf_token=form_token(request, None)
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

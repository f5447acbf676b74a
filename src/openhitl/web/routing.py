"""A route class for pages: errors become readable pages, and every answer gets the page headers."""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from openhitl.kit.errors import ApiError
from openhitl.kit.urls import public_base_url
from openhitl.kit.validation import summarise
from openhitl.web import security
from openhitl.web.pages import SECURITY_HEADERS, render

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Sign-in forms that failed are shown again, filled in (never the password), with the message above.
FORM_PAGES = {"/signup": "auth/signup.html", "/login": "auth/login.html", "/login/email": "auth/login.html"}
KEEP_FIELDS = ("name", "email", "invite_code", "invitation", "next")


def sent_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() in FORM_TYPES


def wants_json(request: Request) -> bool:
    """A page's own script (fetch with `Accept: application/json`) asking for the envelope, not a page."""
    return "application/json" in request.headers.get("accept", "") and not request.headers.get("hx-request")


def wants_page(request: Request) -> bool:
    """A browser navigating or posting a form, rather than a script asking for JSON."""
    if request.headers.get("hx-request"):
        return True
    if wants_json(request):
        return False
    return request.method == "GET" or sent_form(request)


def _message(exc: ApiError | RequestValidationError) -> tuple[int, str, str]:
    if isinstance(exc, ApiError):
        detail = exc.data if isinstance(exc.data, str) else ""
        return exc.status_code, exc.msg, detail
    msg, data = summarise(list(exc.errors()))
    return 400, msg, data if isinstance(data, str) else ""


async def error_page(request: Request, exc: ApiError | RequestValidationError) -> Response:
    status, msg, detail = _message(exc)
    template = FORM_PAGES.get(request.url.path) if request.method == "POST" else None
    if template is not None:
        form = await request.form()
        values = {name: form.get(name) or "" for name in KEEP_FIELDS}
        viewer = None
        return render(
            request,
            template,
            status_code=status,
            error=msg,
            error_detail=detail,
            values=values,
            csrf_token=security.form_token(request, viewer),
            viewer=viewer,
        )
    return render(request, "error.html", status_code=status, error=msg, error_detail=detail, viewer=None)


def finish(request: Request, response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    state = request.app.state.openhitl
    secure = public_base_url(request, state.settings).startswith("https://")
    security.set_csrf_cookie(request, response, secure=secure)
    return response


class PageRoute(APIRoute):
    """Routes that browsers use: a page for every outcome, scripts still get the JSON envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except security.SignInRequired as exc:
                response = RedirectResponse(security.sign_in_url(exc.next_path), status_code=303)
            except (ApiError, RequestValidationError) as exc:
                if not wants_page(request):
                    raise
                response = await error_page(request, exc)
                if isinstance(exc, ApiError):
                    response.headers.update(exc.headers)
            return finish(request, response)

        return handler


def page_kwargs() -> dict[str, Any]:
    return {"route_class": PageRoute, "include_in_schema": False}

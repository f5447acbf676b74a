"""Templates, static files and the headers every page carries."""

import hashlib
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

import openhitl
from openhitl.kit.errors import ApiError
from openhitl.kit.markdown import plain_text, render_markdown
from openhitl.requests import display
from openhitl.web import icons

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")


def duration(seconds: float) -> str:
    """Time left, as a phone shows it: 45s, 12m, 3h 5m, 2d."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{seconds // 86400}d"


def when(moment: datetime | None) -> str:
    """A date in UTC; the page's script shows it in the viewer's own time zone."""
    return moment.strftime("%d/%m/%Y %H:%M UTC") if moment else ""


def number(value: float | int | None) -> str:
    if value is None:
        return ""
    return format(Decimal(str(value)).normalize(), "f") if value != 0 else "0"


def answer_words(item: Any, *, default: bool = False) -> str:
    """A request's answer (or, with default=True, its default_response) in the words the reviewer saw."""
    shown = item.default_response if default else item.response_data
    return display.answer_text(item.response_type, item.response_config, shown)


def headline(item: Any, length: int = display.HEADLINE_LENGTH) -> str:
    return display.headline(item.title, item.request_text, length)


def preview(item: Any) -> str:
    return display.preview(item.title, item.request_text)


def own_title(item: Any) -> bool:
    """Whether the request's caller gave it a title, rather than it being its text's first line."""
    return bool(item.title) and item.title != display.derived_title(item.request_text)


def ms_until(moment: datetime, now: datetime) -> int:
    """Milliseconds from `now` to `moment` (none if past): the page counts down from it (live.js)."""
    return max(0, int((moment - now).total_seconds() * 1000))


templates.env.filters.update(
    markdown=render_markdown,
    plain=plain_text,
    duration=duration,
    when=when,
    number=number,
    answer_words=answer_words,
    headline=headline,
    preview=preview,
    own_title=own_title,
    status_label=display.status_label,
    ms_until=ms_until,
)
templates.env.globals.update(app_icon=icons.app_icon, loop_icon=icons.loop_icon, swatch=icons.swatch)

# No inline script or style anywhere: pages load only what this server serves. Request images may be anywhere.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https: http:",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@cache
def static_url(name: str) -> str:
    """A cache-busting address for a file under static/: its content hash rides in the query."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    return f"/static/{name}?v={digest}"


templates.env.globals["static_url"] = static_url
templates.env.globals["version"] = openhitl.__version__


def flash_message(request: Request, messages: Mapping[str, str]) -> str | None:
    """The message for the action that a redirect's `?done=` names."""
    return messages.get(request.query_params.get("done", ""))


def problem(exc: ApiError) -> dict[str, Any]:
    """The error and its detail, as _flash.html shows them."""
    return {"error": exc.msg, "error_detail": exc.data if isinstance(exc.data, str) else None}


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A whole page, or the fragment an htmx request asked for when the template has one."""
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response

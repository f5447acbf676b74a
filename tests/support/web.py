"""Browser-like helpers for the web pages: read the CSRF token a page's forms carry."""

import re

import httpx

from openhitl.kit.ids import new_id
from tests.support.live import DEFAULT_TLS, LiveServer

_TOKEN = re.compile(r'(?:name="csrf_token" value="|data-csrf=")([^"]+)"')


def form_token(http: httpx.Client, path: str) -> str:
    """Opens a page like a browser would (keeping its cookies) and returns its forms' CSRF token."""
    page = http.get(path)
    assert page.status_code == 200, page.text
    found = _TOKEN.search(page.text)
    assert found, f"no form with a CSRF token on {path}"
    return found.group(1)


PASSWORD = "correct horse battery"


def browser(server: LiveServer) -> httpx.Client:
    """A client that behaves like a browser: cookies kept, redirects shown rather than followed."""
    return httpx.Client(base_url=server.url, follow_redirects=False, timeout=30, verify=DEFAULT_TLS)


def sign_up(server: LiveServer, *, invite_code: str, name: str = "Reviewer") -> tuple[httpx.Client, str]:
    """A browser that signed up through the form with a loop's invite code and followed the emailed link
    (and so joined the loop)."""
    http = browser(server)
    email = f"{name.lower().replace(' ', '.')}.{new_id()}@example.com"
    answer = http.post(
        "/signup",
        data={
            "csrf_token": form_token(http, "/signup"),
            "name": name,
            "email": email,
            "password": PASSWORD,
            "invite_code": invite_code,
        },
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/signup?sent=1"), answer.text
    finish_sign_up(server, http, email)
    return http, email


def follow_emailed_link(http: httpx.Client, path: str) -> httpx.Response:
    """Opens an emailed link as a browser does (a page with one button) and taps the button."""
    page = http.get(path)
    assert page.status_code == 200, page.text
    assert 'id="confirm-link-form"' in page.text
    return http.post(path, data={"csrf_token": form_token(http, path)})


def finish_sign_up(server: LiveServer, http: httpx.Client, email: str) -> httpx.Response:
    """Follows the link a sign-up emailed to its address, as its owner would: the account is made."""
    followed = follow_emailed_link(http, server.emailed_link(email, "/login/email/"))
    assert followed.status_code == 303, followed.text
    return followed

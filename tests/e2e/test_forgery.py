"""Login and sign-up forged from another site, in a real browser: a page on another origin posts the
attacker's credentials to this server (as text/plain holding JSON, or as a form without the token). The
victim's browser must not end up signed in to the attacker's account."""

import json
import threading
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import Browser, Response

from tests.support.live import LiveServer
from tests.support.payloads import SEED_LOOP
from tests.support.web import PASSWORD, finish_sign_up
from tests.support.web import browser as http_browser


def attack_page(target: str, enctype: str, fields: dict[str, str]) -> bytes:
    """A page that posts a form to `target` the moment it loads. With text/plain, a single field named
    like the start of a JSON object makes the body read as JSON (the classic trick)."""
    if enctype == "text/plain":
        blob = json.dumps(fields)[:-1] + ', "pad": "'
        inputs = f'<input type="hidden" name="{escape(blob)}" value="&quot;}}">'
    else:
        inputs = "".join(
            f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
        )
    page = (
        f'<!doctype html><form id="f" method="post" action="{escape(target)}" enctype="{enctype}">{inputs}</form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    return page.encode()


@pytest.fixture
def elsewhere() -> Iterator[dict[str, bytes]]:
    """Another origin on loopback (another port) serving the pages a test puts here."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    pages["_origin"] = f"http://127.0.0.1:{server.server_address[1]}".encode()
    try:
        yield pages
    finally:
        server.shutdown()


def attackers_account(site: LiveServer) -> str:
    owner = site.account("forgery-owner")
    with site.client(owner) as http:
        code = http.post("/v1/api/loops", json=SEED_LOOP).json()["data"]["invite_code"]
    email = f"mallory-{site.backend}@example.com"
    with http_browser(site) as http:
        body = {"name": "Mallory", "email": email, "password": PASSWORD, "invite_code": code}
        assert http.post("/signup", json=body).status_code == 202
        finish_sign_up(site, http, email)
    return email


@pytest.mark.parametrize("enctype", ["text/plain", "application/x-www-form-urlencoded"])
def test_another_site_cannot_sign_a_browser_in(
    site: LiveServer, browser: Browser, elsewhere: dict[str, bytes], enctype: str
) -> None:
    email = attackers_account(site)
    elsewhere["/login"] = attack_page(f"{site.url}/login", enctype, {"email": email, "password": PASSWORD})
    elsewhere["/signup"] = attack_page(
        f"{site.url}/signup", enctype, {"name": "Victim", "email": "victim@example.com", "password": PASSWORD}
    )
    context = browser.new_context()
    try:
        page = context.new_page()
        for path in ("/login", "/signup"):
            target = site.url + path

            def is_the_post(response: Response, target: str = target) -> bool:
                return response.url == target and response.request.method == "POST"

            with page.expect_response(is_the_post) as posted:
                page.goto(elsewhere["_origin"].decode() + path)
            assert posted.value.status in (403, 415), (path, posted.value.status)
        assert not [c for c in context.cookies(site.url) if c["name"] == "openhitl_session"]
        me = page.request.get(f"{site.url}/v1/api/me")
        assert me.status == 401, me.text()
    finally:
        context.close()
    with httpx.Client(base_url=site.url) as http:  # and no account was made for the victim's address
        assert (
            http.post("/login", json={"email": "victim@example.com", "password": PASSWORD}).status_code == 401
        )

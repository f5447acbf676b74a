"""Accounts through HTTP: sign-up, sign-in by password and by emailed link, sessions, invitations, API keys."""

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from openhitl.kit.ids import new_id
from tests.conftest import BACKENDS, start_server
from tests.support.live import LiveServer
from tests.support.payloads import SEED_LOOP
from tests.support.smtp import SmtpSink
from tests.support.web import follow_emailed_link, form_token

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink
) -> Iterator[LiveServer]:
    """A server that sends real email to the sink, with its first account already made."""
    servers = start_server(request.param, tmp_path_factory, smtp_url=sink.url, worker_poll_seconds=0.05)
    server = next(servers)
    server.account("first")
    yield server
    next(servers, None)


def browser(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)


def sign_up(http: httpx.Client, email: str, **extra: str) -> httpx.Response:
    return http.post("/signup", json={"name": "Rita Reviewer", "email": email, "password": PASSWORD, **extra})


def signed_up(site: LiveServer, http: httpx.Client, email: str, **extra: str) -> httpx.Response:
    """Signs up and follows the emailed link, as the address's owner would; the sign-in's answer."""
    asked = sign_up(http, email, **extra)
    assert asked.status_code == 202, asked.text
    assert "set-cookie" not in asked.headers  # nothing is made, nobody is signed in, before the link
    return http.get(site.emailed_link(email, "/login/email/"), headers={"Accept": "application/json"})


def link_in(sink: SmtpSink, to: str, pattern: str) -> str:
    """The first link matching `pattern` in an email to `to`, waiting for the worker to send it."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for received in sink.messages():
            if to in received.rcpt_tos:
                found = re.search(pattern, str(received.message.get_content()))
                if found:
                    return found.group(0)
        time.sleep(0.05)
    raise AssertionError(f"no email to {to} matching {pattern}")


def unique(name: str) -> str:
    return f"{name}-{new_id()[-10:]}@example.com"


def test_the_first_account_signs_up_freely_and_is_the_admin(tmp_path_factory: pytest.TempPathFactory) -> None:
    servers = start_server("sqlite", tmp_path_factory)
    server = next(servers)
    try:
        with browser(server) as http:
            first = sign_up(http, "admin@example.com")
            second = sign_up(http, "someone@example.com")
        assert first.status_code == 201, first.text
        assert first.json()["data"]["user"]["is_admin"] is True
        assert second.status_code == 403
        assert second.json()["msg"] == "Sign-up is by invitation"
    finally:
        next(servers, None)


def test_sign_up_with_an_invite_code_joins_the_loop(site: LiveServer, sink: SmtpSink) -> None:
    owner = site.account("owner")
    with site.client(owner) as http:
        loop = http.post("/v1/api/loops", json=SEED_LOOP).json()["data"]
    email = unique("rita")
    with browser(site) as http:
        asked = sign_up(http, email, invite_code=loop["invite_code"].lower())
        assert asked.status_code == 202, asked.text
        assert asked.json()["data"] == {
            "detail": "Check your email: a link to finish signing up is on its way"
        }
        assert http.get("/v1/api/me").status_code == 401
        link = link_in(sink, email, r"http://\S+/login/email/\S+")
        answer = http.get(link.removeprefix(site.url), headers={"Accept": "application/json"})
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        assert data["user"]["email"] == email and data["user"]["is_admin"] is False
        assert data["user"]["name"] == "Rita Reviewer"
        assert data["joined_loop_ids"] == [loop["loop"]["id"]]
        cookie = answer.headers["set-cookie"]
        assert "openhitl_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        me = http.get("/v1/api/me").json()["data"]
        assert (me["auth"], me["user"]["email"], me["csrf_token"]) == ("session", email, data["csrf_token"])
        loops = http.get("/v1/api/loops").json()["data"]["loops"]
        assert [(loop_["id"], loop_["role"]) for loop_ in loops] == [(loop["loop"]["id"], "member")]
    with browser(site) as http:
        assert http.post("/login", json={"email": email, "password": PASSWORD}).status_code == 200
        # signing up again changes nothing: the same answer, and the password stays the owner's
        again = http.post("/signup", json={"name": "Mallory", "email": email, "password": "another password"})
        assert again.status_code == 403, again.text  # no invite: as for anyone without one
        again = sign_up(http, email, invite_code=loop["invite_code"])
        assert (again.status_code, again.json()) == (asked.status_code, asked.json())
    with browser(site) as http:
        assert http.post("/login", json={"email": email, "password": PASSWORD}).status_code == 200
        assert http.post("/login", json={"email": email, "password": "another password"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "data"),
    [
        ({"name": "R", "email": "not-an-email", "password": PASSWORD}, "email must be a valid email address"),
        (
            {"name": "R", "email": "r@example.com", "password": "short"},
            "password must be at least 8 characters",
        ),
        (
            {"name": " ", "email": "r@example.com", "password": PASSWORD},
            "name must be between 1 and 200 characters",
        ),
        ({"email": "r@example.com", "password": PASSWORD}, "name is required"),
    ],
)
def test_sign_up_refuses_bad_fields(site: LiveServer, body: dict[str, str], data: str) -> None:
    with browser(site) as http:
        answer = http.post("/signup", json=body)
    assert answer.status_code == 400
    assert answer.json()["data"] == data


def test_password_sign_in_sessions_and_csrf(site: LiveServer) -> None:
    owner = site.account("owner")
    with site.client(owner) as http:
        loop = http.post("/v1/api/loops", json=SEED_LOOP).json()["data"]
        other = http.post("/v1/api/loops", json={"name": "Second", "icon": "eye"}).json()["data"]
    email = unique("sam")
    with browser(site) as http:
        assert signed_up(site, http, email, invite_code=loop["invite_code"]).status_code == 200
    with browser(site) as http:
        wrong = http.post("/login", json={"email": email, "password": "nope nope nope"})
        unknown = http.post("/login", json={"email": unique("ghost"), "password": PASSWORD})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json()["msg"] == unknown.json()["msg"] == "Invalid email or password"
        assert http.get("/v1/api/me").status_code == 401
        signed_in = http.post("/login", json={"email": email.upper(), "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        csrf = signed_in.json()["data"]["csrf_token"]
        # a changing request made with the cookie must carry the CSRF token
        forged = http.post("/v1/api/loops/join", json={"invite_code": other["invite_code"]})
        assert forged.status_code == 403 and forged.json()["msg"] == "Missing or invalid CSRF token"
        joined = http.post(
            "/v1/api/loops/join", json={"invite_code": other["invite_code"]}, headers={"X-CSRF-Token": csrf}
        )
        assert joined.status_code == 200
        assert http.get("/v1/api/inbox").status_code == 200  # reads need no token
        assert http.post("/logout").status_code == 403  # another site must not sign people out either
        assert http.get("/v1/api/me").status_code == 200
        assert http.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert http.get("/v1/api/me").status_code == 401


def test_form_posts_redirect_with_the_cookie(site: LiveServer) -> None:
    owner = site.account("owner")
    with site.client(owner) as http:
        loop = http.post("/v1/api/loops", json=SEED_LOOP).json()["data"]
    email = unique("form")
    with browser(site) as http:
        answer = http.post(
            "/signup",
            data={
                "csrf_token": form_token(http, "/signup"),
                "name": "Form User",
                "email": email,
                "password": PASSWORD,
                "invite_code": loop["invite_code"],
                "next": "/inbox",
            },
        )
        assert (answer.status_code, answer.headers["location"]) == (303, "/signup?sent=1")
        assert "Check your email" in http.get(answer.headers["location"]).text
        followed = follow_emailed_link(http, site.emailed_link(email, "/login/email/"))
        assert (followed.status_code, followed.headers["location"]) == (303, "/inbox")
        assert http.get("/v1/api/me").json()["data"]["user"]["name"] == "Form User"
        http.post("/logout", data={"csrf_token": form_token(http, "/settings")})
        away = http.post(
            "/login",
            data={
                "csrf_token": form_token(http, "/login"),
                "email": email,
                "password": PASSWORD,
                "next": "https://evil.example/",
            },
        )
        assert (away.status_code, away.headers["location"]) == (303, "/")


def test_sign_in_by_emailed_link(site: LiveServer, sink: SmtpSink) -> None:
    account = site.account("linked")
    with browser(site) as http:
        asked = http.post("/login/email", json={"email": account.email, "next": "/inbox"})
        nobody = http.post("/login/email", json={"email": unique("nobody")})
        assert asked.status_code == nobody.status_code == 202
        assert asked.json()["data"] == nobody.json()["data"]  # nothing tells who has an account
        link = link_in(sink, account.email, r"http://\S+/login/email/\S+")
        opened = http.get(link.removeprefix(site.url))  # as a mail scanner would: nothing is spent
        assert opened.status_code == 200 and account.email in opened.text
        assert http.get("/v1/api/me").status_code == 401
        followed = follow_emailed_link(http, link.removeprefix(site.url))
        assert (followed.status_code, followed.headers["location"]) == (303, "/inbox")
        assert http.get("/v1/api/me").json()["data"]["user"]["id"] == account.user_id
    with browser(site) as http:
        reused = http.get(link.removeprefix(site.url), headers={"Accept": "application/json"})
    assert reused.status_code == 401
    assert reused.json()["msg"] == "This sign-in link has expired or was already used"


def test_email_invitations(site: LiveServer, sink: SmtpSink) -> None:
    owner = site.account("owner")
    with site.client(owner) as http:
        loop = http.post("/v1/api/loops", json=SEED_LOOP).json()["data"]
        loop_id = loop["loop"]["id"]
        by_link, by_signup, existing = unique("invitee"), unique("newcomer"), site.account("existing")
        sent = http.post(
            f"/v1/api/loops/{loop_id}/invitations",
            json={"emails": [by_link, by_signup.upper(), existing.email, owner.email]},
        )
        assert sent.status_code == 201, sent.text
        outcomes = {o["email"]: o["status"] for o in sent.json()["data"]["invitations"]}
        assert outcomes == {
            by_link: "invited",
            by_signup: "invited",
            existing.email: "invited",
            owner.email: "already_member",
        }
        members = http.get(f"/v1/api/loops/{loop_id}/members").json()["data"]
        assert members["pending_count"] == 3
        bad = http.post(f"/v1/api/loops/{loop_id}/invitations", json={"emails": ["nope"]})
        assert (bad.status_code, bad.json()["data"]) == (400, "not an email address: 'nope'")

    # 1. following the emailed link signs the invitee in as a member
    link = link_in(sink, by_link, r"http://\S+/invitations/\S+")
    with browser(site) as http:
        opened = http.get(link.removeprefix(site.url))
        assert opened.status_code == 200 and "Join Content Moderation Review" in opened.text
        followed = follow_emailed_link(http, link.removeprefix(site.url))
        assert followed.status_code == 303
        assert [x["id"] for x in http.get("/v1/api/loops").json()["data"]["loops"]] == [loop_id]
        assert http.get(link.removeprefix(site.url)).status_code == 400  # once only

    # 2. an invited address cannot be claimed without the invitation...
    with browser(site) as http:
        refused = sign_up(http, by_signup)
        assert (refused.status_code, refused.json()["msg"]) == (403, "Sign-up is by invitation")
        token = link_in(sink, by_signup, r"http://\S+/invitations/\S+").rsplit("/", 1)[1]
        accepted = sign_up(http, by_signup, invitation=token)
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["data"]["joined_loop_ids"] == [loop_id]

    # 3. an existing account accepts by signing in (here with an emailed sign-in link)
    with browser(site) as http:
        http.post("/login/email", json={"email": existing.email})
        sign_in = link_in(sink, existing.email, r"http://\S+/login/email/\S+")
        assert follow_emailed_link(http, sign_in.removeprefix(site.url)).status_code == 303
        assert [x["id"] for x in http.get("/v1/api/loops").json()["data"]["loops"]] == [loop_id]
    with site.client(owner) as http:
        members = http.get(f"/v1/api/loops/{loop_id}/members").json()["data"]
    assert (members["active_count"], members["pending_count"]) == (4, 0)
    message = next(m.message for m in sink.messages() if by_link in m.rcpt_tos)
    assert message["Subject"] == "You're invited to review for Content Moderation Review"
    assert loop["invite_code"] in str(message.get_content())


def test_api_keys_are_managed_by_their_owner(site: LiveServer) -> None:
    email = unique("keys")
    owner = site.account("owner")
    with site.client(owner) as http:
        code = http.post("/v1/api/loops", json=SEED_LOOP).json()["data"]["invite_code"]
    with browser(site) as http:
        csrf = signed_up(site, http, email, invite_code=code).json()["data"]["csrf_token"]
        headers = {"X-CSRF-Token": csrf}
        created = http.post("/v1/api/api-keys", json={"name": "agent"}, headers=headers)
        assert created.status_code == 201, created.text
        key = created.json()["data"]["key"]
        record = created.json()["data"]["api_key"]
        assert key.startswith("hitl_live_") and record["key_prefix"] == key[:14]
        assert record["permissions"] == ["loops:read", "loops:write", "requests:read", "requests:write"]
        listed = http.get("/v1/api/api-keys").json()["data"]
        assert [k["id"] for k in listed["api_keys"]] == [record["id"]]
        assert key not in str(listed)
        with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {key}"}) as agent:
            assert agent.get("/v1/test").json()["data"]["email"] == email
            assert agent.post("/v1/api/api-keys", json={"name": "escalate"}).status_code == 403
            assert agent.get("/v1/api/me").json()["data"]["auth"] == "api_key"
            revoked = http.delete(f"/v1/api/api-keys/{record['id']}", headers=headers)
            assert revoked.status_code == 200 and revoked.json()["data"]["api_key"]["is_active"] is False
            assert agent.get("/v1/test").status_code == 401
    with site.client(owner) as owners:
        owners_key = owners.get("/v1/test").json()["data"]["api_key_id"]
    with browser(site) as http:
        http.post("/login", json={"email": email, "password": PASSWORD})
        csrf = http.get("/v1/api/me").json()["data"]["csrf_token"]
        other = http.delete(f"/v1/api/api-keys/{owners_key}", headers={"X-CSRF-Token": csrf})
    assert other.status_code == 404


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server("sqlite", tmp_path_factory, login_attempts_per_minute=3)


def test_password_guessing_is_throttled(strict: LiveServer, tmp_path: Path) -> None:
    account = strict.account("target")
    with browser(strict) as http:
        codes = [
            http.post("/login", json={"email": account.email, "password": f"guess-{i}"}).status_code
            for i in range(4)
        ]
    assert codes == [401, 401, 401, 429]

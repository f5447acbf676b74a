"""The dashboard's tools for running a team: a password for a link-made account, invitation links without
email, viewers, the requests table's search and export, and deliveries that explain themselves."""

import csv
import html
import io
import re
from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS, start_server
from tests.integration.dashboarding import Browser, signed_in
from tests.integration.webhooking import eventually, fast_server
from tests.support.live import Account, LiveServer, free_port
from tests.support.payloads import request_body

INVITATION_LINK = re.compile(r'id="invitation-link-\d+" value="(http://[^"]+/invitations/[^"]+)"')


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Deliveries go out within milliseconds here."""
    yield from fast_server(request.param, tmp_path_factory)


@pytest.fixture
def owner(server: LiveServer) -> Iterator[Browser]:
    browser = signed_in(server, server.account("owner"))
    yield browser
    browser.close()


def sign_in_with_password(server: LiveServer, email: str, password: str) -> int:
    with server.client() as http:
        return http.post("/login", json={"email": email, "password": password}).status_code


def test_an_account_signed_in_by_link_sets_a_password_then_changes_it(
    server: LiveServer, owner: Browser
) -> None:
    email = owner.account.email
    page = owner.get("/dashboard/settings").text
    assert "data-no-password" in page and 'name="current_password"' not in page and "Set password" in page

    differ = owner.post(
        "/dashboard/settings/password", new_password="first passphrase", confirm_password="other"
    )
    assert differ.status_code == 400 and "The two new passwords differ" in differ.text
    short = owner.post("/dashboard/settings/password", new_password="short", confirm_password="short")
    assert short.status_code == 400 and "at least 8 characters" in short.text
    assert sign_in_with_password(server, email, "short") == 401

    made = owner.post(
        "/dashboard/settings/password", new_password="first passphrase", confirm_password="first passphrase"
    )
    assert made.status_code == 303 and made.headers["location"] == "/dashboard/settings?done=password_set"
    assert sign_in_with_password(server, email, "first passphrase") == 200
    page = owner.get("/dashboard/settings", done="password_set").text
    assert "Password set." in page and 'name="current_password"' in page and "Change password" in page

    # From now on the current password is needed: a stolen session alone cannot take the account over.
    for current in ("", "wrong passphrase"):
        refused = owner.post(
            "/dashboard/settings/password",
            current_password=current,
            new_password="second passphrase",
            confirm_password="second passphrase",
        )
        assert refused.status_code == 400 and "The current password is not right" in refused.text
    changed = owner.post(
        "/dashboard/settings/password",
        current_password="first passphrase",
        new_password="second passphrase",
        confirm_password="second passphrase",
    )
    assert changed.headers["location"] == "/dashboard/settings?done=password_changed"
    assert sign_in_with_password(server, email, "second passphrase") == 200
    assert sign_in_with_password(server, email, "first passphrase") == 401


def test_setting_a_password_needs_the_forms_token(server: LiveServer, owner: Browser) -> None:
    forged = owner.http.post(
        "/dashboard/settings/password",
        data={"new_password": "forged passphrase", "confirm_password": "forged passphrase"},
    )
    assert forged.status_code == 403
    other_site = owner.http.post(
        "/dashboard/settings/password",
        data={
            "csrf_token": owner.csrf,
            "new_password": "forged passphrase",
            "confirm_password": "forged passphrase",
        },
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    assert sign_in_with_password(server, owner.account.email, "forged passphrase") == 401


@pytest.fixture(scope="module", params=BACKENDS)
def throttled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from start_server(request.param, tmp_path_factory, login_attempts_per_minute=3)


def test_password_attempts_are_throttled_like_signing_in(throttled: LiveServer) -> None:
    browser = signed_in(throttled, throttled.account("owner"))
    try:
        fields = {"new_password": "a passphrase", "confirm_password": "not the same"}
        answers = [browser.post("/dashboard/settings/password", **fields).status_code for _ in range(4)]
    finally:
        browser.close()
    assert answers == [400, 400, 400, 429]


def invite(browser: Browser, loop_id: str, emails: str, role: str = "member") -> str:
    answer = browser.post(f"/dashboard/loops/{loop_id}/invitations", emails=emails, role=role)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_without_email_the_inviting_admin_gets_the_links_and_a_viewer_joins_by_one(
    server: LiveServer, owner: Browser
) -> None:
    loop_id = owner.create_loop("Audits")
    stamp = free_port()
    viewer_email, member_email = f"vera-{stamp}@example.com", f"mo-{stamp}@example.com"
    page = invite(owner, loop_id, f"{viewer_email}", role="viewer")
    assert "Invitations made for 1 address." in page
    assert "these emails were not sent" in page
    [link] = INVITATION_LINK.findall(page)
    assert link.startswith(server.url + "/invitations/")
    assert link not in owner.get(f"/dashboard/loops/{loop_id}").text  # shown once, never again
    invite(owner, loop_id, member_email)

    with server.client() as http:
        joined = http.get(
            html.unescape(link).removeprefix(server.url), headers={"Accept": "application/json"}
        )
    assert joined.status_code == 200, joined.text
    assert joined.json()["data"]["joined_loop_ids"] == [loop_id]
    members = owner.get(f"/dashboard/loops/{loop_id}").text
    assert re.search(rf'data-member="{re.escape(viewer_email)}">.*?data-role="viewer"', members, re.S)

    # A new link for someone still invited: the old one stops working, the new one works.
    member_id = re.search(
        rf'data-member="{re.escape(member_email)}">.*?/members/([0-9a-f]{{24}})/role', members, re.S
    )
    assert member_id
    renewed = owner.post(f"/dashboard/loops/{loop_id}/members/{member_id.group(1)}/invitation-link")
    assert renewed.status_code == 200 and f"New invitation link made for {member_email}." in renewed.text
    [fresh] = INVITATION_LINK.findall(renewed.text)
    emailed = server.emailed_link(member_email, "/invitations/")
    with server.client() as http:
        stale = http.get(emailed, headers={"Accept": "application/json"})
        assert stale.status_code == 404
        used = http.get(html.unescape(fresh).removeprefix(server.url), headers={"Accept": "application/json"})
        assert used.status_code == 200, used.text


def test_invitation_links_are_only_for_the_loops_managers(server: LiveServer, owner: Browser) -> None:
    loop_id = owner.create_loop("Private")
    invitee = f"pending-{free_port()}@example.com"
    invite(owner, loop_id, invitee)
    invitee_id = re.search(
        rf'data-member="{re.escape(invitee)}">.*?/members/([0-9a-f]{{24}})/role',
        owner.get(f"/dashboard/loops/{loop_id}").text,
        re.S,
    )
    assert invitee_id
    path = f"/dashboard/loops/{loop_id}/members/{invitee_id.group(1)}/invitation-link"
    member, stranger = server.account("member"), server.account("stranger")
    server.add_member(loop_id, member.user_id)
    for account, status in ((member, 403), (stranger, 404)):
        browser = signed_in(server, account)
        try:
            answer = browser.post(path)
        finally:
            browser.close()
        assert answer.status_code == status
        assert "/invitations/" not in answer.text
    # Someone else's own loop cannot reach this invitation either.
    elsewhere = signed_in(server, stranger)
    try:
        own = elsewhere.create_loop("Theirs")
        assert (
            elsewhere.post(
                f"/dashboard/loops/{own}/members/{invitee_id.group(1)}/invitation-link"
            ).status_code
            == 404
        )
    finally:
        elsewhere.close()


def test_admins_switch_members_and_viewers_and_only_the_creator_makes_admins(
    server: LiveServer, owner: Browser
) -> None:
    loop_id = owner.create_loop("Roles")
    admin, member = server.account("admin"), server.account("member")
    server.add_member(loop_id, admin.user_id, role="admin")
    server.add_member(loop_id, member.user_id)
    browser = signed_in(server, admin)
    try:
        page = browser.get(f"/dashboard/loops/{loop_id}").text
        assert '<option value="admin"' not in page  # an admin is not offered what only the creator may do
        made_viewer = browser.post(f"/dashboard/loops/{loop_id}/members/{member.user_id}/role", role="viewer")
        assert made_viewer.headers["location"] == f"/dashboard/loops/{loop_id}?done=role"
        promoted = browser.post(f"/dashboard/loops/{loop_id}/members/{member.user_id}/role", role="admin")
        assert (
            promoted.status_code == 403 and "Only the loop creator can make or unmake admins" in promoted.text
        )
    finally:
        browser.close()
    with server.client(member) as http:
        loop = http.get(f"/v1/api/loops/{loop_id}").json()["data"]["loop"]
        assert loop["role"] == "viewer"
    assert (
        owner.post(f"/dashboard/loops/{loop_id}/members/{member.user_id}/role", role="admin").status_code
        == 303
    )


def ask(server: LiveServer, account: Account, loop_id: str, text: str, **fields: object) -> str:
    with server.client(account) as http:
        created = http.post(
            f"/v1/api/loops/{loop_id}/requests",
            json=request_body(callback_url=..., request_text=text, **fields),
        )
    assert created.status_code == 201, created.text
    return str(created.json()["data"]["request_id"])


def test_the_requests_table_searches_keeps_it_in_the_address_and_exports_what_it_shows(
    server: LiveServer,
) -> None:
    boss = server.account("owner")
    browser = signed_in(server, boss)
    viewer_account = server.account("viewer")
    try:
        loop_id = browser.create_loop("Search")
        server.add_member(loop_id, viewer_account.user_id, role="viewer")
        refund = ask(server, boss, loop_id, "Refund ORDER-9 now", context={"customer": "Ada"})
        ask(server, boss, loop_id, "Unrelated question")
        table = browser.get("/dashboard/requests", q="order-9").text
        assert 'name="q" value="order-9"' in table
        assert f"/dashboard/requests/{refund}" in table and "Unrelated question" not in table
        assert "1 request matching “order-9”" in table
        export_links = re.findall(r'href="(/dashboard/requests/export\?[^"]+)"', table)
        assert [html.unescape(link) for link in export_links] == [
            "/dashboard/requests/export?q=order-9&format=csv",
            "/dashboard/requests/export?q=order-9&format=jsonl",
        ]
        by_context = browser.get("/dashboard/requests", q="ADA", loop=loop_id).text
        assert f"/dashboard/requests/{refund}" in by_context
        assert "page=2" not in by_context
        downloaded = browser.get("/dashboard/requests/export", q="order-9", format="csv")
        assert downloaded.status_code == 200
        assert [row["id"] for row in csv.DictReader(io.StringIO(downloaded.text))] == [refund]
        assert browser.get("/dashboard/requests/export", format="xlsx").status_code == 400
    finally:
        browser.close()
    # The loop's viewer finds it too, reads it, and is offered nothing to change.
    reader = signed_in(server, viewer_account)
    try:
        assert f"/dashboard/requests/{refund}" in reader.get("/dashboard/requests", q="order-9").text
        detail = reader.get(f"/dashboard/requests/{refund}").text
        assert "data-read-only" in detail and "/cancel" not in detail
        assert reader.post(f"/dashboard/requests/{refund}/cancel").status_code == 403
    finally:
        reader.close()
    # Nobody else's search finds it.
    stranger = signed_in(server, server.account("stranger"))
    try:
        assert refund not in stranger.get("/dashboard/requests", q="order-9").text
        assert refund not in stranger.get("/dashboard/requests/export", q="order-9").text
    finally:
        stranger.close()


def test_a_failing_endpoint_says_why_and_what_happens_next(server: LiveServer, owner: Browser) -> None:
    closed_port = free_port()
    url = f"http://127.0.0.1:{closed_port}/hook"
    made = owner.http.post(
        "/dashboard/settings/webhooks",
        data={"csrf_token": owner.csrf, "url": url, "events": ["request.completed"]},
    )
    assert made.status_code == 303, made.text
    webhook_path = made.headers["location"].split("?")[0]
    owner.post(f"{webhook_path}/test")

    def failed_attempt_shown() -> str:
        text = owner.get(webhook_path).text
        return text if "data-reason" in text else ""

    page = eventually(failed_attempt_shown, what="the failed attempt on the endpoint's page")
    reason = re.search(r'<span class="reason" data-reason title="([^"]+)">([^<]+)</span>', page)
    assert reason, page
    assert reason.group(2) == f"connection refused by 127.0.0.1:{closed_port}"
    assert "Connect" in html.unescape(reason.group(1))  # the raw error, on hover
    assert re.search(r"data-state>retrying, next attempt at <time", page)
    assert "Raw error" in page

    settings = owner.get("/dashboard/settings").text
    assert "data-failing" in settings and "Show only failing endpoints (1)" in settings
    healthy = owner.http.post(
        "/dashboard/settings/webhooks",
        data={
            "csrf_token": owner.csrf,
            "url": "http://127.0.0.1:9/never-called",
            "events": ["request.completed"],
        },
    )
    assert healthy.status_code == 303
    failing_only = owner.get("/dashboard/settings", failing="1").text
    assert url in failing_only and "never-called" not in failing_only
    assert "never-called" in owner.get("/dashboard/settings").text

"""The owner's dashboard through HTTP: pages, forms and who may use them, on both databases."""

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from openhitl.delivery.models import OutboxMessage
from openhitl.loops.models import Membership
from tests.integration.dashboarding import Browser, signed_in, stat
from tests.integration.reviewing import make_team
from tests.support.live import LiveServer
from tests.support.payloads import request_body

NO_CALLBACK = {"callback_url": ...}


@pytest.fixture
def owner(server: LiveServer) -> Iterator[Browser]:
    browser = signed_in(server, server.account("owner"))
    yield browser
    browser.close()


def api_loop(server: LiveServer, browser: Browser, loop_id: str) -> dict[str, object]:
    with server.client(browser.account) as http:
        answer = http.get(f"/v1/api/loops/{loop_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"]["loop"])


def test_signed_out_browsers_are_sent_to_sign_in(server: LiveServer) -> None:
    with server.client(follow_redirects=False) as http:
        answer = http.get("/dashboard/requests?status=pending")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fdashboard%2Frequests%3Fstatus%3Dpending"


def test_an_owner_creates_edits_and_deletes_a_loop(server: LiveServer, owner: Browser) -> None:
    home = owner.get("/dashboard")
    assert home.status_code == 200 and "Create your first loop" in home.text
    assert "Content-Security-Policy" in home.headers

    refused = owner.post("/dashboard/loops", name="   ", icon="x")
    assert refused.status_code == 400
    assert "name must be between 1 and 100 characters" in refused.text

    loop_id = owner.create_loop("Refunds", description="Money back?", members_can_create_requests="on")
    loop = api_loop(server, owner, loop_id)
    assert (loop["name"], loop["description"], loop["icon"]) == ("Refunds", "Money back?", "💸")
    assert loop["settings"] == {"members_can_create_requests": True, "admins_can_create_requests": False}

    page = owner.get(f"/dashboard/loops/{loop_id}")
    code = str(loop["invite_code"])
    assert page.status_code == 200
    assert "Loop created." in owner.get(f"/dashboard/loops/{loop_id}", done="created").text
    assert f'src="/qr/{code}.png"' in page.text and f"{server.url}/join/{code}" in page.text
    assert f"{code[:3]}-{code[3:]}" in page.text
    assert owner.get(f"/qr/{code}.png").headers["content-type"] == "image/png"
    assert "Refunds" in owner.get("/dashboard").text and "Refunds" in owner.get("/dashboard/loops").text

    edited = owner.post(f"/dashboard/loops/{loop_id}/edit", name="Refund desk", icon="🧾", description="")
    assert (edited.status_code, edited.headers["location"]) == (
        303,
        f"/dashboard/loops/{loop_id}?done=updated",
    )
    assert api_loop(server, owner, loop_id)["name"] == "Refund desk"
    assert owner.post(f"/dashboard/loops/{loop_id}/edit", name="", icon="🧾").status_code == 400

    regenerated = owner.post(f"/dashboard/loops/{loop_id}/invite-code")
    assert regenerated.headers["location"] == f"/dashboard/loops/{loop_id}?done=code"
    new_code = api_loop(server, owner, loop_id)["invite_code"]
    assert new_code != code and owner.get(f"/qr/{code}.png").status_code == 404

    confirm = owner.get(f"/dashboard/loops/{loop_id}/delete")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    deleted = owner.post(f"/dashboard/loops/{loop_id}/delete")
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/dashboard/loops?done=deleted")
    assert owner.get(f"/dashboard/loops/{loop_id}").status_code == 404


def test_invitations_and_members(server: LiveServer, owner: Browser) -> None:
    loop_id = owner.create_loop()
    bad = owner.post(f"/dashboard/loops/{loop_id}/invitations", emails="ana@example.com, nope")
    assert bad.status_code == 400 and "not an email address: &#39;nope&#39;" in bad.text
    assert "ana@example.com, nope" in bad.text  # the form keeps what was typed

    invitee = f"invitee-{loop_id[-6:]}@example.com"
    sent = owner.post(f"/dashboard/loops/{loop_id}/invitations", emails=f"{invitee}\n{owner.account.email}")
    assert sent.status_code == 200
    assert (
        "Invitations made for 1 address." in sent.text  # no SMTP here: the links are shown instead
        and f"Already members: {owner.account.email}" in sent.text
    )
    assert re.search(rf'data-member="{re.escape(invitee)}">.*?member-pending', sent.text, re.S)

    async def emails_to(address: str) -> list[str]:
        async with server.state.db.read() as session:
            rows = await session.execute(select(OutboxMessage.payload).where(OutboxMessage.kind == "email"))
            return [p["subject"] for p in rows.scalars() if p.get("to") == address]

    assert server.run(emails_to(invitee)) == ["You're invited to review for Refunds"]

    reviewer = server.account("rita")
    server.add_member(loop_id, reviewer.user_id)
    made_admin = owner.post(f"/dashboard/loops/{loop_id}/members/{reviewer.user_id}/role", role="admin")
    assert made_admin.headers["location"] == f"/dashboard/loops/{loop_id}?done=role"
    assert (
        owner.post(f"/dashboard/loops/{loop_id}/members/{reviewer.user_id}/role", role="owner").status_code
        == 400
    )

    # an admin manages the loop, but only its creator makes or unmakes admins, and nobody changes the creator
    admin = signed_in(server, reviewer)
    try:
        assert admin.get(f"/dashboard/loops/{loop_id}").status_code == 200
        refused = admin.post(
            f"/dashboard/loops/{loop_id}/members/{owner.account.user_id}/role", role="member"
        )
        assert refused.status_code == 400 and "The loop creator&#39;s role cannot be changed" in refused.text
        assert (
            admin.post(
                f"/dashboard/loops/{loop_id}/members/{reviewer.user_id}/role", role="member"
            ).status_code
            == 403
        )
        assert admin.post(f"/dashboard/loops/{loop_id}/delete").status_code == 403
    finally:
        admin.close()

    removed = owner.post(f"/dashboard/loops/{loop_id}/members/{reviewer.user_id}/remove")
    assert removed.headers["location"] == f"/dashboard/loops/{loop_id}?done=removed"
    creator = owner.post(f"/dashboard/loops/{loop_id}/members/{owner.account.user_id}/remove")
    assert creator.status_code == 400 and "Loop creator cannot be removed" in creator.text

    async def roles() -> set[str]:
        async with server.state.db.read() as session:
            found = await session.execute(select(Membership.user_id).where(Membership.loop_id == loop_id))
            return set(found.scalars())

    assert reviewer.user_id not in server.run(roles())


def test_only_managers_see_a_loop_and_forms_need_the_token(server: LiveServer, owner: Browser) -> None:
    loop_id = owner.create_loop()
    member, stranger = server.account("member"), server.account("stranger")
    server.add_member(loop_id, member.user_id)
    with server.client(owner.account) as http:
        request_id = http.post(f"/v1/api/loops/{loop_id}/requests", json=request_body(**NO_CALLBACK)).json()[
            "data"
        ]["request_id"]
    for account, status in ((member, 403), (stranger, 404)):
        browser = signed_in(server, account)
        try:
            for path in (f"/dashboard/loops/{loop_id}", f"/dashboard/loops/{loop_id}/analytics"):
                assert browser.get(path).status_code == status
            assert browser.get(f"/dashboard/requests/{request_id}").status_code == status
            assert browser.post(f"/dashboard/loops/{loop_id}/invite-code").status_code == status
            assert request_id not in browser.get("/dashboard/requests").text
        finally:
            browser.close()

    forged = owner.http.post(f"/dashboard/loops/{loop_id}/delete", data={"csrf_token": "guess"})
    assert forged.status_code == 403 and "This form has expired" in forged.text
    assert owner.http.post(f"/dashboard/requests/{request_id}/cancel").status_code == 403
    assert owner.get(f"/dashboard/loops/{loop_id}").status_code == 200  # still there


def test_requests_table_filters_pages_and_detail(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    browser = signed_in(server, team.owner)
    try:
        answered = team.ask(priority="high", request_text="Refund order 1?", **NO_CALLBACK)
        for index in range(26):
            team.ask(priority="low", request_text=f"Low number {index}", **NO_CALLBACK)
        [reviewer] = team.reviewers
        with team.http(reviewer) as http:
            assert http.post(f"/v1/api/requests/{answered}/claim").status_code == 200
            done = http.post(f"/v1/api/requests/{answered}/respond", json={"response_data": "Reject"})
            assert done.status_code == 200, done.text

        first = browser.get("/dashboard/requests", loop=team.loop_id)
        assert 'data-total="27"' in first.text and "Page 1 of 2" in first.text
        assert "page=2" in first.text and f"loop={team.loop_id}" in first.text
        second = browser.get("/dashboard/requests", loop=team.loop_id, page="2")
        assert len(re.findall(r'href="/dashboard/requests/[0-9a-f]{24}"', second.text)) == 2  # 27 - 25
        high = browser.get("/dashboard/requests", loop=team.loop_id, priority="high", status="completed")
        assert 'data-total="1"' in high.text and f"/dashboard/requests/{answered}" in high.text
        today = server.clock.now().date().isoformat()
        dated = browser.get("/dashboard/requests", loop=team.loop_id, **{"from": today, "to": today})
        assert 'data-total="27"' in dated.text
        before = browser.get("/dashboard/requests", loop=team.loop_id, to="2020-01-01")
        assert 'data-total="0"' in before.text
        for params, message in (
            ({"status": "bogus"}, "Invalid status filter value"),
            ({"from": "yesterday"}, "Invalid from date"),
            ({"from": today, "to": "2020-01-01"}, "Invalid date range"),
            ({"page": "0"}, "Validation failed"),
        ):
            refused = browser.get("/dashboard/requests", **params)
            assert refused.status_code == 400 and message in refused.text, params

        detail = browser.get(f"/dashboard/requests/{answered}")
        assert detail.status_code == 200
        assert re.search(r"data-answer>\s*Reject", detail.text)
        trail = re.findall(r"<code>(request\.\w+)</code></td>\s*<td>([^<]*)</td>\s*<td>([^<]*)", detail.text)
        assert [(kind, who, change.strip()) for kind, who, change in trail] == [
            ("request.created", "owner", ""),
            ("request.claimed", "reviewer0", "Pending → Claimed"),
            ("request.completed", "reviewer0", "Claimed → Completed"),
        ]

        pending = team.ask(**NO_CALLBACK)
        cancelled = browser.post(f"/dashboard/requests/{pending}/cancel")
        assert cancelled.headers["location"] == f"/dashboard/requests/{pending}?done=cancelled"
        assert team.status(pending)["status"] == "cancelled"
        again = browser.post(f"/dashboard/requests/{pending}/cancel")
        assert again.status_code == 400 and "Request cannot be cancelled in current state" in again.text
    finally:
        browser.close()


def test_overview_counts_the_last_30_days(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    browser = signed_in(server, team.owner)
    try:
        with server.clock.shifted(-31 * 86400):
            team.ask(**NO_CALLBACK)  # too old to count
        answered = team.ask(**NO_CALLBACK)
        team.ask(**NO_CALLBACK)
        with team.http(team.reviewers[0]) as http:
            http.post(f"/v1/api/requests/{answered}/respond", json={"response_data": "Approve"})
        home = browser.get("/dashboard")
        assert (stat(home.text, "open"), stat(home.text, "completed"), stat(home.text, "timeout")) == (
            "1",
            "1",
            "0",
        )
        assert f"/v1/api/loops/{team.loop_id}/requests" in home.text  # the example call names a real loop
    finally:
        browser.close()

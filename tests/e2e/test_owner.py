"""The owner's dashboard in a desktop browser: from signing up to a loop's analytics."""

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Screens
from tests.support.live import LiveServer
from tests.support.payloads import request_body

PASSWORD = "correct horse battery"
DAY = 86400
# (days ago, priority, seconds until answered or None, which reviewer: 0 the owner, 1 the other)
HISTORY = [
    (9, "high", 420, 0),
    (8, "medium", 1500, 1),
    (6, "high", 900, 1),
    (5, "critical", 240, 0),
    (4, "low", 5400, 1),
    (3, "high", 2400, 0),
    (2, "medium", 600, 1),
    (1, "critical", 480, 1),
    (1, "low", None, 0),
]


def sign_up_first(page: Page, email: str) -> None:
    """The first account of a new server signs up without an emailed link, and is its admin."""
    page.goto("/signup?next=/dashboard")
    page.get_by_label("Your name").fill("Olivia Owner")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"://[^/]+/dashboard$"))


def nav(page: Page, section: str) -> None:
    page.locator(".sidebar").get_by_role("link", name=section, exact=True).click()


def ask(site: LiveServer, key: str, loop_id: str, **overrides: Any) -> str:
    with site.client(follow_redirects=False) as http:
        created = http.post(
            f"/v1/api/loops/{loop_id}/requests",
            json=request_body(
                callback_url=..., processing_type="deferred", timeout_seconds=20 * DAY, **overrides
            ),
            headers={"Authorization": f"Bearer {key}"},
        )
    assert created.status_code == 201, created.text
    return str(created.json()["data"]["request_id"])


def answer(site: LiveServer, key: str, request_id: str) -> None:
    with site.client(follow_redirects=False) as http:
        done = http.post(
            f"/v1/api/requests/{request_id}/respond",
            json={"response_data": "Approve"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert done.status_code == 200, done.text


def make_history(site: LiveServer, owner_key: str, loop_id: str, invite_code: str) -> str:
    """Requests over the last days, answered by the owner and a second reviewer; returns the last one."""
    other = site.account("Rafael")
    with site.client(other) as http:
        assert http.post("/v1/api/loops/join", json={"invite_code": invite_code}).status_code == 200
    keys = [owner_key, other.key]
    request_id = ""
    for days, priority, seconds, who in HISTORY:
        with site.clock.shifted(-days * DAY):
            request_id = ask(
                site,
                owner_key,
                loop_id,
                priority=priority,
                request_text=f"Approve refund #{days}{priority[0]}?",
            )
        if seconds is not None:
            with site.clock.shifted(-days * DAY + seconds):
                answer(site, keys[who], request_id)
    return request_id


def test_an_owner_sets_up_a_loop_and_follows_its_requests(site: LiveServer, screens: Screens) -> None:
    page = screens.desktop()
    sign_up_first(page, f"olivia-{site.backend}@example.com")

    page.get_by_role("link", name="Create your first loop").click()
    page.get_by_label("Name", exact=True).fill("Refund approvals")
    page.get_by_label("Description").fill("Refunds above $100 need a person's yes.")
    page.get_by_role("button", name="Create loop").click()
    expect(page.get_by_role("status")).to_contain_text("Loop created")
    code = page.locator("#invite-code").input_value()
    assert len(code) == 6
    expect(page.locator("#join-link")).to_have_value(f"{site.url}/join/{code}")
    assert page.locator("img.qr").evaluate("img => img.complete && img.naturalWidth > 0")
    loop_id = page.url.split("/dashboard/loops/")[1].split("?")[0]

    page.get_by_label("Email addresses").fill("ana@example.com, ben@example.com")
    page.get_by_role("button", name="Send invitations").click()
    expect(page.get_by_role("status")).to_contain_text("Invitations made for 2 addresses.")
    expect(page.locator('tr[data-member="ana@example.com"]')).to_contain_text("pending")

    nav(page, "Settings")
    page.get_by_label("New key name").fill("Production")
    page.get_by_role("button", name="Create API key").click()
    key = page.locator("#new-key").input_value()
    assert key.startswith("hitl_live_")
    page.get_by_label("Endpoint URL").fill("https://hooks.example.com/hitl")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("status")).to_contain_text("Webhook endpoint created")
    nav(page, "Settings")
    expect(page.locator("#new-key")).to_have_count(0)  # shown once only
    screens.shoot(page, "dashboard-settings")

    last = make_history(site, key, loop_id, code)

    nav(page, "Requests")
    expect(page.locator("table.requests tbody tr")).to_have_count(len(HISTORY))
    screens.shoot(page, "dashboard-requests")
    page.locator(f'a[href="/dashboard/requests/{last}"]').click()
    expect(page.locator("table.trail")).to_contain_text("request.created")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel request").click()
    expect(page.get_by_role("status")).to_contain_text("Request cancelled")
    expect(page.locator("table.trail")).to_contain_text("Pending → Cancelled")
    screens.shoot(page, "dashboard-request")

    page.goto(f"/dashboard/loops/{loop_id}")
    screens.shoot(page, "dashboard-loop")
    page.get_by_role("link", name="Analytics").click()
    expect(page.locator("svg.chart")).to_have_count(4)
    expect(page.locator('tr[data-reviewer="Rafael"]')).to_be_visible()
    screens.shoot(page, "dashboard-analytics")
    nav(page, "Dashboard")
    expect(page.locator('[data-stat="completed"]')).to_have_text(
        str(sum(1 for h in HISTORY if h[2] is not None))
    )
    screens.shoot(page, "dashboard-home")

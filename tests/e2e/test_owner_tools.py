"""The owner's tools in a browser, on a phone and a desktop: in the door by a command-line link and a
password set in Settings, invitation links without email, the requests table's search and export, and
webhook deliveries that say why they failed. Each page passes axe-core's checks."""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from openhitl.accounts import service as accounts
from tests.e2e.conftest import Screens
from tests.support.axe import audit
from tests.support.dns import unresolvable
from tests.support.live import Account, LiveServer, free_port
from tests.support.payloads import request_body

DEVICES = ["phone", "desktop"]


def open_page(screens: Screens, device: str) -> Page:
    return screens.phone() if device == "phone" else screens.desktop()


def accessibility_problems(page: Page) -> list[tuple[str, list[str]]]:
    return [(v.rule, list(v.targets)) for v in audit(page)]


def fits_the_screen(page: Page) -> bool:
    """Nothing but a table's own scroller is wider than the screen."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def sign_in_by_link(site: LiveServer, page: Page, account: Account) -> None:
    """As the operator does on a new server: `openhitl login-link`'s link, opened and tapped."""

    async def make() -> str:
        async with site.state.db.write() as session:
            return await accounts.operator_login_link(
                session, email=account.email, settings=site.settings, now=site.state.clock.now()
            )

    page.goto(site.run(make()))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def loop_with_key(site: LiveServer, account: Account, name: str) -> str:
    with site.client(account) as http:
        created = http.post("/v1/api/loops", json={"name": name, "icon": "🧾"})
    assert created.status_code == 201, created.text
    return str(created.json()["data"]["loop"]["id"])


def ask(site: LiveServer, account: Account, loop_id: str, text: str, **fields: object) -> str:
    with site.client(account) as http:
        created = http.post(
            f"/v1/api/loops/{loop_id}/requests", json=request_body(request_text=text, **fields)
        )
    assert created.status_code == 201, created.text
    return str(created.json()["data"]["request_id"])


@pytest.mark.parametrize("device", DEVICES)
def test_an_owner_made_on_the_command_line_signs_in_by_link_and_sets_a_password(
    site: LiveServer, screens: Screens, device: str
) -> None:
    owner = site.account("Olivia")
    page = open_page(screens, device)
    sign_in_by_link(site, page, owner)
    page.goto("/dashboard/settings")
    expect(page.locator("[data-no-password]")).to_be_visible()
    page.get_by_label("New password", exact=False).first.fill("a long passphrase")
    page.get_by_label("New password again").fill("another passphrase")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("alert")).to_contain_text("The two new passwords differ")
    page.locator('input[name="new_password"]').fill("a long passphrase")
    page.get_by_label("New password again").fill("a long passphrase")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_contain_text("Password set.")
    expect(page.get_by_label("Current password")).to_be_visible()
    expect(page.get_by_role("button", name="Change password")).to_be_visible()
    assert fits_the_screen(page)
    assert accessibility_problems(page) == []
    if device == "desktop":
        screens.shoot(page, "dashboard-set-password")
    with site.client() as http:
        assert (
            http.post("/login", json={"email": owner.email, "password": "a long passphrase"}).status_code
            == 200
        )


@pytest.mark.parametrize("device", DEVICES)
def test_invitations_without_email_show_their_links_to_copy(
    site: LiveServer, screens: Screens, device: str
) -> None:
    owner = site.account("Olivia")
    loop_id = loop_with_key(site, owner, "Refund audits")
    page = open_page(screens, device)
    sign_in_by_link(site, page, owner)
    page.goto(f"/dashboard/loops/{loop_id}")
    stamp = free_port()
    page.get_by_label("Email addresses").fill(f"vera-{stamp}@example.com, mo-{stamp}@example.com")
    page.get_by_label("Invite as").select_option("viewer")
    page.get_by_role("button", name="Send invitations").click()
    expect(page.get_by_role("status")).to_contain_text("Invitations made for 2 addresses.")
    panel = page.locator("section.invitation-links")
    expect(panel).to_contain_text("these emails were not sent")
    links = panel.locator("input[readonly]")
    expect(links).to_have_count(2)
    assert all(
        re.match(re.escape(site.url) + r"/invitations/\S+$", value)
        for value in links.evaluate_all("l => l.map(i => i.value)")
    )
    expect(page.locator(f'tr[data-member="vera-{stamp}@example.com"] td[data-role="viewer"]')).to_be_visible()
    assert fits_the_screen(page)
    assert accessibility_problems(page) == []
    if device == "desktop":
        screens.shoot(page, "dashboard-invitation-links")
    page.goto(f"/dashboard/loops/{loop_id}")
    expect(page.locator("section.invitation-links")).to_have_count(0)  # shown once


@pytest.mark.parametrize("device", DEVICES)
def test_the_requests_table_searches_and_links_its_export(
    site: LiveServer, screens: Screens, device: str
) -> None:
    owner = site.account("Olivia")
    loop_id = loop_with_key(site, owner, "Refunds")
    refund = ask(site, owner, loop_id, "Refund ORDER-4471: damaged in transit", title="Refund ORDER-4471")
    ask(site, owner, loop_id, "Refund ORDER-4502: wrong size", title="Refund ORDER-4502", priority="high")
    ask(site, owner, loop_id, "Approve the Q3 budget", title="Q3 budget", context={"team": "finance"})
    page = open_page(screens, device)
    sign_in_by_link(site, page, owner)
    page.goto("/dashboard/requests")
    page.get_by_label("Search").fill("order-4471")
    page.get_by_label("Search").press("Enter")
    expect(page).to_have_url(re.compile(r"q=order-4471"))
    expect(page.locator("table.requests tbody tr")).to_have_count(1)
    expect(page.locator(f'a[href="/dashboard/requests/{refund}"]')).to_be_visible()
    expect(page.get_by_label("Search")).to_have_value("order-4471")  # kept in the address and the box
    csv_link = page.locator('a[data-export="csv"]')
    expect(csv_link).to_have_attribute("href", re.compile(r"q=order-4471.*format=csv"))
    with page.expect_download() as download:
        csv_link.click()
    saved = download.value.path().read_text(encoding="utf-8")
    assert refund in saved and "ORDER-4502" not in saved
    page.get_by_label("Search").fill("FINANCE")  # a context value
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.requests tbody tr")).to_have_count(1)
    expect(page.locator("table.requests")).to_contain_text("Q3 budget")
    page.get_by_label("Search").fill("refund")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.requests tbody tr")).to_have_count(2)
    assert accessibility_problems(page) == []
    if device == "desktop":
        screens.shoot(page, "dashboard-requests-search")


@pytest.fixture(scope="module", autouse=True)
def unknown_host() -> Iterator[None]:
    """The delivery test's endpoint at your-app.com fails to resolve without asking any DNS server, for as
    long as this module's servers live (the outbox retries it in the background)."""
    with unresolvable("your-app.com"):
        yield


@pytest.mark.parametrize("device", DEVICES)
def test_failed_deliveries_say_why_with_the_raw_error_on_hover(
    site: LiveServer, screens: Screens, device: str
) -> None:
    owner = site.account("Olivia")
    loop_id = loop_with_key(site, owner, "Payouts")
    page = open_page(screens, device)
    sign_in_by_link(site, page, owner)
    closed = f"http://127.0.0.1:{free_port()}/hitl"
    for url in ("https://your-app.com/webhook/response", closed):
        page.goto("/dashboard/settings")
        page.get_by_label("Endpoint URL").fill(url)
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.get_by_role("status")).to_contain_text("Webhook endpoint created")
    request_id = ask(site, owner, loop_id, "Pay out invoice 88?", callback_url=...)
    with site.client(owner) as http:  # its end goes to both endpoints (they listen for how requests end)
        assert http.delete(f"/v1/api/requests/{request_id}").status_code == 200
    page.goto(f"/dashboard/requests/{request_id}")
    reasons = page.locator("[data-reason]")
    for _ in range(150):  # the worker sends within moments; the page shows what is logged when it loads
        if reasons.count() >= 2:
            break
        page.wait_for_timeout(100)
        page.reload()
    # Each endpoint's attempts (a retry may have followed by now: the schedule starts at 1 s).
    expect(reasons.filter(has_text="could not resolve your-app.com").first).to_be_visible()
    refused = reasons.filter(has_text="connection refused by 127.0.0.1").first
    expect(refused).to_be_visible()
    assert "Connect" in (refused.get_attribute("title") or "")  # the raw error, on hover
    expect(page.locator("[data-state]").first).to_contain_text("retrying, next attempt at")
    page.locator("details.raw-error summary").first.click()
    expect(page.locator("details.raw-error code").first).to_be_visible()
    assert accessibility_problems(page) == []
    if device == "desktop":
        screens.shoot(page, "dashboard-delivery-reasons")
    page.goto("/dashboard/settings")
    page.get_by_role("link", name=re.compile("Show only failing endpoints")).click()
    expect(page.locator("table.endpoints tbody tr")).to_have_count(2)
    expect(page.locator("[data-failing]")).to_have_count(2)

"""The dashboard for a team lead, in a browser on a phone and a desktop: trying a loop with a request and
watching it answered, analytics across loops with a loop filter, the navigation folded on a phone, and no
page wider than a phone's screen."""

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from openhitl.accounts import sessions
from openhitl.web.dashboard.trying import EXAMPLES
from tests.e2e.conftest import Screens
from tests.integration.dashboarding import signed_in
from tests.support.axe import audit
from tests.support.live import Account, LiveServer, full_access_account
from tests.support.payloads import SEED_LOOP, request_body

DAY = 86400
DEVICES = ["desktop", "phone"]
# Elements that scroll sideways on purpose (tables that are still wider than a tablet, code): everything else
# must fit the screen.
SCROLL_CONTAINERS = ".table-wrap, pre, .chips, input, textarea, select"
OVERFLOW = """(marked) => {
  const doc = document.documentElement;
  const unmarked = [];
  for (const element of document.querySelectorAll("body *")) {
    const style = getComputedStyle(element);
    const scrolls = ["auto", "scroll"].includes(style.overflowX);
    const spills = element.scrollWidth > element.clientWidth + 1;
    if (spills && scrolls && !element.matches(marked)) unmarked.push(`${element.tagName}.${element.className}`);
  }
  return { page: doc.scrollWidth - doc.clientWidth, unmarked };
}"""


def sign_in(site: LiveServer, page: Page, account: Account) -> None:
    """The page's browser gets a web session for the account, as signing in gives one."""
    browser = signed_in(site, account)
    token = browser.http.cookies[sessions.SESSION_COOKIE]
    browser.close()
    page.context.add_cookies([{"name": sessions.SESSION_COOKIE, "value": token, "url": site.url}])


def open_device(screens: Screens, device: str) -> Page:
    return screens.phone() if device == "phone" else screens.desktop()


def shoot(screens: Screens, page: Page, device: str, name: str) -> None:
    """A whole-page screenshot, taken from the top (a phone's header sticks where the page was scrolled)."""
    page.evaluate("window.scrollTo(0, 0)")
    screens.shoot(page, f"phone-{name}" if device == "phone" else name)


def make_loop(site: LiveServer, owner: Account, name: str, *members: Account) -> str:
    with site.client(owner) as http:
        made = http.post("/v1/api/loops", json={**SEED_LOOP, "name": name, "icon": "💸"})
    assert made.status_code == 201, made.text
    loop_id = str(made.json()["data"]["loop"]["id"])
    for member in members:
        site.add_member(loop_id, member.user_id)
    return loop_id


def axe_violations(page: Page, context: str) -> list[tuple[str, list[str]]]:
    return [(v.rule, list(v.targets)) for v in audit(page, within=context)]


@pytest.mark.parametrize("device", DEVICES)
def test_an_owner_tries_a_loop_and_watches_the_answer_arrive(
    site: LiveServer, screens: Screens, device: str
) -> None:
    owner, rita = site.account("Olivia"), site.account("Rita")
    loop_id = make_loop(site, owner, "Refund approvals", rita)
    page = open_device(screens, device)
    sign_in(site, page, owner)
    page.goto(f"/dashboard/loops/{loop_id}#try-it")

    page.get_by_label("Request text").fill("Refund **order A-7** for $80?\n\n- paid by card")
    expect(page.locator("#try-preview strong")).to_have_text("order A-7")  # rendered by the server
    expect(page.locator("#try-preview li")).to_have_text("paid by card")
    page.get_by_label("Response type").select_option("text")
    config, default = EXAMPLES["text"]
    assert json.loads(page.get_by_label("Response config").input_value()) == config
    assert json.loads(page.get_by_label("Default response").input_value()) == default

    page.get_by_label("Timeout (seconds)").fill("5")
    page.get_by_role("button", name="Send request").click()
    error = page.locator("#try-timeout_seconds-error")
    expect(error).to_contain_text("timeout_seconds must be between 60 and")
    expect(page.get_by_label("Timeout (seconds)")).to_be_focused()
    expect(page.get_by_label("Request text")).to_have_value("Refund **order A-7** for $80?\n\n- paid by card")
    expect(page.get_by_label("Response type")).to_have_value("text")
    expect(page.get_by_label("Timeout (seconds)")).to_have_value("5")
    assert axe_violations(page, "#try-it") == []
    shoot(screens, page, device, "dashboard-try-it-refused")

    page.get_by_label("Timeout (seconds)").fill("600")
    page.get_by_role("button", name="Send request").click()
    result = page.locator("#try-result")
    expect(result.locator(".badge")).to_have_text("Pending")
    expect(result).to_contain_text("Waiting for a reviewer")
    expect(result).to_be_focused()
    request_id = result.get_attribute("data-request-id")
    page.evaluate("window.stillTheSamePage = true")

    reviewer = screens.phone()
    sign_in(site, reviewer, rita)
    reviewer.goto(f"/requests/{request_id}")
    expect(reviewer.locator("#answer[data-claimed-by-me]")).to_be_visible()
    expect(result).to_contain_text("Claimed by Rita")
    reviewer.locator("textarea[name=answer]").fill("Refund it, the card was charged twice")
    reviewer.get_by_role("button", name=re.compile("^Send")).click()
    expect(reviewer.locator(".flash")).to_have_text("Answer sent.")

    expect(result.locator(".badge")).to_have_text("Completed")
    expect(result.locator("[data-answer]")).to_have_text("Refund it, the card was charged twice")
    expect(result).to_contain_text("Rita")
    assert page.evaluate("window.stillTheSamePage") is True, "the page was reloaded, not updated live"
    assert axe_violations(page, "#try-it") == []
    shoot(screens, page, device, "dashboard-try-it")


def answered_history(site: LiveServer, owner: Account, rita: Account, loop_id: str, plan: list[Any]) -> None:
    """Requests created days ago and answered by Rita some seconds later (None: still open)."""
    for days, priority, seconds in plan:
        with site.clock.shifted(-days * DAY), site.client(owner) as http:
            created = http.post(
                f"/v1/api/loops/{loop_id}/requests",
                json=request_body(
                    priority=priority, processing_type="deferred", timeout_seconds=20 * DAY, callback_url=...
                ),
            )
        assert created.status_code == 201, created.text
        if seconds is None:
            continue
        with site.clock.shifted(-days * DAY + seconds), site.client(rita) as http:
            done = http.post(
                f"/v1/api/requests/{created.json()['data']['request_id']}/respond",
                json={"response_data": "Approve"},
            )
        assert done.status_code == 200, done.text


@pytest.mark.parametrize("device", DEVICES)
def test_the_overview_shows_analytics_across_loops_with_a_filter(
    site: LiveServer, screens: Screens, device: str
) -> None:
    owner, rita = site.account("Olivia"), site.account("Rita")
    refunds = make_loop(site, owner, "Refund approvals", rita)
    moderation = make_loop(site, owner, "Moderation", rita)
    answered_history(site, owner, rita, refunds, [(6, "high", 420), (4, "critical", 240), (2, "low", 5400)])
    answered_history(site, owner, rita, moderation, [(5, "high", 1500), (1, "medium", None)])
    page = open_device(screens, device)
    sign_in(site, page, owner)
    page.goto("/dashboard")
    analytics = page.locator("#analytics")
    expect(analytics.locator('[data-stat="total"]')).to_have_text("5")
    expect(analytics.locator('[data-stat="open"]')).to_have_text("1")
    expect(analytics.locator('tr[data-reviewer="Rita"] [data-cell="answered"]')).to_have_text("4")
    expect(analytics.locator("svg.chart")).to_have_count(4)
    assert axe_violations(page, "#analytics") == []

    page.get_by_role("checkbox", name="Moderation").check()
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(rf"\?loop={moderation}#analytics$"))
    expect(analytics.locator('[data-stat="total"]')).to_have_text("2")
    expect(analytics.locator('[data-stat="open"]')).to_have_text("1")
    expect(analytics.locator('tr[data-priority="high"] [data-cell="decide-p50"]')).to_have_text("25m")
    expect(analytics.locator('tr[data-reviewer="Rita"] [data-cell="answered"]')).to_have_text("1")
    expect(page.get_by_role("checkbox", name="Moderation")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Refund approvals")).not_to_be_checked()
    expect(analytics.get_by_role("heading", name=re.compile("Analytics"))).to_contain_text("1 of 2 loops")
    shoot(screens, page, device, "dashboard-overview-analytics")

    page.get_by_role("link", name="All loops").click()
    expect(analytics.locator('[data-stat="total"]')).to_have_text("5")


def test_the_navigation_folds_into_a_menu_on_a_phone(site: LiveServer, screens: Screens) -> None:
    owner = site.account("Olivia")
    page = screens.phone()
    sign_in(site, page, owner)
    page.goto("/dashboard/requests")
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Dashboard")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()

    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    page.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Dashboard")).to_be_focused()
    assert axe_violations(page, ".sidebar") == []
    screens.shoot(page, "phone-dashboard-menu")
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(menu).to_be_focused()

    menu.click()
    nav.get_by_role("link", name="Loops").click()
    expect(page).to_have_url(re.compile(r"/dashboard/loops$"))
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")

    desktop = screens.desktop()
    sign_in(site, desktop, owner)
    desktop.goto("/dashboard/requests")
    expect(desktop.get_by_role("button", name="Menu")).to_be_hidden()
    expect(desktop.get_by_role("navigation", name="Dashboard")).to_be_visible()
    assert axe_violations(desktop, ".sidebar") == []


def dashboard_with_everything(site: LiveServer, page: Page) -> list[str]:
    """An owner with a loop, members, answered and open requests, an API key and a webhook endpoint; the
    address of every dashboard page they can open."""
    owner, rita = full_access_account(site, "Olivia"), site.account("Rita with a rather long name")
    loop_id = make_loop(site, owner, "Refund approvals for the European stores", rita)
    answered_history(site, owner, rita, loop_id, [(3, "high", 420), (2, "critical", 240), (1, "low", None)])
    with site.client(owner) as http:
        webhook = http.post(
            "/v1/api/webhooks",
            json={"url": "https://hooks.example.com/a/very/long/path/for/the/receiver/of/openhitl"},
        )
        assert webhook.status_code == 201, webhook.text
        webhook_id = webhook.json()["data"]["webhook"]["id"]
        listed = http.get("/v1/api/requests", params={"loop_id": loop_id}).json()["data"]["requests"]
    sign_in(site, page, owner)
    return [
        "/dashboard",
        "/dashboard/loops",
        "/dashboard/loops/new",
        f"/dashboard/loops/{loop_id}",
        f"/dashboard/loops/{loop_id}/edit",
        f"/dashboard/loops/{loop_id}/delete",
        f"/dashboard/loops/{loop_id}/analytics",
        "/dashboard/requests",
        f"/dashboard/requests/{listed[0]['id']}",
        "/dashboard/settings",
        f"/dashboard/settings/webhooks/{webhook_id}",
    ]


def measure(page: Page) -> dict[str, Any]:
    """How far the page is wider than the screen, what scrolls sideways unmarked, and what scrolls sideways
    but cannot be reached from the keyboard."""
    measured: dict[str, Any] = page.evaluate(OVERFLOW, SCROLL_CONTAINERS)
    found = audit(page, rules=("scrollable-region-focusable",))
    measured["unreachable"] = [target for violation in found for target in violation.targets]
    return measured


def test_no_dashboard_page_is_wider_than_a_phone(site: LiveServer, screens: Screens) -> None:
    page = screens.phone()
    paths = dashboard_with_everything(site, page)
    measured: dict[str, Any] = {}
    for path in paths:
        answer = page.goto(path)
        assert answer is not None and answer.status == 200, path
        measured[path] = measure(page)
    # The loop's page after a refused send (errors beside the fields) and with the menu open.
    page.goto(paths[3])
    page.get_by_label("Timeout (seconds)").fill("5")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#try-timeout_seconds-error")).to_be_visible()
    page.get_by_role("button", name="Menu").click()
    measured["refused try, menu open"] = measure(page)
    assert measured == {path: {"page": 0, "unmarked": [], "unreachable": []} for path in measured}

    page.goto("/dashboard/requests")
    first_row = page.locator("table.requests tbody tr").first
    assert first_row.evaluate("row => getComputedStyle(row).display") == "block"  # each request is a card
    expect(page.locator("table.requests td[data-label]").first).to_be_visible()
    shoot(screens, page, "phone", "dashboard-requests")
    page.goto(paths[3])
    shoot(screens, page, "phone", "dashboard-loop")

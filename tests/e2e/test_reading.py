"""What the reviewer and the owner read, on a phone and on a desktop: answers by their labels, requests as
messages, priorities by colour, loop icons, notifications that say why they fail, the bell's live list,
the desktop layout and one voice."""

import re
import time

import pytest
from playwright.sync_api import FloatRect, Locator, Page, expect

from openhitl.realtime.feed import EventFeed
from tests.e2e.conftest import PHONE, Screens
from tests.e2e.people import Team, make_team, open_as, sign_in
from tests.support.live import LiveServer

DEVICES = ["phone", "desktop"]
OPTIONS = [
    {"value": "full", "label": "Full refund", "color": "#16a34a"},
    {"value": "partial", "label": "Partial refund", "description": "Up to half the order"},
    {"value": "none", "label": "No refund", "color": "#dc2626"},
]
SHIP_IT = {
    "response_type": "boolean",
    "response_config": {"true_label": "Ship it", "false_label": "Hold"},
    "default_response": False,
}


def box(locator: Locator) -> FloatRect:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not laid out"
    return found


def rgb(css: str) -> tuple[int, int, int]:
    found = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(?:, [\d.]+)?\)", css)
    assert found, css
    return int(found.group(1)), int(found.group(2)), int(found.group(3))


def contrast(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio."""

    def luminance(colour: tuple[int, int, int]) -> float:
        channels = [c / 255 for c in colour]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def wait_for_status(team: Team, request_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    with team.api() as http:
        while http.get(f"/v1/api/requests/{request_id}").json()["data"]["status"] != status:
            assert time.monotonic() < deadline, f"{request_id} never became {status}"
            time.sleep(0.05)


def style(locator: Locator, prop: str) -> str:
    return str(locator.evaluate(f"(el) => getComputedStyle(el).getPropertyValue({prop!r})"))


# 1. Labels, not values.


@pytest.mark.parametrize("device", DEVICES)
def test_answers_read_as_their_labels_in_history_and_the_dashboard(
    site: LiveServer, screens: Screens, device: str
) -> None:
    team = make_team(site, name="Release approvals", icon="shield-check")
    reviewer = team.reviewers[0]
    deploy = team.ask(title="Deploy v2.4.0 to production?", request_text="312 tests passed.", **SHIP_IT)
    refund = team.ask(
        request_text="Refund order A-1001?",
        response_type="single_select",
        response_config={"options": OPTIONS},
        default_response="none",
    )
    amount = team.ask(
        request_text="How much to refund?",
        response_type="number",
        response_config={"prefix": "$", "decimal_places": 2, "max_value": 500},
        default_response=0,
    )
    rating = team.ask(
        request_text="Rate the reply",
        response_type="rating",
        response_config={"scale_min": 1, "scale_max": 5, "labels": {"5": "Great"}},
        default_response=3,
    )
    team.respond(reviewer, refund, "partial")
    team.respond(reviewer, amount, 42.5)
    team.respond(reviewer, rating, 5)

    page = open_as(screens, reviewer, device)
    page.goto(f"/requests/{deploy}")
    expect(page.locator("#answer[data-claimed-by-me]")).to_be_visible()
    page.get_by_role("button", name="Ship it").click()
    page.wait_for_url(re.compile(r"/(\?done=answered)?$"))
    page.goto("/history")
    answers = {
        request_id: page.locator(f'a[data-request-id="{request_id}"] .card-answer strong')
        for request_id in (deploy, refund, amount, rating)
    }
    expect(answers[deploy]).to_have_text("Ship it")
    expect(answers[refund]).to_have_text("Partial refund")
    expect(answers[amount]).to_have_text("$42.50")
    expect(answers[rating]).to_have_text("Great (5 of 5)")
    screens.shoot(page, f"{device}-history-labels")
    page.locator(f'a[data-request-id="{deploy}"]').click()
    expect(page.locator(".outcome.done")).to_have_text("You answered: Ship it")

    owner = open_as(screens, team.owner, device)
    owner.goto(f"/dashboard/requests?loop={team.loop['id']}")
    rows = owner.locator("table.requests tbody")
    for words in ("Ship it", "Partial refund", "$42.50", "Great (5 of 5)"):
        expect(rows).to_contain_text(words)
    assert "partial" not in rows.inner_text().replace("Partial refund", "")
    owner.goto(f"/dashboard/requests/{refund}")
    expect(owner.locator("[data-answer]")).to_have_text("Partial refund")
    screens.shoot(owner, f"{device}-dashboard-request-labels")


# 2. A request reads like a message.

MESSAGE = (
    "# Refund request A-1001\n\nCustomer **Jane Doe** asks for a refund of *$250.00* on a gold-tier account.\n\n"
    "- Order: `A-1001` (placed 3 days ago)\n- Reason: *item arrived damaged*"
)
LONG_CONTEXT = {f"field {index:02d}": f"value number {index} of a long context" for index in range(40)}


@pytest.mark.parametrize("device", DEVICES)
def test_a_request_reads_like_a_message(site: LiveServer, screens: Screens, device: str) -> None:
    team = make_team(site, name="Refund approvals", icon="shield-check")
    emoji = make_team(site, name="Payouts", icon="💸", reviewers=())
    with site.client(team.reviewers[0]) as http:
        assert (
            http.post("/v1/api/loops/join", json={"invite_code": emoji.loop["invite_code"]}).status_code
            == 200
        )
    titled = team.ask(title="Refund $250 to Jane Doe?", request_text=MESSAGE, priority="critical")
    untitled = team.ask(
        request_text=MESSAGE,
        priority="high",
        context=LONG_CONTEXT,
        response_config={"options": OPTIONS},
        default_response="none",
    )
    page = open_as(screens, team.reviewers[0], device)
    page.goto("/")
    cards = {rid: page.locator(f'a[data-request-id="{rid}"]') for rid in (titled, untitled)}
    expect(cards[titled].locator(".card-title")).to_have_text("Refund $250 to Jane Doe?")
    expect(cards[untitled].locator(".card-title")).to_have_text("Refund request A-1001")
    expect(cards[untitled].locator(".card-preview")).to_contain_text("Customer Jane Doe asks for a refund")
    for card in cards.values():
        assert f"#{team.loop['id'][:5]}" not in card.inner_text()  # no loop-id fragment
        expect(card.locator('.loop-tag svg[data-icon="shield-check"]')).to_be_visible()
    chip = page.locator(".chip", has_text="Payouts")
    expect(chip).to_contain_text("💸")
    assert chip.locator("svg").count() == 0  # an emoji stays an emoji
    expect(page.locator('.chip svg[data-icon="shield-check"]')).to_be_visible()
    screens.shoot(page, f"{device}-home-queue-titles")

    page.goto(f"/requests/{titled}")
    expect(page).to_have_title("Refund $250 to Jane Doe? · OpenHITL")
    expect(page.locator("h1.request-title")).to_have_text("Refund $250 to Jane Doe?")
    expect(page.locator(".topbar svg[data-icon='shield-check']")).to_be_visible()
    assert style(page.locator(".request-text p").first, "font-weight") == "400"
    assert style(page.locator(".request-text strong").first, "font-weight") == "700"

    page.goto(f"/requests/{untitled}")
    expect(page).to_have_title("Refund request A-1001 · OpenHITL")
    expect(page.locator("#answer[data-claimed-by-me]")).to_be_visible()
    form = page.locator("#answer-form")
    viewport = page.viewport_size
    assert viewport is not None
    if device == "phone":  # the context pushes the answer down: one tap brings it up
        assert box(form)["y"] > viewport["height"]
        jump = page.locator("[data-answer-jump]")
        expect(jump).to_be_visible()
        screens.shoot(page, "phone-request-answer-jump", full_page=False)
        jump.click()
        expect(jump).to_be_hidden()
        assert 0 <= box(page.locator(".options"))["y"] < viewport["height"]
    else:  # beside the request, in sight without scrolling
        assert box(form)["y"] < viewport["height"]
        assert box(form)["x"] > box(page.locator(".request-text"))["x"] + 200
        screens.shoot(page, "desktop-request")
    expect(page.locator(".option", has_text="Full refund").locator("svg.swatch circle")).to_have_attribute(
        "fill", "#16a34a"
    )
    expect(page.locator(".option", has_text="Partial refund")).to_contain_text("Up to half the order")


SCALES = [
    (1, 3, {"1": "Bad", "3": "Good"}),
    (1, 5, {}),
    (1, 10, {"1": "Off-brand", "10": "Perfect"}),
    (0, 10, {}),
]


@pytest.mark.parametrize("device", DEVICES)
def test_ratings_lay_out_evenly_at_every_scale(site: LiveServer, screens: Screens, device: str) -> None:
    team = make_team(site, name="Ratings", icon="star")
    page = open_as(screens, team.reviewers[0], device)
    for low, high, labels in SCALES:
        request_id = team.ask(
            request_text=f"Rate from {low} to {high}",
            response_type="rating",
            response_config={"scale_min": low, "scale_max": high, "labels": labels},
            default_response=low,
        )
        page.goto(f"/requests/{request_id}")
        expect(page.locator("#answer[data-claimed-by-me]")).to_be_visible()  # the claim swaps the form in
        stars = page.locator(".star")
        expect(stars).to_have_count(high - low + 1)
        boxes = [box(stars.nth(index)) for index in range(stars.count())]
        row = box(page.locator(".star-row"))
        assert {round(b["y"]) for b in boxes} == {round(boxes[0]["y"])}, f"{low}-{high} wraps"
        widths = [b["width"] for b in boxes]
        assert max(widths) - min(widths) < 1.5, f"{low}-{high}: uneven {widths}"
        assert boxes[-1]["x"] + boxes[-1]["width"] <= row["x"] + row["width"] + 1
        gaps = [boxes[i + 1]["x"] - boxes[i]["x"] for i in range(len(boxes) - 1)]
        assert max(gaps) - min(gaps) < 1.5, f"{low}-{high}: uneven spacing {gaps}"
        if labels:
            ends = page.locator(".star-ends span")
            expect(ends.first).to_have_text(labels[str(low)])
            expect(ends.last).to_have_text(labels[str(high)])
        stars.last.click()
        expect(page.locator("[data-star-choice]")).to_have_text(
            f"{high} of {high}" + (f" · {labels[str(high)]}" if labels else "")
        )
        if (low, high) == (1, 10):
            screens.shoot(page, f"{device}-answer-rating-1-10")


# 3. Priority reads at a glance.

PRIORITIES = {  # strong colour (card edge, dot), badge text, badge background
    "critical": ((220, 38, 38), (153, 27, 27), (254, 226, 226)),
    "high": ((234, 88, 12), (154, 52, 18), (255, 237, 213)),
    "medium": ((217, 119, 6), (146, 64, 14), (254, 243, 199)),
    "low": ((107, 114, 128), (55, 65, 81), (229, 231, 235)),
}


@pytest.mark.parametrize("device", DEVICES)
def test_priorities_read_at_a_glance(site: LiveServer, screens: Screens, device: str) -> None:
    team = make_team(site, name="Priorities", icon="flag")
    asked = {
        priority: team.ask(request_text=f"A {priority} request", priority=priority) for priority in PRIORITIES
    }
    page = open_as(screens, team.reviewers[0], device)
    page.goto("/")
    white = (255, 255, 255)
    for priority, (strong, text, background) in PRIORITIES.items():
        card = page.locator(f'a[data-request-id="{asked[priority]}"]')
        badge = card.locator(".prio")
        assert rgb(style(card, "border-left-color")) == strong, priority
        assert rgb(style(badge.locator(".dot"), "background-color")) == strong, priority
        assert (rgb(style(badge, "color")), rgb(style(badge, "background-color"))) == (text, background), (
            priority
        )
        assert contrast(text, background) >= 4.5, priority  # the label reads
        assert contrast(strong, white) >= 3, priority  # the edge stands out of the white card
    screens.shoot(page, f"{device}-home-priorities")
    owner = open_as(screens, team.owner, device)
    owner.goto(f"/dashboard/requests?loop={team.loop['id']}")
    for priority, (_, text, background) in PRIORITIES.items():
        badge = owner.locator(f"table.requests .prio.priority-{priority}")
        assert (rgb(style(badge, "color")), rgb(style(badge, "background-color"))) == (text, background)


# 4. Notifications: failures say why; the bell is a live list.

IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
NO_PUSH = "delete window.PushManager;"  # a browser without Web Push (Safari in a tab on iOS, old browsers)


def deny_notifications(screens: Screens, page: Page) -> None:
    """The person said no: the browser's permission for notifications is "denied" for the site."""
    target = page.context.new_cdp_session(page).send("Target.getTargetInfo")["targetInfo"]
    screens.browser.new_browser_cdp_session().send(
        "Browser.setPermission",
        {
            "permission": {"name": "notifications"},
            "setting": "denied",
            "origin": screens.site.url,
            "browserContextId": target["browserContextId"],
        },
    )


@pytest.mark.parametrize("device", DEVICES)
def test_enabling_notifications_that_cannot_work_says_why(
    site: LiveServer, screens: Screens, device: str
) -> None:
    team = make_team(site, name="Alerts", icon="bell")
    reviewer = team.reviewers[0]
    errors: list[str] = []

    blocked = open_as(screens, reviewer, device)
    blocked.on("pageerror", lambda error: errors.append(str(error)))
    deny_notifications(screens, blocked)
    blocked.goto("/settings")
    assert blocked.evaluate("Notification.permission") == "denied"
    problem = blocked.locator("[data-push-problem]")
    expect(problem).to_contain_text("Notifications are blocked for this site")
    blocked.get_by_role("button", name="Enable notifications").click()
    expect(problem).to_contain_text("Allow them in your browser's site settings")
    expect(blocked.get_by_role("alert")).to_be_visible()
    screens.shoot(blocked, f"{device}-notifications-blocked")

    old = open_as(screens, reviewer, device)
    old.on("pageerror", lambda error: errors.append(str(error)))
    old.context.add_init_script(NO_PUSH)
    old.goto("/settings")
    expect(old.locator("[data-push-problem]")).to_contain_text("This browser can't show notifications")
    expect(old.get_by_role("button", name="Enable notifications")).to_be_hidden()
    assert errors == []


def test_an_iphone_is_told_to_add_the_app_to_its_home_screen(site: LiveServer, screens: Screens) -> None:
    team = make_team(site, name="iPhone alerts", icon="bell")
    context = screens.browser.new_context(base_url=site.url, user_agent=IPHONE_SAFARI, **PHONE)
    screens.contexts.append(context)
    context.add_init_script(NO_PUSH)  # Safari offers Web Push only to apps added to the Home Screen
    sign_in(context, site, team.reviewers[0])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/settings")
    expect(page.locator("[data-push-problem]")).to_contain_text("choose Add to Home Screen")
    screens.shoot(page, "phone-notifications-iphone")
    assert errors == []


@pytest.mark.parametrize("device", DEVICES)
def test_the_bell_opens_a_notification_list_that_follows_the_loop_live(
    site: LiveServer, screens: Screens, device: str
) -> None:
    team = make_team(site, name="Moderation", icon="shield-check")
    reviewer = team.reviewers[0]
    held = team.ask(request_text="A comment to moderate", priority="high")
    with team.api(reviewer) as http:
        assert http.post(f"/v1/api/requests/{held}/claim").status_code == 200
    page = open_as(screens, reviewer, device)
    page.goto("/")
    page.get_by_role("link", name="Notifications").click()
    page.wait_for_url(re.compile(r"/notifications$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    expect(page.locator(f'[data-notice="new"][data-request-id="{held}"]')).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")

    arrived = team.ask(request_text="A new **urgent** comment", priority="critical")
    expect(page.locator(f'[data-notice="new"][data-request-id="{arrived}"]')).to_contain_text(
        "New critical request"
    )
    with team.api() as http:
        assert http.post(f"/v1/api/requests/{held}/cancel").status_code == 200
    cancelled = page.locator(f'[data-notice="cancelled"][data-request-id="{held}"]')
    expect(cancelled).to_contain_text("Cancelled while you held it")
    expect(cancelled).to_contain_text("A comment to moderate")
    assert page.evaluate("window.stillTheSamePage") is True, "the list was reloaded, not updated live"
    screens.shoot(page, f"{device}-notifications")
    cancelled.click()
    page.wait_for_url(re.compile(f"/requests/{held}$"))


# 5. The desktop layout.


@pytest.mark.parametrize("device", DEVICES)
def test_the_sections_sit_at_the_edge_of_the_screen(site: LiveServer, screens: Screens, device: str) -> None:
    team = make_team(site, name="Layout", icon="eye")
    team.ask(request_text="Something to review")
    page = open_as(screens, team.reviewers[0], device)
    page.goto("/")
    viewport = page.viewport_size
    assert viewport is not None
    nav = page.locator("nav.tabbar")
    links = nav.locator("a:visible")
    where = box(nav)
    if device == "desktop":  # down the left side, from under the top bar to the bottom, beside the screen
        top = box(page.locator("header.topbar"))
        assert (round(where["x"]), round(where["y"])) == (0, round(top["y"] + top["height"]))
        assert abs(where["y"] + where["height"] - viewport["height"]) <= 1
        assert box(page.locator("main.screen"))["x"] >= where["x"] + where["width"]
        expect(links).to_have_count(4)
    else:  # along the bottom
        assert abs(where["y"] + where["height"] - viewport["height"]) <= 1
        expect(links).to_have_count(3)
    layouts = set()
    for index in range(links.count()):
        icon, words = box(links.nth(index).locator("svg")), box(links.nth(index).locator("span"))
        beside = (
            icon["x"] + icon["width"] <= words["x"]
            and abs((icon["y"] + icon["height"] / 2) - (words["y"] + words["height"] / 2)) <= 3
        )
        above = icon["y"] + icon["height"] <= words["y"] + 1
        layouts.add("beside" if beside else "above" if above else "other")
    assert layouts == {"beside" if device == "desktop" else "above"}  # every item alike
    if device == "desktop":
        lefts = {round(box(links.nth(index))["x"]) for index in range(links.count())}
        assert len(lefts) == 1
    screens.shoot(page, f"{device}-home")


# 7. One voice.


@pytest.mark.parametrize("device", DEVICES)
def test_the_words_are_plain_and_in_sentence_case(site: LiveServer, screens: Screens, device: str) -> None:
    team = make_team(site, name="Words", icon="chat")
    choice = team.ask(request_text="Pick one", response_config={"options": OPTIONS}, default_response="none")
    missed = team.ask(request_text="Nobody answered this", timeout_seconds=60)
    with site.clock.shifted(61):
        site.state.get(EventFeed).wake()
        wait_for_status(team, missed, "timeout")
    page = open_as(screens, team.reviewers[0], device)
    page.goto(f"/requests/{choice}")
    expect(page.locator("#answer[data-claimed-by-me]")).to_be_visible()
    expect(page.locator("[data-selection]")).to_have_text("No option selected")
    page.get_by_text("Full refund", exact=True).click()
    expect(page.locator("[data-selection]")).to_have_text("1 option selected")
    page.goto("/history")
    expect(page.get_by_role("link", name="Timed out (1)")).to_be_visible()
    expect(page.locator(f'a[data-request-id="{missed}"] .badge')).to_have_text("Timed out")
    page.goto("/join")
    expect(page.get_by_role("heading", level=1)).to_have_text("Join a loop")

    lone = make_team(site, name="Just me", icon="key", reviewers=())
    owner = open_as(screens, lone.owner, device)
    owner.goto("/dashboard")
    expect(owner.locator(".loop-tile", has_text="Just me")).to_contain_text("1 member ·")
    owner = open_as(screens, team.owner, device)
    owner.goto(f"/dashboard/requests?loop={team.loop['id']}&status=timeout")
    expect(owner.locator("table.requests .badge")).to_have_text("Timed out")
    expect(owner.locator("select[name=status] option[value=timeout]")).to_have_text("Timed out")

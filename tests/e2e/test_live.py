"""The reviewer app follows the world, on a phone and on a desktop, with two people where two are involved:
queue cards that dim, come back and leave as their requests change; an open request that switches by itself;
claims that are renewed while the page is open and never strand a request when it closes; limits checked
before sending; and what the next screen says after an answer.

The server here gives the app a short claim lease and accepts short timeouts, so that leases run out and
requests time out while a test waits for it (always by waiting for what should happen, never by sleeping).
"""

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect
from prometheus_client.parser import text_string_to_metric_families

from openhitl.kit.errors import ApiError
from openhitl.requests.answers import ResponseDataError, validate_response
from openhitl.requests.response_configs import parse_config
from openhitl.web.answers import form_answer
from tests.conftest import BACKENDS, start_server
from tests.e2e.conftest import Screens
from tests.e2e.test_forgery import elsewhere as elsewhere  # the attacker's origin, a fixture
from tests.e2e.test_reviewer import ask, make_loop
from tests.support.live import LiveServer, events_of, stored_request
from tests.support.web import sign_up

LEASE = 10  # seconds: the app's claim lease on this server; the open page renews it every 3⅓ s
SLOW = 30_000  # ms: what a wait may take on a busy machine before the test gives up


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(
        request.param,
        tmp_path_factory,
        signup="open",
        worker_poll_seconds=0.05,
        web_claim_lease_seconds=LEASE,
        timeout_seconds_min=1,
    )


@pytest.fixture(params=["phone", "desktop"])
def device(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def owner_api(site: LiveServer) -> Iterator[httpx.Client]:
    with site.client(site.account("owner")) as http:
        yield http


def person(screens: Screens, site: LiveServer, device: str, invite_code: str, name: str) -> Page:
    """A browser of `device` kind, signed up into the loop as `name` (through the sign-up form, over HTTP)."""
    http, _ = sign_up(site, invite_code=invite_code, name=name)
    page = screens.phone() if device == "phone" else screens.desktop()
    page.context.add_cookies(
        [{"name": key, "value": value, "url": site.url} for key, value in http.cookies.items()]
    )
    http.close()
    return page


def on_queue(page: Page) -> None:
    page.goto("/")
    page.evaluate("window.stillTheSamePage = true")


def still_the_same_page(page: Page) -> bool:
    return bool(page.evaluate("window.stillTheSamePage === true"))


def card(page: Page, request_id: str) -> Any:
    return page.locator(f'.card[data-request-id="{request_id}"]')


def set_visibility(page: Page, state: str) -> None:
    """What the browser does as its person switches to another app or tab (`hidden`) and back (`visible`)."""
    page.evaluate(
        f"Object.defineProperty(document, 'visibilityState', {{value: '{state}', configurable: true}});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SLOW / 1000
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def releases_answered(site: LiveServer, status: str) -> float:
    """How many release requests this server process answered with `status` (its /metrics)."""
    with site.client() as http:
        text = http.get("/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "openhitl_http_responses_total"
        and sample.labels.get("route", "").endswith("/release")
        and sample.labels.get("status") == status
    )


def report(what: str, seconds: float) -> None:
    print(f"\n[live] {what}: {seconds:.2f} s")  # shown with -s; the measured latencies in the test log


# --- the queue follows the world ---


def test_a_card_leaves_when_its_request_is_cancelled_times_out_or_is_answered_elsewhere(
    site: LiveServer, screens: Screens, owner_api: httpx.Client, device: str
) -> None:
    loop = make_loop(owner_api, f"Leaving {device}")
    answerer = site.account("answerer")
    site.add_member(loop["id"], answerer.user_id)
    page = person(screens, site, device, loop["invite_code"], "Quinn Queue")
    cancelled = ask(owner_api, loop["id"], request_text="To be cancelled")
    answered = ask(owner_api, loop["id"], request_text="To be answered elsewhere")
    on_queue(page)
    for request_id in (cancelled, answered):
        expect(card(page, request_id)).to_be_visible()

    assert owner_api.delete(f"/v1/api/requests/{cancelled}").status_code == 200
    sent = time.monotonic()
    expect(card(page, cancelled).locator(".card-note")).to_have_text("Cancelled")
    report(f"{device}: a cancelled request's card leaving", time.monotonic() - sent)
    screens.shoot(page, f"{device}-queue-card-leaving")
    expect(card(page, cancelled)).to_have_count(0)

    with site.client(answerer) as http:
        assert (
            http.post(f"/v1/api/requests/{answered}/respond", json={"response_data": "Approve"}).status_code
            == 200
        )
    sent = time.monotonic()
    expect(card(page, answered).locator(".card-note")).to_have_text("Answered by answerer")
    report(f"{device}: an answered request's card leaving", time.monotonic() - sent)
    expect(card(page, answered)).to_have_count(0)

    expiring = ask(owner_api, loop["id"], request_text="To time out", timeout_seconds=5)
    deadline = datetime.fromisoformat(
        owner_api.get(f"/v1/api/requests/{expiring}").json()["data"]["timeout_at"]
    )
    left = card(page, expiring).locator("[data-left]")
    expect(left).to_be_visible()  # it arrived through the feed
    expect(left).not_to_have_text(left.inner_text())  # and counts down, second by second
    expect(card(page, expiring).locator(".card-note")).to_have_text("Timed out", timeout=SLOW)
    report(
        f"{device}: a timed-out card leaving, after its deadline",
        (site.clock.now() - deadline).total_seconds(),
    )
    expect(card(page, expiring)).to_have_count(0)
    expect(page.locator("#queue-empty")).to_be_visible()  # the last one gone: the queue says so
    assert still_the_same_page(page), "the queue was reloaded, not updated live"


def test_a_timed_out_card_leaves_at_its_deadline_even_without_the_event(
    site: LiveServer, screens: Screens, owner_api: httpx.Client, device: str
) -> None:
    loop = make_loop(owner_api, f"No feed {device}")
    page = person(screens, site, device, loop["invite_code"], "Nora Nofeed")
    page.route("**/v1/api/events*", lambda route: route.abort())  # the feed never arrives
    expiring = ask(owner_api, loop["id"], request_text="Times out unseen", timeout_seconds=5)
    on_queue(page)
    expect(card(page, expiring)).to_be_visible()
    expect(card(page, expiring).locator(".card-note")).to_have_text("Timed out", timeout=SLOW)
    expect(card(page, expiring)).to_have_count(0)


def test_a_card_dims_with_who_holds_it_and_comes_back_when_they_leave(
    site: LiveServer, screens: Screens, owner_api: httpx.Client, device: str
) -> None:
    loop = make_loop(owner_api, f"Dimming {device}")
    watcher = person(screens, site, device, loop["invite_code"], "Wes Watcher")
    holder = person(screens, site, device, loop["invite_code"], "Hana Holder")
    request_id = ask(owner_api, loop["id"], request_text="Who has this one?")
    on_queue(watcher)
    expect(card(watcher, request_id)).to_be_visible()

    holder.goto(f"/requests/{request_id}")
    expect(holder.locator("[data-held]")).to_be_visible()  # claimed on open
    shown = card(watcher, request_id)
    expect(shown).to_have_class(re.compile(r"\bis-claimed\b"))
    expect(shown.locator("[data-claim-badge]")).to_have_text("Claimed by Hana Holder")
    screens.shoot(watcher, f"{device}-queue-claimed-by-someone-else")

    holder.goto("/history")  # leaving: its beacon gives the claim back, or else the lease does
    expect(shown).not_to_have_class(re.compile(r"\bis-claimed\b"), timeout=SLOW)
    expect(shown.locator("[data-claim-badge]")).to_be_hidden()
    last = [kind for kind, _, _ in events_of(site, request_id)][-1]
    assert last in ("request.released", "request.claim_expired")
    assert still_the_same_page(watcher)


# --- claims never strand ---


def test_a_closed_tabs_claim_is_back_in_the_queue_within_the_lease(
    site: LiveServer, screens: Screens, owner_api: httpx.Client, device: str
) -> None:
    loop = make_loop(owner_api, f"Closed tab {device}")
    watcher = person(screens, site, device, loop["invite_code"], "Wren Watcher")
    holder = person(screens, site, device, loop["invite_code"], "Cal Crash")
    request_id = ask(owner_api, loop["id"], request_text="Left open, then the tab closed")
    on_queue(watcher)
    holder.goto(f"/requests/{request_id}")
    expect(holder.locator("[data-held]")).to_be_visible()
    expect(card(watcher, request_id)).to_have_class(re.compile(r"\bis-claimed\b"))
    # The tab dies without a goodbye (a crash, a phone out of battery): its beacon never leaves, and only
    # the lease can bring the request back.
    holder.evaluate("navigator.sendBeacon = () => true")
    holder.close()
    closed = time.monotonic()
    expect(card(watcher, request_id)).not_to_have_class(re.compile(r"\bis-claimed\b"), timeout=SLOW)
    report(f"{device}: a closed tab's claim back in the queue", time.monotonic() - closed)
    assert [kind for kind, _, _ in events_of(site, request_id)][-2:] == [
        "request.claimed",
        "request.claim_expired",
    ]
    assert stored_request(site, request_id).status == "pending"


def test_the_heartbeat_keeps_a_claim_past_one_lease(
    site: LiveServer, screens: Screens, owner_api: httpx.Client, device: str
) -> None:
    loop = make_loop(owner_api, f"Heartbeat {device}")
    holder = person(screens, site, device, loop["invite_code"], "Hal Heart")
    request_id = ask(owner_api, loop["id"], request_text="Still reading this one")
    holder.goto(f"/requests/{request_id}")
    expect(holder.locator("[data-held]")).to_be_visible()
    first = stored_request(site, request_id)
    assert first.claim_expires_at is not None and first.claimed_at is not None
    # Two whole leases pass with the page open; at every look the claim is still the same one, held.
    while site.clock.now() < first.claimed_at + 2 * (first.claim_expires_at - first.claimed_at):
        now = stored_request(site, request_id)
        assert (now.status, now.claimed_by, now.claimed_at) == ("claimed", first.claimed_by, first.claimed_at)
        holder.wait_for_timeout(200)
    assert now.claim_expires_at is not None and now.claim_expires_at > first.claim_expires_at
    assert [kind for kind, _, _ in events_of(site, request_id)] == ["request.created", "request.claimed"]
    expect(holder.locator("[data-held]")).to_be_visible()


def test_a_release_beacon_needs_its_token_and_another_site_cannot_send_one(
    site: LiveServer, screens: Screens, owner_api: httpx.Client, device: str, elsewhere: dict[str, bytes]
) -> None:
    loop = make_loop(owner_api, f"Beacons {device}")
    holder = person(screens, site, device, loop["invite_code"], "Bea Beacon")
    request_id = ask(owner_api, loop["id"], request_text="Held while a page elsewhere tries to free it")
    holder.goto(f"/requests/{request_id}")
    expect(holder.locator("[data-held]")).to_be_visible()
    elsewhere["/free"] = (
        "<!doctype html><script>"
        f"const body = new FormData(); body.append('other', 'x');"
        f"navigator.sendBeacon('{site.url}/requests/{request_id}/release?beacon=1', body);"
        "</script>"
    ).encode()
    # The holder's cookies in a window of its own (a second tab could hide the holder's page, which would
    # rightly give the claim back by itself).
    other_window = screens.browser.new_context()
    try:
        cookies = holder.context.cookies()
        other_window.add_cookies([{"name": c["name"], "value": c["value"], "url": site.url} for c in cookies])
        attacker = other_window.new_page()

        refused = releases_answered(site, "403")
        attacker.goto(elsewhere["_origin"].decode() + "/free")
        # The browser shows a page nothing of a beacon's answer: the server's own count of them does.
        wait_until(lambda: releases_answered(site, "403") == refused + 1, "the forged beacon was refused")
    finally:
        other_window.close()
    assert stored_request(site, request_id).status == "claimed"
    assert "request.released" not in [kind for kind, _, _ in events_of(site, request_id)]
    # The holder switches to another app: its page's own beacon, the token in its body, gives the claim back.
    set_visibility(holder, "hidden")
    wait_until(lambda: events_of(site, request_id)[-1][0] != "request.claimed", "the claim was given back")
    trail = [(kind, actor) for kind, actor, _ in events_of(site, request_id)]
    holder_id = next(actor for kind, actor in trail if kind == "request.claimed")
    assert trail[-1] == ("request.released", holder_id)  # by the holder's page, not a lapse
    expect(holder.locator("[data-held]")).to_be_hidden()
    set_visibility(holder, "visible")  # and back: the page it left open holds the request again
    expect(holder.locator("[data-held]")).to_be_visible()
    assert [kind for kind, _, _ in events_of(site, request_id)][-1] == "request.claimed"


# --- the open request knows ---


def test_an_open_page_switches_to_timed_out_at_the_deadline_keeping_the_typed_answer(
    site: LiveServer, screens: Screens, owner_api: httpx.Client, device: str
) -> None:
    loop = make_loop(owner_api, f"Deadline {device}")
    page = person(screens, site, device, loop["invite_code"], "Tia Typing")
    request_id = ask(
        owner_api,
        loop["id"],
        request_text="Summarise the incident",
        response_type="text",
        response_config={"max_length": 200},
        default_response="",
        timeout_seconds=10,
    )
    page.goto(f"/requests/{request_id}")
    box = page.locator("textarea[name=answer]")
    box.fill("Half an answer, still typing")
    notice = page.locator("[data-live-notice]")
    expect(notice).to_have_text("Timed out: time ran out before an answer was sent.", timeout=SLOW)
    expect(box).to_be_disabled()
    expect(box).to_have_value("Half an answer, still typing")
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    expect(page.locator(".lease")).to_be_hidden()
    screens.shoot(page, f"{device}-request-timed-out")


def test_an_open_page_switches_when_someone_else_holds_answers_or_the_requester_cancels(
    site: LiveServer, screens: Screens, owner_api: httpx.Client, device: str
) -> None:
    loop = make_loop(owner_api, f"Open page {device}")
    reader = person(screens, site, device, loop["invite_code"], "Rey Reader")
    other = person(screens, site, device, loop["invite_code"], "Ola Other")
    contested = ask(owner_api, loop["id"], request_text="Both of us look at this")
    other.goto(f"/requests/{contested}")
    expect(other.locator("[data-held]")).to_be_visible()
    reader.goto(f"/requests/{contested}")
    notice = reader.locator("[data-live-notice]")
    expect(notice).to_have_text("Ola Other is answering this request now.")
    expect(reader.get_by_role("button", name="Send")).to_be_disabled()
    screens.shoot(reader, f"{device}-request-claimed-by-someone-else")

    other.get_by_text("Approve", exact=True).click()
    other.get_by_role("button", name="Send").click()
    expect(notice).to_have_text("Ola Other answered this request first.")
    screens.shoot(reader, f"{device}-request-answered-by-someone-else")

    cancelled = ask(owner_api, loop["id"], request_text="About to be withdrawn")
    reader.goto(f"/requests/{cancelled}")
    expect(reader.locator("[data-held]")).to_be_visible()
    reader.get_by_text("Reject", exact=True).click()
    assert owner_api.delete(f"/v1/api/requests/{cancelled}").status_code == 200
    expect(notice).to_have_text("The requester cancelled this request.")
    expect(reader.locator("input[value=Reject]")).to_be_checked()  # what was picked stays on screen
    expect(reader.locator("input[value=Reject]")).to_be_disabled()


# --- answering ---


def server_accepts(config: dict[str, Any], response_type: str, values: list[str]) -> bool:
    """What the server's own checks say of this form input."""
    parsed = parse_config(response_type, config)
    try:
        validate_response(parsed, form_answer(parsed, values))
    except (ApiError, ResponseDataError):
        return False
    return True


class Posts:
    """Answers that left the page: the test answers each with a refusal of its own, so nothing is stored."""

    def __init__(self, page: Page) -> None:
        self.count = 0
        page.route("**/respond", self.refuse)

    def refuse(self, route: Route) -> None:
        self.count += 1
        route.fulfill(status=400, json={"error": True, "msg": f"Sent {self.count}", "data": {}})


NUMBER = {"min_value": 0, "max_value": 250, "decimal_places": 2, "prefix": "$"}
TYPED = [
    "300",
    "250",
    "250.01",
    "-1",
    "abc",
    "1,000",
    "12.5",
    "12.345",
    "0.10",
    "1e2",
    "1e-3",
    "",
    " 7 ",
    "+3",
    ".5",
]
MULTI = {"options": ["a", "b", "c", "d", "e"], "min_selections": 1, "max_selections": 3}
PICKS = [["a"], ["a", "b", "c", "d"], [], ["a", "b", "c"], ["e", "d"]]


def test_limits_are_checked_before_sending_exactly_as_the_server_checks_them(
    site: LiveServer, screens: Screens, owner_api: httpx.Client, device: str
) -> None:
    loop = make_loop(owner_api, f"Limits {device}")
    page = person(screens, site, device, loop["invite_code"], "Lim Limits")
    number = ask(owner_api, loop["id"], response_type="number", response_config=NUMBER, default_response=0)
    multi = ask(
        owner_api, loop["id"], response_type="multi_select", response_config=MULTI, default_response=["a"]
    )
    problem = page.locator("[data-answer-problem]")

    page.goto(f"/requests/{number}")
    box = page.locator("input[name=answer]")
    box.fill("300")
    page.get_by_role("button", name="Send").click()
    expect(problem).to_have_text("Enter $250 or less.")
    problem.evaluate("element => element.scrollIntoView({block: 'center'})")
    screens.shoot(page, f"{device}-answer-limit-refused-number", full_page=False)
    posts = Posts(page)
    for typed in TYPED:
        box.fill(typed)
        before = posts.count
        page.get_by_role("button", name="Send").click()
        if server_accepts(NUMBER, "number", [typed]):
            expect(problem).to_have_text(f"Sent {before + 1}")
        else:
            expect(problem).to_have_text(re.compile(r"^(Enter|Use) "))
            assert posts.count == before, f"{typed!r} was sent, but the server refuses it"
    assert posts.count > 0

    page.goto(f"/requests/{multi}")
    for value in ["a", "b", "c", "d"]:
        page.locator(f"input[value={value}]").check()
    expect(problem).to_have_text("Choose at most 3 options.")  # said as the fourth is picked
    problem.evaluate("element => element.scrollIntoView({block: 'center'})")
    screens.shoot(page, f"{device}-answer-limit-refused-multi_select", full_page=False)
    page.locator("input[value=d]").uncheck()
    expect(problem).to_be_hidden()
    posts = Posts(page)
    for picks in PICKS:
        for value in "abcde":
            page.locator(f"input[value={value}]").set_checked(value in picks)
        before = posts.count
        page.get_by_role("button", name="Send").click()
        if server_accepts(MULTI, "multi_select", picks):
            expect(problem).to_have_text(f"Sent {before + 1}")
        else:
            expect(problem).to_have_text(re.compile(r"^Choose at (least|most) "))
            assert posts.count == before, f"{picks} was sent, but the server refuses it"
    assert owner_api.get(f"/v1/api/requests/{multi}").json()["data"]["status"] == "claimed"


def test_a_server_refusal_is_shown_in_place_with_the_answer_kept(
    site: LiveServer, screens: Screens, owner_api: httpx.Client, device: str
) -> None:
    loop = make_loop(owner_api, f"Refused {device}")
    page = person(screens, site, device, loop["invite_code"], "Rae Refused")
    multi = ask(
        owner_api, loop["id"], response_type="multi_select", response_config=MULTI, default_response=["a"]
    )
    page.goto(f"/requests/{multi}")
    # A page whose limits are out of date (the request changed under it): only the server can refuse.
    page.evaluate(
        "document.querySelector('#answer-form').dataset.limits = "
        "JSON.stringify({min: 0, max: 5, too_few: '', too_many: ''})"
    )
    for value in ["a", "b", "c", "d"]:
        page.locator(f"input[value={value}]").check()
    page.get_by_role("button", name="Send").click()
    expect(page.locator("[data-answer-problem]")).to_have_text("Must select at most 3 options.")
    assert page.url.endswith(f"/requests/{multi}")
    for value in ["a", "b", "c", "d"]:
        expect(page.locator(f"input[value={value}]")).to_be_checked()
    expect(page.locator("[data-held]")).to_be_visible()  # still held while the page is open
    page.locator("[data-answer-problem]").evaluate("element => element.scrollIntoView({block: 'center'})")
    screens.shoot(page, f"{device}-answer-refused-by-the-server", full_page=False)

    text = ask(
        owner_api,
        loop["id"],
        response_type="text",
        response_config={},
        default_response="",
        request_text="Why?",
    )
    page.route("**/v1/api/events*", lambda route: route.abort())  # it will not hear of the cancel
    page.goto(f"/requests/{text}")
    expect(page.locator("[data-held]")).to_be_visible()
    page.route("**/claim", lambda route: route.abort())  # nor learn of it from its heartbeat
    page.locator("textarea[name=answer]").fill("Because it was late")
    assert owner_api.delete(f"/v1/api/requests/{text}").status_code == 200
    page.get_by_role("button", name="Send").click()
    expect(page.locator("[data-live-notice]")).to_have_text("The requester cancelled this request.")
    expect(page.locator("textarea[name=answer]")).to_have_value("Because it was late")
    expect(page.locator("textarea[name=answer]")).to_be_disabled()


def test_the_next_screen_says_answer_sent_and_offers_the_next_request_unclaimed(
    site: LiveServer, screens: Screens, owner_api: httpx.Client, device: str
) -> None:
    loop = make_loop(owner_api, f"Sent {device}")
    page = person(screens, site, device, loop["invite_code"], "Sam Sent")
    first = ask(owner_api, loop["id"], request_text="First of two", priority="critical")
    second = ask(owner_api, loop["id"], request_text="Second of two", priority="low")
    page.goto(f"/requests/{first}")
    page.get_by_text("Approve", exact=True).click()
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"/\?done=answered$"))
    expect(page.locator(".flash")).to_have_text("Answer sent.")
    offer = page.locator("[data-next-request]")
    expect(offer).to_have_attribute("href", f"/requests/{second}")
    assert owner_api.get(f"/v1/api/requests/{second}").json()["data"]["status"] == "pending"
    screens.shoot(page, f"{device}-answer-sent-next-offered")

    offer.click()
    page.wait_for_url(re.compile(f"/requests/{second}$"))
    page.get_by_text("Reject", exact=True).click()
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"/\?done=answered$"))
    expect(page.locator(".flash")).to_have_text("Answer sent.")
    expect(page.locator("#queue-empty")).to_be_visible()
    expect(page.locator("[data-next-request]")).to_have_count(0)
    screens.shoot(page, f"{device}-answer-sent-queue-empty")

"""The reviewer on a phone: from a join link to answers of every type, live updates, push and safety."""

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Screens
from tests.support.live import LiveServer
from tests.support.payloads import SEED_LOOP, request_body
from tests.support.push_service import PushService

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Case:
    """One response type: the request to send, how a person answers it, and the answer the API reports."""

    name: str
    request: dict[str, Any]
    answer: Callable[[Page], None]
    expected: Any


def _tap(label: str) -> Callable[[Page], None]:
    def answer(page: Page) -> None:
        page.get_by_text(label, exact=True).click()
        page.get_by_role("button", name=re.compile("^Send")).click()

    return answer


def _keys(*keys: str) -> Callable[[Page], None]:
    def answer(page: Page) -> None:
        for key in keys:
            page.keyboard.press(key)

    return answer


def _multi(page: Page) -> None:
    page.get_by_text("Spam", exact=True).click()
    page.get_by_text("Off-topic", exact=True).click()
    expect(page.locator("[data-selection]")).to_have_text("2 options selected")
    page.get_by_role("button", name=re.compile("^Send")).click()


def _text(page: Page) -> None:
    box = page.locator("textarea[name=answer]")
    box.fill("Looks fine to me")
    expect(page.locator("[data-count]")).to_have_text("16")
    page.get_by_role("button", name=re.compile("^Send")).click()


def _rating(page: Page) -> None:
    page.locator("label.star", has_text="4.5").click()
    page.get_by_role("button", name=re.compile("^Send")).click()


def _number(page: Page) -> None:
    page.locator("input[name=answer]").fill("42.50")
    page.get_by_role("button", name=re.compile("^Send")).click()


CASES = [
    Case(
        "single_select by keyboard",
        {"response_type": "single_select", "response_config": {"options": ["Approve", "Reject"]}},
        _keys("2", "Enter"),
        {"selected_value": "Reject", "selected_label": "Reject"},
    ),
    Case(
        "multi_select",
        {
            "response_type": "multi_select",
            "response_config": {
                "options": [
                    {"value": "spam", "label": "Spam"},
                    {"value": "abuse", "label": "Abuse"},
                    {"value": "offtopic", "label": "Off-topic"},
                ],
                "min_selections": 1,
                "max_selections": 2,
            },
            "default_response": ["spam"],
        },
        _multi,
        {"selected_values": ["spam", "offtopic"], "selected_labels": ["Spam", "Off-topic"]},
    ),
    Case(
        "text",
        {"response_type": "text", "response_config": {"max_length": 200}, "default_response": "none"},
        _text,
        "Looks fine to me",
    ),
    Case(
        "rating on a half-step scale",
        {
            "response_type": "rating",
            "response_config": {"scale_min": 1, "scale_max": 5, "scale_step": 0.5, "labels": {"5": "Great"}},
            "default_response": 3,
        },
        _rating,
        {"rating": 4.5},
    ),
    Case(
        "number with prefix and decimals",
        {
            "response_type": "number",
            "response_config": {"min_value": 0, "max_value": 1000, "decimal_places": 2, "prefix": "$"},
            "default_response": 0,
        },
        _number,
        {"number": 42.5, "formatted_value": "$42.50"},
    ),
    Case(
        "boolean with its labels",
        {
            "response_type": "boolean",
            "response_config": {"true_label": "Refund", "false_label": "Refuse"},
            "default_response": False,
        },
        lambda page: page.get_by_role("button", name="Refund").click(),
        {"boolean": True, "boolean_label": "Refund"},
    ),
]


@pytest.fixture
def owner_api(site: LiveServer) -> Iterator[httpx.Client]:
    with site.client(site.account("owner")) as http:
        yield http


def make_loop(api: httpx.Client, name: str) -> dict[str, Any]:
    answer = api.post("/v1/api/loops", json={**SEED_LOOP, "name": name, "icon": "💸"})
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["data"]["loop"])


def ask(api: httpx.Client, loop_id: str, **overrides: Any) -> str:
    body = request_body(callback_url=..., **overrides)
    answer = api.post(f"/v1/api/loops/{loop_id}/requests", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["request_id"])


def sign_up_from_join_link(site: LiveServer, page: Page, screens: Screens, code: str, name: str) -> str:
    email = f"{name.lower().replace(' ', '.')}.{code.lower()}@example.com"
    page.goto(f"/join/{code}")
    expect(page.get_by_text("You're invited to review for")).to_be_visible()
    expect(page.locator("input[name=invite_code]")).to_have_value(code)
    screens.shoot(page, "phone-join-link-signup")
    page.fill("input[name=name]", name)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Create account and join").click()
    expect(page.get_by_role("status")).to_contain_text("Check your email")
    screens.shoot(page, "phone-sign-up-check-your-email")
    page.goto(site.emailed_link(email, "/login/email/"))
    expect(page.get_by_text(f"Create the account for {email}.")).to_be_visible()
    screens.shoot(page, "phone-sign-up-confirm-link")
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url(re.compile(r"/$"))
    return email


def test_a_reviewer_joins_by_link_and_answers_each_type_as_it_arrives(
    site: LiveServer, screens: Screens, owner_api: httpx.Client
) -> None:
    loop = make_loop(owner_api, "Refund approvals")
    page = screens.phone()
    sign_up_from_join_link(site, page, screens, loop["invite_code"], "Rita Reviewer")
    expect(page.locator("#queue-empty")).to_be_visible()
    expect(page.locator(".chip", has_text="Refund approvals")).to_be_visible()
    screens.shoot(page, "phone-home-empty")
    for index, case in enumerate(CASES):
        page.evaluate("window.stillTheSamePage = true")
        request_id = ask(
            owner_api,
            loop["id"],
            request_text=f"**Case {index}**: {case.name}",
            priority="high",
            **case.request,
        )
        card = page.locator(f'a[data-request-id="{request_id}"]')
        expect(card).to_be_visible()  # arrived through the live feed
        assert page.evaluate("window.stillTheSamePage") is True, "the queue was reloaded, not updated live"
        if index == 0:
            screens.shoot(page, "phone-home-queue")
        card.click()
        page.wait_for_url(re.compile(f"/requests/{request_id}$"))
        expect(page.locator("#answer[data-claimed-by-me]")).to_be_visible()  # claimed on open
        expect(page.locator(".request-text strong")).to_have_text(f"Case {index}")
        screens.shoot(page, f"phone-answer-{case.request['response_type']}")
        case.answer(page)
        page.wait_for_url(re.compile(r"/(\?done=answered)?$"))
        expect(page.locator(".flash")).to_have_text("Answer sent.")
        found = owner_api.get(f"/v1/api/requests/{request_id}").json()["data"]
        assert (found["status"], found["response_data"]) == ("completed", case.expected), case.name
    page.goto("/history")
    expect(page.get_by_role("link", name="Completed (6)")).to_be_visible()
    screens.shoot(page, "phone-history")


def test_the_queue_moves_with_j_and_k_and_opens_with_enter(
    site: LiveServer, screens: Screens, owner_api: httpx.Client
) -> None:
    loop = make_loop(owner_api, "Keyboard loop")
    page = screens.desktop()
    sign_up_from_join_link(site, page, screens, loop["invite_code"], "Kim Keys")
    first = ask(owner_api, loop["id"], request_text="first", priority="critical")
    second = ask(owner_api, loop["id"], request_text="second", priority="low")
    page.reload()
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator(f'a[data-request-id="{second}"]')).to_be_focused()
    page.keyboard.press("k")
    expect(page.locator(f'a[data-request-id="{first}"]')).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(f"/requests/{first}$"))


def test_request_text_carrying_script_stays_inert(
    site: LiveServer, screens: Screens, owner_api: httpx.Client
) -> None:
    loop = make_loop(owner_api, "Hostile input")
    page = screens.phone()
    sign_up_from_join_link(site, page, screens, loop["invite_code"], "Sam Safe")
    payload = (
        '<script>window.owned = "script"</script>\n\n<img src=x onerror="window.owned = \'img\'">\n\n'
        "[click me](javascript:window.owned='link') and **bold**"
    )
    request_id = ask(owner_api, loop["id"], request_text=payload, context={"note": "<b onmouseover=x>hi</b>"})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"/requests/{request_id}")
    text = page.locator(".request-text")
    expect(text).to_contain_text('<script>window.owned = "script"</script>')  # shown as text
    expect(text.locator("strong")).to_have_text("bold")  # markdown still renders
    assert text.locator("script, img, [onerror]").count() == 0
    assert page.locator('a[href^="javascript"]').count() == 0
    page.get_by_text("click me").click()
    expect(page.locator(".context dd")).to_have_text("<b onmouseover=x>hi</b>")
    assert page.evaluate("window.owned") is None
    assert errors == []
    screens.shoot(page, "phone-hostile-request")


@pytest.fixture
def push_service(site: LiveServer) -> Iterator[PushService]:
    with PushService() as service, site.client() as http:
        service.vapid_public_key = http.get("/v1/api/push/vapid-public-key").json()["data"]["public_key"]
        yield service
    assert service.errors == []


# PushManager.subscribe() needs a vendor push service, which a test machine does not have: the page gets a
# subscription to the stub push service on loopback instead, with keys the test owns.
FAKE_SUBSCRIBE = """
(() => {
  const subscription = %s;
  let current = null;
  const make = () => ({ endpoint: subscription.endpoint, toJSON: () => subscription, unsubscribe: async () => { current = null; return true; } });
  PushManager.prototype.subscribe = async function () { current = make(); return current; };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
"""


# The same, with a browser that hands out a new subscription after each unsubscribe().
FAKE_SUBSCRIPTIONS = """
(() => {
  const subscriptions = %s;
  let next = 0, current = null;
  PushManager.prototype.subscribe = async function () {
    if (current) return current;
    const subscription = subscriptions[Math.min(next++, subscriptions.length - 1)];
    current = { endpoint: subscription.endpoint, toJSON: () => subscription, unsubscribe: async () => { current = null; return true; } };
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
"""


def test_a_browser_still_subscribed_for_someone_else_gets_a_fresh_subscription(
    site: LiveServer, screens: Screens, owner_api: httpx.Client, push_service: PushService
) -> None:
    loop = make_loop(owner_api, "Shared tablet")
    stale, fresh = push_service.browser(), push_service.browser()
    previous_user = site.account("previous-user")
    with site.client(previous_user) as http:  # who used this browser before, and never signed out
        assert http.post("/v1/api/push/subscriptions", json=stale.subscription()).status_code == 201
    page = screens.phone()
    page.context.grant_permissions(["notifications"], origin=site.url)
    page.context.add_init_script(
        FAKE_SUBSCRIPTIONS % json.dumps([stale.subscription(), fresh.subscription()])
    )
    sign_up_from_join_link(site, page, screens, loop["invite_code"], "Tess Tablet")
    page.goto("/settings")
    page.get_by_role("button", name="Enable notifications").click()
    expect(page.locator("[data-push-status]")).to_have_text("Notifications are on for this device.")
    with site.client(previous_user) as http:
        assert http.post("/v1/api/push/subscriptions", json=fresh.subscription()).status_code == 409  # Tess's
        removed = http.request("DELETE", "/v1/api/push/subscriptions", json={"endpoint": stale.endpoint})
        assert removed.status_code == 200  # the previous user's stayed theirs


def test_a_push_shows_a_notification_that_opens_the_request(
    site: LiveServer, screens: Screens, owner_api: httpx.Client, push_service: PushService
) -> None:
    loop = make_loop(owner_api, "Pushy loop")
    device = push_service.browser()
    page = screens.phone()
    page.context.grant_permissions(["notifications"], origin=site.url)
    page.context.add_init_script(FAKE_SUBSCRIBE % json.dumps(device.subscription()))
    sign_up_from_join_link(site, page, screens, loop["invite_code"], "Pat Push")
    page.goto("/settings")
    page.get_by_role("button", name="Enable notifications").click()
    expect(page.locator("[data-push-status]")).to_have_text("Notifications are on for this device.")
    screens.shoot(page, "phone-settings")

    request_id = ask(owner_api, loop["id"], request_text="Refund order #1234?", priority="critical")
    message = push_service.wait_for(device, 1)[0].message
    assert message["url"] == f"/requests/{request_id}"

    cdp = page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"])
    )
    cdp.on("ServiceWorker.workerVersionUpdated", lambda event: versions.extend(event["versions"]))
    cdp.send("ServiceWorker.enable")
    # A page that loaded while the worker was activating may stay uncontrolled: the next load is controlled.
    # (page.evaluate, not wait_for_function: the page's CSP forbids the eval that polling uses.)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    if not page.evaluate("navigator.serviceWorker.controller !== null"):
        page.reload()
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    # A push goes to the registration's active worker: wait until one is activated and running (a message
    # delivered while the worker is still starting can be dropped by the browser).
    for _ in range(100):
        ready = {
            v["registrationId"]
            for v in versions
            if v.get("status") == "activated" and v.get("runningStatus") == "running"
        }
        if registrations and registrations[0]["registrationId"] in ready:
            break
        page.wait_for_timeout(50)
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": site.url,
            "registrationId": registrations[0]["registrationId"],
            "data": json.dumps(message),
        },
    )
    worker = page.context.service_workers[0]
    shown = worker.evaluate(
        """async () => {
          for (let i = 0; i < 100; i++) {
            const found = await self.registration.getNotifications();
            if (found.length) return found.map((n) => ({ title: n.title, body: n.body, data: n.data }));
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          return [];
        }"""
    )
    assert shown == [
        {
            "title": "New critical request",
            "body": "Refund order #1234?",
            "data": {"url": f"/requests/{request_id}", "request_id": request_id},
        }
    ]
    # What a tap runs (a real tap on a system notification cannot be made headless); not awaited, because
    # the navigation it starts is what the page waits for.
    worker.evaluate(
        "async () => { const [n] = await self.registration.getNotifications(); self.openFromNotification(n.data); }"
    )
    page.wait_for_url(re.compile(f"/requests/{request_id}$"))
    expect(page.locator(".request-text")).to_have_text("Refund order #1234?")


def test_the_app_installs_and_shows_an_offline_page(
    site: LiveServer, screens: Screens, owner_api: httpx.Client
) -> None:
    loop = make_loop(owner_api, "Offline loop")
    page = screens.phone()
    sign_up_from_join_link(site, page, screens, loop["invite_code"], "Olga Offline")
    manifest = page.evaluate(
        "fetch(document.querySelector('link[rel=manifest]').href).then((answer) => answer.json())"
    )
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/"
    assert {icon["sizes"] for icon in manifest["icons"]} >= {"192x192", "512x512"}
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.context.set_offline(True)
    try:
        page.goto("/history")
        expect(page.get_by_text("You're offline.")).to_be_visible()
        screens.shoot(page, "phone-offline")
    finally:
        page.context.set_offline(False)

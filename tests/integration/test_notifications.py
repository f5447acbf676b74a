"""Reviewer notifications end to end: Web Push to a stub push service, email to an SMTP sink, on both databases."""

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from openhitl.delivery.models import OutboxMessage, PushSubscription
from openhitl.kit.ids import new_id
from openhitl.notifications.emails import digest_window
from tests.conftest import BACKENDS, make_settings, start_server
from tests.integration.reviewing import Team, make_team
from tests.support import web
from tests.support.databases import (
    create_migrated_postgres_database,
    drop_postgres_database,
    migrated_sqlite_url,
)
from tests.support.live import Account, LiveServer
from tests.support.payloads import SEED_LOOP
from tests.support.push_service import Browser, PushService, unb64url
from tests.support.smtp import ReceivedEmail, SmtpSink

TEXT = "Approve the refund of $120 for order #4411?"
NOTIFICATION_KINDS = ("push", "request_email", "email_digest", "email")


@pytest.fixture(scope="module")
def mailbox() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mailbox: SmtpSink
) -> Iterator[LiveServer]:
    yield from start_server(request.param, tmp_path_factory, worker_poll_seconds=0.05, smtp_url=mailbox.url)


@pytest.fixture(scope="module")
def pushes(live: LiveServer) -> Iterator[PushService]:
    with PushService() as service, live.client() as http:
        service.vapid_public_key = http.get("/v1/api/push/vapid-public-key").json()["data"]["public_key"]
        yield service
    assert service.errors == []


# Helpers.


def ask(team: Team, **overrides: Any) -> str:
    # No callback_url: these tests are about reviewers, and a webhook target offline only adds noise.
    return team.ask(**{"request_text": TEXT, "callback_url": ..., **overrides})


def subscribe(server: LiveServer, account: Account, browser: Browser) -> httpx.Response:
    with server.client(account) as http:
        return http.post("/v1/api/push/subscriptions", json=browser.subscription())


def subscribed_browser(
    server: LiveServer, pushes: PushService, account: Account, status: int = 201
) -> Browser:
    browser = pushes.browser(status)
    answer = subscribe(server, account, browser)
    assert answer.status_code == 201, answer.text
    return browser


def set_preferences(server: LiveServer, account: Account, loop_id: str, **body: Any) -> httpx.Response:
    with server.client(account) as http:
        return http.put(f"/v1/api/loops/{loop_id}/notifications", json=body)


def eventually(check: Callable[[], Any], *, timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def notifications_sent(team: Team, request_id: str) -> int:
    return int(team.status(request_id)["notifications_sent"])


def settle(server: LiveServer) -> None:
    """Waits until no notification work is due or in flight, so that what was not sent never will be."""

    async def due() -> int:
        now = server.clock.now()
        async with server.state.db.read() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.kind.in_(NOTIFICATION_KINDS),
                    OutboxMessage.done_at.is_(None),
                    OutboxMessage.failed_at.is_(None),
                    OutboxMessage.run_at <= now,
                )
            )
        return int(count or 0)

    eventually(lambda: server.run(due()) == 0, what="the outbox to settle")


def mail_to(mailbox: SmtpSink, account: Account) -> list[ReceivedEmail]:
    return [m for m in mailbox.messages() if account.email in m.rcpt_tos]


# The VAPID key.


def test_vapid_public_key_is_served_without_sign_in(live: LiveServer) -> None:
    with live.client() as http:
        first = http.get("/v1/api/push/vapid-public-key")
        again = http.get("/api/v1/push/vapid-public-key")
    assert first.status_code == 200, first.text
    key = first.json()["data"]["public_key"]
    assert again.json()["data"]["public_key"] == key
    point = unb64url(key)
    assert len(point) == 65 and point[0] == 0x04 and "=" not in key


# Subscriptions.


def test_subscribing_again_updates_the_same_subscription(live: LiveServer, pushes: PushService) -> None:
    reviewer = live.account("reviewer")
    browser = pushes.browser()
    created = subscribe(live, reviewer, browser)
    assert created.status_code == 201, created.text
    browser.auth_secret = bytes(16)  # the browser's keys changed
    updated = subscribe(live, reviewer, browser)
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["subscription"]["id"] == created.json()["data"]["subscription"]["id"]
    assert updated.json()["data"]["subscription"]["endpoint"] == browser.endpoint


def test_unsubscribing_removes_only_your_own_subscription(live: LiveServer, pushes: PushService) -> None:
    reviewer, stranger = live.account("reviewer"), live.account("stranger")
    browser = subscribed_browser(live, pushes, reviewer)
    body = {"endpoint": browser.endpoint}
    with live.client(stranger) as http:
        assert http.request("DELETE", "/v1/api/push/subscriptions", json=body).status_code == 404
    with live.client(reviewer) as http:
        removed = http.request("DELETE", "/v1/api/push/subscriptions", json=body)
        assert removed.status_code == 200 and removed.json()["data"] == body
        assert http.request("DELETE", "/v1/api/push/subscriptions", json=body).status_code == 404


def test_an_endpoint_is_not_taken_by_another_account(live: LiveServer, pushes: PushService) -> None:
    reviewer, thief = live.account("reviewer"), live.account("thief")
    browser = subscribed_browser(live, pushes, reviewer)
    taken = subscribe(live, thief, browser)
    assert taken.status_code == 409, taken.text
    assert taken.json()["msg"] == "This push endpoint is registered to another account"
    body = {"endpoint": browser.endpoint}
    with live.client(thief) as http:
        assert http.request("DELETE", "/v1/api/push/subscriptions", json=body).status_code == 404
    with live.client(reviewer) as http:  # still the owner's: they can remove it
        assert http.request("DELETE", "/v1/api/push/subscriptions", json=body).status_code == 200
    assert subscribe(live, thief, browser).status_code == 201  # once free, anyone's browser may use it


def test_signing_out_removes_that_browsers_subscription(live: LiveServer, pushes: PushService) -> None:
    reviewer = live.account("signed-in")
    with live.client(reviewer) as http:
        loop = http.post("/v1/api/loops", json=SEED_LOOP).json()["data"]
    email = f"push-{live.backend}-{new_id()}@example.com"
    with web.browser(live) as http:
        asked = http.post(
            "/signup",
            json={
                "name": "Pushy",
                "email": email,
                "password": web.PASSWORD,
                "invite_code": loop["invite_code"],
            },
        )
        assert asked.status_code == 202, asked.text
        web.finish_sign_up(live, http, email)
        csrf = http.get("/v1/api/me").json()["data"]["csrf_token"]
        first, second = pushes.browser(), pushes.browser()
        for browser in (first, second):
            answer = http.post(
                "/v1/api/push/subscriptions", json=browser.subscription(), headers={"X-CSRF-Token": csrf}
            )
            assert answer.status_code == 201, answer.text
        with live.client(reviewer) as other:  # registered to the signed-in account
            assert other.post("/v1/api/push/subscriptions", json=first.subscription()).status_code == 409
        assert http.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    with live.client(reviewer) as other:  # signed out: nothing is left of them, the endpoints are free again
        assert other.post("/v1/api/push/subscriptions", json=first.subscription()).status_code == 201
        assert other.post("/v1/api/push/subscriptions", json=second.subscription()).status_code == 201


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"endpoint": "ftp://push.example.com/x"}, "endpoint must be a valid http or https URL"),
        (
            {"endpoint": "http://push.example.com/x"},
            "endpoint must be an https URL (plain http only to loopback)",
        ),
        (
            {"endpoint": "https://169.254.169.254/latest"},
            "endpoint must not point to a link-local or cloud metadata address",
        ),
        ({"p256dh": "not base64!"}, "keys.p256dh must be base64url"),
        ({"p256dh": "BAAA"}, "keys.p256dh must be an uncompressed P-256 public key (65 bytes)"),
        ({"p256dh": "BA" + "A" * 85}, "keys.p256dh is not a point on the P-256 curve"),
        ({"auth": "AAAAAAAAAAAAAAAA"}, "keys.auth must be a 16-byte secret"),
    ],
)
def test_subscriptions_are_validated(
    live: LiveServer, pushes: PushService, change: dict[str, str], detail: str
) -> None:
    body = pushes.browser().subscription()
    if "endpoint" in change:
        body["endpoint"] = change["endpoint"]
    body["keys"].update({k: v for k, v in change.items() if k != "endpoint"})
    with live.client(live.account("reviewer")) as http:
        answer = http.post("/v1/api/push/subscriptions", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": True, "msg": "Validation failed", "data": detail}


def test_subscribing_needs_a_signed_in_user(live: LiveServer, pushes: PushService) -> None:
    with live.client() as http:
        answer = http.post("/v1/api/push/subscriptions", json=pushes.browser().subscription())
    assert answer.status_code == 401


# Pushes for new requests.


def test_a_time_sensitive_request_pushes_to_every_subscribed_member(
    live: LiveServer, pushes: PushService
) -> None:
    team = make_team(live, reviewers=2)
    phone, laptop = (subscribed_browser(live, pushes, team.reviewers[0]) for _ in range(2))
    other = subscribed_browser(live, pushes, team.reviewers[1])
    request_id = ask(team, priority="high", timeout_seconds=3600)
    for browser in (phone, laptop, other):
        [push] = pushes.wait_for(browser, 1)
        assert push.message == {
            "title": "New high request",
            "body": TEXT,
            "url": f"/requests/{request_id}",
            "tag": f"request-{request_id}",
            "request_id": request_id,
            "loop_id": team.loop_id,
            "priority": "high",
            "response_type": "single_select",
        }
        assert (push.urgency, push.topic) == ("high", request_id)
        assert 3500 < push.ttl <= 3600
        assert push.claims["aud"] == pushes.origin and push.claims["sub"] == "mailto:admin@localhost"
        assert push.claims["exp"] <= time.time() + 12 * 3600 + 5
    eventually(lambda: notifications_sent(team, request_id) == 3, what="notifications_sent == 3")


def test_urgency_follows_priority_and_long_texts_are_trimmed(live: LiveServer, pushes: PushService) -> None:
    team = make_team(live, reviewers=1)
    browser = subscribed_browser(live, pushes, team.reviewers[0])
    for priority in ("low", "medium", "critical"):
        ask(team, priority=priority, request_text="word " * 100)
    received = pushes.wait_for(browser, 3)
    assert {p.message["priority"]: p.urgency for p in received} == {
        "low": "low",
        "medium": "normal",
        "critical": "high",
    }
    assert {p.message["title"] for p in received} == {
        "New low request",
        "New medium request",
        "New critical request",
    }
    assert all(len(p.message["body"]) <= 200 and p.message["body"].endswith("…") for p in received)


def test_deferred_requests_do_not_push(live: LiveServer, pushes: PushService) -> None:
    team = make_team(live, reviewers=1)
    browser = subscribed_browser(live, pushes, team.reviewers[0])
    deferred = ask(team, processing_type="deferred", timeout_seconds=...)
    urgent = ask(team)
    pushes.wait_for(browser, 1)
    settle(live)
    assert [p.message["request_id"] for p in pushes.pushes(browser)] == [urgent]
    assert notifications_sent(team, deferred) == 0


def test_members_who_turned_push_off_get_nothing(live: LiveServer, pushes: PushService) -> None:
    team = make_team(live, reviewers=2)
    muted, listening = team.reviewers
    muted_browser = subscribed_browser(live, pushes, muted)
    listening_browser = subscribed_browser(live, pushes, listening)
    answer = set_preferences(live, muted, team.loop_id, push=False)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"] == {"loop_id": team.loop_id, "push": False, "email": "none"}
    request_id = ask(team)
    pushes.wait_for(listening_browser, 1)
    settle(live)
    assert pushes.pushes(muted_browser) == []
    assert notifications_sent(team, request_id) == 1


def test_preferences_are_per_member_and_only_for_members(live: LiveServer) -> None:
    team = make_team(live, reviewers=2)
    changed = set_preferences(live, team.reviewers[0], team.loop_id, email="on")
    assert changed.json()["data"] == {"loop_id": team.loop_id, "push": True, "email": "on"}
    with live.client(team.reviewers[1]) as http:
        mine = http.get(f"/v1/api/loops/{team.loop_id}/notifications").json()["data"]
    assert mine == {"loop_id": team.loop_id, "push": True, "email": "none"}
    outsider = live.account("outsider")
    assert set_preferences(live, outsider, team.loop_id, push=False).status_code == 404
    with live.client(outsider) as http:
        assert http.get(f"/v1/api/loops/{team.loop_id}/notifications").status_code == 404
    bad = set_preferences(live, team.reviewers[0], team.loop_id, email="sometimes")
    assert bad.status_code == 400


# Answers from the push service.


def test_a_gone_subscription_is_removed_and_not_retried(live: LiveServer, pushes: PushService) -> None:
    team = make_team(live, reviewers=2)
    gone = subscribed_browser(live, pushes, team.reviewers[0], status=410)
    alive = subscribed_browser(live, pushes, team.reviewers[1])
    request_id = ask(team)
    pushes.wait_for(gone, 1)
    pushes.wait_for(alive, 1)
    settle(live)

    async def subscription_and_messages() -> tuple[bool, list[tuple[int, bool]]]:
        async with live.state.db.read() as session:
            exists = await session.scalar(
                select(PushSubscription.id).where(PushSubscription.endpoint == gone.endpoint)
            )
            rows = (
                await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "push"))
            ).scalars()
            mine = [row for row in rows if row.payload["counts_for_request"] == request_id]
        return exists is not None, sorted((row.attempts, row.failed_at is not None) for row in mine)

    exists, messages = live.run(subscription_and_messages())
    assert not exists
    assert messages == [(1, False), (1, True)]  # the live one done, the gone one failed at once
    assert notifications_sent(team, request_id) == 1
    # The browser can subscribe again: a new subscription.
    assert subscribe(live, team.reviewers[0], gone).status_code == 201


def test_a_push_service_outage_is_retried(live: LiveServer, pushes: PushService) -> None:
    team = make_team(live, reviewers=1)
    browser = subscribed_browser(live, pushes, team.reviewers[0], status=500)
    request_id = ask(team)
    pushes.wait_for(browser, 1)
    pushes.answer(browser, 201)
    received = pushes.wait_for(browser, 2)
    assert [p.status for p in received] == [500, 201]
    assert received[0].message == received[1].message
    eventually(lambda: notifications_sent(team, request_id) == 1, what="notifications_sent == 1")


# Pushes when a claimed request closes, and on joining.


def claim(team: Team, account: Account, request_id: str) -> None:
    with team.http(account) as http:
        answer = http.post(f"/v1/api/requests/{request_id}/claim")
    assert answer.status_code == 200, answer.text


def test_cancelling_a_claimed_request_tells_the_claimer(live: LiveServer, pushes: PushService) -> None:
    team = make_team(live, reviewers=2)
    claimer, bystander = team.reviewers
    claimer_browser = subscribed_browser(live, pushes, claimer)
    bystander_browser = subscribed_browser(live, pushes, bystander)
    request_id = ask(team)
    pushes.wait_for(claimer_browser, 1)
    claim(team, claimer, request_id)
    with team.http(team.owner) as http:
        assert http.delete(f"/v1/api/requests/{request_id}").status_code == 200
    cancelled = pushes.wait_for(claimer_browser, 2)[1]
    assert cancelled.message["title"] == "Request cancelled"
    assert cancelled.message["body"] == f'"{TEXT}" was cancelled'
    assert (cancelled.message["tag"], cancelled.topic) == (f"request-{request_id}", request_id)
    settle(live)
    assert len(pushes.pushes(bystander_browser)) == 1
    assert notifications_sent(team, request_id) == 2  # only the new-request pushes count


def test_cancelling_an_unclaimed_request_pushes_nothing(live: LiveServer, pushes: PushService) -> None:
    team = make_team(live, reviewers=1)
    browser = subscribed_browser(live, pushes, team.reviewers[0])
    request_id = ask(team)
    pushes.wait_for(browser, 1)
    with team.http(team.owner) as http:
        assert http.delete(f"/v1/api/requests/{request_id}").status_code == 200
    settle(live)
    assert len(pushes.pushes(browser)) == 1


def test_a_claimed_request_timing_out_tells_the_claimer(live: LiveServer, pushes: PushService) -> None:
    team = make_team(live, reviewers=1)
    claimer = team.reviewers[0]
    browser = subscribed_browser(live, pushes, claimer)
    request_id = ask(team, timeout_seconds=60)
    pushes.wait_for(browser, 1)
    claim(team, claimer, request_id)
    with live.clock.shifted(61):
        eventually(lambda: team.status(request_id)["status"] == "timeout", what="the timeout")
        timed_out = pushes.wait_for(browser, 2)[1]
    assert timed_out.message["title"] == "Request timed out"
    assert timed_out.message["body"] == f'"{TEXT}" expired without a response'
    assert timed_out.urgency == "normal"


def test_joining_a_loop_sends_a_welcome_push(live: LiveServer, pushes: PushService) -> None:
    team = make_team(live, reviewers=0)
    newcomer = live.account("newcomer")
    browser = subscribed_browser(live, pushes, newcomer)
    with live.client(newcomer) as http:
        assert http.post("/v1/api/loops/join", json={"invite_code": team.invite_code}).status_code == 200
    [welcome] = pushes.wait_for(browser, 1)
    assert welcome.message["title"] == f"You joined {SEED_LOOP['name']}"
    assert welcome.message["loop_id"] == team.loop_id and welcome.message["request_id"] is None


# Email.


def test_a_critical_request_emails_members_who_chose_email(live: LiveServer, mailbox: SmtpSink) -> None:
    team = make_team(live, reviewers=2)
    emailed, quiet = team.reviewers
    assert set_preferences(live, emailed, team.loop_id, email="on").status_code == 200
    request_id = ask(
        team,
        priority="critical",
        title="Refund order #4411?",
        response_config={
            "options": [{"value": "hold", "label": "Hold the refund"}, {"value": "pay", "label": "Pay it"}]
        },
        default_response="hold",
    )
    ask(team, priority="high")  # not critical, not deferred: push only
    [mail] = eventually(lambda: mail_to(mailbox, emailed), what="the critical email")
    assert mail.message["Subject"] == f"New critical request in {SEED_LOOP['name']}"
    text = mail.message.get_body(preferencelist=("plain",)).get_content()
    assert TEXT in text and f"/requests/{request_id}" in text
    assert "Refund order #4411?" in text  # its title heads it
    assert "the default applies: Hold the refund" in text  # by its label, not its value "hold"
    settle(live)
    assert len(mail_to(mailbox, emailed)) == 1
    assert mail_to(mailbox, quiet) == []


def test_deferred_requests_arrive_in_one_digest_at_the_end_of_the_window(
    live: LiveServer, mailbox: SmtpSink
) -> None:
    team = make_team(live, reviewers=1)
    reviewer = team.reviewers[0]
    assert set_preferences(live, reviewer, team.loop_id, email="on").status_code == 200
    waiting = [
        ask(team, processing_type="deferred", timeout_seconds=..., priority=p, request_text=f"{p}: {TEXT}")
        for p in ("low", "medium")
    ]
    answered = ask(team, processing_type="deferred", timeout_seconds=..., request_text="answered already")
    with team.http(reviewer) as http:
        assert (
            http.post(f"/v1/api/requests/{answered}/respond", json={"response_data": "Approve"}).status_code
            == 200
        )
    settle(live)
    assert mail_to(mailbox, reviewer) == []  # nothing before the window ends
    windows = {digest_window(_created_at(team, r), live.settings.email_digest_seconds) for r in waiting}
    with live.clock.shifted(live.settings.email_digest_seconds):
        digests = eventually(
            lambda: len(mail_to(mailbox, reviewer)) >= len(windows) and mail_to(mailbox, reviewer),
            what="the digest",
        )
        settle(live)
    assert len(mail_to(mailbox, reviewer)) == len(windows)  # one per window, normally just one
    texts = "\n".join(m.message.get_body(preferencelist=("plain",)).get_content() for m in digests)
    assert all(f"/requests/{r}" in texts for r in waiting)
    assert f"/requests/{answered}" not in texts and "answered already" not in texts
    if len(windows) == 1:
        assert digests[0].message["Subject"] == "2 deferred requests waiting for review"
        assert texts.index("medium: ") < texts.index("low: ")  # higher priority first


def _created_at(team: Team, request_id: str) -> datetime:
    return datetime.fromisoformat(team.status(request_id)["created_at"].replace("Z", "+00:00"))


# VAPID keys are made once per database.


@pytest.mark.parametrize("backend", BACKENDS)
def test_vapid_keys_are_made_once_and_survive_a_restart(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data_dir = tmp_path_factory.mktemp(f"vapid-{backend}")
    pg_name = None
    if backend == "postgres":
        pg_name, url = create_migrated_postgres_database()
    else:
        url = migrated_sqlite_url(data_dir)
    try:
        settings = make_settings(data_dir, url)

        def public_key(server: LiveServer) -> str:
            with server.client() as http:
                return str(http.get("/v1/api/push/vapid-public-key").json()["data"]["public_key"])

        first = LiveServer(settings, backend=backend).start()
        try:
            # Concurrent first requests race to create the key pair: all of them get the one that won.
            with ThreadPoolExecutor(8) as pool:
                keys = set(pool.map(lambda _: public_key(first), range(8)))
        finally:
            first.stop()
        assert len(keys) == 1
        second = LiveServer(settings, backend=backend).start()
        try:
            assert public_key(second) == keys.pop()
        finally:
            second.stop()
    finally:
        if pg_name:
            drop_postgres_database(pg_name)

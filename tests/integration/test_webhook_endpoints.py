"""Account webhook endpoints on both databases: CRUD, event filters, secrets, test events, the log, redelivery."""

import base64
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import standardwebhooks

from tests.conftest import BACKENDS
from tests.integration.reviewing import Team, make_team
from tests.integration.webhooking import (
    create_webhook,
    deliveries,
    eventually,
    fast_server,
    signed_by,
    webhook_key,
)
from tests.support.live import Account, LiveServer
from tests.support.payloads import SEED_LOOP, request_body
from tests.support.receiver import Receiver

SETTLE_SECONDS = 0.5
DEFAULT_EVENTS = ["request.completed", "request.timeout", "request.cancelled"]
METADATA = "url must not point to a link-local or cloud metadata address"


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from fast_server(request.param, tmp_path_factory)


@pytest.fixture
def owner(server: LiveServer) -> Account:
    return webhook_key(server, server.account("owner"))


def send_test(http: httpx.Client, webhook_id: str) -> str:
    answer = http.post(f"/v1/api/webhooks/{webhook_id}/test")
    assert answer.status_code == 202, answer.text
    data = answer.json()["data"]
    assert (data["webhook_id"], data["event"]) == (webhook_id, "webhook.test")
    return str(data["event_id"])


def test_default_keys_may_not_touch_webhooks(server: LiveServer) -> None:
    with server.client(server.account("plain")) as http:
        listed = http.get("/v1/api/webhooks")
        created = http.post("/v1/api/webhooks", json={"url": "https://example.com/hook"})
    assert (
        listed.status_code == 403
        and listed.json()["msg"] == "Insufficient permissions: requires webhooks:read"
    )
    assert (
        created.status_code == 403
        and created.json()["msg"] == "Insufficient permissions: requires webhooks:write"
    )


def test_an_endpoint_is_created_with_a_secret_and_the_default_events(
    server: LiveServer, owner: Account
) -> None:
    with server.client(owner) as http:
        answer = http.post("/v1/api/webhooks", json={"url": "https://example.com/hook", "description": "ops"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["msg"] == "Webhook created successfully"
        webhook = answer.json()["data"]["webhook"]
        listed = http.get("/v1/api/webhooks").json()["data"]
        one = http.get(f"/v1/api/webhooks/{webhook['id']}").json()["data"]["webhook"]
    assert webhook["url"] == "https://example.com/hook" and webhook["description"] == "ops"
    assert webhook["events"] == DEFAULT_EVENTS and webhook["enabled"] is True
    assert webhook["secret"].startswith("whsec_")
    assert len(base64.b64decode(webhook["secret"].removeprefix("whsec_"))) == 32
    assert listed["count"] == 1 and "secret" not in listed["webhooks"][0]
    assert listed["webhooks"][0]["id"] == webhook["id"]
    assert one == webhook


def test_only_the_owner_sees_or_changes_an_endpoint(server: LiveServer, owner: Account) -> None:
    stranger = webhook_key(server, server.account("stranger"))
    with server.client(owner) as http:
        webhook = create_webhook(http, url="https://example.com/hook")
    path = f"/v1/api/webhooks/{webhook['id']}"
    with server.client(stranger) as http:
        answers = [
            http.get(path),
            http.patch(path, json={"enabled": False}),
            http.post(f"{path}/test"),
            http.get(f"{path}/deliveries"),
            http.delete(path),
        ]
        assert http.get("/v1/api/webhooks").json()["data"]["count"] == 0
    assert [a.status_code for a in answers] == [404] * 5
    assert {a.json()["msg"] for a in answers} == {"Webhook not found"}
    with server.client(owner) as http:
        assert http.get(path).json()["data"]["webhook"]["enabled"] is True


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fe80::1]/hook",
        "http://[fd00:ec2::254]/latest",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_link_local_and_metadata_urls_are_refused(server: LiveServer, owner: Account, url: str) -> None:
    with server.client(owner) as http:
        created = http.post("/v1/api/webhooks", json={"url": url})
        webhook = create_webhook(http, url="https://example.com/hook")
        updated = http.patch(f"/v1/api/webhooks/{webhook['id']}", json={"url": url})
    for answer in (created, updated):
        assert answer.status_code == 400
        assert answer.json()["msg"] == "Validation failed" and answer.json()["data"] == METADATA


def test_urls_must_be_http(server: LiveServer, owner: Account) -> None:
    with server.client(owner) as http:
        answer = http.post("/v1/api/webhooks", json={"url": "ftp://example.com/hook"})
    assert answer.status_code == 400 and answer.json()["data"] == "url must be a valid http or https URL"


@pytest.mark.parametrize("events", [["loop.created"], ["request.*", "system.*"], ["loop.123.*"], ["!nope"]])
def test_unknown_event_filters_are_refused_with_what_is_allowed(
    server: LiveServer, owner: Account, events: list[str]
) -> None:
    with server.client(owner) as http:
        answer = http.post("/v1/api/webhooks", json={"url": "https://example.com/hook", "events": events})
    assert answer.status_code == 400
    body = answer.json()
    assert body["msg"] == "Invalid event filter"
    assert "request.claimed" in body["data"] and "'loop.<loop_id>.*'" in body["data"]


def test_an_empty_event_list_is_refused(server: LiveServer, owner: Account) -> None:
    with server.client(owner) as http:
        answer = http.post("/v1/api/webhooks", json={"url": "https://example.com/hook", "events": []})
    assert answer.status_code == 400 and answer.json()["data"] == "events must have at least 1 items"


def test_an_endpoint_can_be_changed_and_deleted(
    server: LiveServer, owner: Account, receiver: Receiver
) -> None:
    with server.client(owner) as http:
        webhook = create_webhook(http, url="https://example.com/hook")
        path = f"/v1/api/webhooks/{webhook['id']}"
        changed = http.patch(
            path,
            json={"url": receiver.url(), "events": ["*"], "description": "now local", "enabled": False},
        )
        assert changed.status_code == 200, changed.text
        after = changed.json()["data"]["webhook"]
        assert (after["url"], after["events"], after["description"], after["enabled"]) == (
            receiver.url(),
            ["*"],
            "now local",
            False,
        )
        assert after["secret"] == webhook["secret"], "the secret stays unless asked"
        nothing = http.patch(path, json={})
        assert nothing.status_code == 400 and nothing.json()["msg"] == "Provide at least one field to update"
        deleted = http.delete(path)
        assert deleted.status_code == 200 and deleted.json()["data"] == {
            "webhook_id": webhook["id"],
            "deleted": True,
        }
        assert http.get(path).status_code == 404
        assert http.get("/v1/api/webhooks").json()["data"]["count"] == 0


def second_loop(server: LiveServer, team: Team) -> str:
    """Another loop of the same owner, with the same reviewer in it."""
    with server.client(team.owner) as http:
        created = http.post("/v1/api/loops", json={**SEED_LOOP, "name": "Second loop"}).json()["data"]
    server.add_member(created["loop"]["id"], team.reviewers[0].user_id)
    return str(created["loop"]["id"])


def test_filters_select_exactly_the_matching_events(server: LiveServer, receiver: Receiver) -> None:
    team = make_team(server, reviewers=1)
    first, second = team.loop_id, second_loop(server, team)
    owner = webhook_key(server, team.owner)
    filters: dict[str, list[str] | None] = {
        "/all": ["*"],
        "/no-claims": ["request.*", "!request.claimed"],
        "/first-loop": [f"loop.{first}.*"],
        "/second-loop-outcomes": [
            f"loop.{second.upper()}.request.completed",
            f"loop.{second}.request.cancelled",
        ],
        "/claims": ["request.claimed"],
        "/default": None,
        "/all-but-created": ["!request.created"],
    }
    secrets = {}
    with server.client(owner) as http:
        for path, events in filters.items():
            body: dict[str, Any] = {"url": receiver.url(path)}
            if events is not None:
                body["events"] = events
            secrets[path] = create_webhook(http, **body)["secret"]
        create_webhook(http, url=receiver.url("/disabled"), events=["*"], enabled=False)

    answered = team.ask()
    with team.http(team.reviewers[0]) as http:
        assert http.post(f"/v1/api/requests/{answered}/claim").status_code == 200
        assert http.post(f"/v1/api/requests/{answered}/release").status_code == 200
        assert (
            http.post(f"/v1/api/requests/{answered}/respond", json={"response_data": "Reject"}).status_code
            == 200
        )
    with server.client(team.owner) as http:
        created = http.post(f"/v1/api/loops/{second}/requests", json=request_body(callback_url=None))
        cancelled = created.json()["data"]["request_id"]
        assert http.delete(f"/v1/api/requests/{cancelled}").status_code == 200

    first_events = [
        ("request.created", answered),
        ("request.claimed", answered),
        ("request.released", answered),
        ("request.completed", answered),
    ]
    second_events = [("request.created", cancelled), ("request.cancelled", cancelled)]
    everything = first_events + second_events
    expected = {
        "/all": everything,
        "/no-claims": [e for e in everything if e[0] != "request.claimed"],
        "/first-loop": first_events,
        "/second-loop-outcomes": [("request.cancelled", cancelled)],
        "/claims": [("request.claimed", answered)],
        "/default": [("request.completed", answered), ("request.cancelled", cancelled)],
        "/all-but-created": [e for e in everything if e[0] != "request.created"],
        "/disabled": [],
    }
    receiver.wait_for(sum(len(events) for events in expected.values()))
    time.sleep(SETTLE_SECONDS)
    got = receiver.received()
    for path, events in expected.items():
        seen = [(r.event, r.json()["request_id"]) for r in got if r.path == path]
        assert Counter(seen) == Counter(events), path
    for received in got:
        assert signed_by(secrets[received.path], received), received.path
    ids_by_event: dict[tuple[str, str], set[str]] = {}
    for received in got:
        ids_by_event.setdefault((received.event, received.json()["request_id"]), set()).add(received.event_id)
    assert all(len(ids) == 1 for ids in ids_by_event.values()), "every endpoint gets an event under one id"
    claimed = next(r.json() for r in got if r.event == "request.claimed")
    assert (
        claimed["status"] == "claimed" and claimed["data"]["reviewer"]["user_id"] == team.reviewers[0].user_id
    )


def test_the_loop_creator_and_the_request_creator_each_hear_once(
    server: LiveServer, receiver: Receiver
) -> None:
    team = make_team(server, reviewers=0)
    admin = server.account("admin")
    server.add_member(team.loop_id, admin.user_id, role="admin")
    with server.client(webhook_key(server, team.owner)) as http:
        create_webhook(http, url=receiver.url("/loop-creator"), events=["request.created"])
    with server.client(webhook_key(server, admin)) as http:
        create_webhook(http, url=receiver.url("/request-creator"), events=["request.created"])
    by_owner = team.ask(callback_url=None)
    with server.client(admin) as http:
        answer = http.post(f"/v1/api/loops/{team.loop_id}/requests", json=request_body(callback_url=None))
    by_admin = answer.json()["data"]["request_id"]
    receiver.wait_for(3)
    time.sleep(SETTLE_SECONDS)
    seen = Counter((r.path, r.json()["request_id"]) for r in receiver.received())
    assert seen == Counter(
        {("/loop-creator", by_owner): 1, ("/loop-creator", by_admin): 1, ("/request-creator", by_admin): 1}
    )


def test_a_test_event_is_signed_and_logged(server: LiveServer, owner: Account, receiver: Receiver) -> None:
    with server.client(owner) as http:
        webhook = create_webhook(http, url=receiver.url(), enabled=False)
        event_id = send_test(http, webhook["id"])
        [received] = receiver.wait_for(1)
        log = eventually(
            lambda: deliveries(http, f"/v1/api/webhooks/{webhook['id']}/deliveries")["deliveries"],
            what="the test delivery to be logged",
        )
    body = received.json()
    assert body["id"] == event_id == received.event_id
    assert body["event"] == "webhook.test" and body["data"]["webhook_id"] == webhook["id"]
    assert signed_by(webhook["secret"], received)
    assert standardwebhooks.Webhook(webhook["secret"]).verify(received.body, received.headers) == body
    [entry] = log
    assert (entry["event"], entry["event_id"], entry["target"], entry["webhook_id"]) == (
        "webhook.test",
        event_id,
        "webhook",
        webhook["id"],
    )
    assert (entry["succeeded"], entry["status_code"], entry["attempt"], entry["error"]) == (
        True,
        200,
        1,
        None,
    )
    # A loopback receiver: the log keeps its status and timing, not its body (tests/security/test_ssrf.py).
    assert entry["response_body"] is None and entry["latency_ms"] >= 0


def test_rotating_or_setting_an_endpoint_secret_changes_the_signatures(
    server: LiveServer, owner: Account, receiver: Receiver
) -> None:
    with server.client(owner) as http:
        webhook = create_webhook(http, url=receiver.url(), secret="my-plain-secret")
        assert webhook["secret"] == "my-plain-secret"
        path = f"/v1/api/webhooks/{webhook['id']}"
        # Each is signed when it is sent, with the secret of that moment: wait for it before changing it.
        send_test(http, webhook["id"])
        receiver.wait_for(1)
        rotated = http.patch(path, json={"rotate_secret": True}).json()["data"]["webhook"]["secret"]
        send_test(http, webhook["id"])
        receiver.wait_for(2)
        chosen = "whsec_" + base64.b64encode(b"k" * 24).decode()
        assert http.patch(path, json={"secret": chosen}).json()["data"]["webhook"]["secret"] == chosen
        send_test(http, webhook["id"])
        refused = [
            http.patch(path, json={"secret": "whsec_***not base64***"}),
            http.patch(path, json={"secret": "has some spaces"}),
            http.patch(path, json={"secret": "short"}),
            http.patch(path, json={"secret": "another-secret", "rotate_secret": True}),
        ]
    plain, after_rotation, after_setting = receiver.wait_for(3)
    assert rotated.startswith("whsec_") and rotated != "my-plain-secret"
    assert signed_by("my-plain-secret", plain) and not signed_by("my-plain-secret", after_rotation)
    assert signed_by(rotated, after_rotation) and not signed_by(rotated, after_setting)
    assert signed_by(chosen, after_setting)
    assert standardwebhooks.Webhook(chosen).verify(after_setting.body, after_setting.headers)
    assert [a.status_code for a in refused] == [400] * 4
    assert [a.json()["data"] for a in refused] == [
        "secret must not contain whitespace",
        "secret must not contain whitespace",
        "secret must be at least 8 characters",
        "send either secret or rotate_secret, not both",
    ]


# The Standard Webhooks reference secret (24 bytes), and one a caller made as the spec says: 64 random bytes.
REFERENCE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LONGEST_SECRET = "whsec_" + base64.b64encode(bytes(range(64))).decode()


@pytest.mark.parametrize("secret", [REFERENCE_SECRET, LONGEST_SECRET, "a-plain-shared-secret"])
def test_an_endpoint_created_with_the_callers_secret_signs_with_it(
    server: LiveServer, owner: Account, receiver: Receiver, secret: str
) -> None:
    with server.client(owner) as http:
        answer = http.post(
            "/v1/api/webhooks", json={"url": receiver.url(), "events": ["request.*"], "secret": secret}
        )
        assert answer.status_code == 201, answer.text
        webhook = answer.json()["data"]["webhook"]
        assert http.get(f"/v1/api/webhooks/{webhook['id']}").json()["data"]["webhook"]["secret"] == secret
        send_test(http, webhook["id"])
        [received] = receiver.wait_for(1)
    assert webhook["secret"] == secret
    assert signed_by(secret, received)
    # A secret without whsec_ is keyed by its UTF-8 bytes, which the library takes as bytes.
    key = secret if secret.startswith("whsec_") else secret.encode()
    assert standardwebhooks.Webhook(key).verify(received.body, received.headers) == received.json()


def test_a_callers_secret_that_is_too_weak_or_not_base64_is_refused_saying_why(
    server: LiveServer, owner: Account
) -> None:
    bodies = [
        "whsec_" + base64.b64encode(b"k" * 16).decode(),
        "whsec_" + base64.b64encode(b"k" * 65).decode(),
        "whsec_" + base64.urlsafe_b64encode(b"\xfb" * 24).decode(),
    ]
    with server.client(owner) as http:
        refused = [
            http.post("/v1/api/webhooks", json={"url": "https://example.com/hook", "secret": secret})
            for secret in bodies
        ]
    assert [a.status_code for a in refused] == [400] * 3
    assert [a.json()["data"] for a in refused] == [
        "secret: whsec_ must be followed by the base64 of 24 to 64 random bytes (this one decodes to 16)",
        "secret: whsec_ must be followed by the base64 of 24 to 64 random bytes (this one decodes to 65)",
        "secret: a secret starting with whsec_ must continue in standard base64 (A-Z, a-z, 0-9, + and /)",
    ]
    assert all(a.json()["error"] is True for a in refused)


def test_the_delivery_log_pages_newest_first_and_redelivers_the_same_event(
    server: LiveServer, owner: Account, receiver: Receiver
) -> None:
    stranger = webhook_key(server, server.account("stranger"))
    with server.client(owner) as http:
        webhook = create_webhook(http, url=receiver.url())
        path = f"/v1/api/webhooks/{webhook['id']}/deliveries"
        sent = []
        for _ in range(3):
            sent.append(send_test(http, webhook["id"]))
            receiver.wait_for(len(sent))
        eventually(lambda: deliveries(http, path)["total"] == 3, what="three logged deliveries")
        page = deliveries(http, path, limit=2)
        rest = deliveries(http, path, limit=2, offset=2)
        assert (page["count"], page["total"], page["has_more"]) == (2, 3, True)
        assert page["pagination"] == {"limit": 2, "offset": 0, "next_offset": 2}
        assert (rest["count"], rest["has_more"]) == (1, False)
        assert [d["event_id"] for d in page["deliveries"] + rest["deliveries"]] == sent[::-1]
        oldest = rest["deliveries"][0]

        with server.client(stranger) as other:
            assert other.post(f"/v1/api/webhooks/deliveries/{oldest['id']}/redeliver").status_code == 404
        again = http.post(f"/v1/api/webhooks/deliveries/{oldest['id']}/redeliver")
        assert again.status_code == 202, again.text
        assert again.json()["data"] == {
            "delivery_id": oldest["id"],
            "event_id": sent[0],
            "webhook_id": webhook["id"],
            "request_id": None,
        }
        first, *_, redelivered = receiver.wait_for(4)
        assert (redelivered.event_id, redelivered.body) == (first.event_id, first.body)
        newest = eventually(
            lambda: deliveries(http, path)["total"] == 4 and deliveries(http, path)["deliveries"][0],
            what="the redelivery to be logged",
        )
        assert (newest["event_id"], newest["attempt"], newest["succeeded"]) == (sent[0], 1, True)

        assert http.post("/v1/api/webhooks/deliveries/0123456789abcdef01234567/redeliver").status_code == 404
        assert http.patch(f"/v1/api/webhooks/{webhook['id']}", json={"enabled": False}).status_code == 200
        disabled = http.post(f"/v1/api/webhooks/deliveries/{oldest['id']}/redeliver")
        assert disabled.status_code == 400 and disabled.json()["msg"] == "Webhook is disabled"


def test_a_disabled_endpoint_gets_no_events(server: LiveServer, receiver: Receiver) -> None:
    team = make_team(server, reviewers=0)
    with server.client(webhook_key(server, team.owner)) as http:
        webhook = create_webhook(http, url=receiver.url(), events=["*"])
        team.ask(callback_url=None)
        receiver.wait_for(1)
        http.patch(f"/v1/api/webhooks/{webhook['id']}", json={"enabled": False})
        team.ask(callback_url=None)
        time.sleep(SETTLE_SECONDS)
    assert len(receiver.received()) == 1

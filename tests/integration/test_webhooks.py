"""Per-request callbacks delivered to real receivers on loopback, on both databases: body, signatures,
the seed's Flask handler, outages, hanging receivers and refused addresses."""

import dataclasses
import re
import textwrap
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import standardwebhooks
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import BACKENDS
from tests.integration.reviewing import Team, make_team
from tests.integration.webhooking import (
    account_secret,
    create_webhook,
    deliveries,
    eventually,
    fast_server,
    hitl_signature_valid,
    signed_by,
    standard_signature_valid,
    webhook_key,
)
from tests.support.live import LiveServer, free_port
from tests.support.payloads import SEED_LOOP, request_body
from tests.support.receiver import Received, Receiver

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
SETTLE_SECONDS = 0.5  # after the expected deliveries, how long unexpected ones get to show up


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from fast_server(request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=BACKENDS)
def patient_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Waits half a minute on a receiver that does not answer: what happens meanwhile is seen by order, not
    by time."""
    yield from fast_server(request.param, tmp_path_factory, webhook_timeout_seconds=29.0)


@pytest.fixture(scope="module", params=BACKENDS)
def strict_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from fast_server(request.param, tmp_path_factory, callback_allow_private=False)


def respond(team: Team, request_id: str, value: Any = "Approve", reviewer: int = 0) -> None:
    with team.http(team.reviewers[reviewer]) as http:
        answer = http.post(f"/v1/api/requests/{request_id}/respond", json={"response_data": value})
    assert answer.status_code == 200, answer.text


def reviewer_post(team: Team, request_id: str, action: str) -> None:
    with team.http(team.reviewers[0]) as http:
        answer = http.post(f"/v1/api/requests/{request_id}/{action}")
    assert answer.status_code == 200, answer.text


def test_completed_callback_carries_the_documented_body_and_both_signatures(
    server: LiveServer, receiver: Receiver
) -> None:
    team = make_team(server, reviewers=1)
    request_id = team.ask(callback_url=receiver.url())
    reviewer_post(team, request_id, "claim")
    reviewer_post(team, request_id, "release")
    respond(team, request_id, "Approve")

    [received] = receiver.wait_for(1)
    time.sleep(SETTLE_SECONDS)
    assert len(receiver.received()) == 1, (
        "a callback only hears of completed, timed-out and cancelled requests"
    )
    body = received.json()
    with server.client(team.owner) as http:
        detail = http.get(f"/v1/api/requests/{request_id}").json()["data"]
    reviewer = team.reviewers[0]
    person = {"user_id": reviewer.user_id, "name": "reviewer0", "email": reviewer.email}
    assert received.headers["content-type"] == "application/json"
    assert body["id"] == received.headers["webhook-id"]
    assert body["event"] == "request.completed" and received.headers["x-hitl-event"] == "request.completed"
    assert TIMESTAMP.match(body["timestamp"])
    assert (body["request_id"], body["loop_id"], body["status"]) == (request_id, team.loop_id, "completed")
    assert (
        body["response_data"]
        == detail["response_data"]
        == {
            "selected_value": "Approve",
            "selected_label": "Approve",
        }
    )
    assert body["response_by"] == person
    assert (body["response_at"], body["response_time_seconds"], body["created_at"]) == (
        detail["response_at"],
        detail["response_time_seconds"],
        detail["created_at"],
    )
    assert body["default_response"] == "Approve"
    data = body["data"]
    assert (data["request_id"], data["response_data"]) == (request_id, "Approve")
    assert data["request"] == detail["request"], "data.request is the request as GET /requests/{id} shows it"
    assert data["loop"] == {"id": team.loop_id, "name": SEED_LOOP["name"]}
    assert data["reviewer"] == person

    with server.client(webhook_key(server, team.owner)) as http:
        secret = account_secret(http)
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    assert standard_signature_valid(secret, received) and hitl_signature_valid(secret, received)
    verified = standardwebhooks.Webhook(secret).verify(received.body, received.headers)
    assert verified == body
    assert not standard_signature_valid(secret, dataclasses.replace(received, body=b"{}"))


def test_a_completed_callback_names_the_reviewer_who_held_the_request(
    server: LiveServer, receiver: Receiver
) -> None:
    team = make_team(server, reviewers=1)
    reviewer = team.reviewers[0]
    request_id = team.ask(callback_url=receiver.url())
    reviewer_post(team, request_id, "claim")
    claimed_at = team.status(request_id)["claimed_at"]
    respond(team, request_id, "Approve")
    [received] = receiver.wait_for(1)
    shown = received.json()["data"]["request"]
    assert (shown["status"], shown["claimed_by"], shown["claimed_at"]) == (
        "completed",
        reviewer.user_id,
        claimed_at,
    )
    assert shown["response_by"] == reviewer.user_id


def test_timeout_callback_reports_the_default_and_no_answer(server: LiveServer, receiver: Receiver) -> None:
    team = make_team(server, reviewers=1)
    request_id = team.ask(callback_url=receiver.url(), timeout_seconds=60)
    with server.clock.shifted(61):
        [received] = receiver.wait_for(1)
    body = received.json()
    assert (body["event"], body["status"], body["request_id"]) == ("request.timeout", "timeout", request_id)
    assert body["response_data"] is None and body["response_by"] is None
    assert body["response_at"] is None and body["response_time_seconds"] is None
    assert body["default_response"] == "Approve"
    assert body["data"]["response_data"] is None and body["data"]["reviewer"] is None
    assert body["data"]["request"]["status"] == "timeout"
    assert body["data"]["request"]["default_response"] == "Approve"


def test_cancel_callback_reports_the_default_and_no_answer(server: LiveServer, receiver: Receiver) -> None:
    team = make_team(server, reviewers=1)
    request_id = team.ask(callback_url=receiver.url(), default_response="Reject")
    with server.client(team.owner) as http:
        assert http.delete(f"/v1/api/requests/{request_id}").status_code == 200
    [received] = receiver.wait_for(1)
    body = received.json()
    assert (body["event"], body["status"]) == ("request.cancelled", "cancelled")
    assert body["response_data"] is None and body["response_by"] is None
    assert body["response_at"] is None and body["response_time_seconds"] is None
    assert body["default_response"] == "Reject"
    assert body["data"]["response_data"] is None and body["data"]["reviewer"] is None
    assert body["data"]["request"]["status"] == "cancelled"


# seeds/first-loop-guide.txt, "Receiving Human Decisions", verbatim.
SEED_FLASK_HANDLER = textwrap.dedent("""
# Your webhook endpoint
@app.route('/webhook/hitl', methods=['POST'])
def handle_hitl_webhook():
    payload = request.json
    
    if payload.get('event') == 'request.completed':
        request_id = payload['data']['request_id']
        response_data = payload['data']['response_data']
        
        print(f"📥 Received response for {request_id}: {response_data}")
        
        # Process the human decision
        if response_data == 'Approve':
            approve_content(request_id)
        elif response_data == 'Reject':
            reject_content(request_id) 
        elif response_data == 'Escalate':
            escalate_to_manager(request_id)
    
    return {'status': 'received'}, 200
""")


def test_the_seed_flask_handler_receives_the_decision(
    server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    decisions: list[tuple[str, str]] = []
    app = Flask("seed-receiver")
    namespace: dict[str, Any] = {
        "app": app,
        "request": __import__("flask").request,
        "approve_content": lambda request_id: decisions.append(("approve", request_id)),
        "reject_content": lambda request_id: decisions.append(("reject", request_id)),
        "escalate_to_manager": lambda request_id: decisions.append(("escalate", request_id)),
    }
    exec(compile(SEED_FLASK_HANDLER, "first-loop-guide", "exec"), namespace)
    port = free_port()
    flask_server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=flask_server.serve_forever, daemon=True)
    thread.start()
    try:
        team = make_team(server, reviewers=1)
        request_id = team.ask(callback_url=f"http://127.0.0.1:{port}/webhook/hitl")
        respond(team, request_id, "Approve")
        eventually(lambda: decisions, what="the seed handler to process the decision")
    finally:
        flask_server.shutdown()
    assert decisions == [("approve", request_id)]
    assert f"📥 Received response for {request_id}: Approve" in capsys.readouterr().out
    with server.client(webhook_key(server, team.owner)) as http:
        log = deliveries(http, f"/v1/api/requests/{request_id}/deliveries")
    [attempt] = log["deliveries"]
    assert (attempt["succeeded"], attempt["status_code"], attempt["target"]) == (True, 200, "callback")
    assert attempt["response_body"] is None  # what a loopback receiver answers is not kept


def wait_for_attempts(receiver: Receiver, *, targets: int, attempts: int) -> None:
    """Until each of `targets` (path, event id) pairs has had `attempts` attempts."""

    def reached(got: list[Received]) -> bool:
        counts = Counter((r.path, r.event_id) for r in got)
        return len(counts) == targets and min(counts.values()) >= attempts

    receiver.wait_until(reached, what=f"{attempts} attempt(s) at each of {targets} targets")


def test_a_receiver_that_fails_then_recovers_gets_every_event_with_the_same_bytes(
    server: LiveServer, receiver: Receiver
) -> None:
    team = make_team(server, reviewers=1)
    owner = webhook_key(server, team.owner)
    with server.client(owner) as http:
        create_webhook(http, url=receiver.url("/all"), events=["*"])
    receiver.fail(503)
    answered, cancelled = team.ask(callback_url=receiver.url()), team.ask(callback_url=receiver.url())
    respond(team, answered, "Reject")
    with server.client(team.owner) as http:
        assert http.delete(f"/v1/api/requests/{cancelled}").status_code == 200
    # created x2, completed, cancelled to the endpoint; completed and cancelled to the callback.
    targets = 6
    wait_for_attempts(receiver, targets=targets, attempts=1)
    with server.clock.shifted(2):  # the second attempt comes 1 s (+-10 %) after the first
        wait_for_attempts(receiver, targets=targets, attempts=2)
    receiver.recover()
    with server.clock.shifted(10):  # the third, 5 s after the second
        wait_for_attempts(receiver, targets=targets, attempts=3)
    time.sleep(SETTLE_SECONDS)

    got = receiver.received()
    assert len(got) == 3 * targets, "delivered once recovered, and no more"
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for attempt in got:
        bodies[attempt.event_id].add(attempt.body)
        assert attempt.json()["id"] == attempt.event_id
    assert all(len(versions) == 1 for versions in bodies.values()), "an event id was sent as two bodies"
    delivered = {(r.path, r.event, r.json().get("request_id")) for r in got if r.answered == 200}
    assert delivered == {
        ("/all", "request.created", answered),
        ("/all", "request.created", cancelled),
        ("/all", "request.completed", answered),
        ("/all", "request.cancelled", cancelled),
        ("/hook", "request.completed", answered),
        ("/hook", "request.cancelled", cancelled),
    }
    completed_ids = {r.event_id for r in got if r.event == "request.completed"}
    assert len(completed_ids) == 1, "one event, one id, for every target"

    with server.client(owner) as http:
        log = deliveries(http, f"/v1/api/requests/{answered}/deliveries")
    callback = [d for d in log["deliveries"] if d["target"] == "callback"]
    assert [(d["attempt"], d["succeeded"], d["status_code"]) for d in callback] == [
        (3, True, 200),
        (2, False, 503),
        (1, False, 503),
    ]
    assert callback[-1]["error"] == "HTTP 503" and callback[0]["error"] is None
    assert len({d["event_id"] for d in callback}) == 1
    assert log["total"] == 9  # with the endpoint's created and completed, three attempts each


def test_a_rotated_account_secret_signs_the_retries_still_to_come(
    server: LiveServer, receiver: Receiver
) -> None:
    team = make_team(server, reviewers=1)
    owner = webhook_key(server, team.owner)
    with server.client(owner) as http:
        old = account_secret(http)
        assert account_secret(http) == old, "reading the secret does not change it"
        receiver.fail()
        request_id = team.ask(callback_url=receiver.url())
        respond(team, request_id)
        [first] = receiver.wait_for(1)
        rotated = http.post("/v1/api/webhooks/secret/rotate")
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["data"]["secret"]
        assert new != old and new.startswith("whsec_") and account_secret(http) == new
    receiver.recover()
    with server.clock.shifted(2):
        second = receiver.wait_for(2)[1]
    assert signed_by(old, first) and not signed_by(old, second)
    assert signed_by(new, second)
    assert (second.event_id, second.body) == (first.event_id, first.body)


def callback_attempts(server: LiveServer, team: Team, request_id: str) -> list[dict[str, Any]]:
    """The request's callback deliveries the server has logged (an attempt is logged once it ends)."""
    with server.client(webhook_key(server, team.owner)) as http:
        logged = deliveries(http, f"/v1/api/requests/{request_id}/deliveries")["deliveries"]
    return [d for d in logged if d["target"] == "callback"]


def test_a_hanging_receiver_does_not_delay_another_target_of_the_same_event(
    patient_server: LiveServer, receiver: Receiver
) -> None:
    server = patient_server  # a sender that waits half a minute on the hung receiver before it gives up
    with Receiver() as healthy:
        team = make_team(server, reviewers=1)
        with server.client(webhook_key(server, team.owner)) as http:
            create_webhook(http, url=healthy.url(), events=["request.completed"])
        receiver.hang()
        request_id = team.ask(callback_url=receiver.url())
        respond(team, request_id)
        receiver.wait_for(1)
        healthy.wait_for(1)
        # Not after it: the hung attempt is still running (it is logged when it ends, half a minute on).
        assert callback_attempts(server, team, request_id) == []


def test_an_attempt_on_a_hanging_receiver_is_logged_as_timed_out(
    server: LiveServer, receiver: Receiver
) -> None:
    team = make_team(server, reviewers=1)
    receiver.hang()
    request_id = team.ask(callback_url=receiver.url())
    respond(team, request_id)
    receiver.wait_for(1)
    log = eventually(
        lambda: callback_attempts(server, team, request_id), what="the hung attempt to be logged"
    )
    assert log[0]["error"] == "timed out after 2 s" and log[0]["status_code"] is None
    assert not log[0]["succeeded"]


def test_a_hanging_receiver_does_not_delay_later_events_to_a_healthy_one(
    patient_server: LiveServer, receiver: Receiver
) -> None:
    server = patient_server
    with Receiver() as healthy:
        team = make_team(server, reviewers=1)
        receiver.hang()
        hanging = team.ask(callback_url=receiver.url())
        respond(team, hanging)
        receiver.wait_for(1)
        later = team.ask(callback_url=healthy.url())
        respond(team, later)
        healthy.wait_for(1)
        assert callback_attempts(server, team, hanging) == []  # the hung attempt still holds its slot


def test_a_callback_to_a_private_address_is_refused_at_delivery_when_private_is_off(
    strict_server: LiveServer, receiver: Receiver, resolves: dict[str, str]
) -> None:
    server = strict_server
    team = make_team(server, reviewers=1)
    with server.client(team.owner) as http:
        literal = http.post(
            f"/v1/api/loops/{team.loop_id}/requests",
            json=request_body(callback_url=receiver.url()),
        )
    assert literal.status_code == 400
    assert (
        literal.json()["data"]
        == "callback_url must not point to a loopback or private address on this server"
    )

    # A name is not resolved when the request is made, only when its callback is delivered.
    resolves["internal.example"] = "127.0.0.1"
    request_id = team.ask(callback_url=f"http://internal.example:{receiver.port}/hook")
    respond(team, request_id)
    with server.client(webhook_key(server, team.owner)) as http:
        [refused] = eventually(
            lambda: deliveries(http, f"/v1/api/requests/{request_id}/deliveries")["deliveries"],
            what="the refused attempt to be logged",
        )
        assert refused["succeeded"] is False and refused["status_code"] is None
        assert refused["error"].startswith(
            "url must not point to a loopback or private address on this server"
        )
        assert "internal.example (127.0.0.1)" in refused["error"]
        with server.clock.shifted(3600):  # far past every retry it would have had
            time.sleep(SETTLE_SECONDS)
        assert deliveries(http, f"/v1/api/requests/{request_id}/deliveries")["total"] == 1
    assert receiver.received() == []


def test_request_deliveries_are_for_the_requests_readers(server: LiveServer, receiver: Receiver) -> None:
    team = make_team(server, reviewers=1)
    request_id = team.ask(callback_url=receiver.url())
    respond(team, request_id)
    receiver.wait_for(1)
    stranger = webhook_key(server, server.account("stranger"))
    reviewer = webhook_key(server, team.reviewers[0])
    plain_key_owner = team.owner
    path = f"/v1/api/requests/{request_id}/deliveries"
    with server.client(stranger) as http:
        assert http.get(path).status_code == 404
    with server.client(reviewer) as http:
        assert http.get(path).status_code == 403
    with server.client(plain_key_owner) as http:
        refused = http.get(path)
        assert refused.status_code == 403
        assert refused.json()["msg"] == "Insufficient permissions: requires webhooks:read"
    with server.client(webhook_key(server, team.owner)) as http:
        log = eventually(lambda: deliveries(http, path)["deliveries"], what="the delivery to be logged")
    assert [d["event"] for d in log] == ["request.completed"]
    assert log[0]["url"] == receiver.url() and log[0]["webhook_id"] is None


def test_redirects_are_not_followed(server: LiveServer, receiver: Receiver) -> None:
    team = make_team(server, reviewers=1)
    receiver.fail(302)
    request_id = team.ask(callback_url=receiver.url())
    respond(team, request_id)
    receiver.wait_for(1)
    with server.client(webhook_key(server, team.owner)) as http:
        [attempt] = eventually(
            lambda: deliveries(http, f"/v1/api/requests/{request_id}/deliveries")["deliveries"],
            what="the redirected attempt to be logged",
        )
    assert (attempt["status_code"], attempt["succeeded"], attempt["error"]) == (302, False, "HTTP 302")

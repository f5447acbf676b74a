"""Decisions reach waiting callers and reviewers at once: long-poll, request streams, the reviewer feed,
and deadlines, on both databases."""

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from openhitl.realtime import stream
from openhitl.realtime.feed import EventFeed, events_after
from tests.integration.reviewing import Team, make_team, wait_for_status
from tests.support.live import Account, LiveServer
from tests.support.sse import SseListener, parse_events
from tests.support.web import sign_up


def bearer(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.key}"}


def respond(team: Team, reviewer: Account, request_id: str, value: object = "Approve") -> httpx.Response:
    with team.http(reviewer) as http:
        return http.post(f"/v1/api/requests/{request_id}/respond", json={"response_data": value})


def test_long_poll_returns_as_soon_as_the_request_is_answered(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    request_id = team.ask()
    with ThreadPoolExecutor(max_workers=1) as pool, team.http(team.owner) as http:
        started = time.monotonic()
        waiting = pool.submit(http.get, f"/v1/api/requests/{request_id}", params={"wait": 30})
        time.sleep(0.5)
        assert not waiting.done()
        assert respond(team, team.reviewers[0], request_id).status_code == 200
        answer = waiting.result(timeout=20)
        elapsed = time.monotonic() - started
    assert answer.status_code == 200
    assert answer.json()["data"]["status"] == "completed"
    assert answer.json()["data"]["response_value"] == "Approve"
    assert elapsed < 20  # it returned on the decision, not at the end of the wait


def test_long_poll_times_out_with_the_pending_request(server: LiveServer) -> None:
    team = make_team(server, reviewers=0)
    request_id = team.ask()
    with team.http(team.owner) as http:
        answer = http.get(f"/v1/api/requests/{request_id}", params={"wait": 0.5})
        closed = http.delete(f"/v1/api/requests/{request_id}")
        at_once = http.get(f"/v1/api/requests/{request_id}", params={"wait": 60})
        bad = http.get(f"/v1/api/requests/{request_id}", params={"wait": 61})
    assert answer.json()["data"]["status"] == "pending"
    assert closed.status_code == 200
    assert at_once.json()["data"]["status"] == "cancelled"
    assert (bad.status_code, bad.json()["data"]) == (400, "wait must be between 0 and 60 seconds")


def test_request_stream_sends_one_terminal_event_then_ends(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    request_id = team.ask()
    url = f"{server.url}/v1/api/requests/{request_id}/events"
    with SseListener(url, headers=bearer(team.owner)) as stream:
        assert stream.status_code == 200
        assert stream.response_headers is not None
        assert stream.response_headers["content-type"].startswith("text/event-stream")
        assert respond(team, team.reviewers[0], request_id, "Reject").status_code == 200
        event = stream.next()
        assert event.event == "completed"
        assert event.data["request"]["id"] == request_id
        assert event.data["request"]["response_value"] == "Reject"
        assert stream.ended()
    # already closed: the event comes at once
    with SseListener(url, headers=bearer(team.owner)) as again:
        assert again.next().event == "completed"
        assert again.ended()


def test_request_stream_is_scoped_like_the_request(server: LiveServer) -> None:
    team = make_team(server, reviewers=0)
    request_id = team.ask()
    with server.client(server.account("stranger")) as http:
        answer = http.get(f"/v1/api/requests/{request_id}/events")
    assert answer.status_code == 404


def test_reviewer_feed_streams_new_requests_and_resumes_without_gaps(server: LiveServer) -> None:
    team = make_team(server, reviewers=2)
    alice, bob = team.reviewers
    feed = f"{server.url}/v1/api/events"
    with SseListener(feed, headers=bearer(alice)) as stream:
        first = team.ask(priority="critical")
        created = stream.next()
        assert created.event == "request.created"
        assert created.data["request_id"] == first and created.data["loop_id"] == team.loop_id
        assert created.id is not None and int(created.id) == created.data["id"]
        respond(team, bob, first)
        completed = stream.next()
        assert (completed.event, completed.data["request_id"]) == ("request.completed", first)
        last_seen = completed.id
    # while alice is away: three more things happen
    missed = [team.ask(), team.ask()]
    respond(team, bob, missed[0])
    with SseListener(feed, headers={**bearer(alice), "Last-Event-ID": str(last_seen)}) as resumed:
        replay = [resumed.next() for _ in range(3)]
        assert [(e.event, e.data["request_id"]) for e in replay] == [
            ("request.created", missed[0]),
            ("request.created", missed[1]),
            ("request.completed", missed[0]),
        ]
        ids = [int(e.id or 0) for e in replay]
        assert ids == sorted(ids) and ids[0] > int(last_seen or 0)
        later = team.ask()
        live = resumed.next()
        assert (live.event, live.data["request_id"]) == ("request.created", later)
        assert int(live.id or 0) > ids[-1]


def test_reviewer_feed_follows_membership(server: LiveServer) -> None:
    team, other = make_team(server, reviewers=1), make_team(server, reviewers=0)
    newcomer = server.account("newcomer")
    with SseListener(f"{server.url}/v1/api/events", headers=bearer(newcomer)) as stream:
        other.ask()  # not newcomer's loop: nothing arrives
        with server.client(newcomer) as http:
            assert http.post("/v1/api/loops/join", json={"invite_code": team.invite_code}).status_code == 200
        joined = stream.next()
        assert (joined.event, joined.data["loop_id"]) == ("loop.member_joined", team.loop_id)
        request_id = team.ask()
        assert stream.next().data["request_id"] == request_id


def test_bad_last_event_id_is_refused(server: LiveServer) -> None:
    account = server.account()
    with server.client(account) as http:
        answer = http.get("/v1/api/events", headers={"Last-Event-ID": "yesterday"})
    assert answer.status_code == 400
    assert answer.json()["msg"] == "Invalid Last-Event-ID"


def test_a_request_times_out_when_its_deadline_passes(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    reviewer = team.reviewers[0]
    pending = team.ask(timeout_seconds=60, default_response="Reject")
    claimed = team.ask(timeout_seconds=60)
    later = team.ask(timeout_seconds=600)
    with team.http(reviewer) as http:
        assert http.post(f"/v1/api/requests/{claimed}/claim").status_code == 200
    with server.clock.shifted(61):
        server.state.get(EventFeed).wake()
        timed_out = wait_for_status(team, pending, "timeout")
        assert timed_out["status"] == "timeout"
        assert timed_out["response_data"] is None and timed_out["default_response"] == "Reject"
        assert wait_for_status(team, claimed, "timeout")["status"] == "timeout"
        assert team.status(later)["status"] == "pending"
        late = respond(team, reviewer, pending)
        assert late.status_code == 409
    with team.http(team.owner) as http:
        history = http.get("/v1/api/requests", params={"status": "timed_out"}).json()["data"]
    assert {r["id"] for r in history["requests"]} == {pending, claimed}


def test_an_expired_claim_is_swept_back_to_pending(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    request_id = team.ask(timeout_seconds=86400)
    with team.http(team.reviewers[0]) as http:
        assert http.post(f"/v1/api/requests/{request_id}/claim").status_code == 200
    with server.clock.shifted(server.settings.claim_lease_seconds + 1):
        swept = wait_for_status(team, request_id, "pending")
    assert swept["status"] == "pending" and swept["claimed_by"] is None


@pytest.mark.parametrize("count", [30])
def test_many_waiters_all_hear_the_decision(server: LiveServer, count: int) -> None:
    team = make_team(server, reviewers=1)
    request_id = team.ask()
    client = httpx.Client(base_url=server.url, headers=bearer(team.owner), timeout=60)
    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            waiters = [
                pool.submit(client.get, f"/v1/api/requests/{request_id}", params={"wait": 30})
                for _ in range(count)
            ]
            time.sleep(1)
            respond(team, team.reviewers[0], request_id)
            statuses = [w.result(timeout=30).json()["data"]["status"] for w in waiters]
    finally:
        client.close()
    assert statuses == ["completed"] * count


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 15
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_reviewer_feed_by_session_cookie_resumes_after_the_query_id_on_every_prefix(
    server: LiveServer,
) -> None:
    """A browser's stream (session cookie, ?after= as an EventSource without headers sends it), under each
    of the API's prefixes, with the headers every answer carries."""
    team = make_team(server, reviewers=0)
    browser, _ = sign_up(server, invite_code=team.invite_code)
    cookie = {"Cookie": "; ".join(f"{name}={value}" for name, value in browser.cookies.items())}
    browser.close()
    first, second = team.ask(), team.ask()
    with httpx.stream("GET", f"{server.url}/v1/api/events", headers=cookie, timeout=30) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert answer.headers["cache-control"] == "no-cache"
        assert answer.headers["x-request-id"]
        lines = answer.iter_lines()
        assert next(lines) == ": connected"
        later = team.ask()
        assert next(parse_events(lines)).data["request_id"] == later
    after = first_event_id(server, first)
    for prefix in ("/v1/api", "/v1", "/api/v1"):
        url = f"{server.url}{prefix}/events?after={after}"
        with httpx.stream("GET", url, headers=cookie, timeout=30) as answer:
            resumed = parse_events(answer.iter_lines())
            assert [next(resumed).data["request_id"] for _ in range(2)] == [second, later]


def first_event_id(server: LiveServer, request_id: str) -> int:
    events = server.run(events_after(server.state.db, after_id=0, loops=set(), requests={request_id}))
    return events[0].id


def test_a_stream_that_the_client_closes_leaves_no_subscriber_behind(server: LiveServer) -> None:
    account = server.account()

    def streams() -> int:
        return server.state.get(EventFeed).subscriber_count_of(account.user_id)

    with httpx.stream("GET", f"{server.url}/v1/api/events", headers=bearer(account), timeout=30) as answer:
        lines = answer.iter_lines()  # kept: a dropped iterator would close the response
        assert next(lines) == ": connected"
        assert streams() == 1
    wait_until(lambda: streams() == 0, "the closed stream left its subscriber behind")


def test_an_idle_stream_sends_keep_alives_and_then_events(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "KEEPALIVE_SECONDS", 0.05)
    team = make_team(server, reviewers=1)
    url = f"{server.url}/v1/api/events"
    with httpx.stream("GET", url, headers=bearer(team.reviewers[0]), timeout=30) as answer:
        lines = answer.iter_lines()
        assert next(lines) == ": connected"
        assert [next(lines) for _ in range(4)] == ["", ": keep-alive", "", ": keep-alive"]
        request_id = team.ask()
        assert next(parse_events(lines)).data["request_id"] == request_id

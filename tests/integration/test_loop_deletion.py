"""Deleting a loop cancels its open requests through the lifecycle, on both databases: their callers hear of
it by callback, webhook, long-poll and request stream, and the events are in the feed, before the requests
go with the loop."""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from openhitl.realtime.feed import EventFeed, events_after
from openhitl.streams import router as realtime_router
from tests.conftest import BACKENDS
from tests.integration.reviewing import Team, make_team
from tests.integration.webhooking import create_webhook, eventually, fast_server, webhook_key
from tests.support.live import LiveServer
from tests.support.receiver import Receiver
from tests.support.sse import SseListener

REASON = "The loop was deleted"


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from fast_server(request.param, tmp_path_factory)


def bearer(team: Team) -> dict[str, str]:
    return {"Authorization": f"Bearer {team.owner.key}"}


def claim(team: Team, request_id: str) -> None:
    with team.http(team.reviewers[0]) as http:
        assert http.post(f"/v1/api/requests/{request_id}/claim").status_code == 200


def test_deleting_a_loop_cancels_its_open_requests_and_tells_everyone_waiting(
    server: LiveServer, receiver: Receiver
) -> None:
    team = make_team(server, reviewers=1)
    pending = team.ask(callback_url=receiver.url("/pending"))
    claimed = team.ask(callback_url=receiver.url("/claimed"))
    answered = team.ask(callback_url=receiver.url("/answered"))
    with team.http(team.reviewers[0]) as http:
        done = http.post(f"/v1/api/requests/{answered}/respond", json={"response_data": "Approve"})
    assert done.status_code == 200
    receiver.wait_for(1, path="/answered")
    with server.client(webhook_key(server, team.owner)) as http:
        create_webhook(http, url=receiver.url("/endpoint"), events=["request.cancelled"])
    feed_url = f"{server.url}/v1/api/events"
    stream_url = f"{server.url}/v1/api/requests/{claimed}/events"
    owner = team.http(team.owner)
    owner.timeout = 60
    with (
        owner,
        ThreadPoolExecutor(max_workers=1) as pool,
        SseListener(feed_url, headers=bearer(team)) as feed,
        SseListener(stream_url, headers=bearer(team)) as stream,
    ):
        long_poll = pool.submit(owner.get, f"/v1/api/requests/{pending}", params={"wait": 60})
        eventually(
            lambda: server.state.get(EventFeed).waiting_on(pending) == 1, what="the long-poll to be parked"
        )
        assert server.state.get(EventFeed).waiting_on(claimed) == 1
        claim(team, claimed)  # the stream reads the request again, open still
        assert feed.next().event == "request.claimed"
        time.sleep(0.3)  # the long-poll's first read after it subscribed, and the stream's read
        assert not long_poll.done()

        deleted = owner.delete(f"/v1/api/loops/{team.loop_id}")
        assert deleted.status_code == 200, deleted.text
        data = deleted.json()["data"]["deleted_data"]
        assert sorted(data["requests_cancelled"]) == sorted([pending, claimed])
        assert data["requests_deleted"] == 3

        polled = long_poll.result(timeout=30)
        assert polled.status_code == 200, polled.text
        assert polled.json()["data"]["status"] == "cancelled"
        assert polled.json()["data"]["request"]["id"] == pending

        outcome = stream.next()
        assert outcome.event == "cancelled"
        assert outcome.data["request"]["id"] == claimed
        assert outcome.data["request"]["status"] == "cancelled"
        assert stream.ended()

        heard = []
        while "loop.deleted" not in heard:
            heard.append(feed.next().event)
        assert heard.count("request.cancelled") == 2

        gone = owner.get(f"/v1/api/requests/{pending}")
        assert gone.status_code == 404
        assert owner.get(f"/v1/api/requests/{pending}", params={"wait": 1}).status_code == 404

    for path, request_id in (("/pending", pending), ("/claimed", claimed)):
        [callback] = receiver.wait_for(1, path=path)
        body = callback.json()
        assert (body["event"], body["status"], body["request_id"]) == (
            "request.cancelled",
            "cancelled",
            request_id,
        )
        assert body["data"]["request"]["cancel_reason"] == REASON
    endpoint = receiver.wait_for(2, path="/endpoint")
    assert sorted(r.json()["request_id"] for r in endpoint) == sorted([pending, claimed])
    assert len(receiver.received("/answered")) == 1, "a closed request is not cancelled again"

    log = server.run(events_after(server.state.db, after_id=0, loops={team.loop_id}))
    cancelled = [e for e in log if e.type == "request.cancelled"]
    assert sorted(e.request_id or "" for e in cancelled) == sorted([pending, claimed])
    assert all(e.data["reason"] == REASON and e.actor_id == team.owner.user_id for e in cancelled)
    assert [e.type for e in log][-1] == "loop.deleted"


def test_deleting_a_loop_with_nothing_open_cancels_nothing(server: LiveServer) -> None:
    team = make_team(server, reviewers=0)
    request_id = team.ask(callback_url=None)
    with team.http(team.owner) as http:
        assert http.delete(f"/v1/api/requests/{request_id}").status_code == 200
        deleted = http.delete(f"/v1/api/loops/{team.loop_id}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["data"]["deleted_data"]["requests_cancelled"] == []
    assert deleted.json()["data"]["deleted_data"]["requests_deleted"] == 1


def test_a_request_stream_kept_alive_past_a_claim_hears_the_cancellation(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(realtime_router, "KEEPALIVE_SECONDS", 0.05)
    team = make_team(server, reviewers=1)
    request_id = team.ask(callback_url=None)
    url = f"{server.url}/v1/api/requests/{request_id}/events"
    with SseListener(url, headers=bearer(team)) as stream, team.http(team.owner) as owner:
        eventually(
            lambda: server.state.get(EventFeed).waiting_on(request_id) == 1, what="the stream to be parked"
        )
        claim(team, request_id)
        time.sleep(0.5)  # keep-alives pass: the stream's open request is now the one read after the claim
        assert owner.delete(f"/v1/api/loops/{team.loop_id}").status_code == 200
        outcome = stream.next()
        assert (outcome.event, outcome.data["request"]["status"]) == ("cancelled", "cancelled")
        assert outcome.data["request"]["claimed_by"] == team.reviewers[0].user_id
        assert stream.ended()

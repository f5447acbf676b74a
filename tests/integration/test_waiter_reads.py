"""A waiter that hears its request was answered re-reads it once: the request with its loop, the reader's
role and the responder in one statement, then the recipients and the feedback of the detail."""

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from openhitl.realtime.feed import EventFeed, Subscriber
from openhitl.requests.waiting import Seen, read_request, wait_until_closed
from tests.conftest import BACKENDS, start_server
from tests.integration.reviewing import make_team
from tests.support.live import LiveServer


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(request.param, tmp_path_factory, worker_enabled=False)


def test_a_closed_request_is_read_and_rendered_in_three_statements(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    request_id = team.ask(callback_url=...)
    with team.http(team.reviewers[0]) as http:
        answer = http.post(f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"})
    assert answer.status_code == 200, answer.text

    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM events" not in statement:
            statements.append(statement)  # the event feed's own polls are not the waiter's

    engine = server.state.db.lookup_engine.sync_engine

    async def read() -> Seen:
        event.listen(engine, "before_cursor_execute", record)
        try:
            return await read_request(server.state, request_id=request_id, user_id=team.owner.user_id)
        finally:
            event.remove(engine, "before_cursor_execute", record)

    seen = server.run(read())

    assert seen.closed and seen.detail is not None
    assert seen.detail.response_by_user is not None
    assert seen.detail.response_by_user.user_id == team.reviewers[0].user_id
    assert len(statements) == 3, statements


def test_a_waiter_answers_a_close_this_process_committed_without_reading(server: LiveServer) -> None:
    team = make_team(server, reviewers=1)
    request_id = team.ask(callback_url=...)
    state = server.state

    async def park() -> tuple[Subscriber, Seen]:
        subscriber = state.get(EventFeed).subscribe(user_id=None, requests=[request_id])
        return subscriber, await read_request(
            state, request_id=request_id, user_id=team.owner.user_id, render=True
        )

    subscriber, parked = server.run(park())
    with team.http(team.reviewers[0]) as http:
        answer = http.post(f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"})
    assert answer.status_code == 200, answer.text

    statements: list[str] = []
    engine = state.db.lookup_engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM events" not in statement:
            statements.append(statement)

    async def wait() -> Seen:
        event.listen(engine, "before_cursor_execute", record)
        try:
            return await wait_until_closed(
                state, subscriber, parked, request_id=request_id, user_id=team.owner.user_id, seconds=10
            )
        finally:
            event.remove(engine, "before_cursor_execute", record)
            state.get(EventFeed).unsubscribe(subscriber)

    answered = server.run(wait())
    assert statements == []
    fresh = server.run(read_request(state, request_id=request_id, user_id=team.owner.user_id))
    assert answered.closed and answered.detail is not None and fresh.detail is not None
    assert answered.detail.status == "completed" and answered.detail.response_value == "Approve"
    assert answered.detail == fresh.detail  # the same answer a read of the closed request gives

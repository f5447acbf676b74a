"""A waiter that hears its request was answered re-reads it once: the request with its loop, the reader's
role and the responder in one statement, then the recipients and the feedback of the detail."""

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from openhitl.realtime.router import Seen, read_request
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

"""PostgreSQL connections that die in the pool (a restart, a proxy's idle timeout, an administrator) are
not pinged before each use: the first unit of work to meet one answers 503, the whole pool is replaced,
and the server serves again by itself."""

from collections.abc import Iterator

import pytest

from tests.conftest import start_server
from tests.support.databases import query
from tests.support.live import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server("postgres", tmp_path_factory)


def kill_connections(url: str) -> int:
    rows = query(
        url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    return int(rows[0][0])


def test_connections_killed_in_the_pool_cost_at_most_one_503_then_the_server_serves(
    server: LiveServer,
) -> None:
    account = server.account("owner")
    with server.client(account) as http:
        for _ in range(5):  # several pooled connections, all alive
            assert http.get("/v1/api/loops").status_code == 200
        assert kill_connections(server.settings.resolved_database_url) > 0

        answers = [http.get("/v1/api/loops") for _ in range(5)]

    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(503) <= 1, statuses
    assert statuses[-1] == 200
    refused = [answer for answer in answers if answer.status_code == 503]
    assert all(answer.json()["error"] is True for answer in refused)

"""kill -9 of a replica in the middle of the load, then a restart: nothing acknowledged is lost, no request
is closed twice, and a feed that follows the replicas (reconnecting with Last-Event-ID) misses no event."""

from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.faults.deployment import deployment, wait_until
from tests.support.databases import throwaway_database
from tests.support.sse import ResumingFeed


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_replica_killed_mid_load_loses_nothing(backend: str, tmp_path: Path) -> None:
    # SQLite is one process: killing it is the whole outage. PostgreSQL has a second replica to go on.
    replicas = 2 if backend == "postgres" else 1
    with (
        throwaway_database(backend, tmp_path) as url,
        deployment(url, tmp_path, replicas=replicas) as servers,
        ResumingFeed(servers.urls, key=servers.reviewer_key) as feed,
    ):
        victim = servers.replicas[0]
        load = servers.traffic(45)
        wait_until(lambda: servers.finished() >= 15, timeout=120, what="the first third of the load")
        victim.kill()
        load.result(timeout=180)
        servers.traffic(15).result(timeout=180)  # while it is down
        assert servers.ledger.refused, "the killed replica still answered"

        victim.start()
        refused = len(servers.ledger.refused)
        servers.traffic(30).result(timeout=180)
        assert len(servers.ledger.refused) == refused, servers.ledger.refused[refused:]

        servers.check_acknowledged_survived()
        servers.check_feed_complete(feed)
        assert feed.connections > 1, "the feed never had to resume"

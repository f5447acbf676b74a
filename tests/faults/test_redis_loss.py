"""Redis stopped: nothing needs it to answer. Rate-limit counters move into each process, live updates
fall back to the event feed's polling of the database, and the replicas subscribe again when it returns."""

from pathlib import Path

import pytest

from openhitl.realtime.notifier import CHANNEL
from tests.conftest import BACKENDS
from tests.faults.deployment import deployment, wait_until
from tests.support.databases import throwaway_database
from tests.support.services import private_redis
from tests.support.sse import ResumingFeed


@pytest.mark.parametrize("backend", BACKENDS)
def test_live_updates_keep_flowing_without_redis(backend: str, tmp_path: Path) -> None:
    replicas = 2 if backend == "postgres" else 1
    with (
        private_redis(tmp_path) as redis,
        throwaway_database(backend, tmp_path) as url,
        deployment(
            url,
            tmp_path,
            replicas=replicas,
            redis_url=redis.url,
            notifier="redis",
            rate_limit_per_hour=100_000,
        ) as servers,
        ResumingFeed([servers.urls[-1]], key=servers.reviewer_key) as feed,
    ):
        subscribed = lambda: redis.subscribers(CHANNEL) == replicas  # noqa: E731
        wait_until(subscribed, timeout=60, what="every replica to subscribe")
        servers.traffic(15).result(timeout=180)

        redis.stop()
        servers.traffic(15).result(timeout=180)
        assert not servers.ledger.refused, servers.ledger.refused
        # requests made on the first replica reach the last one's stream through the database alone
        servers.check_feed_complete(feed)

        redis.start()
        wait_until(subscribed, timeout=60, what="every replica to subscribe again")
        servers.traffic(15).result(timeout=180)
        assert not servers.ledger.refused, servers.ledger.refused

        servers.check_acknowledged_survived()
        servers.check_feed_complete(feed)

"""A webhook receiver down for a while: every delivery is retried until it is back, and arrives once."""

from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.faults.deployment import deployment, wait_until
from tests.support.databases import query, throwaway_database
from tests.support.live import free_port
from tests.support.receiver import Receiver

CALLBACKS = 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_callback_arrives_after_the_receiver_returns(backend: str, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet: connections are refused
    with throwaway_database(backend, tmp_path) as url, deployment(url, tmp_path, replicas=1) as servers:
        servers.traffic(CALLBACKS, callback_url=f"http://127.0.0.1:{port}/hook").result(timeout=120)
        assert len(servers.ledger.answered) == CALLBACKS

        def failed_twice() -> bool:
            rows = query(url, "SELECT count(*) FROM outbox WHERE kind = 'webhook' AND attempts >= 2")
            return int(rows[0][0]) == CALLBACKS

        wait_until(failed_twice, timeout=60, what="two failed attempts per callback")
        with Receiver(port=port) as receiver:
            received = receiver.wait_until(
                lambda got: {r.json()["request_id"] for r in got} == set(servers.ledger.answered),
                timeout=90,
                what="a callback for every answer",
            )
        assert len(received) == CALLBACKS, "a callback arrived twice"
        answers = {r.json()["request_id"]: r.json()["data"]["response_data"] for r in received}
        assert answers == servers.ledger.answered

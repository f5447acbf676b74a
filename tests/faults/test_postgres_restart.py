"""PostgreSQL restarted under load: the replicas answer 503 while it is away (never a 500, never a
dropped connection), then serve again by themselves; their background work (event feed, LISTEN/NOTIFY,
outbox worker, deadline sweeper) comes back with them."""

from pathlib import Path

from tests.faults.deployment import deployment, wait_until
from tests.support.databases import query
from tests.support.payloads import yes_no
from tests.support.receiver import Receiver
from tests.support.services import private_postgres
from tests.support.sse import ResumingFeed


def test_replicas_ride_out_a_postgres_restart(tmp_path: Path) -> None:
    with private_postgres() as postgres, Receiver() as receiver:
        url = postgres.create_database()
        # The second replica's feed polls once in ten minutes: only hints from the first can wake it.
        with (
            deployment(url, tmp_path, notifier="postgres", feed_poll_seconds=600) as servers,
            ResumingFeed([servers.urls[1]], key=servers.reviewer_key) as feed,
        ):
            callback = receiver.url()
            servers.traffic(20, callback_url=callback).result(timeout=180)
            assert not servers.ledger.refused

            postgres.stop()
            servers.traffic(8, callback_url=callback).result(timeout=180)
            assert servers.ledger.refused and set(servers.ledger.refused) == {"503"}, servers.ledger.refused

            postgres.start()
            refused = len(servers.ledger.refused)
            servers.traffic(20, callback_url=callback).result(timeout=180)
            assert len(servers.ledger.refused) == refused, servers.ledger.refused[refused:]

            wait_until(lambda: listeners(url) == 2, timeout=60, what="both replicas to LISTEN again")
            with servers.owner(0) as http:
                loop_path = f"/v1/api/loops/{servers.loop_id}/requests"
                hinted = http.post(loop_path, json=short_lived(600)).json()["data"]["request_id"]
                feed.wait_for(
                    lambda got: any(event.data.get("request_id") == hinted for event in got),
                    timeout=60,
                    what="the request created on the other replica",
                )
                due = http.post(loop_path, json=short_lived(1)).json()["data"]["request_id"]
                wait_until(
                    lambda: (
                        http.get(f"/v1/api/requests/{due}", params={"wait": 5}).json()["data"]["status"]
                        == "timeout"
                    ),
                    timeout=60,
                    what="the deadline sweeper to time the request out",
                )

            receiver.wait_until(
                lambda got: {r.json()["request_id"] for r in got} >= set(servers.ledger.answered),
                timeout=90,
                what="a callback for every acknowledged answer",
            )
            servers.check_acknowledged_survived()
            servers.check_feed_complete(feed)


def listeners(url: str) -> int:
    rows = query(url, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'")
    return int(rows[0][0])


def short_lived(seconds: int) -> dict[str, object]:
    return yes_no("Due soon", timeout_seconds=seconds)

"""Several processes on one PostgreSQL: hints cross replicas through LISTEN/NOTIFY or Redis, and the
separate `openhitl worker` process delivers."""

import asyncio
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings
from tests.support.databases import create_migrated_postgres_database, drop_postgres_database
from tests.support.live import LiveServer
from tests.support.payloads import request_body, yes_no
from tests.support.processes import (
    Replica,
    api_key,
    openhitl_env,
    start_openhitl,
    stop_processes,
    wait_healthy,
)

REDIS_URL = os.environ.get("OPENHITL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["postgres", "redis"])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers on one PostgreSQL database whose feeds only learn of new events through the notifier
    (their own polling is slowed to a minute)."""
    name, url = create_migrated_postgres_database()
    extra = {"notifier": request.param, "feed_poll_seconds": 60.0, "worker_poll_seconds": 0.2}
    if request.param == "redis":
        extra["redis_url"] = REDIS_URL
    servers = [
        LiveServer(make_settings(tmp_path / f"r{i}", url, **extra), backend="postgres").start()
        for i in (1, 2)
    ]
    try:
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()
        drop_postgres_database(name)


def test_a_decision_on_one_replica_wakes_a_waiter_on_the_other(
    replicas: tuple[LiveServer, LiveServer],
) -> None:
    first, second = replicas
    owner, reviewer = first.account("owner"), first.account("reviewer")
    with first.client(owner) as http:
        loop = http.post("/v1/api/loops", json={"name": "Replicated", "icon": "eye"}).json()["data"]
        request_id = http.post(
            f"/v1/api/loops/{loop['loop']['id']}/requests",
            json=yes_no("Ship it?", timeout_seconds=600),
        ).json()["data"]["request_id"]
    with first.client(reviewer) as http:
        assert http.post("/v1/api/loops/join", json={"invite_code": loop["invite_code"]}).status_code == 200
    with ThreadPoolExecutor(max_workers=1) as pool, second.client(owner) as waiting_http:
        waiting = pool.submit(waiting_http.get, f"/v1/api/requests/{request_id}", params={"wait": 30})
        time.sleep(0.5)
        started = time.monotonic()
        with first.client(reviewer) as http:
            assert (
                http.post(f"/v1/api/requests/{request_id}/respond", json={"response_data": True}).status_code
                == 200
            )
        answer = waiting.result(timeout=30)
        elapsed = time.monotonic() - started
    assert answer.json()["data"]["status"] == "completed"
    # the other replica polls its event log once a minute here: only the notifier can explain a quick wake-up
    assert elapsed < 20


def test_the_worker_command_delivers_for_the_servers(tmp_path: Path) -> None:
    name, url = create_migrated_postgres_database()
    env = openhitl_env(url, tmp_path, deadline_poll_seconds=0.2)
    worker_log = tmp_path / "worker.log"
    worker = start_openhitl(["worker"], env, worker_log)
    server = LiveServer(
        make_settings(tmp_path / "api", url, worker_enabled=False, timeout_seconds_min=1), backend="postgres"
    ).start()
    try:
        owner = server.account("owner")
        with server.client(owner) as http:
            loop_id = http.post("/v1/api/loops", json={"name": "W", "icon": "eye"}).json()["data"]["loop"][
                "id"
            ]
            request_id = http.post(
                f"/v1/api/loops/{loop_id}/requests",
                json=request_body(
                    request_text="Soon over",
                    timeout_seconds=2,
                    response_type="text",
                    response_config={},
                    default_response="none",
                    callback_url=...,
                ),
            ).json()["data"]["request_id"]
        # the API server runs no sweeper; only the worker process can time the request out
        deadline = time.monotonic() + 30
        status = "pending"
        while status != "timeout" and time.monotonic() < deadline:
            with server.client(owner) as http:
                status = http.get(f"/v1/api/requests/{request_id}", params={"wait": 5}).json()["data"][
                    "status"
                ]
        assert status == "timeout"
    finally:
        server.stop()
        stop_processes([worker])
        stderr = worker_log.read_text()
        drop_postgres_database(name)
    assert "worker stopped" in stderr
    assert "Traceback" not in stderr


def test_two_servers_and_two_workers_deliver_every_event_once(tmp_path: Path) -> None:
    """5,000 requests closed through two server processes (answered, cancelled or timed out), with two
    extra worker processes: every request reaches one terminal state, and its callback arrives once."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from tests.support.receiver import Receiver

    total = int(os.environ.get("OPENHITL_TEST_SCALE_REQUESTS", "5000"))
    name, url = create_migrated_postgres_database()
    env = openhitl_env(url, tmp_path, timeout_seconds_min=1, deadline_poll_seconds=0.2)
    replicas = [Replica(env, tmp_path / f"serve-{n}.log") for n in (1, 2)]
    for replica in replicas:
        replica.launch()
    workers = [start_openhitl(["worker"], env, tmp_path / f"worker-{n}.log") for n in (1, 2)]
    bases = [replica.url for replica in replicas]
    try:
        with Receiver() as receiver:
            for replica in replicas:
                wait_healthy(replica.url, replica.process, replica.log)
            owner_key = api_key(env, "owner@example.com")
            reviewer_key = api_key(env, "reviewer@example.com")
            # A connection idle as long as the server keeps one (5 s) may be closed just as it is reused
            # (the reset a loaded machine showed): these clients let theirs go sooner, as clients should.
            limits = httpx.Limits(keepalive_expiry=2)
            owners = [
                httpx.Client(
                    base_url=b, headers={"Authorization": f"Bearer {owner_key}"}, timeout=120, limits=limits
                )
                for b in bases
            ]
            reviewers = [
                httpx.Client(
                    base_url=b,
                    headers={"Authorization": f"Bearer {reviewer_key}"},
                    timeout=120,
                    limits=limits,
                )
                for b in bases
            ]
            loop = owners[0].post("/v1/api/loops", json={"name": "Scale", "icon": "eye"}).json()["data"]
            assert (
                reviewers[1].post("/v1/api/loops/join", json={"invite_code": loop["invite_code"]}).is_success
            )

            def create(index: int) -> tuple[int, str]:
                timeout = 3 if index % 4 == 3 else 3600
                body = yes_no(f"#{index}", timeout_seconds=timeout, callback_url=receiver.url())
                answer = owners[index % 2].post(f"/v1/api/loops/{loop['loop']['id']}/requests", json=body)
                assert answer.status_code == 201, answer.text
                return index, answer.json()["data"]["request_id"]

            def close(item: tuple[int, str]) -> None:
                index, request_id = item
                if index % 4 in (0, 1):
                    answer = reviewers[index % 2].post(
                        f"/v1/api/requests/{request_id}/respond", json={"response_data": index % 4 == 0}
                    )
                elif index % 4 == 2:
                    answer = owners[(index + 1) % 2].delete(f"/v1/api/requests/{request_id}")
                else:
                    return  # left to time out
                assert answer.status_code == 200, answer.text

            with ThreadPoolExecutor(max_workers=8) as pool:
                created = list(pool.map(create, range(total)))
                list(pool.map(close, created))
            expected = {
                request_id: ("completed", "completed", "cancelled", "timeout")[index % 4]
                for index, request_id in created
            }
            deadline = time.monotonic() + 240
            while (
                len({r.json()["request_id"] for r in receiver.received()}) < total
                and time.monotonic() < deadline
            ):
                time.sleep(0.5)
            time.sleep(2)  # room for a duplicate to show up, if there were one
            deliveries = receiver.received()
            for client in (*owners, *reviewers):
                client.close()

        by_event: dict[str, set[bytes]] = {}
        per_request: dict[str, list[str]] = {}
        for delivery in deliveries:
            by_event.setdefault(delivery.event_id, set()).add(delivery.body)
            per_request.setdefault(delivery.json()["request_id"], []).append(delivery.event_id)
        assert set(per_request) == set(expected), f"{len(per_request)} of {total} requests called back"
        assert all(len(ids) == 1 for ids in per_request.values()), "an event was delivered more than once"
        assert all(len(bodies) == 1 for bodies in by_event.values())
        assert {d.json()["request_id"]: d.json()["status"] for d in deliveries} == expected

        async def terminal_events() -> list[tuple[str, int]]:
            engine = create_async_engine(url)
            try:
                async with engine.connect() as connection:
                    rows = await connection.execute(
                        text(
                            "SELECT request_id, count(*) FROM events WHERE type IN "
                            "('request.completed', 'request.cancelled', 'request.timeout') GROUP BY request_id"
                        )
                    )
                    return [(r[0], r[1]) for r in rows]
            finally:
                await engine.dispose()

        counts = asyncio.run(terminal_events())
        assert len(counts) == total and {c for _, c in counts} == {1}
    finally:
        stop_processes([*(r.process for r in replicas if r.process is not None), *workers])
        drop_postgres_database(name)

"""Several processes on one PostgreSQL: hints cross replicas through LISTEN/NOTIFY or Redis, and the
separate `openhitl worker` process delivers."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from openhitl.migrations import upgrade
from tests.conftest import make_settings
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.live import LiveServer

REDIS_URL = os.environ.get("OPENHITL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["postgres", "redis"])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers on one PostgreSQL database whose feeds only learn of new events through the notifier
    (their own polling is slowed to a minute)."""
    name, url = create_postgres_database()
    upgrade(url)
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
            json={
                "processing_type": "time-sensitive",
                "type": "markdown",
                "request_text": "Ship it?",
                "timeout_seconds": 600,
                "response_type": "boolean",
                "response_config": {},
                "default_response": False,
            },
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
    name, url = create_postgres_database()
    upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHITL_")}
    env.update(
        OPENHITL_DATABASE_URL=url,
        OPENHITL_SECRET_KEY="test-secret-key",
        OPENHITL_DATA_DIR=str(tmp_path),
        OPENHITL_DEADLINE_POLL_SECONDS="0.2",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "openhitl", "worker"], env=env, stderr=subprocess.PIPE, text=True
    )
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
                json={
                    "processing_type": "time-sensitive",
                    "type": "markdown",
                    "request_text": "Soon over",
                    "timeout_seconds": 2,
                    "response_type": "text",
                    "response_config": {},
                    "default_response": "none",
                },
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
        worker.terminate()
        _, stderr = worker.communicate(timeout=30)
        drop_postgres_database(name)
    assert "worker stopped" in stderr
    assert "Traceback" not in stderr

"""A small real deployment for fault tests: `openhitl serve` processes on one database, an owner with a
loop, a reviewer in it, traffic that records what the servers acknowledged, and the checks that every
acknowledged thing survived the fault."""

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.databases import query
from tests.support.payloads import yes_no
from tests.support.processes import Replica, api_key, openhitl_env, stop_processes, wait_healthy
from tests.support.sse import ResumingFeed


@dataclass
class Ledger:
    """What the servers acknowledged (a 2xx), and how every other call ended."""

    created: dict[str, bool] = field(default_factory=dict)  # request id -> the answer it will be given
    answered: dict[str, bool] = field(default_factory=dict)  # request id -> the answer acknowledged
    refused: list[str] = field(default_factory=list)  # "503", "ConnectError", ... per failed call
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, outcome: str) -> None:
        with self.lock:
            self.refused.append(outcome)


@dataclass
class Deployment:
    database_url: str
    replicas: list[Replica]
    owner_key: str
    reviewer_key: str
    loop_id: str
    ledger: Ledger = field(default_factory=Ledger)

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]

    def owner(self, replica: int = 0) -> httpx.Client:
        return _client(self.urls[replica], self.owner_key)

    def traffic(self, count: int, *, callback_url: str | None = None, workers: int = 4) -> "Future[None]":
        """`count` requests, each created on one replica and answered on the next, in the background."""
        pool = ThreadPoolExecutor(max_workers=workers)
        start = self.ledger.attempts
        futures = [pool.submit(self._create_and_answer, start + i, callback_url) for i in range(count)]
        self.ledger.attempts += count
        pool.shutdown(wait=False)
        done: Future[None] = Future()

        def finish() -> None:
            try:
                for future in futures:
                    future.result()
                done.set_result(None)
            except BaseException as exc:
                done.set_exception(exc)

        threading.Thread(target=finish, daemon=True).start()
        return done

    def finished(self) -> int:
        with self.ledger.lock:
            return len(self.ledger.answered) + len(self.ledger.refused)

    def _create_and_answer(self, index: int, callback_url: str | None) -> None:
        urls, answer = self.urls, index % 2 == 0
        body = yes_no(f"#{index}", **({"callback_url": callback_url} if callback_url else {}))
        created = _call(
            urls[index % len(urls)], self.owner_key, f"/v1/api/loops/{self.loop_id}/requests", body
        )
        if created is None or created.status_code != 201:
            self.ledger.note(_outcome(created))
            return
        request_id = created.json()["data"]["request_id"]
        with self.ledger.lock:
            self.ledger.created[request_id] = answer
        path = f"/v1/api/requests/{request_id}/respond"
        answered = _call(urls[(index + 1) % len(urls)], self.reviewer_key, path, {"response_data": answer})
        if answered is None or answered.status_code != 200:
            self.ledger.note(_outcome(answered))
            return
        with self.ledger.lock:
            self.ledger.answered[request_id] = answer

    def check_acknowledged_survived(self) -> None:
        """Every acknowledged request exists; every acknowledged answer is its one and only outcome."""
        ledger = self.ledger
        assert ledger.created, "no request was acknowledged at all"
        statuses = {row[0]: row[1] for row in query(self.database_url, "SELECT id, status FROM requests")}
        missing = set(ledger.created) - set(statuses)
        assert not missing, f"{len(missing)} acknowledged requests are gone"
        with self.owner() as http, ThreadPoolExecutor(max_workers=4) as pool:
            reads = pool.map(lambda rid: http.get(f"/v1/api/requests/{rid}").json()["data"], ledger.answered)
            for data in reads:
                assert data["status"] == "completed", data
                assert data["response_value"] == ledger.answered[data["request_id"]], data
        terminal = query(
            self.database_url,
            "SELECT request_id, count(*) FROM events WHERE type IN "
            "('request.completed', 'request.cancelled', 'request.timeout') GROUP BY request_id",
        )
        assert all(count == 1 for _, count in terminal), "a request reached two terminal states"
        closed = {rid for rid, status in statuses.items() if status in ("completed", "cancelled", "timeout")}
        assert {rid for rid, _ in terminal} == closed

    def loop_event_ids(self) -> list[int]:
        rows = query(
            self.database_url, "SELECT id FROM events WHERE loop_id = :loop ORDER BY id", loop=self.loop_id
        )
        return [int(row[0]) for row in rows]

    def check_feed_complete(self, feed: ResumingFeed) -> None:
        """The feed got every event of the loop, once each, in order: nothing lost across the fault."""
        expected = self.loop_event_ids()
        feed.wait_for(
            lambda got: bool(got) and int(got[-1].id or 0) >= expected[-1], timeout=60, what="the last event"
        )
        assert feed.ids() == expected


def _client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _call(url: str, key: str, path: str, body: object) -> httpx.Response | None:
    try:
        with _client(url, key) as http:
            return http.post(path, json=body)
    except httpx.TransportError:
        return None  # the replica is down: nothing was acknowledged


def _outcome(response: httpx.Response | None) -> str:
    return "no answer" if response is None else str(response.status_code)


@contextmanager
def deployment(
    database_url: str, directory: Path, *, replicas: int = 2, **settings: object
) -> Iterator[Deployment]:
    """`replicas` servers started at once (so they also migrate at once), an owner's loop and a reviewer."""
    env = openhitl_env(database_url, directory, timeout_seconds_min=1, deadline_poll_seconds=0.2, **settings)
    servers = [Replica(env, directory / f"serve-{n}.log") for n in range(replicas)]
    for server in servers:
        server.launch()
    try:
        for server in servers:
            wait_healthy(server.url, server.process, server.log)
        owner_key, reviewer_key = api_key(env, "owner@example.com"), api_key(env, "reviewer@example.com")
        with _client(servers[0].url, owner_key) as http:
            loop = http.post("/v1/api/loops", json={"name": "Faults", "icon": "eye"}).json()["data"]
        with _client(servers[-1].url, reviewer_key) as http:
            assert (
                http.post("/v1/api/loops/join", json={"invite_code": loop["invite_code"]}).status_code == 200
            )
        yield Deployment(database_url, servers, owner_key, reviewer_key, loop["loop"]["id"])
    finally:
        stop_processes([server.process for server in servers if server.process is not None])


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)

"""Shared fixtures: a live server per database backend, accounts, and HTTP clients."""

import ipaddress
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from openhitl.config import Settings
from tests.support.databases import (
    TEMPLATES,
    create_migrated_postgres_database,
    drop_postgres_database,
    migrated_sqlite_url,
)
from tests.support.live import LiveServer
from tests.support.receiver import Receiver

BACKENDS = ["sqlite", "postgres"]
_real_getaddrinfo = socket.getaddrinfo


def _loopback_only_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    """Tests talk to loopback only: names like your-app.com (from the seed) must not reach a DNS server."""
    name = host.decode() if isinstance(host, bytes) else host
    if name in (None, "localhost") or _is_ip_literal(name):
        return _real_getaddrinfo(host, *args, **kwargs)
    raise socket.gaierror(socket.EAI_NONAME, f"name resolution is disabled in tests: {name}")


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture(scope="session", autouse=True)
def no_outside_dns() -> Iterator[None]:
    socket.getaddrinfo = _loopback_only_getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture(scope="session", autouse=True)
def database_templates() -> Iterator[None]:
    """Drops the migrated databases this test process copied (tests/support/databases.py) at its end."""
    yield
    off_loop(TEMPLATES.drop)


T = TypeVar("T")

# Every test client comes from 127.0.0.1, and the session's servers are shared: per-address and overall
# guessing guards are opened up, except where tested (tests/security/test_guessing.py).
# Small pools: many live servers share one PostgreSQL (100 connections by default) across the xdist workers.
TEST_DEFAULTS: dict[str, object] = {
    "db_pool_size": 4,
    # Tests move the clock forward (tests/support/clock.py) and expect the outbox to notice within a second.
    "worker_poll_seconds": 1.0,
    "join_attempts_per_minute_per_address": 100_000,
    "login_attempts_per_minute": 100_000,
    "code_misses_per_minute_per_address": 100_000,
    "code_misses_per_minute": 100_000,
}


def make_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    values = {**TEST_DEFAULTS, **overrides}
    return Settings(data_dir=data_dir, database_url=database_url, secret_key="test-secret-key", **values)  # type: ignore[arg-type]


def off_loop(function: Callable[..., T], *args: Any) -> T:
    """Runs set-up that calls asyncio.run() in a thread of its own: browser tests hold a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


def start_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, **overrides: object
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp(f"openhitl-{backend}")
    pg_name = None
    if backend == "postgres":
        pg_name, url = off_loop(create_migrated_postgres_database)
    else:
        url = off_loop(migrated_sqlite_url, data_dir)
    try:
        server = LiveServer(make_settings(data_dir, url, **overrides), backend=backend).start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        if pg_name:
            off_loop(drop_postgres_database, pg_name)


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server per backend for the whole session; tests isolate themselves by their own accounts."""
    yield from start_server(request.param, tmp_path_factory)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback that records what it is sent."""
    with Receiver() as running:
        yield running


@pytest.fixture
def resolves(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Names the server's resolver answers with an address of the test's choosing (the server runs in this
    process); everything else resolves as before."""
    names: dict[str, str] = {}
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in names:
            return resolve(names[name], port, *args, **kwargs)
        return resolve(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names

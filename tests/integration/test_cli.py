"""The command line as scripts use it: real processes, a real port, on both databases."""

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.live import free_port
from tests.support.payloads import SEED_LOOP, SEED_REQUEST

OPENHITL = [sys.executable, "-m", "openhitl"]


@pytest.fixture(params=BACKENDS)
def environment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHITL_")}
    env["OPENHITL_DATA_DIR"] = str(tmp_path / "data")
    if request.param == "sqlite":
        yield env
        return
    name, url = create_postgres_database()
    env["OPENHITL_DATABASE_URL"] = url.replace("+asyncpg", "")  # plain URLs get the async driver
    try:
        yield env
    finally:
        drop_postgres_database(name)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPENHITL, *args], env=env, capture_output=True, text=True, timeout=120)


def test_api_key_create_prints_only_the_key(environment: dict[str, str]) -> None:
    first = run(environment, "api-key", "create", "--email", "Owner@Example.com", "--name", "ci")
    second = run(environment, "api-key", "create", "--email", "owner@example.com")
    assert first.returncode == 0, first.stderr
    assert re.fullmatch(r"hitl_live_[0-9a-f]{64}\n", first.stdout)
    assert re.fullmatch(r"hitl_live_[0-9a-f]{64}\n", second.stdout)
    assert first.stdout != second.stdout
    if "OPENHITL_DATABASE_URL" not in environment:
        secret = Path(environment["OPENHITL_DATA_DIR"]) / "secret_key"
        assert secret.exists() and oct(secret.stat().st_mode & 0o777) == "0o600"


def test_api_key_create_refuses_a_non_email(environment: dict[str, str]) -> None:
    result = run(environment, "api-key", "create", "--email", "nobody")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "not an email address" in result.stderr


def test_serve_migrates_and_serves_the_api(environment: dict[str, str]) -> None:
    key = run(environment, "api-key", "create", "--email", "owner@example.com").stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [*OPENHITL, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
            assert http.get("/v1/test").json()["data"]["email"] == "owner@example.com"
            loop = http.post("/v1/loops", json=SEED_LOOP).json()["data"]
            assert loop["join_url"] == f"{base}/join/{loop['invite_code']}"
            created = http.post(f"/v1/api/loops/{loop['loop']['id']}/requests", json=SEED_REQUEST)
            assert created.status_code == 201
            assert http.get(created.json()["data"]["polling_url"]).json()["data"]["status"] == "pending"
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so supervisors see why it stopped.
    assert server.returncode in (0, -15), stderr
    assert "Application shutdown complete" in stderr
    assert "Traceback" not in stderr


def test_openapi_command_prints_the_document(tmp_path: Path) -> None:
    result = subprocess.run([*OPENHITL, "openapi"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"openapi": "3.1.0"' in result.stdout

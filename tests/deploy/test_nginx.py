"""deploy/nginx.conf, as shipped, in front of two real replicas on loopback: it is valid, proxies a round
trip, streams server-sent events as they happen (no buffering), steps around a replica that is down, and
drops clients that send their request head or body too slowly while answering the others (its deadlines
shortened here, so that the test need not wait ten seconds).

PostgreSQL only: several replicas need a database they can share."""

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.faults.deployment import Deployment, deployment
from tests.support.databases import throwaway_database
from tests.support.live import free_port
from tests.support.payloads import yes_no
from tests.support.slow import connect, read_until_closed
from tests.support.sse import SseListener

REFERENCE = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
SHORTER_DEADLINES = {
    "client_header_timeout 10s;": "client_header_timeout 1s;",
    "client_body_timeout 30s;": "client_body_timeout 1s;",
}


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        pytest.fail("nginx is needed to test deploy/nginx.conf: apt-get install nginx-light", pytrace=False)
    return found


def render(directory: Path, *, listen: int, replicas: list[str]) -> Path:
    """The reference configuration with loopback addresses for the compose service names, and shorter
    client deadlines."""
    text = REFERENCE.read_text()
    for setting, shorter in SHORTER_DEADLINES.items():
        assert setting in text, f"deploy/nginx.conf no longer sets {setting}"
        text = text.replace(setting, shorter)
    for number, url in enumerate(replicas, 1):
        name = f"server openhitl-{number}:8000"
        assert name in text, f"deploy/nginx.conf no longer names {name}"
        text = text.replace(name, f"server {url.removeprefix('http://')}")
    assert "listen 80;" in text
    config = directory / "nginx.conf"
    config.write_text(text.replace("listen 80;", f"listen 127.0.0.1:{listen};"))
    return config


@contextmanager
def nginx(directory: Path, replicas: list[str]) -> Iterator[str]:
    binary, port = nginx_binary(), free_port()
    config = render(directory, listen=port, replicas=replicas)
    (directory / "logs").mkdir(exist_ok=True)
    command = [binary, "-p", str(directory), "-c", str(config)]
    settings = f"daemon off; pid {directory / 'nginx.pid'}; error_log {directory / 'error.log'};"
    checked = subprocess.run([*command, "-t", "-g", settings], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([*command, "-g", settings], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_reference_nginx_config_balances_replicas_and_streams_events(tmp_path: Path) -> None:
    with (
        throwaway_database("postgres", tmp_path) as url,
        deployment(url, tmp_path, replicas=2) as servers,
        nginx(tmp_path, servers.urls) as public,
    ):
        requests_path = f"/v1/api/loops/{servers.loop_id}/requests"
        headers = {"Authorization": f"Bearer {servers.reviewer_key}"}
        with (
            httpx.Client(base_url=public, headers={"Authorization": f"Bearer {servers.owner_key}"}) as http,
            SseListener(f"{public}/v1/api/events", headers=headers) as stream,
        ):
            assert stream.response_headers is not None
            assert stream.response_headers["content-type"].startswith("text/event-stream")
            created = http.post(requests_path, json=yes_no("Through the proxy?"))
            assert created.status_code == 201, created.text
            request_id = created.json()["data"]["request_id"]
            # Unbuffered: the event arrives while the stream stays open, not when it ends.
            event = stream.next(timeout=30)
            assert (event.event, event.data["request_id"]) == ("request.created", request_id)

            read = http.get(f"/v1/api/requests/{request_id}")
            assert read.status_code == 200 and read.json()["data"]["status"] == "pending"

            slow_clients_are_dropped_while_others_are_served(public, http, servers.owner_key)

            stop_one(servers)
            answers = [http.get(f"/v1/api/requests/{request_id}").status_code for _ in range(6)]
            assert answers == [200] * 6, "nginx sent requests to the replica that is down"


def stop_one(servers: Deployment) -> None:
    servers.replicas[0].kill()


def slow_clients_are_dropped_while_others_are_served(public: str, http: httpx.Client, key: str) -> None:
    port = int(public.rsplit(":", 1)[1])
    body_head = (
        "POST /v1/api/loops HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f'Authorization: Bearer {key}\r\nContent-Length: 4000\r\n\r\n{{"name": '
    ).encode()
    stalled = [connect(port, b"GET /v1/api/loo") for _ in range(20)] + [
        connect(port, body_head) for _ in range(10)
    ]
    try:
        assert [http.get("/health").status_code for _ in range(5)] == [200] * 5  # while they are held
        for sock in stalled:
            assert not read_until_closed(sock).startswith(b"HTTP/1.1 2"), "a slow request was answered"
    finally:
        for sock in stalled:
            sock.close()

"""The examples run as documented against a live server, so they cannot rot."""

import os
import runpy
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from openhitl import Client
from tests.integration.reviewing import Team
from tests.integration.webhooking import webhook_key
from tests.sdk.conftest import answer, answer_when_asked, asked
from tests.support.live import LiveServer, free_port
from tests.support.payloads import request_body

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_refund_agent_refunds_only_what_a_human_approved(server: LiveServer, team: Team) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHITL_")}
    env.update(OPENHITL_URL=server.url, OPENHITL_API_KEY=team.owner.key)
    agent = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "refund_agent.py"), team.loop_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = answer_when_asked(team, "approve")
    answer_when_asked(team, "reject", besides=first)
    stdout, stderr = agent.communicate(timeout=60)
    assert agent.returncode == 0, stderr
    said = [line for line in stdout.splitlines() if not line.endswith("asking a human first")]
    assert said == [
        "agent: refunded 25.00 on A-1001",
        "agent: no refund on A-1002: issue_refund was not run: rejected by reviewer0",
    ]


@contextmanager
def serving(app: Any) -> Iterator[str]:
    port = free_port()
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not running.started:
        assert time.monotonic() < deadline, "the example receiver did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/openhitl/webhook"
    finally:
        running.should_exit = True
        thread.join(timeout=15)


def test_the_webhook_receiver_keeps_signed_decisions_and_refuses_forgeries(
    server: LiveServer, team: Team
) -> None:
    with Client(webhook_key(server, team.owner).key, server.url) as client:
        secret = client.signing_secret()
        app = runpy.run_path(str(EXAMPLES / "webhook_receiver.py"))["make_app"](secret)
        with serving(app) as url:
            created = client.create_request(team.loop_id, request_body(callback_url=url))
            answer(team, asked(team), "Reject")
            deadline = time.monotonic() + 15
            while created.request_id not in app.state.decisions:
                assert time.monotonic() < deadline, "no decision arrived"
                time.sleep(0.05)
            forged = httpx.post(url, content=b'{"event":"request.completed"}', headers={"webhook-id": "x"})
    assert app.state.decisions[created.request_id] == {
        "status": "completed",
        "answer": {"selected_value": "Reject", "selected_label": "Reject"},
    }
    assert forged.status_code == 401

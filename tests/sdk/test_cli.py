"""The caller's commands as a shell script runs them: real processes against the live server."""

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.integration.reviewing import Team
from tests.sdk.conftest import answer_when_asked, asked, cancel_when_asked, deadlines_passed
from tests.support.live import Account, LiveServer

OPENHITL = [sys.executable, "-m", "openhitl"]


def environment(server: LiveServer, account: Account | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHITL_")}
    env["OPENHITL_URL"] = server.url
    if account:
        env["OPENHITL_API_KEY"] = account.key
    return env


def run(server: LiveServer, account: Account | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = environment(server, account)
    return subprocess.run([*OPENHITL, *args], env=env, capture_output=True, text=True, timeout=60)


def start(server: LiveServer, account: Account, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*OPENHITL, *args],
        env=environment(server, account),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=60)
    return process.returncode, stdout, stderr


def test_loops_and_requests_commands(server: LiveServer, team: Team) -> None:
    created = run(server, team.owner, "loops", "create", "Deploys", "--icon", "🚀")
    assert created.returncode == 0, created.stderr
    loop_id, invite_code, join_url = created.stdout.strip().split("\t")
    assert join_url.endswith(invite_code)
    listed = run(server, team.owner, "loops", "list")
    assert f"{loop_id}\tDeploys\t1\tcreator" in listed.stdout.splitlines()
    as_json = json.loads(run(server, team.owner, "loops", "list", "--json").stdout)
    assert {loop["id"] for loop in as_json} == {loop_id, team.loop_id}
    request_id = team.ask(callback_url=None, request_text="Roll back the deploy?")
    lines = run(server, team.owner, "requests", "list", "--loop", team.loop_id).stdout.splitlines()
    assert lines == [f"{request_id}\tpending\tmedium\tRoll back the deploy?"]
    fetched = json.loads(run(server, team.owner, "requests", "get", request_id).stdout)
    assert (fetched["id"], fetched["status"]) == (request_id, "pending")
    cancelled = run(server, team.owner, "requests", "cancel", request_id, "--reason", "fixed")
    assert cancelled.stdout == f"{request_id} cancelled (was pending)\n"
    again = run(server, team.owner, "requests", "cancel", request_id)
    assert again.returncode == 1 and again.stdout == ""
    assert "Request cannot be cancelled in current state" in again.stderr and "(status 400)" in again.stderr


def test_commands_without_a_key_say_what_to_set(server: LiveServer) -> None:
    result = run(server, None, "loops", "list")
    assert result.returncode == 2 and "set OPENHITL_API_KEY" in result.stderr


ASK = ("ask", "Deploy to production?", "--options", "Approve,Reject", "--reject", "Reject")


@pytest.mark.parametrize(("value", "code"), [("Approve", 0), ("Reject", 5)])
def test_ask_prints_the_answer_and_exits_by_it(server: LiveServer, team: Team, value: str, code: int) -> None:
    process = start(server, team.owner, *ASK, "--loop", team.loop_id)
    answer_when_asked(team, value)
    assert finish(process)[:2] == (code, f"{value}\n")


def test_ask_exits_3_with_the_default_on_timeout(server: LiveServer, team: Team) -> None:
    process = start(server, team.owner, *ASK, "--loop", team.loop_id, "--timeout", "120")
    asked(team)
    with deadlines_passed(server):
        code, stdout, stderr = finish(process)
    assert (code, stdout) == (3, "Reject\n")
    assert "nobody answered in time; the default answer is printed" in stderr


def test_ask_exits_4_on_cancel_and_prints_json_when_asked(server: LiveServer, team: Team) -> None:
    process = start(
        server, team.owner, "ask", "Proceed?", "--type", "boolean", "--json", "--loop", team.loop_id
    )
    cancel_when_asked(team)
    code, stdout, _ = finish(process)
    decision: dict[str, Any] = json.loads(stdout)
    assert code == 4
    assert (decision["status"], decision["value"], decision["is_default"]) == ("cancelled", False, True)


def test_ask_exits_1_when_the_server_refuses(server: LiveServer, team: Team) -> None:
    result = run(server, team.owner, *ASK, "--loop", "0" * 24)
    assert (result.returncode, result.stdout) == (1, "")
    assert "Loop not found (status 404)" in result.stderr


def test_ask_exits_2_when_the_question_needs_a_default(server: LiveServer, team: Team) -> None:
    result = run(server, team.owner, "ask", "How many?", "--type", "number", "--loop", team.loop_id)
    assert result.returncode == 2 and "needs a default" in result.stderr
    unreadable = run(
        server, team.owner, "ask", "How many?", "--type", "number", "--default", "many", "--loop", "x"
    )
    assert unreadable.returncode == 2 and "a number default must be JSON" in unreadable.stderr

"""The caller's commands as scripts use them: outputs and exit codes against the live server.

Most run in-process (typer's runner, the same code path less the interpreter start); one `ask` runs as a
real process, as a shell script would start it.
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from openhitl.cli import cli
from tests.integration.reviewing import Team
from tests.sdk.conftest import answer_when_asked, asked, cancel_when_asked, deadlines_passed
from tests.support.live import Account, LiveServer


def run(server: LiveServer, account: Account | None, *args: str) -> Result:
    env = {"OPENHITL_URL": server.url, "OPENHITL_API_KEY": account.key if account else None}
    return CliRunner().invoke(cli, list(args), env=env)


def test_loops_and_requests_commands(server: LiveServer, team: Team) -> None:
    created = run(server, team.owner, "loops", "create", "Deploys", "--icon", "🚀")
    assert created.exit_code == 0, created.stderr
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
    assert again.exit_code == 1 and again.stdout == ""
    assert "Request cannot be cancelled in current state" in again.stderr and "(status 400)" in again.stderr


def test_commands_without_a_key_say_what_to_set(server: LiveServer) -> None:
    result = run(server, None, "loops", "list")
    assert result.exit_code == 2 and "set OPENHITL_API_KEY" in result.stderr


ASK = ("ask", "Deploy to production?", "--options", "Approve,Reject", "--reject", "Reject")


def test_ask_as_a_process_prints_the_answer_and_exits_0(server: LiveServer, team: Team) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHITL_")}
    env.update(OPENHITL_URL=server.url, OPENHITL_API_KEY=team.owner.key)
    process = subprocess.Popen(
        [sys.executable, "-m", "openhitl", *ASK, "--loop", team.loop_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    answer_when_asked(team, "Approve")
    stdout, stderr = process.communicate(timeout=60)
    assert (process.returncode, stdout) == (0, "Approve\n")
    assert stderr.startswith("answered by reviewer0 at ")


def asking(server: LiveServer, team: Team, *args: str) -> Any:
    """`openhitl ask` running in the background; `.result()` is its typer Result."""
    pool = ThreadPoolExecutor(max_workers=1)
    running = pool.submit(run, server, team.owner, *args, "--loop", team.loop_id)
    pool.shutdown(wait=False)
    return running


def test_ask_exits_5_for_a_rejecting_answer(server: LiveServer, team: Team) -> None:
    running = asking(server, team, *ASK)
    answer_when_asked(team, "Reject")
    result = running.result(timeout=60)
    assert (result.exit_code, result.stdout) == (5, "Reject\n")


def test_ask_exits_3_with_the_default_on_timeout(server: LiveServer, team: Team) -> None:
    running = asking(server, team, *ASK, "--timeout", "120")
    asked(team)
    with deadlines_passed(server):
        result = running.result(timeout=60)
    assert (result.exit_code, result.stdout) == (3, "Reject\n")
    assert "nobody answered in time; the default answer is printed" in result.stderr


def test_ask_exits_4_on_cancel_and_prints_json_when_asked(server: LiveServer, team: Team) -> None:
    running = asking(server, team, "ask", "Proceed?", "--type", "boolean", "--json")
    cancel_when_asked(team)
    result = running.result(timeout=60)
    decision = json.loads(result.stdout)
    assert result.exit_code == 4
    assert (decision["status"], decision["value"], decision["is_default"]) == ("cancelled", False, True)


def test_ask_exits_1_when_the_server_refuses(server: LiveServer, team: Team) -> None:
    result = run(server, team.owner, *ASK, "--loop", "0" * 24)
    assert (result.exit_code, result.stdout) == (1, "")
    assert "Loop not found (status 404)" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--type", "number"), "a number question needs a default"),
        (("--type", "number", "--default", "many"), "a number default must be JSON"),
    ],
)
def test_ask_exits_2_for_a_question_it_cannot_send(
    server: LiveServer, team: Team, args: tuple[str, ...], message: str
) -> None:
    result = run(server, team.owner, "ask", "How many?", *args, "--loop", team.loop_id)
    assert result.exit_code == 2 and message in result.stderr

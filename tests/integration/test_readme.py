"""The README's curl tutorial and reviewer example, run as written against a live server.

The shell blocks of the sections "Your first loop, with curl" and "Reviewers" run in bash, in order, with ids
captured the way the README captures them. Only what the README itself calls an example is replaced: the
server's address, the reviewer's email address (fresh for each run), the `callback_url` (a receiver on
loopback: the example's https://your-app.com is never contacted) and the emailed sign-in link (read from the
server's outbox, where a person would read it from the log or their mail). `curl` is wrapped to fail on an
HTTP error and to keep every answer, which the test then checks one by one.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.live import LiveServer
from tests.support.receiver import Receiver

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_URL = "http://127.0.0.1:8000"
EXAMPLE_CALLBACK = "https://your-app.com/webhook/response"
EXAMPLE_REVIEWER = "rita@example.com"
EXAMPLE_LINK = "LINK='http://127.0.0.1:8000/login/email/the-token-from-the-email'"

# Every curl the README runs: failing on an HTTP error status, each answer kept one per line in $ANSWERS.
PRELUDE = """set -euo pipefail
curl() {
  local body
  body=$(command curl --fail-with-body "$@") || { echo "curl $* failed: $body" >&2; return 1; }
  printf '%s\\n' "$body" >> "$ANSWERS"
  printf '%s\\n' "$body"
}
"""


def shell_blocks(section: str) -> list[str]:
    """The ```sh blocks of a README section (from its heading to the next one)."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```sh\n(.*?)```", text[start : end if end != -1 else None], flags=re.DOTALL)


def bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", "-c", PRELUDE + script], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def test_the_readme_tutorial_runs_as_written(server: LiveServer, tmp_path: Path) -> None:
    assert shutil.which("curl"), "curl is needed (Debian package curl)"
    tutorial = shell_blocks("Your first loop, with curl")
    reviewer = shell_blocks("Reviewers")
    assert len(tutorial) == 5 and len(reviewer) == 2
    script = "\n".join(tutorial + reviewer)
    for example in (EXAMPLE_CALLBACK, EXAMPLE_REVIEWER, EXAMPLE_LINK, ".venv/bin/openhitl"):
        assert example in script, f"the README no longer shows {example}: update this test with it"
    before_link, after_link = script.split(EXAMPLE_LINK)
    reviewer_email = f"rita-{server.port}-{os.getpid()}-{tmp_path.name}@example.com".lower()

    with Receiver() as receiver:

        def ours(text: str) -> str:
            return (
                text.replace(EXAMPLE_CALLBACK, receiver.url("/webhook/response"))
                .replace(EXAMPLE_REVIEWER, reviewer_email)
                .replace(".venv/bin/openhitl", f"{shlex.quote(sys.executable)} -m openhitl")
                .replace(EXAMPLE_URL, server.url)
            )

        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHITL_")}
        env.update(
            ANSWERS=str(tmp_path / "answers"),
            OPENHITL_DATABASE_URL=server.settings.resolved_database_url,
            OPENHITL_SECRET_KEY=server.settings.resolved_secret_key,
            OPENHITL_DATA_DIR=str(server.settings.data_dir),
            # The README says to set it when the server is not at its example address: this one is not.
            OPENHITL_BASE_URL=server.url,
        )
        # The person reads the emailed link between the two halves; the shell's variables carry over.
        first = bash(
            ours(before_link)
            + '\n{ declare -p API KEY LOOP CODE RID; declare -f field; } > "$PWD/state.sh"\n',
            env,
            tmp_path,
        )
        link = server.url + server.emailed_link(reviewer_email, "/login/email/")
        bash(f'source "$PWD/state.sh"\nLINK={shlex.quote(link)}\n' + ours(after_link), env, tmp_path)
        assert "created a new database" not in first.stderr
        # "Sign in to the dashboard": the command printed a link of its own line, which signs the owner in.
        [owner_link] = re.findall(rf"^{re.escape(server.url)}/login/email/\S+$", first.stdout, flags=re.M)
        with server.client() as http:
            signed_in = http.get(owner_link, headers={"Accept": "application/json"})
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["data"]["user"]["email"] == "you@example.com"

        answers = [json.loads(line) for line in (tmp_path / "answers").read_text().splitlines() if line]
        check_answers(answers, reviewer_email)
        request_id = answers[2]["data"]["request_id"]
        callbacks = receiver.wait_for(1, path="/webhook/response")
    callback = callbacks[0].json()
    assert callback["event"] == "request.completed"
    assert callback["data"]["request_id"] == request_id
    assert callback["data"]["response_data"] == "Approve"


def check_answers(answers: list[dict[str, Any]], reviewer_email: str) -> None:
    assert len(answers) == 9, answers
    assert all(answer["error"] is False for answer in answers), answers
    test, loop, created, polled, _signed_up, signed_in, inbox, claimed, answered = answers
    assert test["data"]["email"] == "you@example.com"
    assert loop["msg"] == "Loop created successfully with QR code"
    assert loop["data"]["loop"]["name"] == "Content Moderation Review"
    request_id = created["data"]["request_id"]
    assert created["data"]["status"] == "pending"
    assert created["data"]["polling_url"] == f"/v1/api/requests/{request_id}"
    assert polled["data"]["status"] == "pending"
    assert polled["data"]["request"]["id"] == request_id
    assert polled["data"]["default_response"] == "Approve"
    assert signed_in["data"]["user"]["email"] == reviewer_email
    assert signed_in["data"]["joined_loop_ids"] == [loop["data"]["loop"]["id"]]
    assert signed_in["data"]["csrf_token"]
    assert [item["id"] for item in inbox["data"]["requests"]] == [request_id]
    assert claimed["data"]["request"]["status"] == "claimed"
    assert answered["data"]["request"]["status"] == "completed"
    assert answered["data"]["request"]["response_data"] == {
        "selected_value": "Approve",
        "selected_label": "Approve",
    }


@pytest.mark.parametrize("section", ["Your first loop, with curl", "Reviewers"])
def test_the_readme_examples_use_no_id_of_a_past_run(section: str) -> None:
    """Ids are captured from answers, never pasted: a 24-hex id in a command would be someone else's."""
    for block in shell_blocks(section):
        assert not re.search(r"\b[0-9a-f]{24}\b", block), block
        assert "ENXTVY" not in block

"""The command line as scripts use it: real processes, a real port, on both databases."""

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import httpx
import pytest

from openhitl.accounts.schemas import Permission
from tests.conftest import BACKENDS, off_loop
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.live import LiveServer, free_port
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


def run(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPENHITL, *args], env=env, capture_output=True, text=True, timeout=120, cwd=cwd)


def key_for(server: LiveServer, email: str, *args: str) -> str:
    """`openhitl api-key create` on the test server's database, as its operator would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHITL_")}
    env.update(
        OPENHITL_DATABASE_URL=server.settings.resolved_database_url,
        OPENHITL_SECRET_KEY=server.settings.resolved_secret_key,
        OPENHITL_DATA_DIR=str(server.settings.data_dir),
    )
    created = run(env, "api-key", "create", "--email", email, *args)
    assert created.returncode == 0, created.stderr
    assert "created a new database" not in created.stderr
    return created.stdout.strip()


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
    # The database was migrated by `api-key create`: starting says nothing of migrations.
    assert "setup plugin" not in stderr
    assert "Running upgrade" not in stderr
    assert "database is at the newest schema" not in stderr
    assert "created a new database" not in stderr
    # Nobody has a password and no SMTP is set up: one line says how to get in.
    get_in = [line for line in stderr.splitlines() if "nobody can sign in to the dashboard yet" in line]
    assert len(get_in) == 1, stderr
    assert "openhitl login-link --email" in get_in[0] and "OPENHITL_SMTP_URL" in get_in[0]


def test_openapi_command_prints_the_document(tmp_path: Path) -> None:
    result = subprocess.run([*OPENHITL, "openapi"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"openapi": "3.1.0"' in result.stdout


def test_a_key_from_the_command_line_may_manage_webhooks_and_read_their_deliveries(
    server: LiveServer,
) -> None:
    key = key_for(server, f"cli-{free_port()}@example.com")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        me = http.get("/v1/api/me").json()["data"]
        assert me["auth"] == "api_key"
        assert sorted(me["permissions"]) == sorted(get_args(Permission))
        created = http.post(
            "/v1/api/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["request.*"]}
        )
        assert created.status_code == 201, created.text
        webhook_id = created.json()["data"]["webhook"]["id"]
        deliveries = http.get(f"/v1/api/webhooks/{webhook_id}/deliveries")
        assert deliveries.status_code == 200, deliveries.text
        assert deliveries.json()["data"]["deliveries"] == []
        assert http.get("/v1/api/api-keys").status_code == 200
        assert http.post("/v1/api/loops", json=SEED_LOOP).status_code == 201


def test_a_key_narrowed_on_the_command_line_has_only_the_permissions_listed(server: LiveServer) -> None:
    email = f"cli-{free_port()}@example.com"
    full = key_for(server, email)
    narrow = key_for(server, email, "--permission", "loops:read", "--permission", "webhooks:read")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {full}"}, timeout=30) as http:
        made = http.post("/v1/api/webhooks", json={"url": "http://127.0.0.1:9/hook"})
        webhook = made.json()["data"]["webhook"]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {narrow}"}, timeout=30) as http:
        assert http.get("/v1/api/me").json()["data"]["permissions"] == ["loops:read", "webhooks:read"]
        assert http.get("/v1/api/loops").status_code == 200
        assert http.get(f"/v1/api/webhooks/{webhook['id']}/deliveries").status_code == 200
        refused = http.post("/v1/api/webhooks", json={"url": "http://127.0.0.1:9/hook"})
        assert refused.status_code == 403
        assert refused.json()["msg"] == "Insufficient permissions: requires webhooks:write"
        assert http.post("/v1/api/loops", json=SEED_LOOP).status_code == 403
        assert http.get("/v1/api/api-keys").status_code == 403


def test_api_key_create_refuses_an_unknown_permission_and_names_the_valid_ones(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHITL_")}
    env["OPENHITL_DATA_DIR"] = str(tmp_path / "data")
    result = run(env, "api-key", "create", "--email", "owner@example.com", "--permission", "webhooks:admin")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "unknown permission webhooks:admin" in result.stderr
    assert all(permission in result.stderr for permission in get_args(Permission))
    assert not (tmp_path / "data" / "openhitl.db").exists()


def test_a_command_that_makes_a_new_database_says_where_and_from_which_settings(
    environment: dict[str, str],
) -> None:
    first = run(environment, "api-key", "create", "--email", "owner@example.com")
    again = run(environment, "api-key", "create", "--email", "owner@example.com")
    migrated = run(environment, "migrate")
    assert first.returncode == again.returncode == migrated.returncode == 0, first.stderr
    notice = [line for line in first.stderr.splitlines() if line.startswith("created a new database")]
    assert len(notice) == 1, first.stderr
    if "OPENHITL_DATABASE_URL" in environment:
        assert environment["OPENHITL_DATABASE_URL"] in notice[0]
        assert "from OPENHITL_DATABASE_URL" in notice[0]
    else:
        data_dir = environment["OPENHITL_DATA_DIR"]
        assert f"{data_dir}/openhitl.db" in notice[0]
        assert f"OPENHITL_DATA_DIR={data_dir}" in notice[0]
        assert "OPENHITL_DATABASE_URL is unset" in notice[0]
    assert "created a new database" not in again.stderr
    assert "created a new database" not in migrated.stderr


def test_api_key_create_from_another_folder_says_it_made_a_database_there(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHITL_")}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run(env, "api-key", "create", "--email", "owner@example.com", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"hitl_live_[0-9a-f]{64}\n", result.stdout)
    assert f"created a new database: {elsewhere}/.openhitl/openhitl.db" in result.stderr
    assert f"OPENHITL_DATA_DIR=.openhitl, {elsewhere}/.openhitl" in result.stderr
    assert "OPENHITL_DATA_DIR or OPENHITL_DATABASE_URL" in result.stderr


def test_migrating_logs_only_the_steps_it_ran(environment: dict[str, str]) -> None:
    first = run(environment, "migrate")
    again = run(environment, "migrate")
    assert first.returncode == again.returncode == 0, first.stderr
    for stderr in (first.stderr, again.stderr):
        assert "setup plugin" not in stderr
        assert "Context impl" not in stderr
        assert "Will assume" not in stderr
    steps = [line for line in first.stderr.splitlines() if "Running upgrade" in line]
    assert steps and "Running upgrade  -> 0001" in steps[0]
    assert "Running upgrade" not in again.stderr
    assert again.stderr == "database is at the newest schema\n"


def server_env(server: LiveServer, **extra: str) -> dict[str, str]:
    """The environment an operator runs commands in next to the test server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHITL_")}
    env.update(
        OPENHITL_DATABASE_URL=server.settings.resolved_database_url,
        OPENHITL_SECRET_KEY=server.settings.resolved_secret_key,
        OPENHITL_DATA_DIR=str(server.settings.data_dir),
        **extra,
    )
    return env


def test_login_link_prints_only_a_single_use_link_that_signs_in(server: LiveServer) -> None:
    email = f"Owner-{free_port()}@example.com"
    key_for(server, email)
    made = run(server_env(server, OPENHITL_BASE_URL=server.url), "login-link", "--email", email)
    assert made.returncode == 0, made.stderr
    assert re.fullmatch(re.escape(server.url) + r"/login/email/[A-Za-z0-9_-]{43}\n", made.stdout), made.stdout
    link = made.stdout.strip()
    with server.client(follow_redirects=False) as http:
        page = http.get(link)
        assert page.status_code == 200 and "Sign in" in page.text  # a browser is asked to tap first
        signed_in = http.get(link, headers={"Accept": "application/json"})
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["data"]["user"]["email"] == email.lower()
        again = http.get(link, headers={"Accept": "application/json"})
        assert again.status_code == 401
        assert again.json()["msg"] == "This sign-in link has expired or was already used"


def test_login_link_without_a_base_url_says_where_it_assumes_the_server(server: LiveServer) -> None:
    email = f"owner-{free_port()}@example.com"
    key_for(server, email)
    made = run(server_env(server), "login-link", "--email", email)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("http://127.0.0.1:8000/login/email/")
    assert "set OPENHITL_BASE_URL" in made.stderr


def test_login_link_for_an_unknown_address_prints_nothing_and_says_how_to_make_the_account(
    server: LiveServer,
) -> None:
    nobody = run(server_env(server), "login-link", "--email", f"nobody-{free_port()}@example.com")
    assert nobody.returncode == 1 and nobody.stdout == ""
    assert "no account with the email" in nobody.stderr and "openhitl api-key create --email" in nobody.stderr
    bad = run(server_env(server), "login-link", "--email", "not-an-address")
    assert bad.returncode == 1 and bad.stdout == ""
    assert "email must be a valid email address" in bad.stderr


def sign_in(server: LiveServer, email: str, password: str) -> int:
    with server.client() as http:
        return http.post("/login", json={"email": email, "password": password}).status_code


def test_set_password_reads_a_pipe_with_the_sign_up_rules(server: LiveServer) -> None:
    email = f"owner-{free_port()}@example.com"
    key_for(server, email)
    env = server_env(server)
    short = subprocess.run(
        [*OPENHITL, "user", "set-password", "--email", email],
        input="short\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert short.returncode == 2 and short.stdout == ""
    assert "password must be at least 8 characters; nothing changed" in short.stderr
    assert sign_in(server, email, "short") == 401
    made = subprocess.run(
        [*OPENHITL, "user", "set-password", "--email", email.upper()],
        input="a long passphrase\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout == "" and f"password set for {email}" in made.stderr
    assert sign_in(server, email, "a long passphrase") == 200
    assert sign_in(server, email, "a wrong passphrase") == 401
    unknown = subprocess.run(
        [*OPENHITL, "user", "set-password", "--email", f"nobody-{free_port()}@example.com"],
        input="a long passphrase\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 1 and "no account with the email" in unknown.stderr


def read_until(fd: int, text: bytes, seen: bytearray, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while text not in seen:
        assert time.monotonic() < deadline, f"never saw {text!r}: {bytes(seen)!r}"
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                seen += os.read(fd, 1024)
            except OSError:  # the other end closed
                break


def test_set_password_on_a_terminal_does_not_echo_it(server: LiveServer) -> None:
    email = f"owner-{free_port()}@example.com"
    key_for(server, email)
    controller, terminal = os.openpty()
    command = subprocess.Popen(
        [*OPENHITL, "user", "set-password", "--email", email],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=server_env(server),
        start_new_session=True,  # no controlling terminal of ours: getpass talks to this one
    )
    os.close(terminal)
    seen = bytearray()
    try:
        read_until(controller, b"New password: ", seen)
        os.write(controller, b"terminal passphrase\n")
        read_until(controller, b"Again: ", seen)
        os.write(controller, b"terminal passphrase\n")
        read_until(controller, b"password set for", seen)
        assert command.wait(timeout=120) == 0
    finally:
        if command.poll() is None:
            command.kill()
        os.close(controller)
    assert b"terminal passphrase" not in seen
    assert sign_in(server, email, "terminal passphrase") == 200


def test_serve_says_nothing_of_getting_in_once_someone_has_a_password(
    server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from openhitl.cli import _say_how_to_get_in
    from openhitl.config import Settings

    email = f"owner-{free_port()}@example.com"
    key_for(server, email)
    set_password = subprocess.run(
        [*OPENHITL, "user", "set-password", "--email", email],
        input="a long passphrase\n",
        env=server_env(server),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert set_password.returncode == 0, set_password.stderr
    settings = Settings(
        database_url=server.settings.resolved_database_url,
        data_dir=server.settings.data_dir,
        secret_key=server.settings.resolved_secret_key,
    )
    off_loop(_say_how_to_get_in, settings)
    assert "nobody can sign in" not in capsys.readouterr().err

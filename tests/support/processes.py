"""Real `openhitl` processes (serve, worker, api-key create), as an operator runs them.

Logs go to files, never to pipes: nobody reads a pipe during a test, and a full one stalls the process.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.live import free_port


def openhitl_env(database_url: str, data_dir: Path, **settings: object) -> dict[str, str]:
    """This environment without any OPENHITL_ variable, then the database, a secret and `settings`
    (as OPENHITL_<NAME>)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENHITL_")}
    env.update(
        OPENHITL_DATABASE_URL=database_url,
        OPENHITL_SECRET_KEY="test-secret-key",
        OPENHITL_DATA_DIR=str(data_dir),
        # Small pools, as for the in-process test servers: many processes share one PostgreSQL.
        OPENHITL_DB_POOL_SIZE="5",
    )
    env.update({f"OPENHITL_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def start_openhitl(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    with log.open("a") as output:  # appended: a restarted process keeps its earlier lines
        return subprocess.Popen([sys.executable, "-m", "openhitl", *args], env=env, stderr=output, text=True)


def api_key(env: dict[str, str], email: str) -> str:
    """`openhitl api-key create`: the user is created if needed; prints only the key."""
    created = subprocess.run(
        [sys.executable, "-m", "openhitl", "api-key", "create", "--email", email],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert created.returncode == 0, f"openhitl api-key create failed:\n{created.stderr[-3000:]}"
    return created.stdout.strip()


def wait_healthy(base: str, process: subprocess.Popen[str] | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{base} exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base} did not come up:\n{_tail(log)}")


def _tail(log: Path | None) -> str:
    return log.read_text()[-3000:] if log is not None and log.exists() else ""


def stop_processes(processes: list[subprocess.Popen[str]]) -> None:
    """SIGTERM to all, then a wait; whatever has not exited after 30 s is killed."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Replica:
    """`openhitl serve` on a port of its own, which it keeps across restarts (clients reconnect to it)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None

    def launch(self) -> None:
        """Starts the process without waiting for it (to start several at once)."""
        self.process = start_openhitl(["serve", "--port", str(self.port)], self.env, self.log)

    def start(self) -> "Replica":
        self.launch()
        wait_healthy(self.url, self.process, self.log)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what was not committed is gone."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            stop_processes([self.process])

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

"""Private PostgreSQL and Redis servers that a test may stop and start at will.

The machine's shared services are never stopped (other test runs use them); fault tests start their own,
from the Debian binaries, on a free loopback port with their files in a scratch directory. A machine without
the binaries fails the test with what to install, never skips it.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import redis

from tests.support.databases import admin_execute
from tests.support.live import free_port

POSTGRES_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _require(found: object, what: str, install: str) -> None:
    if not found:
        pytest.fail(f"{what} is needed by the fault tests and was not found: {install}", pytrace=False)


class PrivatePostgres:
    """A PostgreSQL cluster of its own: initdb into a scratch directory, pg_ctl to stop and start it.

    initdb refuses to run as root, so under root the cluster belongs to the `postgres` user."""

    def __init__(self) -> None:
        bin_dir = next((d for d in POSTGRES_BINARIES if (d / "initdb").exists()), None)
        _require(bin_dir, "PostgreSQL's server binaries (initdb, pg_ctl)", "apt-get install postgresql")
        assert bin_dir is not None
        self.bin_dir = bin_dir
        self.port = free_port()
        self.owner = "postgres" if os.geteuid() == 0 else None
        # Not under pytest's tmp_path: that is private to root, and the cluster's owner must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="openhitl-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        if self.owner:
            _require(_user_exists(self.owner), "the postgres system user", "apt-get install postgresql")
            shutil.chown(self.root, self.owner, self.owner)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.owner:
            command = ["runuser", "-u", self.owner, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr}{self.log_tail()}")

    def log_tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as when an operator restarts the database."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str = "openhitl") -> str:
        admin_execute(self.admin_url, f'CREATE DATABASE "{name}"')
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        with suppress(RuntimeError):  # already stopped
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


class PrivateRedis:
    """`redis-server` on a free port, with no persistence: stopped, it forgets everything."""

    def __init__(self, root: Path) -> None:
        binary = shutil.which("redis-server")
        _require(binary, "redis-server", "apt-get install redis-server")
        assert binary is not None
        self.binary = binary
        self.port = free_port()
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        log = (self.root / f"redis-{self.port}.log").open("ab")
        self.process = subprocess.Popen([*command, "no", "--dir", str(self.root)], stdout=log, stderr=log)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def subscribers(self, channel: str) -> int:
        """How many connections are subscribed to `channel` (PUBSUB NUMSUB)."""
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            return int(client.pubsub_numsub(channel)[0][1])
        finally:
            client.close()


@contextmanager
def private_redis(root: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()

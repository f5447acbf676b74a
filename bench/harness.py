"""What the latency, fan-out and timeout benchmarks share (create_requests.py has its own, older harness).

A fresh OpenHITL server as a subprocess on loopback (SQLite in a scratch data directory, or a throwaway
PostgreSQL database), API keys from the `openhitl api-key create` CLI, the server process's CPU time and
memory from /proc, percentiles, and the figure / target / PASS-MISS table printed and written into
BENCHMARKS.md through report.write_block.
"""

import argparse
import asyncio
import math
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import report
from create_requests import free_port, openhitl_source, pinned, server, throwaway_postgres, tool
from loadgen import CpuTimes

T = TypeVar("T")
SERVER_CPU, CLIENT_CPU = 0, 1
DEFAULT_POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-admin-url",
        default=DEFAULT_POSTGRES_ADMIN_URL,
        help="where to create and drop the throwaway database (--database postgres)",
    )
    parser.add_argument(
        "--commit",
        metavar="REV",
        help="benchmark this git revision (exported from the repository) instead of the working tree",
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the server and this script to separate cores"
    )
    parser.add_argument("--write-md", action="store_true", help="write the result into BENCHMARKS.md")
    parser.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help="append the figures as JSON lines to FILE (for bench/run)",
    )


# --- the server -------------------------------------------------------------------------------------------


@dataclass
class Instance:
    """One OpenHITL installation: its environment (data directory, database), started as often as needed."""

    scratch: Path
    env: dict[str, str]
    database: str  # "SQLite 3.x" or "PostgreSQL 16.x"
    database_url: str  # what the benchmark itself may open (async driver URL)
    code: str  # which code is served, for the report
    cpu: int | None  # the core the server is pinned to
    starts: int = 0

    def api_key(self, email: str, name: str = "bench") -> str:
        """`openhitl api-key create`: creates the user if needed and prints only the key."""
        created = subprocess.run(
            [tool("openhitl"), "api-key", "create", "--email", email, "--name", name],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if created.returncode != 0 or not created.stdout.strip():
            raise SystemExit(f"openhitl api-key create failed:\n{created.stderr}")
        return created.stdout.strip()

    @contextmanager
    def serve(self, extra_env: dict[str, str] | None = None) -> Iterator["Running"]:
        """`openhitl serve` on a free loopback port until the block ends."""
        self.starts += 1
        port = free_port()
        command = pinned([tool("openhitl"), "serve", "--host", "127.0.0.1", "--port", str(port)], self.cpu)
        log = self.scratch / f"openhitl-{self.starts}.log"
        with server("openhitl", command, port=port, env={**self.env, **(extra_env or {})}, log=log) as pid:
            yield Running(base_url=f"http://127.0.0.1:{port}", pid=pid, log=log)


@dataclass(frozen=True)
class Running:
    base_url: str
    pid: int
    log: Path


@contextmanager
def instance(
    args: argparse.Namespace, stack: ExitStack, *, extra_env: dict[str, str] | None = None
) -> Iterator[Instance]:
    """A scratch data directory and database for one benchmark run, removed afterwards."""
    scratch = Path(stack.enter_context(_scratch_dir()))
    env = {**os.environ, "OPENHITL_DATA_DIR": str(scratch / "data"), **(extra_env or {})}
    if args.database == "postgres":
        url, version = stack.enter_context(throwaway_postgres(args.postgres_admin_url))
        env["OPENHITL_DATABASE_URL"] = url
        database, database_url = f"PostgreSQL {version}", url
    else:
        env.pop("OPENHITL_DATABASE_URL", None)
        database = f"SQLite {sqlite3.sqlite_version}"
        database_url = f"sqlite:///{scratch / 'data' / 'openhitl.db'}"
    source, code = openhitl_source(args.commit, scratch)
    if source is not None:  # ahead of the editable install's path entry
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")]))
    yield Instance(
        scratch=scratch,
        env=env,
        database=database,
        database_url=database_url,
        code=code,
        cpu=SERVER_CPU if pinning(args) else None,
    )


@contextmanager
def _scratch_dir() -> Iterator[str]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="openhitl-bench-") as path:
        yield path


def pinning(args: argparse.Namespace) -> bool:
    return not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pin_self(args: argparse.Namespace) -> str:
    """Pins this process to the other core; returns the sentence the report uses for the setup."""
    if not pinning(args):
        return "Server and benchmark client not pinned to cores."
    os.sched_setaffinity(0, {CLIENT_CPU})
    return (
        f"Server (one uvicorn worker, as `openhitl serve` runs it) pinned to core {SERVER_CPU} with taskset, "
        f"the benchmark client to core {CLIENT_CPU}."
    )


def raise_open_files(wanted: int) -> int:
    """Raises this process's soft RLIMIT_NOFILE (the server inherits it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop when it is installed (it is, for uvicorn): less client overhead per event."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


# --- process measurements ---------------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), from /proc/<pid>/stat."""
    return CpuTimes.now(pid).process


def memory_mib(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM (peak RSS) of one process, in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


@dataclass
class Noise:
    """CPU the rest of the machine used while we measured (not the server, not this script)."""

    server_pid: int
    started: float = field(default_factory=time.monotonic)
    before: CpuTimes | None = None
    own_before: float = 0.0

    def __post_init__(self) -> None:
        self.before = CpuTimes.now(self.server_pid)
        self.own_before = _own_cpu()

    def other_cores(self) -> float:
        assert self.before is not None
        after = CpuTimes.now(self.server_pid)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        others = (
            (after.machine - self.before.machine)
            - (after.process - self.before.process)
            - (_own_cpu() - self.own_before)
        )
        return max(0.0, others / elapsed)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- statistics and tables --------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Distribution:
    name: str
    values: list[float]

    @property
    def p50(self) -> float:
        return percentile(self.values, 50)

    @property
    def p90(self) -> float:
        return percentile(self.values, 90)

    @property
    def p99(self) -> float:
        return percentile(self.values, 99)

    @property
    def max(self) -> float:
        return max(self.values) if self.values else math.nan

    @property
    def min(self) -> float:
        return min(self.values) if self.values else math.nan


DISTRIBUTION_HEADER = ["", "samples", "min", "p50", "p90", "p99", "max"]


def distribution_rows(distributions: Sequence[Distribution], *, digits: int = 2) -> list[list[str]]:
    return [
        [
            d.name,
            f"{len(d.values):,}",
            *(f"{v:,.{digits}f}" for v in (d.min, d.p50, d.p90, d.p99, d.max)),
        ]
        for d in distributions
    ]


@dataclass(frozen=True)
class Check:
    """One figure beside its target."""

    figure: str
    measured: str
    target: str
    ok: bool

    @property
    def verdict(self) -> str:
        return "PASS" if self.ok else "MISS"


CHECK_HEADER = ["figure", "measured", "target", "result"]


def check_rows(checks: Sequence[Check], *, markdown: bool = False) -> list[list[str]]:
    return [
        [c.figure, c.measured, c.target, f"**{c.verdict}**" if markdown and not c.ok else c.verdict]
        for c in checks
    ]


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in [header, *rows]
    )


def print_tables(checks: Sequence[Check], distributions: Sequence[Distribution], unit: str) -> None:
    if distributions:
        print(f"\n{unit}:")
        print(text_table(DISTRIBUTION_HEADER, distribution_rows(distributions)))
    print()
    print(text_table(CHECK_HEADER, check_rows(checks)))


def save_summary(args: argparse.Namespace, benchmark: str, checks: Sequence[Check]) -> None:
    """One JSON line per figure for `python -m bench`, which prints them all in one table."""
    report.append_summary(
        args.summary,
        [
            {"benchmark": benchmark, "database": DATABASE_NAMES[args.database], **asdict(check)}
            | {"result": check.verdict}
            for check in checks
        ],
    )


def command_line(script: str, options: Sequence[str]) -> str:
    return " ".join([".venv/bin/python", f"bench/{script}", *options, "--write-md"])


def markdown_block(
    *,
    title: str,
    what: str,
    instance: Instance,
    setup: str,
    checks: Sequence[Check],
    distributions: Sequence[Distribution],
    unit: str,
    notes: Sequence[str],
    command: str,
) -> str:
    machine = report.machine()
    parts = [
        f"### {title}",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, OpenHITL from the {instance.code}, on "
        f"{instance.database}: {what} {setup}",
        "",
        report.markdown_table(CHECK_HEADER, check_rows(checks, markdown=True)),
    ]
    if distributions:
        parts += [
            "",
            f"{unit}:",
            "",
            report.markdown_table(DISTRIBUTION_HEADER, distribution_rows(distributions)),
        ]
    for note in notes:
        parts += ["", note]
    parts += [
        "",
        f"Reproduce: `{command}`",
        "",
        f"Machine: {machine['CPU']}, {machine['cores']} cores, {machine['memory']}, {machine['kernel']}, "
        f"{machine['Python']}; {machine['packages']}; {instance.database}.",
    ]
    return "\n".join(parts)


def write_markdown(key: str, heading: str, block: str) -> None:
    report.write_block(key, block, heading=heading)
    print(f"\nwrote the {key} block of {report.BENCHMARKS_MD}")


def log_tail(running: Running, lines: int = 30) -> str:
    try:
        return "\n".join(running.log.read_text().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def fail(message: str) -> "SystemExit":
    print(message, file=sys.stderr)
    return SystemExit(1)

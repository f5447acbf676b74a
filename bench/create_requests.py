"""Create-request throughput and latency of OpenHITL beside a bare FastAPI endpoint, under wrk (DESIGN.md §7)."""

import argparse
import asyncio
import collections
import concurrent.futures
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import proxy
import report
from loadgen import LoadError, WrkResult, ensure_wrk, run_wrk, write_post_script, wrk_version

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
THROUGHPUT_TARGET = 2500.0
P99_TARGET_MS = 25.0
RATIO_TARGET = 0.5
SERVER_CPU, WRK_CPU = 0, 1
BUSY_CORES = 0.1  # other processes using more than this during a run make it noisy
# HITL.sh's first-request example (seeds/first-loop-guide.txt). Its callback_url is left out: the
# benchmark sends no traffic beyond loopback.
SEED_BODY: dict[str, Any] = {
    "processing_type": "time-sensitive",
    "type": "markdown",
    "priority": "medium",
    "request_text": 'Please review this user comment: "This post is amazing! Thanks for sharing."',
    "context": {"user_id": "user123", "post_id": "post456", "automated_flags": ["potential_spam"]},
    "timeout_seconds": 3600,
    "response_type": "single_select",
    "response_config": {"options": ["Approve", "Reject", "Needs Changes", "Escalate"]},
    "default_response": "Approve",
    "platform": "api",
}
# Loopback only: never through a proxy from the environment.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Target:
    name: str
    base_url: str
    create_url: str
    script: Path
    pids: tuple[int, ...]  # the server's processes: one, or every replica


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="Run it with the project's interpreter (.venv/bin/python). Any non-2xx answer or socket error "
        "makes it exit 1 and write nothing; missed targets are reported, not failed.",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=2, help="measured runs per side, interleaved (default 2)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per side (default 3)")
    parser.add_argument(
        "--postgres-admin-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="where to create and drop the throwaway database",
    )
    parser.add_argument(
        "--commit",
        metavar="REV",
        help="benchmark this git revision (exported from the repository) instead of the working tree",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and wrk to separate cores")
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="OpenHITL replicas behind nginx (deploy/nginx.conf); more than 1 needs --database postgres",
    )
    parser.add_argument("--write-md", action="store_true", help="write the result into BENCHMARKS.md")
    parser.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help="append the figures as JSON lines to FILE (for bench/run)",
    )
    parser.add_argument(
        "--profile", type=Path, metavar="FILE", help="after measuring, py-spy one more OpenHITL run into FILE"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.connections < 1 or args.duration < 1 or args.replicas < 1:
        parser.error("--runs, --connections, --duration and --replicas must be at least 1")
    if args.replicas > 1 and args.database != "postgres":
        parser.error("several replicas share one database: --replicas needs --database postgres")
    return args


def call(method: str, url: str, *, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _http.open(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(command: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if cpu is not None else command


def tool(name: str) -> str:
    """A console script of this interpreter's environment, else one on PATH."""
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found next to {sys.executable} or on PATH")
    return found


@contextmanager
def server(name: str, command: list[str], *, port: int, env: dict[str, str], log: Path) -> Iterator[int]:
    """Start a server, wait until it accepts connections, and stop it on the way out.

    Yields the server's pid: `taskset -c N command` execs the command in place.
    """
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"{name} did not listen on port {port}:\n{log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.1)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_listening(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"nothing listens on port {port}") from None
            time.sleep(0.1)


@contextmanager
def throwaway_postgres(admin_url: str) -> Iterator[tuple[str, str]]:
    """A new empty database and the server's version; dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"openhitl_bench_{secrets.token_hex(4)}"

    async def create() -> str:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    version = asyncio.run(create())
    try:
        yield urlsplit(admin_url)._replace(path=f"/{name}").geturl(), version
    finally:
        asyncio.run(drop())


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def commit_sha(rev: str) -> str:
    return git("rev-parse", "--verify", f"{rev}^{{commit}}")


def openhitl_source(commit: str | None, scratch: Path) -> tuple[Path | None, str]:
    """Where OpenHITL is imported from (None: the installed working tree), and which code that is."""
    if commit is None:
        try:
            head = git("rev-parse", "--short", "HEAD")
            dirty = git("status", "--porcelain", "--", "src")
        except (OSError, subprocess.CalledProcessError):
            return None, "the installed openhitl"
        return None, f"working tree at {head}" + (" with uncommitted changes in src/" if dirty else "")
    sha = commit_sha(commit)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", sha, "src"], capture_output=True, check=True)
    (scratch / "source").mkdir()
    subprocess.run(["tar", "-x", "-C", str(scratch / "source")], input=archive.stdout, check=True)
    return scratch / "source" / "src", f"commit {sha[:12]}"


def start_openhitl(
    stack: ExitStack,
    scratch: Path,
    *,
    database_url: str | None,
    cpu: int | None,
    source: Path | None = None,
    replicas: int = 1,
) -> tuple[Target, str]:
    env = {**os.environ, "OPENHITL_DATA_DIR": str(scratch / "data")}
    if source is not None:  # ahead of the editable install's path entry
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")]))
    if database_url:
        env["OPENHITL_DATABASE_URL"] = database_url
    created = subprocess.run(
        [tool("openhitl"), "api-key", "create", "--email", "bench@example.com", "--name", "bench"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if created.returncode != 0 or not created.stdout.strip():
        raise SystemExit(f"openhitl api-key create failed:\n{created.stderr}")
    token = created.stdout.strip()
    ports = [free_port() for _ in range(replicas)]
    pids = []
    for number, port in enumerate(ports, 1):
        command = pinned([tool("openhitl"), "serve", "--host", "127.0.0.1", "--port", str(port)], cpu)
        log = scratch / f"openhitl-{number}.log"
        pids.append(stack.enter_context(server("openhitl", command, port=port, env=env, log=log)))
    base = f"http://127.0.0.1:{ports[0]}"
    if replicas > 1:
        public = free_port()
        upstreams = [f"127.0.0.1:{port}" for port in ports]
        stack.enter_context(proxy.nginx(scratch, listen=public, upstreams=upstreams))
        base = f"http://127.0.0.1:{public}"
        wait_listening(public)
    status, answer = call("POST", f"{base}/v1/api/loops", token=token, body={"name": "Bench", "icon": "⚡"})
    if status != 201:
        raise SystemExit(f"creating the loop answered {status}: {answer}")
    loop_id = answer["data"]["loop"]["id"]
    create_url = f"{base}/v1/api/loops/{loop_id}/requests"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    script = write_post_script(scratch / "openhitl.lua", body=json.dumps(SEED_BODY), headers=headers)
    return Target("OpenHITL", base, create_url, script, tuple(pids)), token


def start_bare(stack: ExitStack, scratch: Path, *, token: str, cpu: int | None) -> Target:
    port = free_port()
    command = pinned(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--app-dir",
            str(BENCH_DIR),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--no-server-header",
            "--log-level",
            "warning",
        ],
        cpu,
    )
    pid = stack.enter_context(
        server("bare app", command, port=port, env=dict(os.environ), log=scratch / "bare.log")
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    script = write_post_script(scratch / "bare.lua", body=json.dumps(SEED_BODY), headers=headers)
    return Target("bare FastAPI", base, f"{base}/v1/api/loops/{'0' * 24}/requests", script, (pid,))


def check_same_answer(openhitl: Target, bare: Target, token: str) -> None:
    """Both sides answer the seed body with a 201 and the same envelope keys, before any load."""
    shapes = {}
    for target in (openhitl, bare):
        status, answer = call("POST", target.create_url, token=token, body=SEED_BODY)
        if status != 201 or not isinstance(answer, dict) or answer.get("error") is not False:
            raise SystemExit(f"{target.name} answered the seed body with {status}: {answer}")
        shapes[target.name] = (sorted(answer), answer["msg"], sorted(answer["data"]))
    if shapes[openhitl.name] != shapes[bare.name]:
        raise SystemExit(f"the bare app's envelope differs from OpenHITL's: {shapes}")


def created_total(openhitl: Target, token: str) -> int | None:
    status, answer = call("GET", f"{openhitl.base_url}/v1/api/requests?limit=1", token=token)
    return int(answer["data"]["total"]) if status == 200 else None


def measure(
    wrk: str, target: Target, args: argparse.Namespace, *, seconds: float, cpu: int | None
) -> WrkResult:
    result = run_wrk(
        wrk,
        target.create_url,
        script=target.script,
        duration_s=seconds,
        connections=args.connections,
        server_pids=target.pids,
        cpu=cpu,
    )
    print(
        f"  {target.name:<13} {result.requests_per_second:>9,.1f} req/s  p50 {result.p50_ms:7.2f} ms"
        f"  p90 {result.p90_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  ({result.requests:,} requests;"
        f" server CPU {result.server_cpu_ms:.3f} ms/request; other processes {result.other_cores:.2f} cores)"
    )
    if result.other_cores > BUSY_CORES:
        print(
            f"  (!) other processes kept {result.other_cores:.2f} cores busy during this run: a noisy measurement"
        )
    if result.failed:
        print(f"  !!! {target.name}: {result.problems()}")
    return result


def profile(wrk: str, target: Target, args: argparse.Namespace, *, out: Path, cpu: int | None) -> None:
    """py-spy the server in the middle of one more run; that run's throughput is not reported.

    Only the thread holding the GIL is sampled (--gil), and without pausing the server (--nonblocking):
    with dozens of idle pool threads a blocking, all-thread profile mostly measures itself.
    """
    py_spy = tool("py-spy")
    seconds = max(6.0, args.duration)
    command = [
        py_spy,
        "record",
        "--pid",
        str(target.pids[0]),
        "--duration",
        str(round(seconds - 3)),
        "--rate",
        "250",
    ]
    print(f"profiling {target.name} (pid {target.pids[0]}) with py-spy into {out}:")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        load = pool.submit(measure, wrk, target, args, seconds=seconds, cpu=cpu)
        time.sleep(1.5)
        recorded = subprocess.run(
            [*command, "--gil", "--nonblocking", "--format", "raw", "--output", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        load.result()
    if recorded.returncode != 0 or not out.exists():
        print(f"py-spy failed: {recorded.stderr}", file=sys.stderr)
        return
    print(summarise_profile(out))


def _package(frame: str) -> str:
    """`sqlalchemy` for `Session.execute (sqlalchemy/orm/session.py:2555)`."""
    if frame.startswith("Runner.run (asyncio/"):  # the innermost Python frame of uvloop's native code
        return "(event loop: uvloop and httptools, native)"
    location = frame.rpartition(" (")[2].rstrip(")").rpartition(":")[0]
    return location.split("/", 1)[0] if "/" in location else location.split(".", 1)[0] or "(unknown)"


def summarise_profile(raw: Path, top: int = 25) -> str:
    """Where the GIL holder spent its time: per package (self and inclusive) and per OpenHITL function."""
    self_time: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames, samples = stack.split(";"), int(count)
        total += samples
        self_time[_package(frames[-1])] += samples
        for package in {_package(frame) for frame in frames}:
            packages[package] += samples
        for frame in {f.rpartition(":")[0] + ")" for f in frames if "openhitl/" in f and "cli.py" not in f}:
            ours[frame] += samples
    if not total:
        return "no samples"

    def share(counter: collections.Counter[str], limit: int) -> list[str]:
        return [f"  {100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(limit)]

    return "\n".join(
        [
            f"{total} samples of the thread holding the GIL.",
            "self time by package:",
            *share(self_time, 10),
            "inclusive by package:",
            *share(packages, 10),
            "inclusive by OpenHITL function (SQLAlchemy's greenlet stacks are separate roots, not counted here):",
            *share(ours, top),
        ]
    )


def best(results: list[WrkResult]) -> WrkResult:
    return max(results, key=lambda result: result.requests_per_second)


def verdict(ok: bool) -> str:
    return "pass" if ok else "MISS"


def table_rows(ours: WrkResult, bare: WrkResult) -> list[list[str]]:
    ratio = ours.requests_per_second / bare.requests_per_second
    return [
        [
            "throughput (req/s)",
            f"{ours.requests_per_second:,.0f}",
            f"{bare.requests_per_second:,.0f}",
            f"≥ {THROUGHPUT_TARGET:,.0f}",
            verdict(ours.requests_per_second >= THROUGHPUT_TARGET),
        ],
        ["server CPU per request (ms)", f"{ours.server_cpu_ms:.3f}", f"{bare.server_cpu_ms:.3f}", "", ""],
        ["p50 latency (ms)", f"{ours.p50_ms:.2f}", f"{bare.p50_ms:.2f}", "", ""],
        ["p90 latency (ms)", f"{ours.p90_ms:.2f}", f"{bare.p90_ms:.2f}", "", ""],
        [
            "p99 latency (ms)",
            f"{ours.p99_ms:.2f}",
            f"{bare.p99_ms:.2f}",
            f"≤ {P99_TARGET_MS:g}",
            verdict(ours.p99_ms <= P99_TARGET_MS),
        ],
        [
            "OpenHITL / bare",
            f"{100 * ratio:.1f}%",
            "",
            f"≥ {100 * RATIO_TARGET:.0f}%",
            verdict(ratio >= RATIO_TARGET),
        ],
    ]


HEADER = ["", "OpenHITL", "bare FastAPI", "target", "OpenHITL vs target"]


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in [HEADER, *rows]
    )


def runs_table(results: dict[str, list[WrkResult]]) -> str:
    header = ["run", "req/s", "p50 ms", "p99 ms", "server CPU ms/request", "other processes (cores)"]
    rows = [
        [
            f"{name} {number}",
            f"{r.requests_per_second:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.server_cpu_ms:.3f}",
            f"{r.other_cores:.2f}",
        ]
        for name, runs in results.items()
        for number, r in enumerate(runs, 1)
    ]
    return report.markdown_table(header, rows)


def markdown_block(
    args: argparse.Namespace,
    *,
    database: str,
    rows: list[list[str]],
    results: dict[str, list[WrkResult]],
    setup: str,
    versions: str,
    rows_check: str,
    code: str,
    rev: str | None,
) -> str:
    machine = report.machine()
    title = "SQLite" if args.database == "sqlite" else "PostgreSQL"
    if args.replicas > 1:
        title += f", {args.replicas} replicas behind nginx"
    command = (
        f".venv/bin/python bench/create_requests.py --duration {args.duration:g} --connections {args.connections}"
        f" --database {args.database} --runs {args.runs}"
        + (f" --replicas {args.replicas}" if args.replicas > 1 else "")
        + (f" --commit {args.commit}" if args.commit else "")
        + " --write-md"
    )
    return "\n".join(
        [
            f"### {title}",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, OpenHITL from the {code}, on {database}: POST /v1/api/loops/{{loop_id}}/requests "
            f"with HITL.sh's first-request body, {args.connections} connections, {args.duration:g} s per run after "
            f"a {args.warmup:g} s warm-up, {args.runs} run{'s' if args.runs > 1 else ''} per side, alternating; the table shows each side's best "
            f"run by requests/s. {setup}",
            "",
            report.markdown_table(
                HEADER, [[cell if cell != "MISS" else "**MISS**" for cell in row] for row in rows]
            ),
            "",
            'Every run (the sides alternate: OpenHITL 1, bare 1, OpenHITL 2, ...); "other processes" is the CPU '
            "the rest of the machine used meanwhile, a sign of a noisy run:",
            "",
            runs_table(results),
            "",
            rows_check,
            "",
            f"Reproduce: `{command}`",
            "",
            f"Machine: {machine['CPU']}, {machine['cores']} cores, {machine['memory']}, {machine['kernel']}, "
            f"{machine['Python']}; {machine['packages']}; {versions}.",
        ]
    )


def variant(args: argparse.Namespace) -> str:
    """`sqlite`, `postgres`, or `postgres-2-replicas`: the name of the result's block."""
    return args.database + (f"-{args.replicas}-replicas" if args.replicas > 1 else "")


def summary_figures(args: argparse.Namespace, rows: list[list[str]]) -> list[dict[str, Any]]:
    """The rows with a target, for `python -m bench`'s table."""
    database = "PostgreSQL" if args.database == "postgres" else "SQLite"
    if args.replicas > 1:
        database += f", {args.replicas} replicas"
    return [
        {
            "benchmark": "create request",
            "database": database,
            "figure": figure,
            "measured": measured,
            "target": target,
            "ok": verdict == "pass",
            "result": "PASS" if verdict == "pass" else "MISS",
        }
        for figure, measured, _bare, target, verdict in rows
        if target
    ]


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the stack, so the servers and the database are cleaned up


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    try:
        wrk = ensure_wrk()
    except LoadError as exc:
        print(exc, file=sys.stderr)
        return 2
    # Replicas are there to use both cores: pinning them to one would defeat the point.
    pin = (
        not args.no_pin
        and args.replicas == 1
        and shutil.which("taskset") is not None
        and (os.cpu_count() or 1) >= 2
    )
    server_cpu, wrk_cpu = (SERVER_CPU, WRK_CPU) if pin else (None, None)
    setup = (
        f"Each server (one uvicorn worker, uvloop + httptools, no access log) pinned to core {SERVER_CPU}, "
        f"wrk (1 thread) to core {WRK_CPU}, with taskset."
        if pin
        else "Servers (one uvicorn worker, uvloop + httptools, no access log) and wrk (1 thread) not pinned."
    )
    if args.replicas > 1:
        setup += (
            f" OpenHITL runs as {args.replicas} `openhitl serve` replicas behind nginx (deploy/nginx.conf), "
            "the bare app alone without nginx; server CPU adds up the replicas, nginx counts as other processes."
        )
    versions = f"{wrk_version(wrk)}"
    results: dict[str, list[WrkResult]] = {"OpenHITL": [], "bare FastAPI": []}
    failed = False
    with tempfile.TemporaryDirectory(prefix="openhitl-bench-") as scratch_dir, ExitStack() as stack:
        scratch = Path(scratch_dir)
        database_url = None
        if args.database == "postgres":
            database_url, pg_version = stack.enter_context(throwaway_postgres(args.postgres_admin_url))
            database = f"PostgreSQL {pg_version}"
            setup += " PostgreSQL itself is not pinned; its CPU time counts as other processes."
        else:
            database = f"SQLite {sqlite3.sqlite_version}"
        versions += f", {database}"
        source, code = openhitl_source(args.commit, scratch)
        rev = commit_sha(args.commit)[:12] if args.commit else None
        openhitl, token = start_openhitl(
            stack, scratch, database_url=database_url, cpu=server_cpu, source=source, replicas=args.replicas
        )
        bare = start_bare(stack, scratch, token=token, cpu=server_cpu)
        check_same_answer(openhitl, bare, token)
        print(
            f"create request, OpenHITL from the {code}, on {database}, {args.connections} connections; {setup}"
        )
        print(f"warm-up, {args.warmup:g} s per side:")
        for target in (openhitl, bare):
            failed |= measure(wrk, target, args, seconds=args.warmup, cpu=wrk_cpu).failed
        for run in range(1, args.runs + 1):
            print(f"run {run} of {args.runs}, {args.duration:g} s per side:")
            for target in (openhitl, bare):
                result = measure(wrk, target, args, seconds=args.duration, cpu=wrk_cpu)
                results[target.name].append(result)
                failed |= result.failed
        total = created_total(openhitl, token)
        counted = sum(r.requests for r in results["OpenHITL"])
        rows_check = (
            f"OpenHITL stored {total:,} requests in all; wrk counted {counted:,} answers in the measured runs."
            if total is not None
            else "Listing the stored requests failed."
        )
        print(rows_check)
        if args.profile:
            profile(wrk, openhitl, args, out=args.profile.resolve(), cpu=wrk_cpu)
    rows = table_rows(best(results["OpenHITL"]), best(results["bare FastAPI"]))
    print(f"\nbest of {args.runs} runs per side (by requests/s):")
    print(text_table(rows))
    report.append_summary(args.summary, summary_figures(args, rows))
    if failed:
        print(
            "\nFAILED: some answers were not 2xx or sockets failed (see !!! above); nothing written.",
            file=sys.stderr,
        )
        return 1
    if args.write_md:
        block = markdown_block(
            args,
            database=database,
            rows=rows,
            results=results,
            setup=setup,
            versions=versions,
            rows_check=rows_check,
            code=code,
            rev=rev,
        )
        report.write_block(f"create-request-{variant(args)}", block, heading="## Create request")
        print(f"\nwrote the create-request ({variant(args)}) block of {report.BENCHMARKS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

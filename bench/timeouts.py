"""Timeouts and idle CPU (DESIGN.md §7): with 100,000 pending requests each times out within 1 s of its
timeout_at, and an idle server uses < 1% CPU.

1. A server on an empty database (one user and its API key) is left alone and its CPU time sampled.
2. Through the API: a loop and one template request. The server is stopped.
3. Directly in the database: copies of the template request and of its `request.created` event, as the API
   writes them (every column taken from the template; new id, timeout_seconds, timeout_at, created_at and
   updated_at), with deadlines hours to a day away, up to the pending count.
4. A new server process starts on that database; while it runs, the due requests are written the same way
   (created in the past second, timeout_at spread evenly over the window, starting a few seconds later).
   The script watches them turn `timeout`: lateness = updated_at (the sweeper's clock when it moved the
   request) minus timeout_at, and, as a cross-check, when this script first saw the change minus timeout_at.
5. With everything else still pending and no traffic, the server's CPU time is sampled again.

The server runs with OPENHITL_TIMEOUT_SECONDS_MIN=1 (the template is created through the API with it).
"""

import argparse
import asyncio
import contextlib
import math
import random
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import harness
import httpx
from create_requests import SEED_BODY, call
from harness import Check, Distribution
from sqlalchemy import Table, func, insert, select

from openhitl.kit.db import Database
from openhitl.kit.ids import new_id
from openhitl.realtime.models import Event
from openhitl.requests.models import Request

# Core inserts of whole rows, as the API's own INSERT (no ORM unit of work, no relationships to sort out).
REQUESTS, EVENTS = cast(Table, Request.__table__), cast(Table, Event.__table__)

LATENESS_TARGET_MS = 1000.0
IDLE_CPU_TARGET = 1.0  # percent of one core
BATCH = 5000
FAR_MIN_SECONDS, FAR_MAX_SECONDS = 3600, 86400


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run it with the project's interpreter (.venv/bin/python). A failed call, or a request timed "
        "out that was not due, makes it exit 1 and write nothing; missed targets are reported, not failed.",
    )
    parser.add_argument(
        "--pending", type=int, default=100_000, help="pending requests in all (default 100000)"
    )
    parser.add_argument("--due", type=int, default=1000, help="of which due during the window (default 1000)")
    parser.add_argument(
        "--window", type=float, default=60.0, help="seconds the due ones spread over (default 60)"
    )
    parser.add_argument(
        "--lead", type=float, default=5.0, help="seconds from writing them to the first due one"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=30.0, help="length of each idle CPU sample (default 30)"
    )
    harness.add_common_arguments(parser)
    args = parser.parse_args(argv)
    if not 1 <= args.due < args.pending or args.window <= 0 or args.lead < 2 or args.idle_seconds < 5:
        parser.error("need 1 <= --due < --pending, --window > 0, --lead >= 2, --idle-seconds >= 5")
    return args


class Failure(Exception):
    pass


async def postgres_backends(database_url: str) -> list[int]:
    """The PostgreSQL backend processes serving the benchmark database (the server's pool and listener)."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"  # not autovacuum, which the bulk insert may have started
        )
        return [int(row["pid"]) for row in rows]
    finally:
        await conn.close()


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a backend that ended meanwhile
            found[pid] = harness.process_cpu_seconds(pid)
    return found


def idle_cpu(pid: int, seconds: float, instance: harness.Instance) -> float:
    """Percent of one core the server (and, on PostgreSQL, its backends) used over `seconds` of no traffic.

    A PostgreSQL backend that ends during the sample takes its CPU time with it: the figure is a lower bound
    there, and exact on SQLite, where all the work is in the server process.
    """
    pids = [pid]
    if instance.database.startswith("PostgreSQL"):
        pids += harness.run_async(postgres_backends(instance.database_url))
    before, started = _cpu_seconds(pids), time.monotonic()
    time.sleep(seconds)
    after, elapsed = _cpu_seconds(pids), time.monotonic() - started
    used = sum(after[pid] - before[pid] for pid in after if pid in before)
    if len(pids) > 1:  # where it goes: the server process, and its PostgreSQL backends
        own = after.get(pid, 0.0) - before.get(pid, 0.0)
        print(
            f"    server {100 * own / elapsed:.2f}%, backends {100 * (used - own) / elapsed:.2f}%", flush=True
        )
    return round(100 * used / elapsed, 2)  # judged as shown


@dataclass(frozen=True)
class Template:
    loop_id: str
    request: dict[str, Any]
    event: dict[str, Any]


def set_up_through_api(base_url: str, key: str) -> tuple[str, str]:
    status, answer = call(
        "POST", f"{base_url}/v1/api/loops", token=key, body={"name": "Timeouts", "icon": "⏱"}
    )
    if status != 201:
        raise Failure(f"creating the loop answered {status}: {answer}")
    loop_id = answer["data"]["loop"]["id"]
    status, answer = call("POST", f"{base_url}/v1/api/loops/{loop_id}/requests", token=key, body=SEED_BODY)
    if status != 201:
        raise Failure(f"creating the template request answered {status}: {answer}")
    return loop_id, answer["data"]["request_id"]


async def read_template(db: Database, request_id: str) -> Template:
    async with db.read() as session:
        request = await session.get(Request, request_id)
        event = await session.scalar(
            select(Event).where(Event.request_id == request_id, Event.type == "request.created")
        )
    if request is None or event is None:
        raise Failure("the template request or its request.created event is missing")
    return Template(
        loop_id=request.loop_id,
        request={attr.key: getattr(request, attr.key) for attr in Request.__mapper__.column_attrs},
        event={
            attr.key: getattr(event, attr.key) for attr in Event.__mapper__.column_attrs if attr.key != "id"
        },
    )


def copy(
    template: Template, *, created_at: datetime, timeout_seconds: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A request row and its request.created event, as service.create writes them."""
    request_id = new_id()
    request = {
        **template.request,
        "id": request_id,
        "timeout_seconds": timeout_seconds,
        "timeout_at": created_at + timedelta(seconds=timeout_seconds),
        "created_at": created_at,
        "updated_at": created_at,
    }
    event = {**template.event, "request_id": request_id, "created_at": created_at}
    return request, event


async def insert_rows(db: Database, rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        async with db.write() as session:
            await session.execute(insert(REQUESTS), [request for request, _ in batch])
            await session.execute(insert(EVENTS), [event for _, event in batch])


async def insert_far(database_url: str, request_id: str, count: int) -> tuple[Template, float]:
    db = Database(database_url, pool_size=2)
    try:
        template = await read_template(db, request_id)
        started = time.monotonic()
        now = datetime.now(UTC)
        spread = random.Random(7)
        rows = [
            copy(template, created_at=now, timeout_seconds=spread.randint(FAR_MIN_SECONDS, FAR_MAX_SECONDS))
            for _ in range(count)
        ]
        await insert_rows(db, rows)
        return template, time.monotonic() - started
    finally:
        await db.dispose()


@dataclass(frozen=True)
class Observed:
    decided_ms: list[float]  # updated_at minus timeout_at
    seen_ms: list[float]  # first seen by this script, minus timeout_at
    missing: int
    not_due_timed_out: int
    pending_after: int
    sweep_cpu_percent: float  # the server's CPU over the window, percent of one core
    other_cores: float


async def watch_due(database_url: str, template: Template, pid: int, args: argparse.Namespace) -> Observed:
    db = Database(database_url, pool_size=2)
    try:
        now = datetime.now(UTC)
        first = now + timedelta(seconds=args.lead)
        step = args.window / args.due
        rows = []
        for number in range(args.due):
            timeout_at = first + timedelta(seconds=number * step)
            # created in the past second, with the whole seconds the API would have been asked for
            timeout_seconds = math.ceil((timeout_at - now).total_seconds())
            rows.append(
                copy(
                    template,
                    created_at=timeout_at - timedelta(seconds=timeout_seconds),
                    timeout_seconds=timeout_seconds,
                )
            )
        due = {request["id"]: request["timeout_at"] for request, _ in rows}
        noise = harness.Noise(pid)
        cpu_before, started = harness.process_cpu_seconds(pid), time.monotonic()
        await insert_rows(db, rows)
        print(f"  {args.due} due requests written; the first is due at {first:%H:%M:%S.%f} UTC", flush=True)
        seen: dict[str, datetime] = {}
        decided: dict[str, datetime] = {}
        give_up = first + timedelta(seconds=args.window + 15)
        reported = 0
        while len(decided) < len(due) and datetime.now(UTC) < give_up:
            await asyncio.sleep(0.25)
            async with db.read() as session:
                moved = (
                    await session.execute(
                        select(Request.id, Request.updated_at).where(
                            Request.loop_id == template.loop_id, Request.status == "timeout"
                        )
                    )
                ).all()
            at = datetime.now(UTC)
            for request_id, updated_at in moved:
                if request_id not in seen:
                    seen[request_id] = at
                    decided[request_id] = updated_at
            if len(decided) // 200 > reported:
                reported = len(decided) // 200
                print(f"  {len(decided)}/{len(due)} timed out", flush=True)
        sweep_cpu = 100 * (harness.process_cpu_seconds(pid) - cpu_before) / (time.monotonic() - started)
        other = noise.other_cores()
        async with db.read() as session:
            pending = int(
                await session.scalar(
                    select(func.count()).select_from(Request).where(Request.status == "pending")
                )
                or 0
            )
        not_due = [request_id for request_id in decided if request_id not in due]
        return Observed(
            decided_ms=[1000 * (decided[r] - due[r]).total_seconds() for r in decided if r in due],
            seen_ms=[1000 * (seen[r] - due[r]).total_seconds() for r in seen if r in due],
            missing=len(due) - len([r for r in decided if r in due]),
            not_due_timed_out=len(not_due),
            pending_after=pending,
            sweep_cpu_percent=sweep_cpu,
            other_cores=other,
        )
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup = harness.pin_self(args)
    far = args.pending - args.due - 1  # the template request is pending too
    with ExitStack() as stack:
        instance = stack.enter_context(
            harness.instance(args, stack, extra_env={"OPENHITL_TIMEOUT_SECONDS_MIN": "1"})
        )
        key = instance.api_key("timeouts@example.com", "timeouts")
        print(
            f"timeouts, OpenHITL from the {instance.code}, on {instance.database}: {args.pending:,} pending, "
            f"{args.due:,} due over {args.window:g} s; idle samples of {args.idle_seconds:g} s; {setup}",
            flush=True,
        )
        with instance.serve() as first:
            time.sleep(3)  # start-up done
            empty_cpu = idle_cpu(first.pid, args.idle_seconds, instance)
            print(f"  idle, empty database: {empty_cpu:.2f}% of a core", flush=True)
            try:
                _, template_id = set_up_through_api(first.base_url, key)
            except Failure as exc:
                print(f"FAILED: {exc}\n{harness.log_tail(first)}", file=sys.stderr)
                return 1
        template, insert_seconds = harness.run_async(insert_far(instance.database_url, template_id, far))
        print(f"  {far:,} far-off pending requests written in {insert_seconds:.0f} s", flush=True)
        running = stack.enter_context(instance.serve())
        time.sleep(3)
        try:
            observed = harness.run_async(watch_due(instance.database_url, template, running.pid, args))
        except (Failure, httpx.HTTPError) as exc:
            print(f"FAILED: {exc}\n{harness.log_tail(running)}", file=sys.stderr)
            return 1
        if observed.not_due_timed_out:
            print(
                f"FAILED: {observed.not_due_timed_out} requests timed out that were not due", file=sys.stderr
            )
            return 1
        time.sleep(3)
        pending_cpu = idle_cpu(running.pid, args.idle_seconds, instance)
        print(f"  idle, {observed.pending_after:,} pending: {pending_cpu:.2f}% of a core", flush=True)
        rss, _ = harness.memory_mib(running.pid)
    decided = Distribution("timeout_at → updated_at (the sweeper's clock)", observed.decided_ms)
    seen = Distribution("timeout_at → seen by the benchmark (polls every 0.25 s)", observed.seen_ms)
    checks = [
        Check(
            f"due requests timed out, of {args.due:,}",
            f"{args.due - observed.missing:,}",
            f"{args.due:,}",
            observed.missing == 0,
        ),
        Check(
            f"lateness with {args.pending:,} pending, max (ms)",
            f"{decided.max:.1f}",
            f"≤ {LATENESS_TARGET_MS:g}",
            observed.missing == 0 and decided.max <= LATENESS_TARGET_MS,
        ),
        Check(
            f"idle CPU with {observed.pending_after:,} pending (% of a core)",
            f"{pending_cpu:.2f}",
            f"< {IDLE_CPU_TARGET:g}",
            pending_cpu < IDLE_CPU_TARGET,
        ),
        Check(
            "idle CPU, empty database (% of a core)",
            f"{empty_cpu:.2f}",
            f"< {IDLE_CPU_TARGET:g}",
            empty_cpu < IDLE_CPU_TARGET,
        ),
    ]
    harness.print_tables(checks, [decided, seen], "lateness, milliseconds")
    harness.save_summary(args, "timeouts and idle CPU", checks)
    during = (
        f"While the due requests timed out the server process used {observed.sweep_cpu_percent:.1f}% of a core"
        + ("" if args.database == "sqlite" else " (its PostgreSQL backends not counted)")
        + "; "
        f"other processes on the machine used {observed.other_cores:.2f} cores"
        + (" (a noisy measurement)." if observed.other_cores > 0.1 else ".")
    )
    print(during)
    if args.write_md:
        options = [
            f"--pending {args.pending}",
            f"--due {args.due}",
            f"--window {args.window:g}",
            f"--idle-seconds {args.idle_seconds:g}",
            f"--database {args.database}",
        ]
        if args.commit:
            options.append(f"--commit {args.commit}")
        what = (
            f"{args.pending:,} pending requests, {args.due:,} of them due one every {1000 * args.window / args.due:g} ms "
            f"over {args.window:g} s and the rest 1 to 24 hours away; idle CPU sampled over {args.idle_seconds:g} s "
            "from /proc/<pid>/stat (utime + stime, all threads"
            + ("" if args.database == "sqlite" else ", plus the PostgreSQL backends serving its database")
            + "), once on an empty database and once with the pending requests, with no traffic."
        )
        notes = [
            "The requests beyond a template created through the API were written directly into the database as "
            "the API writes them (the template's columns and its `request.created` event, with a new id and "
            f"deadline): {far:,} of them in {insert_seconds:.0f} s while the server was stopped, then the due ones "
            f"while a fresh server process ran. The server runs with OPENHITL_TIMEOUT_SECONDS_MIN=1. {during} "
            f"Server RSS at the end: {rss:.0f} MiB.",
        ]
        block = harness.markdown_block(
            title="SQLite" if args.database == "sqlite" else "PostgreSQL",
            what=what,
            instance=instance,
            setup=setup,
            checks=checks,
            distributions=[decided, seen],
            unit="Lateness of the due requests, in milliseconds",
            notes=notes,
            command=harness.command_line("timeouts.py", options),
        )
        harness.write_markdown(f"timeouts-{args.database}", "## Timeouts and idle CPU", block)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Growth (DESIGN.md §7): creating holds ≥ 80 % of the empty database's rate with 1,000,000 requests
stored, and the inbox, request list and analytics pages answer within 50 ms p99 at that size.

1. A server on an empty database: the account makes its loops through the API (one large loop, the rest
   smaller, by weights 1, 1/2, 1/3, …) and, in the largest, one template request in each state the API
   leaves them in: pending, claimed, answered (claimed, then answered), cancelled and timed out (by the
   sweeper). The pages are timed, then POST /v1/api/loops/{id}/requests under wrk at 32 connections.
2. The server is stopped; the requests wrk created are deleted (so that the seeded mix is the one below).
3. Directly in the database, in bulk: copies of the templates, as the API wrote them (each template's
   request columns, its events and its stored answer, with new ids and every time shifted together),
   until the database holds the wanted number of requests: closed ones (answered, timed out, cancelled)
   spread over the past year in creation order, open ones (pending, claimed) created in the last hour with
   deadlines and claim leases hours away, so that nothing moves during the run.
4. A new server process on that database: the pages are timed again, then the create rate.

Page latency is one client asking one page at a time (a fresh sample per call, after a few unrecorded
ones), the wall time from sending to the last byte. The create rate is wrk's best run of several; the
server's CPU time per create comes from /proc/<pid>/stat over the same runs.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import harness
import httpx
from create_requests import SEED_BODY, call
from harness import Check, Distribution
from loadgen import LoadError, WrkResult, ensure_wrk, run_wrk, write_post_script
from sqlalchemy import Table, delete, func, insert, select

from openhitl.accounts import sessions
from openhitl.config import Settings
from openhitl.kit.db import Database
from openhitl.realtime.models import Event
from openhitl.requests.models import PRIORITY_RANK, Request, Response

REQUESTS, EVENTS, RESPONSES = (cast(Table, model.__table__) for model in (Request, Event, Response))
RATIO_TARGET = 0.8
PAGE_P99_TARGET_MS = 50.0
BATCH = 2000  # requests per insert batch (their events and answers go in the same transaction)
YEAR = timedelta(days=365)
# The stored mix: most requests answered, some missed or withdrawn, a few open.
MIX = {"completed": 0.88, "timeout": 0.07, "cancelled": 0.025, "pending": 0.02, "claimed": 0.005}
PRIORITY_MIX = {"low": 0.2, "medium": 0.5, "high": 0.25, "critical": 0.05}
OPEN = ("pending", "claimed")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run it with the project's interpreter (.venv/bin/python). A failed call or a non-2xx answer "
        "makes it exit 1 and write nothing; missed targets are reported, not failed.",
    )
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="requests stored when measured again (default 1000000)"
    )
    parser.add_argument("--loops", type=int, default=10, help="loops the requests spread over (default 10)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per database size (default 3)")
    parser.add_argument("--warmup", type=float, default=3.0, help="wrk warm-up seconds (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--samples", type=int, default=100, help="timed calls per page (default 100)")
    harness.add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.rows < 100 or args.loops < 1 or args.runs < 1 or args.duration < 1 or args.samples < 1:
        parser.error("need --rows >= 100, --loops, --runs, --duration and --samples >= 1")
    return args


class Failure(Exception):
    pass


# --- through the API --------------------------------------------------------------------------------------


def expect(status: int, answer: Any, wanted: int, what: str) -> Any:
    if status != wanted:
        raise Failure(f"{what} answered {status}: {answer}")
    return answer["data"] if isinstance(answer, dict) else answer


@dataclass(frozen=True)
class Setup:
    loop_ids: list[str]  # the largest first
    templates: dict[str, str]  # status → request id


def set_up_through_api(base_url: str, key: str, loops: int) -> Setup:
    api = f"{base_url}/v1/api"
    loop_ids = []
    for number in range(1, loops + 1):
        status, answer = call(
            "POST", f"{api}/loops", token=key, body={"name": f"Loop {number}", "icon": "📈"}
        )
        loop_ids.append(expect(status, answer, 201, "creating a loop")["loop"]["id"])
    create = f"{api}/loops/{loop_ids[0]}/requests"

    def new(body: dict[str, Any] = SEED_BODY) -> str:
        status, answer = call("POST", create, token=key, body=body)
        return str(expect(status, answer, 201, "creating a template request")["request_id"])

    templates = {state: new() for state in ("pending", "claimed", "completed", "cancelled")}
    templates["timeout"] = new({**SEED_BODY, "timeout_seconds": 1})
    for state in ("claimed", "completed"):
        status, answer = call("POST", f"{api}/requests/{templates[state]}/claim", token=key)
        expect(status, answer, 200, "claiming a template")
    status, answer = call(
        "POST",
        f"{api}/requests/{templates['completed']}/respond",
        token=key,
        body={"response_data": "Approve"},
    )
    expect(status, answer, 200, "answering a template")
    status, answer = call("POST", f"{api}/requests/{templates['cancelled']}/cancel", token=key, body={})
    expect(status, answer, 200, "cancelling a template")
    deadline = time.monotonic() + 30
    while True:  # the sweeper times the last one out
        status, answer = call("GET", f"{api}/requests/{templates['timeout']}", token=key)
        if expect(status, answer, 200, "reading a template")["status"] == "timeout":
            break
        if time.monotonic() > deadline:
            raise Failure("the template with a 1 s timeout did not time out within 30 s")
        time.sleep(0.2)
    return Setup(loop_ids, templates)


# --- directly in the database -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    request: dict[str, Any]
    events: list[dict[str, Any]]
    answers: list[dict[str, Any]]


def columns(row: Any, model: Any, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        attr.key: getattr(row, attr.key) for attr in model.__mapper__.column_attrs if attr.key not in skip
    }


async def read_templates(db: Database, ids: dict[str, str]) -> dict[str, Template]:
    found = {}
    async with db.read() as session:
        for state, request_id in ids.items():
            request = await session.get(Request, request_id)
            if request is None or request.status != state:
                raise Failure(f"the {state} template is {request.status if request else 'missing'}")
            events = (
                await session.scalars(select(Event).where(Event.request_id == request_id).order_by(Event.id))
            ).all()
            answers = (await session.scalars(select(Response).where(Response.request_id == request_id))).all()
            found[state] = Template(
                request=columns(request, Request),
                events=[columns(event, Event, skip=("id",)) for event in events],
                answers=[columns(answer, Response) for answer in answers],
            )
    return found


class Ids:
    """Ids in the server's shape (kit/ids.py): the second they were made in, then 8 bytes that grow."""

    def __init__(self) -> None:
        self.random = os.urandom(5)
        self.count = 0

    def at(self, moment: datetime) -> str:
        self.count += 1
        seconds = int(moment.timestamp())
        return (seconds.to_bytes(4, "big") + self.random + (self.count & 0xFFFFFF).to_bytes(3, "big")).hex()


TIMES = (
    "created_at",
    "updated_at",
    "timeout_at",
    "claimed_at",
    "claim_expires_at",
    "response_at",
    "cancelled_at",
)


def shifted(value: Any, by: timedelta) -> Any:
    return value + by if isinstance(value, datetime) else value


@dataclass(frozen=True)
class Plan:
    """Which loop, state, priority and creation time each stored request gets, in creation order."""

    count: int
    loop_ids: list[str]
    now: datetime
    seed: int = 15

    def rows(self) -> Iterator[tuple[str, str, str, datetime]]:
        pick = random.Random(self.seed)
        weights = [1 / n for n in range(1, len(self.loop_ids) + 1)]
        open_count = round(self.count * sum(MIX[s] for s in OPEN))
        closed_count = self.count - open_count
        closed = [s for s in MIX if s not in OPEN]
        start = self.now - YEAR
        closed_span = (YEAR - timedelta(hours=1)) / max(closed_count, 1)
        open_span = timedelta(hours=1) / max(open_count, 1)
        for number in range(self.count):
            if number < closed_count:
                state = pick.choices(closed, [MIX[s] for s in closed])[0]
                created = start + closed_span * number
            else:
                state = pick.choices(OPEN, [MIX[s] for s in OPEN])[0]
                created = self.now - timedelta(hours=1) + open_span * (number - closed_count)
            loop_id = pick.choices(self.loop_ids, weights)[0]
            priority = pick.choices(list(PRIORITY_MIX), list(PRIORITY_MIX.values()))[0]
            yield loop_id, state, priority, created


def copy_of(
    template: Template, ids: Ids, *, loop_id: str, priority: str, created: datetime, now: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """A request, its events and its answers as the API wrote the template's, moved to `created`."""
    source = template.request
    by = created - source["created_at"]
    request_id = ids.at(created)
    request = {**source, **{name: shifted(source[name], by) for name in TIMES}}
    request.update(id=request_id, loop_id=loop_id, priority=priority, priority_rank=PRIORITY_RANK[priority])
    if source["status"] in OPEN:  # open ones stay open through the run: deadlines and leases hours away
        request["timeout_seconds"] = 86400
        request["timeout_at"] = created + timedelta(seconds=86400)
        if source["status"] == "claimed":
            request["claim_expires_at"] = now + timedelta(hours=2)
    events = []
    for event in template.events:
        data = dict(event["data"] or {})
        if "priority" in data:
            data["priority"] = priority
        events.append(
            {
                **event,
                "loop_id": loop_id,
                "request_id": request_id,
                "data": data,
                "created_at": event["created_at"] + by,
            }
        )
    answers = [
        {**answer, "id": ids.at(created), "request_id": request_id, "created_at": answer["created_at"] + by}
        for answer in template.answers
    ]
    return request, events, answers


async def seed(database_url: str, setup: Setup, wanted: int) -> tuple[int, float]:
    """Adds copies of the templates until `wanted` requests are stored; (added, seconds)."""
    db = Database(database_url, pool_size=2)
    try:
        templates = await read_templates(db, setup.templates)
        async with db.read() as session:
            stored = int(await session.scalar(select(func.count()).select_from(Request)) or 0)
        started, now, ids = time.monotonic(), datetime.now(UTC), Ids()
        plan = Plan(max(0, wanted - stored), setup.loop_ids, now)
        batch: list[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]] = []

        async def flush() -> None:
            async with db.write() as session:
                await session.execute(insert(REQUESTS), [request for request, _, _ in batch])
                await session.execute(insert(EVENTS), [event for _, events, _ in batch for event in events])
                answers = [answer for _, _, answers in batch for answer in answers]
                if answers:
                    await session.execute(insert(RESPONSES), answers)
            batch.clear()

        for number, (loop_id, state, priority, created) in enumerate(plan.rows(), 1):
            batch.append(
                copy_of(templates[state], ids, loop_id=loop_id, priority=priority, created=created, now=now)
            )
            if len(batch) == BATCH:
                await flush()
            if number % 100_000 == 0:
                print(
                    f"  {number:,} of {plan.count:,} written ({time.monotonic() - started:.0f} s)", flush=True
                )
        if batch:
            await flush()
        if db.dialect == "postgresql":  # what autovacuum would have done by then, done before measuring
            async with db.write_engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.exec_driver_sql("VACUUM ANALYZE")
        return plan.count, time.monotonic() - started
    finally:
        await db.dispose()


async def delete_created_by_load(database_url: str, setup: Setup) -> int:
    """Removes what wrk created in the largest loop (everything there but the templates)."""
    db = Database(database_url, pool_size=2)
    try:
        keep = list(setup.templates.values())
        chosen = select(Request.id).where(Request.loop_id == setup.loop_ids[0], Request.id.not_in(keep))
        async with db.write() as session:
            await session.execute(delete(Event).where(Event.request_id.in_(chosen)))
            removed = await session.execute(delete(Request).where(Request.id.in_(chosen)))
        return int(cast(Any, removed).rowcount or 0)
    finally:
        await db.dispose()


async def count_requests(database_url: str) -> int:
    db = Database(database_url, pool_size=1)
    try:
        async with db.read() as session:
            return int(await session.scalar(select(func.count()).select_from(Request)) or 0)
    finally:
        await db.dispose()


async def open_web_session(instance: harness.Instance, user_id: str) -> str:
    """A signed-in browser's session cookie, made as signing in makes one."""
    settings = Settings(data_dir=Path(instance.env["OPENHITL_DATA_DIR"]))
    db = Database(instance.database_url, pool_size=1)
    try:
        async with db.write() as session:
            opened = await sessions.create(
                session,
                user_id=user_id,
                user_agent="bench/growth.py",
                settings=settings,
                now=datetime.now(UTC),
            )
        return opened.token
    finally:
        await db.dispose()


# --- measuring --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    web: bool  # a signed-in browser's page (cookie), else the API (key)


def pages(setup: Setup) -> list[Page]:
    largest = setup.loop_ids[0]
    return [
        Page("API inbox (queue)", "/v1/api/inbox", web=False),
        Page("API request list", "/v1/api/requests", web=False),
        Page("API loop's request list", f"/v1/api/loops/{largest}/requests", web=False),
        Page("reviewer queue page", "/", web=True),
        Page("reviewer history page", "/history", web=True),
        Page("dashboard request table", "/dashboard/requests", web=True),
        Page("dashboard loop analytics", f"/dashboard/loops/{largest}/analytics", web=True),
    ]


async def time_pages(
    base_url: str, key: str, cookie: str, chosen: list[Page], samples: int, label: str
) -> list[Distribution]:
    found = []
    async with (
        httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, trust_env=False
        ) as api,
        httpx.AsyncClient(
            base_url=base_url, cookies={sessions.SESSION_COOKIE: cookie}, trust_env=False, timeout=60
        ) as web,
    ):
        for page in chosen:
            client = web if page.web else api
            times = []
            for number in range(samples + 3):
                started = time.perf_counter()
                answer = await client.get(page.path, timeout=60)
                elapsed = 1000 * (time.perf_counter() - started)
                if answer.status_code != 200:
                    raise Failure(f"GET {page.path} answered {answer.status_code}: {answer.text[:300]}")
                if number >= 3:
                    times.append(elapsed)
            found.append(Distribution(f"{page.name}, {label}", times))
            print(
                f"  {page.name}: p50 {statistics.median(times):.1f} ms, p99 {harness.percentile(times, 99):.1f} ms",
                flush=True,
            )
    return found


@dataclass(frozen=True)
class Rate:
    best: WrkResult
    runs: list[WrkResult]

    @property
    def cpu_ms(self) -> float:
        """Server CPU per create over every measured run."""
        requests = sum(r.requests for r in self.runs)
        return sum(r.server_cpu_ms * r.requests for r in self.runs) / max(requests, 1)


def create_rate(
    wrk: str,
    running: harness.Running,
    instance: harness.Instance,
    setup: Setup,
    key: str,
    args: argparse.Namespace,
    label: str,
) -> Rate:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    script = write_post_script(instance.scratch / "growth.lua", body=json.dumps(SEED_BODY), headers=headers)
    url = f"{running.base_url}/v1/api/loops/{setup.loop_ids[0]}/requests"
    cpu = harness.CLIENT_CPU if instance.cpu is not None else None
    results = []
    for number in range(args.runs + 1):
        seconds = args.warmup if number == 0 else args.duration
        result = run_wrk(
            wrk,
            url,
            script=script,
            duration_s=seconds,
            connections=args.connections,
            server_pids=(running.pid,),
            cpu=cpu,
        )
        if result.failed:
            raise Failure(f"wrk on the {label} database: {result.problems()}")
        print(
            f"  {'warm-up' if number == 0 else f'run {number}'}: {result.requests_per_second:,.0f} creates/s, "
            f"p99 {result.p99_ms:.1f} ms, server CPU {result.server_cpu_ms:.3f} ms/create, "
            f"other processes {result.other_cores:.2f} cores",
            flush=True,
        )
        if number:
            results.append(result)
    return Rate(max(results, key=lambda r: r.requests_per_second), results)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        wrk = ensure_wrk()
    except LoadError as exc:
        print(exc, file=sys.stderr)
        return 2
    setup_text = harness.pin_self(args)
    with ExitStack() as stack:
        instance = stack.enter_context(
            harness.instance(args, stack, extra_env={"OPENHITL_TIMEOUT_SECONDS_MIN": "1"})
        )
        key = instance.api_key("growth@example.com", "growth")
        print(
            f"growth, OpenHITL from the {instance.code}, on {instance.database}: {args.rows:,} requests over "
            f"{args.loops} loops; {setup_text}",
            flush=True,
        )
        try:
            with instance.serve() as first:
                setup = set_up_through_api(first.base_url, key, args.loops)
                status, me = call("GET", f"{first.base_url}/v1/api/me", token=key)
                user_id = expect(status, me, 200, "reading the account")["user"]["id"]
                cookie = harness.run_async(open_web_session(instance, user_id))
                chosen = pages(setup)
                small = harness.run_async(count_requests(instance.database_url))
                print(f"empty database ({small} requests): pages", flush=True)
                empty_pages = harness.run_async(
                    time_pages(first.base_url, key, cookie, chosen, args.samples, "empty")
                )
                print("empty database: creates", flush=True)
                empty = create_rate(wrk, first, instance, setup, key, args, "empty")
            removed = harness.run_async(delete_created_by_load(instance.database_url, setup))
            print(f"  {removed:,} requests wrk created removed", flush=True)
            added, seconds = harness.run_async(seed(instance.database_url, setup, args.rows))
            stored = harness.run_async(count_requests(instance.database_url))
            print(
                f"  {added:,} requests written in {seconds:.0f} s ({added / max(seconds, 1e-9):,.0f}/s); {stored:,} stored",
                flush=True,
            )
            with instance.serve() as second:
                time.sleep(2)
                print(f"{stored:,} requests: pages", flush=True)
                full_pages = harness.run_async(
                    time_pages(second.base_url, key, cookie, chosen, args.samples, f"{stored:,} requests")
                )
                print(f"{stored:,} requests: creates", flush=True)
                full = create_rate(wrk, second, instance, setup, key, args, "seeded")
                rss, _ = harness.memory_mib(second.pid)
        except (Failure, httpx.HTTPError, LoadError) as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
    ratio = full.best.requests_per_second / empty.best.requests_per_second
    checks = [
        Check(
            f"creates/s at {args.connections} connections with {stored:,} stored, share of the empty database's",
            f"{ratio:.0%} ({full.best.requests_per_second:,.0f} of {empty.best.requests_per_second:,.0f})",
            f"≥ {RATIO_TARGET:.0%}",
            ratio >= RATIO_TARGET,
        ),
        *(
            Check(
                f"{page.name} with {stored:,} stored, p99 (ms)",
                f"{found.p99:.1f}",
                f"≤ {PAGE_P99_TARGET_MS:g}",
                found.p99 <= PAGE_P99_TARGET_MS,
            )
            for page, found in zip(chosen, full_pages, strict=True)
        ),
    ]
    cpu_note = (
        f"Server CPU per create: {empty.cpu_ms:.3f} ms on the empty database, {full.cpu_ms:.3f} ms with "
        f"{stored:,} stored ({full.cpu_ms / empty.cpu_ms:.2f}×); p99 of the creates {empty.best.p99_ms:.1f} ms "
        f"and {full.best.p99_ms:.1f} ms; other processes used {max(r.other_cores for r in empty.runs + full.runs):.2f} "
        "cores at most during a run."
    )
    distributions = [d for pair in zip(empty_pages, full_pages, strict=True) for d in pair]
    harness.print_tables(checks, distributions, "page latency, milliseconds")
    print(cpu_note)
    harness.save_summary(args, "growth", checks)
    if args.write_md:
        options = [
            f"--rows {args.rows}",
            f"--loops {args.loops}",
            f"--duration {args.duration:g}",
            f"--runs {args.runs}",
            f"--connections {args.connections}",
            f"--samples {args.samples}",
            f"--database {args.database}",
        ]
        if args.commit:
            options.append(f"--commit {args.commit}")
        what = (
            f"creates at {args.connections} connections (wrk, best of {args.runs} runs of {args.duration:g} s) and "
            f"{args.samples} calls of each page, one at a time, on an empty database and with {stored:,} requests "
            f"stored over {args.loops} loops (the pages of the largest loop)."
        )
        mix = ", ".join(f"{share:.1%} {state}" for state, share in MIX.items())
        notes = [
            cpu_note,
            f"The stored requests beyond the API's templates were written directly into the database as the "
            f"API writes them (each template's request row, events and answer, with new ids and times): "
            f"{added:,} in {seconds:.0f} s; {mix}; loops weighted 1, 1/2, 1/3, …; closed ones created over the "
            f"past year, open ones in the last hour. Server RSS at the end: {rss:.0f} MiB.",
        ]
        block = harness.markdown_block(
            title="SQLite" if args.database == "sqlite" else "PostgreSQL",
            what=what,
            instance=instance,
            setup=setup_text,
            checks=checks,
            distributions=distributions,
            unit="Page latency, in milliseconds",
            notes=notes,
            command=harness.command_line("growth.py", options),
        )
        harness.write_markdown(f"growth-{args.database}", "## Growth", block)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fan-out and memory (DESIGN.md §7): 1,000 reviewers connected by SSE all receive a new request within
100 ms (p99), and the server stays at or under 150 MB RSS with the 1,000 streams open.

Setup (not measured): the loop's creator gets an API key from the CLI and creates a loop; the reviewers
sign up through `POST /signup` with its invite code (argon2 hashing, several at a time) on a first server
process started with a raised sign-up throttle and JSON logs, and finish by following the link each sign-up
emailed (without SMTP the server logs each email; the links are read from that log). That process is
stopped, and a fresh one with default settings is measured: its idle RSS, then each reviewer opens
`GET /v1/api/events` with its session cookie, then requests are created one at a time, and for each the time
from the moment the create was sent to every stream's `request.created` event is taken (raw asyncio
connections, one clock, one process), with the create's own round trip beside it.
"""

import argparse
import asyncio
import json
import re
import sys
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import cast

import harness
import httpx
from create_requests import SEED_BODY
from harness import Check, Distribution

LATENCY_P99_TARGET_MS = 100.0
RSS_TARGET_MB = 150.0
SESSION_COOKIE = "openhitl_session"
CREATED = re.compile(rb'event: request\.created\ndata: [^\n]*?"request_id":"([0-9a-f]{24})"')


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run it with the project's interpreter (.venv/bin/python). A failed call, a stream that "
        "closes or misses an event makes it exit 1 and write nothing; missed targets are reported, not "
        "failed.",
    )
    parser.add_argument(
        "--reviewers", type=int, default=1000, help="SSE streams, one per reviewer (default 1000)"
    )
    parser.add_argument(
        "--requests", type=int, default=30, help="requests created, one at a time (default 30)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="unrecorded requests first (default 3)")
    parser.add_argument(
        "--signup-concurrency", type=int, default=8, help="sign-ups in flight during setup (default 8)"
    )
    harness.add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.reviewers < 1 or args.requests < 1 or args.warmup < 0 or args.signup_concurrency < 1:
        parser.error("--reviewers, --requests and --signup-concurrency must be at least 1")
    return args


class Failure(Exception):
    pass


def no_cookies() -> CookieJar:
    """httpx keeps cookies per client; sign-ups in parallel must not send each other's session back."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


LINK = re.compile(r"https?://\S+(/login/email/\S+)")


def emailed_links(log: Path) -> dict[str, str]:
    """The sign-up links the setup server logged (it has no SMTP server): address → local path."""
    links = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == "email.logged":
            found = LINK.search(str(entry.get("text", "")))
            if found:
                links[str(entry.get("to"))] = found.group(1)
    return links


async def set_up(
    base_url: str, log: Path, key: str, args: argparse.Namespace
) -> tuple[str, list[str], float]:
    """Creates the loop and signs the reviewers up (each following its emailed link); returns the loop id,
    their session cookies and seconds."""
    async with httpx.AsyncClient(
        base_url=base_url, timeout=120, trust_env=False, cookies=no_cookies()
    ) as client:
        made = await client.post(
            "/v1/api/loops",
            json={"name": "Fan-out", "icon": "⚡"},
            headers={"Authorization": f"Bearer {key}"},
        )
        if made.status_code != 201:
            raise Failure(f"creating the loop answered {made.status_code}: {made.text[:300]}")
        loop_id = made.json()["data"]["loop"]["id"]
        invite_code = made.json()["data"]["invite_code"]
        slots = asyncio.Semaphore(args.signup_concurrency)
        started = time.monotonic()
        done = 0

        async def link_for(email: str) -> str:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                links = emailed_links(log)
                if email in links:
                    return links[email]
                await asyncio.sleep(0.5)
            raise Failure(f"no sign-up link for {email} in the server's log")

        async def sign_up(number: int) -> str:
            nonlocal done
            email = f"reviewer{number}@example.com"
            async with slots:
                asked = await client.post(
                    "/signup",
                    json={
                        "name": f"Reviewer {number}",
                        "email": email,
                        "password": "a long passphrase for the benchmark",
                        "invite_code": invite_code,
                    },
                )
            if asked.status_code != 202:
                raise Failure(f"sign-up {number} answered {asked.status_code}: {asked.text[:300]}")
            link = await link_for(email)
            async with slots:
                answer = await client.get(link, headers={"Accept": "application/json"})
            if answer.status_code != 200 or answer.json()["data"]["joined_loop_ids"] != [loop_id]:
                raise Failure(f"sign-up link {number} answered {answer.status_code}: {answer.text[:300]}")
            for header in answer.headers.get_list("set-cookie"):
                name, _, rest = header.partition("=")
                if name.strip() == SESSION_COOKIE:
                    done += 1
                    if done % 100 == 0:
                        print(f"  {done}/{args.reviewers} reviewers signed up", flush=True)
                    return rest.split(";", 1)[0]
            raise Failure(f"sign-up {number} set no session cookie")

        cookies = await asyncio.gather(*(sign_up(n) for n in range(args.reviewers)))
        return loop_id, list(cookies), time.monotonic() - started


@dataclass
class Arrivals:
    """When each request's `request.created` reached each stream (perf_counter seconds)."""

    expected: int
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    complete: dict[str, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))

    def record(self, request_id: str, at: float) -> None:
        arrived = self.times[request_id]
        arrived.append(at)
        if len(arrived) == self.expected:
            self.complete[request_id].set()


class EventStream(asyncio.Protocol):
    """One reviewer's `GET /v1/api/events`: notes the arrival time of every request.created event."""

    def __init__(self, request: bytes, arrivals: Arrivals) -> None:
        self.request = request
        self.arrivals = arrivals
        self.buffer = b""
        self.head_done = False
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.closing = False
        self.lost: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports only quack like one
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        if not self.head_done:
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            status = head.split(b"\r\n", 1)[0]
            if b" 200 " not in status + b" ":
                self._fail(f"the stream answered {status.decode(errors='replace')}")
                return
            self.head_done, self.buffer = True, rest
        if not self.connected.done() and b": connected" in self.buffer:
            self.connected.set_result(None)
        for match in CREATED.finditer(self.buffer):
            self.arrivals.record(match[1].decode(), now)
        end = self.buffer.rfind(b"\n\n")
        if end != -1:
            self.buffer = self.buffer[end + 2 :]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self._fail(f"the stream closed: {exc or 'by the server'}")

    def _fail(self, why: str) -> None:
        self.lost = why
        if not self.connected.done():
            self.connected.set_exception(Failure(why))

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()


@dataclass(frozen=True)
class Outcome:
    latencies: list[float]  # ms, every (stream, request) pair
    last_per_request: list[float]  # ms, the slowest stream of each request
    create_ms: list[float]  # the create's own round trip
    rss_idle_mb: float
    rss_streams_mb: float
    rss_after_mb: float
    peak_mb: float
    server_cpu_ms_per_request: float
    connect_seconds: float
    other_cores: float


def megabytes(mib: float) -> float:
    return mib * 1024 * 1024 / 1e6


async def measure(
    base_url: str,
    port: int,
    pid: int,
    *,
    key: str,
    loop_id: str,
    cookies: list[str],
    args: argparse.Namespace,
) -> Outcome:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(2)  # the server settles after start-up
    rss_idle = megabytes(harness.memory_mib(pid)[0])
    arrivals = Arrivals(expected=len(cookies))
    streams: list[EventStream] = []
    slots = asyncio.Semaphore(50)
    started = time.monotonic()

    async def open_stream(cookie: str) -> None:
        request = (
            f"GET /v1/api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
            f"Cookie: {SESSION_COOKIE}={cookie}\r\n\r\n"
        ).encode()
        async with slots:
            _, stream = await loop.create_connection(
                lambda: EventStream(request, arrivals), "127.0.0.1", port
            )
            streams.append(stream)
            await asyncio.wait_for(stream.connected, timeout=60)

    try:
        await asyncio.gather(*(open_stream(cookie) for cookie in cookies))
        connect_seconds = time.monotonic() - started
        print(f"  {len(streams)} streams open after {connect_seconds:.1f} s", flush=True)
        await asyncio.sleep(2)
        rss_streams = megabytes(harness.memory_mib(pid)[0])
        latencies: list[float] = []
        last: list[float] = []
        create_ms: list[float] = []
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60, trust_env=False
        ) as caller:
            noise: harness.Noise | None = None
            cpu_before = 0.0
            for number in range(args.warmup + args.requests):
                if number == args.warmup:
                    noise = harness.Noise(pid)
                    cpu_before = harness.process_cpu_seconds(pid)
                sent = time.perf_counter()
                answer = await caller.post(f"/v1/api/loops/{loop_id}/requests", json=SEED_BODY)
                created = time.perf_counter()
                if answer.status_code != 201:
                    raise Failure(f"creating a request answered {answer.status_code}: {answer.text[:300]}")
                request_id = answer.json()["data"]["request_id"]
                try:
                    await asyncio.wait_for(arrivals.complete[request_id].wait(), timeout=30)
                except TimeoutError:
                    lost = [s.lost for s in streams if s.lost]
                    raise Failure(
                        f"only {len(arrivals.times[request_id])} of {len(cookies)} streams got request "
                        f"{request_id} within 30 s; {len(lost)} streams lost: {lost[:3]}"
                    ) from None
                if number >= args.warmup:
                    # From the send: an event may reach a stream before the 201 reaches the caller.
                    pairs = [1000 * (at - sent) for at in arrivals.times[request_id]]
                    latencies.extend(pairs)
                    last.append(max(pairs))
                    create_ms.append(1000 * (created - sent))
                    print(
                        f"  request {number - args.warmup + 1}/{args.requests}: last stream after "
                        f"{max(pairs):.1f} ms",
                        flush=True,
                    )
                await asyncio.sleep(0.2)
            assert noise is not None
            other = noise.other_cores()
            cpu = harness.process_cpu_seconds(pid) - cpu_before
        rss_after, peak = harness.memory_mib(pid)
        lost = [s.lost for s in streams if s.lost]
        if lost:
            raise Failure(f"{len(lost)} streams were lost: {lost[:3]}")
        return Outcome(
            latencies=latencies,
            last_per_request=last,
            create_ms=create_ms,
            rss_idle_mb=rss_idle,
            rss_streams_mb=rss_streams,
            rss_after_mb=megabytes(rss_after),
            peak_mb=megabytes(peak),
            # (it includes the 0.2 s pauses' idle work: the feed and the sweepers' polls)
            server_cpu_ms_per_request=1000 * cpu / args.requests,
            connect_seconds=connect_seconds,
            other_cores=other,
        )
    finally:
        for stream in streams:
            stream.close()
        await asyncio.sleep(0.2)


def results(outcome: Outcome, reviewers: int) -> tuple[list[Check], list[Distribution]]:
    pairs = Distribution("create sent → request.created on a stream (every pair)", outcome.latencies)
    last = Distribution("create sent → the last of the streams (per request)", outcome.last_per_request)
    create = Distribution("create round trip (sent → 201)", outcome.create_ms)
    open_rss = max(outcome.rss_streams_mb, outcome.rss_after_mb)
    checks = [
        Check(
            f"{reviewers:,} SSE streams receive a new request, p99 (ms)",
            f"{pairs.p99:.1f}",
            f"≤ {LATENCY_P99_TARGET_MS:g}",
            pairs.p99 <= LATENCY_P99_TARGET_MS,
        ),
        Check(
            f"server RSS with {reviewers:,} SSE streams open (MB)",
            f"{open_rss:.1f}",
            f"≤ {RSS_TARGET_MB:g}",
            open_rss <= RSS_TARGET_MB,
        ),
    ]
    return checks, [pairs, last, create]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup = harness.pin_self(args)
    limit = harness.raise_open_files(2 * args.reviewers + 512)
    if limit < args.reviewers + 256:
        print(f"RLIMIT_NOFILE is {limit}: too low for {args.reviewers} streams", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        instance = stack.enter_context(harness.instance(args, stack))
        key = instance.api_key("creator@example.com", "fanout")
        print(
            f"fan-out, OpenHITL from the {instance.code}, on {instance.database}: {args.reviewers} reviewers, "
            f"{args.requests} requests after {args.warmup} warm-up ones; {setup}",
            flush=True,
        )
        # Setup on its own server process, whose sign-up throttle (per client address) is raised.
        setup_env = {"OPENHITL_LOGIN_ATTEMPTS_PER_MINUTE": "1000000", "OPENHITL_LOG_FORMAT": "json"}
        with instance.serve(setup_env) as setup_server:
            try:
                loop_id, cookies, signup_seconds = harness.run_async(
                    set_up(setup_server.base_url, setup_server.log, key, args)
                )
            except (Failure, httpx.HTTPError) as exc:
                print(f"FAILED in setup: {exc}\n{harness.log_tail(setup_server)}", file=sys.stderr)
                return 1
        print(f"  setup: {args.reviewers} sign-ups in {signup_seconds:.0f} s", flush=True)
        running = stack.enter_context(instance.serve())
        port = int(running.base_url.rsplit(":", 1)[1])
        try:
            outcome = harness.run_async(
                measure(
                    running.base_url, port, running.pid, key=key, loop_id=loop_id, cookies=cookies, args=args
                )
            )
        except (Failure, TimeoutError, OSError, httpx.HTTPError) as exc:
            print(f"FAILED: {type(exc).__name__}: {exc}\n{harness.log_tail(running)}", file=sys.stderr)
            return 1
    checks, distributions = results(outcome, args.reviewers)
    harness.print_tables(checks, distributions, "milliseconds")
    harness.save_summary(args, "fan-out and memory", checks)
    memory = (
        f"Server RSS: {outcome.rss_idle_mb:.1f} MB idle after start-up, {outcome.rss_streams_mb:.1f} MB with "
        f"the {args.reviewers:,} streams open, {outcome.rss_after_mb:.1f} MB after the requests (peak "
        f"{outcome.peak_mb:.1f} MB); 1 MB = 10^6 bytes."
    )
    work = (
        f"Opening the streams took {outcome.connect_seconds:.1f} s (50 at a time); the server spent "
        f"{outcome.server_cpu_ms_per_request:.0f} ms of CPU per request created (with the pauses between "
        f"them); sign-up setup took {signup_seconds:.0f} s."
    )
    noise = f"Other processes on the machine used {outcome.other_cores:.2f} cores meanwhile" + (
        " (a noisy measurement)." if outcome.other_cores > 0.1 else "."
    )
    print(memory)
    print(work)
    print(noise)
    if args.write_md:
        options = [
            f"--reviewers {args.reviewers}",
            f"--requests {args.requests}",
            f"--database {args.database}",
        ]
        if args.commit:
            options.append(f"--commit {args.commit}")
        what = (
            f"{args.reviewers:,} reviewers (signed up by invite code beforehand, on another server process) each "
            f"hold a `GET /v1/api/events` stream by session cookie; the loop's creator then creates "
            f"{args.requests} requests one at a time (after {args.warmup} warm-up ones), 0.2 s apart once "
            "every stream has the previous one."
        )
        notes = [
            "Latency runs from the moment the create was sent to the moment each stream's `request.created` "
            "event arrived, on one clock, in one asyncio process (raw connections on uvloop); the create's own "
            f"round trip (sent → 201) is given beside it. {memory}",
            f"{work} {noise}",
        ]
        block = harness.markdown_block(
            title="SQLite" if args.database == "sqlite" else "PostgreSQL",
            what=what,
            instance=instance,
            setup=setup,
            checks=checks,
            distributions=distributions,
            unit="Every distribution, in milliseconds",
            notes=notes,
            command=harness.command_line("fanout.py", options),
        )
        harness.write_markdown(f"fanout-{args.database}", "## Fan-out and memory", block)
    return 0


if __name__ == "__main__":
    sys.exit(main())

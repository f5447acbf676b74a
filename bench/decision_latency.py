"""Decision latency (DESIGN.md §7): a reviewer's respond → the caller's long-poll or SSE wait returns, and
→ the request's callback webhook arrives.

Per sample: the caller creates a request whose callback_url points at a small HTTP receiver this script
runs on loopback; a waiter parks on it (`GET /v1/api/requests/{id}?wait=30`, or the one-event SSE stream
`GET /v1/api/requests/{id}/events`, alternating); after the park time a reviewer (a second account, joined
with the loop's invite code) posts `respond`. Latency = when the waiter returned (or when the webhook
arrived) minus when the respond's 200 arrived, all on one clock in this one asyncio process.
"""

import argparse
import asyncio
import json
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import harness
import httpx
from create_requests import SEED_BODY
from harness import Check, Distribution

WAITER_P99_TARGET_MS = 10.0
WEBHOOK_P99_TARGET_MS = 50.0
KINDS = ("long-poll", "SSE")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run it with the project's interpreter (.venv/bin/python). A failed call, a waiter that "
        "does not return or a webhook that does not arrive makes it exit 1 and write nothing; missed "
        "targets are reported, not failed.",
    )
    parser.add_argument(
        "--samples", type=int, default=300, help="measured samples per waiter kind (default 300)"
    )
    parser.add_argument(
        "--warmup", type=int, default=10, help="unrecorded samples per kind first (default 10)"
    )
    parser.add_argument(
        "--park-ms", type=float, default=75.0, help="how long a waiter waits before the respond (default 75)"
    )
    harness.add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.samples < 1 or args.warmup < 0 or args.park_ms < 10:
        parser.error("--samples must be at least 1, --warmup at least 0, --park-ms at least 10")
    return args


class HookReceiver:
    """A minimal HTTP/1.1 server on loopback: answers every POST with 200 and notes when its body arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, asyncio.Future[float]] = {}
        self.server: asyncio.Server | None = None
        self.port = 0
        self.received = 0
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self._connections):  # ends the handlers' reads, so none is left pending
                writer.close()
            await self.server.wait_closed()
            for _ in range(100):
                if not self._connections:
                    break
                await asyncio.sleep(0.01)

    def expect(self, request_id: str) -> asyncio.Future[float]:
        return self.arrivals.setdefault(request_id, asyncio.get_running_loop().create_future())

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in head.decode().split("\r\n")[1:])
                    if name
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                arrived = time.perf_counter()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                self.received += 1
                request_id = _request_id(body)
                if request_id is not None:
                    future = self.expect(request_id)
                    if not future.done():
                        future.set_result(arrived)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()


def _request_id(body: bytes) -> str | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    value = payload.get("request_id") if isinstance(payload, dict) else None
    return value if isinstance(value, str) else None


@dataclass
class Samples:
    waiter: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    webhook: list[float] = field(default_factory=list)
    respond: list[float] = field(default_factory=list)  # the reviewer's respond round trip
    waiter_from_send: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})


class Failure(Exception):
    pass


async def expect_status(response: httpx.Response, status: int, what: str) -> dict[str, Any]:
    if response.status_code != status:
        raise Failure(f"{what} answered {response.status_code}: {response.text[:500]}")
    answer: dict[str, Any] = response.json()
    return answer


async def long_poll(caller: httpx.AsyncClient, request_id: str) -> tuple[float, str]:
    response = await caller.get(f"/v1/api/requests/{request_id}", params={"wait": 30})
    returned = time.perf_counter()
    answer = await expect_status(response, 200, "the long-poll")
    return returned, str(answer["data"]["status"])


async def sse_wait(caller: httpx.AsyncClient, request_id: str, connected: asyncio.Event) -> tuple[float, str]:
    event = None
    async with caller.stream("GET", f"/v1/api/requests/{request_id}/events") as response:
        if response.status_code != 200:
            raise Failure(f"the SSE stream answered {response.status_code}")
        async for line in response.aiter_lines():
            if line.startswith(": connected"):
                connected.set()
            elif line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:") and event is not None:
                returned = time.perf_counter()
                json.loads(line.partition(":")[2])
                return returned, event
    raise Failure("the SSE stream ended without an event")


async def one_sample(
    kind: str,
    *,
    caller: httpx.AsyncClient,
    waiter: httpx.AsyncClient,
    reviewer: httpx.AsyncClient,
    loop_id: str,
    hooks: HookReceiver,
    park: float,
    samples: Samples | None,
) -> None:
    body = {**SEED_BODY, "callback_url": f"http://127.0.0.1:{hooks.port}/hook"}
    created = await expect_status(
        await caller.post(f"/v1/api/loops/{loop_id}/requests", json=body), 201, "creating a request"
    )
    request_id = created["data"]["request_id"]
    arrival = hooks.expect(request_id)
    connected = asyncio.Event()
    if kind == "long-poll":
        task = asyncio.create_task(long_poll(waiter, request_id))
    else:
        task = asyncio.create_task(sse_wait(waiter, request_id, connected))
        await asyncio.wait_for(connected.wait(), timeout=10)
    await asyncio.sleep(park)
    if task.done():
        task.result()
        raise Failure(f"the {kind} waiter returned before the respond")
    sent = time.perf_counter()
    response = await reviewer.post(
        f"/v1/api/requests/{request_id}/respond", json={"response_data": "Approve"}
    )
    answered = time.perf_counter()
    await expect_status(response, 200, "respond")
    returned, status = await asyncio.wait_for(task, timeout=35)
    if status != "completed":
        raise Failure(f"the {kind} waiter returned status {status!r}")
    hooked = await asyncio.wait_for(arrival, timeout=30)
    hooks.arrivals.pop(request_id, None)
    if samples is not None:
        samples.waiter[kind].append(1000 * (returned - answered))
        samples.waiter_from_send[kind].append(1000 * (returned - sent))
        samples.webhook.append(1000 * (hooked - answered))
        samples.respond.append(1000 * (answered - sent))


@dataclass(frozen=True)
class Outcome:
    samples: Samples
    other_cores: float
    server_rss_mib: float
    server_cpu_ms: float  # the server's CPU time per sample (create, wait, respond, webhook)


async def measure(
    base_url: str, pid: int, *, caller_key: str, reviewer_key: str, args: argparse.Namespace
) -> Outcome:
    hooks = HookReceiver()
    await hooks.start()
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
    timeout = httpx.Timeout(60.0)

    def client(key: str) -> httpx.AsyncClient:  # trust_env=False: loopback only, never a proxy
        return httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {key}"},
            limits=limits,
            timeout=timeout,
            trust_env=False,
        )

    try:
        async with (
            client(caller_key) as caller,
            client(caller_key) as waiter,
            client(reviewer_key) as reviewer,
        ):
            made = await expect_status(
                await caller.post("/v1/api/loops", json={"name": "Decision latency", "icon": "⚡"}),
                201,
                "creating the loop",
            )
            loop_id = made["data"]["loop"]["id"]
            invite_code = made["data"]["invite_code"]
            await expect_status(
                await reviewer.post("/v1/api/loops/join", json={"invite_code": invite_code}),
                200,
                "joining the loop",
            )
            park = args.park_ms / 1000
            common: dict[str, Any] = {
                "caller": caller,
                "waiter": waiter,
                "reviewer": reviewer,
                "loop_id": loop_id,
                "hooks": hooks,
                "park": park,
            }
            for number in range(2 * args.warmup):
                await one_sample(KINDS[number % 2], samples=None, **common)
            samples = Samples()
            noise = harness.Noise(pid)
            cpu_before = harness.process_cpu_seconds(pid)
            total = 2 * args.samples
            for number in range(total):
                await one_sample(KINDS[number % 2], samples=samples, **common)
                await asyncio.sleep(0.02)
                if (number + 1) % 100 == 0:
                    print(f"  {number + 1}/{total} samples", flush=True)
            other = noise.other_cores()
            cpu = harness.process_cpu_seconds(pid) - cpu_before
            rss, _ = harness.memory_mib(pid)
            return Outcome(samples, other, rss, 1000 * cpu / total)
    finally:
        await hooks.stop()


def results(outcome: Outcome) -> tuple[list[Check], list[Distribution]]:
    samples = outcome.samples
    distributions = [
        Distribution("respond 200 → long-poll returned", samples.waiter["long-poll"]),
        Distribution("respond 200 → SSE event read", samples.waiter["SSE"]),
        Distribution("respond 200 → webhook received", samples.webhook),
        Distribution("respond sent → long-poll returned", samples.waiter_from_send["long-poll"]),
        Distribution("respond sent → SSE event read", samples.waiter_from_send["SSE"]),
        Distribution("respond round trip (sent → 200)", samples.respond),
    ]
    checks = [
        Check(
            f"respond → {name} caller returns, p99 (ms)",
            f"{d.p99:.2f}",
            f"≤ {WAITER_P99_TARGET_MS:g}",
            d.p99 <= WAITER_P99_TARGET_MS,
        )
        for name, d in (("long-poll", distributions[0]), ("SSE", distributions[1]))
    ]
    webhook = distributions[2]
    checks.append(
        Check(
            "respond → webhook received, p99 (ms)",
            f"{webhook.p99:.2f}",
            f"≤ {WEBHOOK_P99_TARGET_MS:g}",
            webhook.p99 <= WEBHOOK_P99_TARGET_MS,
        )
    )
    return checks, distributions


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup = harness.pin_self(args)
    with ExitStack() as stack:
        instance = stack.enter_context(harness.instance(args, stack))
        caller_key = instance.api_key("caller@example.com", "caller")
        reviewer_key = instance.api_key("reviewer@example.com", "reviewer")
        running = stack.enter_context(instance.serve())
        print(
            f"decision latency, OpenHITL from the {instance.code}, on {instance.database}: "
            f"{args.samples} samples per waiter kind after {args.warmup} warm-up samples each; {setup}",
            flush=True,
        )
        try:
            outcome = harness.run_async(
                measure(
                    running.base_url, running.pid, caller_key=caller_key, reviewer_key=reviewer_key, args=args
                )
            )
        except (Failure, TimeoutError, httpx.HTTPError) as exc:
            print(f"FAILED: {type(exc).__name__}: {exc}\n{harness.log_tail(running)}", file=sys.stderr)
            return 1
    checks, distributions = results(outcome)
    harness.print_tables(checks, distributions, "milliseconds")
    harness.save_summary(args, "decision latency", checks)
    noise = (
        f"The server used {outcome.server_cpu_ms:.1f} ms of CPU per sample (create, wait, respond, webhook); "
        f"other processes on the machine used {outcome.other_cores:.2f} cores meanwhile"
        + (" (a noisy measurement)." if outcome.other_cores > 0.1 else ".")
    )
    print(noise)
    if args.write_md:
        options = [f"--samples {args.samples}", f"--database {args.database}"]
        if args.commit:
            options.append(f"--commit {args.commit}")
        what = (
            f"{2 * args.samples} samples after {2 * args.warmup} warm-up ones, one at a time, alternating "
            "between a long-poll waiter (`GET /v1/api/requests/{id}?wait=30`) and an SSE waiter "
            f"(`GET /v1/api/requests/{{id}}/events`), each parked {args.park_ms:g} ms before a second "
            'account that joined the loop by invite code posts `respond {"response_data": "Approve"}`. '
            "Every request has a callback_url pointing at a minimal HTTP receiver in the benchmark process."
        )
        notes = [
            "Latency is measured from the moment the respond's 200 reached the client to the moment the "
            "waiter's answer (long-poll: the whole JSON body; SSE: the `completed` event's data line) or the "
            "webhook's body arrived, on one clock in one asyncio process (httpx on uvloop); a waiter answered "
            "before the reviewer's 200 gives a negative figure. The rows from `respond sent` include the "
            f"respond's own round trip. {noise} Server RSS at the end: {outcome.server_rss_mib:.0f} MiB.",
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
            command=harness.command_line("decision_latency.py", options),
        )
        harness.write_markdown(f"decision-latency-{args.database}", "## Decision latency", block)
    return 0


if __name__ == "__main__":
    sys.exit(main())

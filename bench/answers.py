"""What an answer costs beside a create (DESIGN.md §7: an answer costs at most twice a create).

One server process. Each run: the caller creates --requests requests through the API at --connections
clients; a reviewer (a second account, joined with the loop's invite code) claims half of them and answers
those (the reviewer app's way: the request's screen claims it, the answer completes it), and answers the
other half straight from the queue (an API client's way: `respond` on a pending request). Every phase
counts the server process's CPU time (/proc/<pid>/stat) per call and the calls per second. An answer is
claim + respond; its CPU beside a create's is the figure of the target. A few calls one at a time on the
idle server give the round trips.
"""

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

import harness
import report
from create_requests import SEED_BODY, summarise_profile, tool
from harness import Check, Distribution

RATIO_TARGET = 2.0
RESPOND_BODY = json.dumps({"response_data": "Approve"}).encode()
CREATE_BODY = json.dumps(SEED_BODY).encode()
PHASES = ("create", "claim", "respond (claimed)", "respond (from the queue)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run it with the project's interpreter (.venv/bin/python). A call answered with anything but "
        "its expected status makes it exit 1 and write nothing; a missed target is reported, not failed.",
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests created (and answered) per run (default 2000)"
    )
    parser.add_argument("--connections", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs; medians reported (default 3)")
    parser.add_argument("--warmup", type=int, default=200, help="unrecorded requests first (default 200)")
    parser.add_argument(
        "--serial",
        type=int,
        default=100,
        help="calls of each kind one at a time, for round trips (default 100)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="after measuring, py-spy one more run's claims and responds into FILE (py-spy must be installed)",
    )
    harness.add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.requests < 2 or args.connections < 1 or args.runs < 1 or args.warmup < 0 or args.serial < 0:
        parser.error(
            "--requests must be at least 2, --connections and --runs at least 1, the rest at least 0"
        )
    return args


class Failure(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection on loopback, as lean as a client can be (httpx costs more CPU
    per call than the server spends on some of them)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> None:
        self.reader, self.writer, self.head = reader, writer, head

    @classmethod
    async def open(cls, base_url: str, token: str) -> "Connection":
        host, _, port = base_url.removeprefix("http://").partition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        return cls(reader, writer, head.encode())

    async def post(self, path: str, body: bytes = b"") -> tuple[int, bytes]:
        self.writer.write(
            b"POST " + path.encode() + b" HTTP/1.1\r\n" + self.head
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readuntil(b"\r\n")
        await self.reader.readuntil(b"\r\n")
        return status, b"".join(parts)

    async def close(self) -> None:
        self.writer.close()
        with suppress(ConnectionError):
            await self.writer.wait_closed()


@dataclass(frozen=True)
class Phase:
    name: str
    calls: int
    seconds: float
    server_cpu_s: float
    latencies_ms: list[float]
    other_cores: float

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.server_cpu_s / self.calls

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


class Clients:
    """The caller and the reviewer, and the phases they run. Each phase opens its own connections: the
    server closes a keep-alive connection left idle for a few seconds."""

    def __init__(self, base_url: str, pid: int, *, caller_key: str, reviewer_key: str) -> None:
        self.base_url, self.pid = base_url, pid
        self.caller_key, self.reviewer_key = caller_key, reviewer_key
        self.loop_id = ""

    async def start(self) -> None:
        """The caller's loop, joined by the reviewer with its invite code."""
        caller = await Connection.open(self.base_url, self.caller_key)
        reviewer = await Connection.open(self.base_url, self.reviewer_key)
        try:
            status, made = await caller.post(
                "/v1/api/loops", json.dumps({"name": "Answers", "icon": "⚡"}).encode()
            )
            if status != 201:
                raise Failure(f"creating the loop answered {status}: {made[:500]!r}")
            loop = json.loads(made)["data"]
            joined, answer = await reviewer.post(
                "/v1/api/loops/join", json.dumps({"invite_code": loop["invite_code"]}).encode()
            )
            if joined != 200:
                raise Failure(f"joining the loop answered {joined}: {answer[:500]!r}")
            self.loop_id = loop["loop"]["id"]
        finally:
            await caller.close()
            await reviewer.close()

    async def phase(
        self, name: str, token: str, calls: Sequence[tuple[str, bytes]], *, expect: int, connections: int
    ) -> tuple[Phase, list[bytes]]:
        """Every call once, spread over `connections` clients (each takes the next call when it is free)."""
        answers: list[bytes] = [b""] * len(calls)
        latencies: list[float] = [0.0] * len(calls)
        position = iter(range(len(calls)))

        async def client(connection: Connection) -> None:
            for number in position:
                path, body = calls[number]
                sent = time.perf_counter()
                status, answer = await connection.post(path, body)
                latencies[number] = 1000 * (time.perf_counter() - sent)
                if status != expect:
                    raise Failure(f"{name}: POST {path} answered {status}: {answer[:500]!r}")
                answers[number] = answer

        opened = [await Connection.open(self.base_url, token) for _ in range(connections)]
        try:
            noise = harness.Noise(self.pid)
            cpu_before = harness.process_cpu_seconds(self.pid)
            started = time.perf_counter()
            await asyncio.gather(*(client(connection) for connection in opened))
            seconds = time.perf_counter() - started
            cpu = harness.process_cpu_seconds(self.pid) - cpu_before
            other = noise.other_cores()
        finally:
            for connection in opened:
                await connection.close()
        return Phase(name, len(calls), seconds, cpu, latencies, other), answers

    async def create(self, requests: int, *, connections: int) -> tuple[Phase, list[str]]:
        create = (f"/v1/api/loops/{self.loop_id}/requests", CREATE_BODY)
        created, answers = await self.phase(
            "create", self.caller_key, [create] * requests, expect=201, connections=connections
        )
        return created, [json.loads(answer)["data"]["request_id"] for answer in answers]

    async def claim(self, ids: Sequence[str], *, connections: int, name: str = "claim") -> Phase:
        calls = [(f"/v1/api/requests/{i}/claim", b"") for i in ids]
        claimed, _ = await self.phase(name, self.reviewer_key, calls, expect=200, connections=connections)
        return claimed

    async def respond(self, ids: Sequence[str], *, connections: int, name: str = "respond") -> Phase:
        calls = [(f"/v1/api/requests/{i}/respond", RESPOND_BODY) for i in ids]
        answered, _ = await self.phase(name, self.reviewer_key, calls, expect=200, connections=connections)
        return answered

    async def run(self, requests: int, *, connections: int) -> list[Phase]:
        """One run: create, claim half, answer the claimed half, answer the other half from the queue."""
        created, ids = await self.create(requests, connections=connections)
        claimed, unclaimed = ids[: requests // 2], ids[requests // 2 :]
        return [
            created,
            await self.claim(claimed, connections=connections),
            await self.respond(claimed, connections=connections, name=PHASES[2]),
            await self.respond(unclaimed, connections=connections, name=PHASES[3]),
        ]


@dataclass(frozen=True)
class Outcome:
    runs: list[list[Phase]]  # per run, the phases in the order of PHASES
    serial: list[Phase]  # one client, one call at a time
    server_rss_mib: float

    def median(self, index: int, figure: str) -> float:
        return statistics.median(getattr(run[index], figure) for run in self.runs)

    def answer_rate(self, respond_index: int) -> float:
        """Answers per second at the measured concurrency: claim and respond, or respond alone."""
        rates = []
        for run in self.runs:
            respond = run[respond_index]
            seconds = respond.seconds + (run[1].seconds if respond_index == 2 else 0.0)
            rates.append(respond.calls / seconds)
        return statistics.median(rates)


async def measure(clients: Clients, args: argparse.Namespace) -> Outcome:
    await clients.start()
    if args.warmup:
        await clients.run(max(2, args.warmup), connections=args.connections)
    runs = []
    for number in range(args.runs):
        phases = await clients.run(args.requests, connections=args.connections)
        runs.append(phases)
        print(
            f"  run {number + 1}/{args.runs}: "
            + "; ".join(f"{p.name} {p.cpu_ms:.3f} ms CPU, {p.rate:,.0f}/s" for p in phases),
            flush=True,
        )
    serial = await clients.run(args.serial, connections=1) if args.serial >= 2 else []
    rss, _ = harness.memory_mib(clients.pid)
    return Outcome(runs, serial, rss)


async def profile(clients: Clients, args: argparse.Namespace, out: Path) -> int:
    """py-spy (GIL holder only, not pausing the server) through one more run's claims and responds; returns
    how many calls it watched."""
    _, ids = await clients.create(max(args.requests, 2000), connections=args.connections)
    recorder = await asyncio.create_subprocess_exec(
        *[tool("py-spy"), "record", "--pid", str(clients.pid), "--rate", "250", "--gil", "--nonblocking"],
        *["--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    await asyncio.sleep(1.0)
    await clients.claim(ids, connections=args.connections)
    await clients.respond(ids, connections=args.connections)
    recorder.send_signal(signal.SIGINT)  # py-spy writes what it has and ends
    _, error = await asyncio.wait_for(recorder.communicate(), timeout=60)
    if recorder.returncode not in (0, -signal.SIGINT):
        print(f"py-spy ended with {recorder.returncode}: {error.decode()}", file=sys.stderr)
    return 2 * len(ids)


def results(outcome: Outcome) -> tuple[list[Check], list[Distribution], list[list[str]]]:
    cpu = {name: outcome.median(index, "cpu_ms") for index, name in enumerate(PHASES)}
    rate = {name: outcome.median(index, "rate") for index, name in enumerate(PHASES)}
    answer_cpu = cpu["claim"] + cpu["respond (claimed)"]
    checks = [
        Check(
            "answer (claim + respond) / create, server CPU",
            f"{answer_cpu / cpu['create']:.2f} ({answer_cpu:.3f} / {cpu['create']:.3f} ms)",
            f"≤ {RATIO_TARGET:g}",
            answer_cpu / cpu["create"] <= RATIO_TARGET,
        ),
        Check(
            "answer from the queue (respond) / create, server CPU",
            f"{cpu['respond (from the queue)'] / cpu['create']:.2f} "
            f"({cpu['respond (from the queue)']:.3f} / {cpu['create']:.3f} ms)",
            f"≤ {RATIO_TARGET:g}",
            cpu["respond (from the queue)"] / cpu["create"] <= RATIO_TARGET,
        ),
    ]
    rows = [[name, f"{cpu[name]:.3f}", f"{rate[name]:,.0f}"] for name in PHASES]
    rows.append(["answer (claim + respond)", f"{answer_cpu:.3f}", f"{outcome.answer_rate(2):,.0f}"])
    distributions = [
        Distribution(f"{phase.name}, one at a time (idle server)", phase.latencies_ms)
        for phase in outcome.serial
    ] + [
        Distribution(f"{name}, at load", [value for run in outcome.runs for value in run[index].latencies_ms])
        for index, name in enumerate(PHASES)
    ]
    return checks, distributions, rows


PHASE_HEADER = ["", "server CPU per call (ms)", "calls per second"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup = harness.pin_self(args)
    with ExitStack() as stack:
        instance = stack.enter_context(harness.instance(args, stack))
        caller_key = instance.api_key("caller@example.com", "caller")
        reviewer_key = instance.api_key("reviewer@example.com", "reviewer")
        running = stack.enter_context(instance.serve())
        print(
            f"answers, OpenHITL from the {instance.code}, on {instance.database}: {args.runs} runs of "
            f"{args.requests} requests at {args.connections} clients after {args.warmup} warm-up ones; {setup}",
            flush=True,
        )

        async def everything() -> Outcome:
            clients = Clients(running.base_url, running.pid, caller_key=caller_key, reviewer_key=reviewer_key)
            outcome = await measure(clients, args)
            if args.profile is not None:
                watched = await profile(clients, args, args.profile)
                print(f"profile of {watched} calls (claims, then responds) in {args.profile}")
            return outcome

        try:
            outcome = harness.run_async(everything())
        except (Failure, OSError, asyncio.IncompleteReadError, subprocess.SubprocessError) as exc:
            print(f"FAILED: {type(exc).__name__}: {exc}\n{harness.log_tail(running)}", file=sys.stderr)
            return 1
    if args.profile is not None and args.profile.exists():
        print(summarise_profile(args.profile))
    checks, distributions, rows = results(outcome)
    print(f"\nmedians of {args.runs} runs at {args.connections} clients:")
    print(harness.text_table(PHASE_HEADER, rows))
    harness.print_tables(checks, distributions, "round trips, milliseconds")
    harness.save_summary(args, "answers", checks)
    other = max(phase.other_cores for run in outcome.runs for phase in run)
    noise = f"Other processes on the machine used up to {other:.2f} cores during a phase" + (
        " (a noisy measurement)." if other > 0.1 else "."
    )
    print(noise)
    if args.write_md:
        options = [
            f"--requests {args.requests}",
            f"--connections {args.connections}",
            f"--runs {args.runs}",
            f"--database {args.database}",
        ]
        if args.commit:
            options.append(f"--commit {args.commit}")
        what = (
            f"{args.runs} runs, each creating {args.requests:,} requests through the API at "
            f"{args.connections} clients (keep-alive connections), then, as a second account that joined "
            "the loop by invite code, claiming half of them and answering those "
            '(`respond {"response_data": "Approve"}`), and answering the other half straight from the '
            f"queue, after {args.warmup} warm-up requests; then {args.serial} of each one at a time."
        )
        notes = [
            f"Server CPU per call and calls per second of each phase, medians of the {args.runs} runs:",
            report_table(rows),
            "CPU is the server process's user + system time (/proc/<pid>/stat) over the phase, divided by its "
            "calls; an answer is a claim and a respond. Creates commit in groups (kit/batch.py); "
            f"{noise} Server RSS at the end: {outcome.server_rss_mib:.0f} MiB.",
        ]
        block = harness.markdown_block(
            title="SQLite" if args.database == "sqlite" else "PostgreSQL",
            what=what,
            instance=instance,
            setup=setup,
            checks=checks,
            distributions=distributions,
            unit="Round trips, in milliseconds",
            notes=notes,
            command=harness.command_line("answers.py", options),
        )
        harness.write_markdown(f"answers-{args.database}", "## Answers", block)
    return 0


def report_table(rows: list[list[str]]) -> str:
    return report.markdown_table(PHASE_HEADER, rows)


if __name__ == "__main__":
    sys.exit(main())

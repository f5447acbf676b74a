"""Driving wrk: finding or installing it, writing its Lua script, running it and reading its report."""

import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


class LoadError(RuntimeError):
    """wrk could not be run, or its report could not be read."""


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: dict[str, int]
    report: str
    server_cpu_ms: float = 0.0  # CPU time the server spent per answered request
    other_cores: float = 0.0  # cores kept busy by other processes on the machine meanwhile

    @property
    def failed(self) -> bool:
        return self.non_2xx > 0 or any(self.socket_errors.values())

    def problems(self) -> str:
        errors = ", ".join(f"{kind} {count}" for kind, count in self.socket_errors.items() if count)
        parts = [f"{self.non_2xx} non-2xx responses"] if self.non_2xx else []
        return "; ".join([*parts, *([f"socket errors: {errors}"] if errors else [])])


@dataclass(frozen=True)
class CpuTimes:
    """Seconds of CPU time used so far: by the whole machine, one process, and our reaped children (wrk)."""

    machine: float
    process: float
    children: float

    @classmethod
    def now(cls, *pids: int) -> "CpuTimes":
        """`process` adds up the processes given (several replicas count as one server)."""
        ticks = os.sysconf("SC_CLK_TCK")
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
        process = 0
        for pid in pids:
            own = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            process += int(own[11]) + int(own[12])
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(
            machine=(user + nice + system + irq + softirq + steal) / ticks,
            process=process / ticks,
            children=children.ru_utime + children.ru_stime,
        )


def ensure_wrk() -> str:
    """The wrk binary; installs it with apt-get once if it is missing and we may."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print("wrk is missing: trying `apt-get install -y wrk` once", file=sys.stderr)
        subprocess.run([apt, "install", "-y", "wrk"], check=False, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
        if found:
            return found
    raise LoadError(
        "wrk is needed as the load generator: install it with `apt-get install -y wrk` "
        "(Debian/Ubuntu, as root) or `brew install wrk`, or build it from https://github.com/wg/wrk"
    )


def wrk_version(wrk: str) -> str:
    result = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    first = (result.stdout + result.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def lua_string(value: str) -> str:
    """`value` as a double-quoted Lua string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def write_post_script(path: Path, *, body: str, headers: dict[str, str]) -> Path:
    """A wrk Lua script sending `body` as a POST with `headers` on every request."""
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(body)}"]
    lines += [f"wrk.headers[{lua_string(name)}] = {lua_string(value)}" for name, value in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_wrk(
    wrk: str,
    url: str,
    *,
    script: Path,
    duration_s: float,
    connections: int,
    server_pids: tuple[int, ...],
    threads: int = 1,
    cpu: int | None = None,
) -> WrkResult:
    """One wrk run against `url`, with the CPU time the server and everything else used meanwhile."""
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    before, started = CpuTimes.now(*server_pids), time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    after, elapsed = CpuTimes.now(*server_pids), time.monotonic() - started
    if result.returncode != 0:
        raise LoadError(f"wrk failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    parsed = parse_wrk(result.stdout)
    server = after.process - before.process
    others = (after.machine - before.machine) - server - (after.children - before.children)
    return replace(
        parsed,
        server_cpu_ms=1000 * server / max(parsed.requests, 1),
        other_cores=max(0.0, others / elapsed),
    )


def _ms(value: str, unit: str) -> float:
    return float(value) * TIME_UNITS_MS[unit]


def parse_wrk(report: str) -> WrkResult:
    """Read throughput, latency percentiles and errors out of `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", report, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ", report, re.MULTILINE)
    percentiles = {
        int(match[1]): _ms(match[2], match[3])
        for match in re.finditer(rf"^\s+(50|75|90|99)%\s+{_TIME}", report, re.MULTILINE)
    }
    if rps is None or total is None or not {50, 90, 99} <= percentiles.keys():
        raise LoadError(f"could not read the wrk report:\n{report}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", report)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    socket_errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True))
        if errors
        else {}
    )
    return WrkResult(
        requests_per_second=float(rps[1]),
        p50_ms=percentiles[50],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        requests=int(total[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=socket_errors,
        report=report,
    )

"""What every benchmark reports: the machine it ran on, and its own section of BENCHMARKS.md."""

import json
import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
PACKAGES = (
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
)
FILE_HEADER = """# Benchmarks

Measured by the scripts in `bench/` against a server started as a subprocess, never by timed tests. The
targets are DESIGN.md §7. Each script rewrites only its own blocks, between `<!-- bench:NAME:begin -->` and
`<!-- bench:NAME:end -->`; everything outside the markers is kept, so notes and profiles can sit beside them.
"""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine() -> dict[str, str]:
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": _memory(),
        "kernel": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "packages": ", ".join(f"{name} {version}" for name, version in package_versions().items()),
    }


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_block(key: str, block: str, *, heading: str, path: Path = BENCHMARKS_MD) -> None:
    """Put `block` between the markers of `key`, replacing an older one; new blocks go under `heading`.

    A new block follows the last block of its section, or the heading itself; a missing heading is appended.
    """
    begin, end = f"<!-- bench:{key}:begin -->", f"<!-- bench:{key}:end -->"
    marked = f"{begin}\n{block.strip()}\n{end}"
    text = path.read_text() if path.exists() else FILE_HEADER
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + marked + rest.split(end, 1)[1]
    elif found := re.search(rf"^{re.escape(heading)}$", text, re.MULTILINE):
        start = found.start()
        next_section = text.find("\n## ", start + len(heading))
        stop = next_section + 1 if next_section != -1 else len(text)
        last_block = text.rfind(":end -->", start, stop)
        anchor = text.find("\n", last_block if last_block != -1 else start)
        anchor = anchor + 1 if anchor != -1 else len(text)
        text = f"{text[:anchor]}\n{marked}\n{text[anchor:]}"
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{marked}\n"
    path.write_text(text.rstrip("\n") + "\n")


def append_summary(path: Path | None, figures: list[dict[str, Any]]) -> None:
    """Figures as JSON lines (benchmark, database, figure, measured, target, ok, result), when asked for."""
    if path is None:
        return
    with path.open("a") as out:
        for figure in figures:
            out.write(json.dumps(figure, ensure_ascii=False) + "\n")

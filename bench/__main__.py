"""Every benchmark of DESIGN.md §7, on SQLite and on PostgreSQL, in one command.

    .venv/bin/python -m bench           # the full run; rewrites every block of BENCHMARKS.md and its summary
    .venv/bin/python -m bench --quick   # tiny loads, to see that everything runs; writes nothing
    .venv/bin/python -m bench --commit REV  # an earlier revision's server, same benchmarks; writes nothing

Each benchmark runs as its own process (the scripts beside this one, each starting and stopping its own
servers); the figures they report come back as JSON lines and are printed in one table, beside the targets.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import report  # noqa: E402  (a sibling script, found through the path entry above)


@dataclass(frozen=True)
class Run:
    script: str
    full: list[str]
    quick: list[str]

    def command(self, *, quick: bool, write_md: bool, summary: Path, commit: str | None = None) -> list[str]:
        options = self.quick if quick else self.full
        return [
            sys.executable,
            str(BENCH_DIR / self.script),
            *options,
            "--summary",
            str(summary),
            *(["--commit", commit] if commit else []),
            *(["--write-md"] if write_md else []),
        ]


def runs() -> list[Run]:
    """In the order of DESIGN.md §7; each on SQLite, then PostgreSQL."""
    plan = []
    for database in ("sqlite", "postgres"):
        db = ["--database", database]
        plan.append(
            Run(
                "create_requests.py",
                [*db, "--duration", "10", "--connections", "32", "--runs", "3"],
                [*db, "--duration", "2", "--connections", "8", "--runs", "1", "--warmup", "1"],
            )
        )
    replicated = ["--database", "postgres", "--replicas", "2"]
    plan.append(
        Run(
            "create_requests.py",
            [*replicated, "--duration", "10", "--connections", "32", "--runs", "3"],
            [*replicated, "--duration", "2", "--connections", "8", "--runs", "1", "--warmup", "1"],
        )
    )
    quick_answers = [
        "--requests",
        "40",
        "--connections",
        "8",
        "--runs",
        "1",
        "--warmup",
        "10",
        "--serial",
        "4",
    ]
    for database in ("sqlite", "postgres"):
        db = ["--database", database]
        plan.append(
            Run(
                "answers.py",
                [*db, "--requests", "2000", "--connections", "8", "--runs", "3"],
                [*db, *quick_answers],
            )
        )
    for database in ("sqlite", "postgres"):
        db = ["--database", database]
        plan += [
            Run("decision_latency.py", [*db, "--samples", "300"], [*db, "--samples", "20", "--warmup", "2"]),
            Run(
                "fanout.py",
                [*db, "--reviewers", "1000", "--requests", "30"],
                [*db, "--reviewers", "20", "--requests", "3", "--warmup", "1"],
            ),
            Run(
                "growth.py",
                [*db, "--rows", "1000000", "--duration", "10", "--runs", "3", "--samples", "100"],
                [
                    *db,
                    "--rows",
                    "2000",
                    "--loops",
                    "3",
                    "--duration",
                    "2",
                    "--runs",
                    "1",
                    "--warmup",
                    "1",
                    "--connections",
                    "8",
                    "--samples",
                    "5",
                ],
            ),
            Run(
                "timeouts.py",
                [*db, "--pending", "100000", "--due", "1000", "--window", "60", "--idle-seconds", "30"],
                [
                    *db,
                    "--pending",
                    "2000",
                    "--due",
                    "20",
                    "--window",
                    "3",
                    "--lead",
                    "2",
                    "--idle-seconds",
                    "5",
                ],
            ),
        ]
    return plan


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny loads, a smoke test; writes nothing")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="SCRIPT",
        choices=sorted({run.script.removesuffix(".py") for run in runs()}),
        help="run only these benchmarks (e.g. timeouts fanout)",
    )
    parser.add_argument(
        "--commit",
        metavar="REV",
        help="benchmark this git revision's server (exported from the repository) instead of the "
        "working tree, for a before/after comparison; writes nothing",
    )
    return parser.parse_args(argv)


HEADER = ["benchmark", "database", "figure", "measured", "target", "result"]


def table(figures: list[dict[str, object]]) -> list[list[str]]:
    return [
        [str(f[column]) for column in ("benchmark", "database", "figure", "measured", "target", "result")]
        for f in figures
    ]


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [HEADER, *rows]
    )


def summary_block(figures: list[dict[str, object]], failed: list[str], minutes: float) -> str:
    machine = report.machine()
    rows = [[*row[:5], row[5] if row[5] == "PASS" else f"**{row[5]}**"] for row in table(figures)]
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `.venv/bin/python -m bench` in {minutes:.0f} minutes; "
        "every figure of DESIGN.md §7 beside its target, from the sections below.",
        "",
        report.markdown_table(HEADER, rows),
        "",
        f"Machine: {machine['CPU']}, {machine['cores']} cores, {machine['memory']}, {machine['kernel']}, "
        f"{machine['Python']}; {machine['packages']}.",
    ]
    if failed:
        lines += ["", "Failed to run (no figures): " + "; ".join(failed) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = [run for run in runs() if not args.only or run.script.removesuffix(".py") in args.only]
    write_md = not args.quick and not args.commit
    started = time.monotonic()
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="openhitl-bench-run-") as scratch:
        summary = Path(scratch) / "figures.jsonl"
        summary.touch()
        for number, run in enumerate(plan, 1):
            command = run.command(quick=args.quick, write_md=write_md, summary=summary, commit=args.commit)
            shown = " ".join(["bench/" + run.script, *command[2:]])
            print(f"\n=== [{number}/{len(plan)}] {shown}", flush=True)
            code = subprocess.run(command, cwd=BENCH_DIR.parent, check=False).returncode
            if code != 0:
                failed.append(f"{shown} (exit {code})")
        figures = [json.loads(line) for line in summary.read_text().splitlines() if line.strip()]
    minutes = (time.monotonic() - started) / 60
    print(f"\n=== every figure ({minutes:.1f} minutes{', quick mode: tiny loads' if args.quick else ''}):\n")
    print(text_table(table(figures)))
    for failure in failed:
        print(f"FAILED: {failure}", file=sys.stderr)
    if write_md and not args.only:
        report.write_block("summary", summary_block(figures, failed, minutes), heading="## Summary")
        print(f"\nwrote the summary and every benchmark's block into {report.BENCHMARKS_MD}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

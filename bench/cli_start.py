"""How quick the command line is: `toolpark --help` and `--version`, and Ctrl-C on `toolpark up`.

Start: each command runs `--runs` times as a user runs it (a new process each time); the table
gives the median and the slowest beside two baselines measured in the same run: the floor (a
Python that imports click and exits) and what `--help` cost when the parser imported the host and
every command's libraries with it (the MCP SDK, the compose checks, the chat agent, retrieval). Target:
`--help` under 1 s.

Stop: `toolpark up` on a free port with its embedded PostgreSQL and SeaweedFS, in its own data
folder; once it prints "toolpark is ready", SIGINT (what Ctrl-C sends) and time until it has
exited (and check that no process it started is left). Target: under 3 s, no traceback.

    .venv/bin/python bench/cli_start.py [--runs 10] [--stops 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from toolpark.testing import free_port

TOOLPARK = [sys.executable, "-m", "toolpark"]


def timed(command: list[str], runs: int) -> list[float]:
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        took.append(time.perf_counter() - started)
    return took


def stop_time(data: Path) -> tuple[float, float, bool]:
    """Seconds to ready, seconds from SIGINT to every process gone, and whether a traceback showed."""
    env = {**os.environ, "TOOLPARK_DATA_DIR": str(data), "TOOLPARK_PORT": str(free_port())}
    started = time.perf_counter()
    up = subprocess.Popen([*TOOLPARK, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)  # fmt: skip  # its own group, as a terminal's foreground job
    assert up.stdout is not None
    output = []
    for line in up.stdout:
        output.append(line)
        if "toolpark is ready" in line:
            break
    else:
        raise SystemExit("toolpark up ended before it was ready:\n" + "".join(output[-30:]))
    ready = time.perf_counter() - started
    family = [psutil.Process(up.pid), *psutil.Process(up.pid).children(recursive=True)]
    interrupted = time.perf_counter()
    os.killpg(up.pid, signal.SIGINT)  # Ctrl-C goes to the whole foreground group
    rest = up.stdout.read()
    up.wait(timeout=60)
    took = time.perf_counter() - interrupted
    left = [p for p in family[1:] if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    if left:
        raise SystemExit(f"Ctrl-C left {[p.cmdline()[:2] for p in left]} running")
    return ready, took, "Traceback" in rest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--stops", type=int, default=3)
    args = parser.parse_args()

    # What `--help` imported before: the host, and each contributed command's libraries.
    everything = (
        "toolpark.devtools.hosting, toolpark.compose.checks, toolpark.chat.agent, toolpark.mcp_servers.retrieval"
    )
    eager = [sys.executable, "-c", f"import {everything}; toolpark.mcp_servers.retrieval.plugin"]
    rows = [
        ("floor: python -c 'import click'", timed([sys.executable, "-c", "import click"], args.runs)),
        ("before: the parser importing the host", timed(eager, args.runs)),
        ("toolpark --help", timed([*TOOLPARK, "--help"], args.runs)),
        ("toolpark --version", timed([*TOOLPARK, "--version"], args.runs)),
        ("toolpark compose --help", timed([*TOOLPARK, "compose", "--help"], args.runs)),
    ]  # fmt: skip
    print(f"| start ({args.runs} runs) | median s | slowest s |\n|---|---|---|")
    for name, took in rows:
        print(f"| {name} | {statistics.median(took):.2f} | {max(took):.2f} |")

    print("\n| toolpark up | ready after s | Ctrl-C to exit s | traceback |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for run in range(args.stops):  # the first start initialises the data folder; later ones reuse it
            ready, took, traceback = stop_time(Path(folder))
            print(f"| run {run + 1} | {ready:.1f} | {took:.2f} | {'yes' if traceback else 'no'} |")


if __name__ == "__main__":
    main()

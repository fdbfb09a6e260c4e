"""Servers the tests run as processes of their own: started with their output in a log, and
waited for until they answer; `toolpark` itself as a user runs it, stopped with Ctrl-C, leaving
nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]


def env_folder(script: str) -> Path:
    """The folder `scripts/<script>` prepares once per machine and prints (minutes the first time)."""
    done = subprocess.run([str(ROOT / "scripts" / script)], capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        pytest.fail(f"scripts/{script} failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def spawn(command: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)


def wait_ok(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 120) -> None:
    """Until `url` answers 200; the test fails with the log's tail if the process exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited with {process.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer 200 within {timeout_s:g} s: {log.read_text()[-3000:]}")


def started(command: list[str], tmp_path: Path, port: int, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`toolpark <command>` with its embedded services' data under `tmp_path`, once /readyz says ready."""
    env = {**os.environ, "TOOLPARK_DATA_DIR": str(tmp_path / "data"), **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "toolpark", *command, "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job: see ctrl_c
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"toolpark {command[0]} did not become ready: {process.communicate()[1][-3000:]}")


def ctrl_c(process: subprocess.Popen[str]) -> float:
    """Ctrl-C as a terminal sends it, to the whole process group (the parser workers too); the
    seconds until the process ended."""
    began = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=30)
    return time.monotonic() - began


def survivors(tmp_path: Path) -> list[str]:
    """Processes still running whose command line names `tmp_path` (embedded PostgreSQL, SeaweedFS)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        if str(tmp_path) in line and process.status() != psutil.STATUS_ZOMBIE:
            found.append(line[:200])
    return found

"""Servers the tests run as processes of their own: started with their output in a log, and
waited for until they answer."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
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

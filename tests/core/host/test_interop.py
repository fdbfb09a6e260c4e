"""Real MCP peers in Node: the official conformance suite and the TypeScript SDK client."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.nodejs import run_node
from toolpark.plugins.everything import plugin as everything
from toolpark.testing import RunningHost

# The 2025-11-25 suite, and the 0.2.0 line that holds the 2026-07-28 requirement set (npm alias).
CONFORMANCE = "node_modules/@modelcontextprotocol/conformance/dist/index.js"
CONFORMANCE_NEXT = "node_modules/conformance-next/dist/index.js"
RUNS = {
    "2025-11-25": (CONFORMANCE, ["--suite", "all"], ["list"]),
    "2026-07-28": (CONFORMANCE_NEXT, ["--requirements", "2026-07-28"], ["list", "--requirements", "2026-07-28"]),
}


def server_scenarios(suite: str, listing: list[str]) -> list[str]:
    listed = run_node(suite, *listing, timeout=60)
    assert listed.returncode == 0, listed.stderr
    section = listed.stdout.split("Server scenarios")[1].split("Client scenarios")[0]
    return re.findall(r"^\s+- (\S+)", section, re.MULTILINE)


@pytest.mark.parametrize("revision", sorted(RUNS))
def test_every_conformance_server_scenario_passes(
    toolpark_http: Callable[..., RunningHost], tmp_path: Path, revision: str
) -> None:
    """Every scenario the suite holds for `revision` passes against `everything`, none excused; at
    2026-07-28 that includes the scenarios of the tasks extension, which the suite runs unscored."""
    suite, selection, listing = RUNS[revision]
    required = server_scenarios(suite, listing)
    assert len(required) >= 30
    running = toolpark_http(everything)
    run = run_node(suite, "server", "--url", running.url("everything"), *selection, "-o", str(tmp_path), timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    results: dict[str, list[dict[str, str]]] = {}
    for checks in tmp_path.glob("server-*/checks.json"):
        scenario = re.sub(r"^server-|-\d{4}-\d\d-\d\dT.*$", "", checks.parent.name)
        results[scenario] = json.loads(checks.read_text())
    assert set(required) <= set(results)
    if revision == "2026-07-28":
        assert {"tasks-lifecycle", "tasks-mrtr-input", "tasks-mrtr-composition"} <= set(results)
    failures = {name: [c for c in checks if c["status"] == "FAILURE"] for name, checks in results.items()}
    assert not any(failures.values()), failures
    assert "Total:" in run.stdout and " 0 failed" in run.stdout


@pytest.mark.parametrize("stateless", [False, True])
def test_typescript_sdk_client_lists_and_calls_tools(
    toolpark_http: Callable[..., RunningHost], stateless: bool
) -> None:
    running = toolpark_http(everything, stateless=stateless)
    run = run_node("interop.mjs", running.url("everything"), timeout=120)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["protocolVersion"] == "2025-11-25"
    assert (seen["sessionId"] is None) is stateless
    assert "echo" in seen["tools"] and "test_simple_text" in seen["tools"]
    assert seen["echo"] == {"text": "from typescript from typescript", "length": 31}
    assert seen["headers"] == {"x-user-id": "user-42", "x-trace": "trace-7"}
    assert seen["bad"]["isError"] is True and "'text': Field required" in seen["bad"]["text"]

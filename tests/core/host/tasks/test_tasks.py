"""Tasks (the io.modelcontextprotocol/tasks extension) as the host keeps them: each caller sees only
its own, each has a bounded number running, results expire, and a cancelled task stops its work.
Raw 2026-07-28 requests over HTTP, so the wire itself is what is checked."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from tests.core.host.tasks.taskwire import AUTH, get, request, settled, start
from toolpark.host.tasks.ledger import TaskLedger
from toolpark.host.tasks.record import KEPT_PER_CALLER, Task
from toolpark.host.tasks.registry import Tasks
from toolpark.plugins.everything import plugin as everything
from toolpark.testing import RunningHost


def test_a_task_is_its_callers_alone(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http(everything, auth=AUTH)
    task = start(running, "ada", 0.2)
    assert task["resultType"] == "task" and task["status"] == "working"
    stranger = get(running, "bob", task["taskId"])
    assert stranger["error"]["code"] == -32602  # the same answer as for an id that never existed
    assert request(running, "bob", "tasks/cancel", {"taskId": task["taskId"]})["error"]["code"] == -32602
    assert settled(running, "ada", task["taskId"])["result"]["content"][0]["text"].endswith("done after 0.2 s")


def test_each_caller_has_a_bounded_number_of_tasks(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http(everything, auth=AUTH, tasks_per_caller=1)
    first = start(running, "ada", 30)
    refused = start(running, "ada", 1)
    assert refused["isError"] and "already have 1 tasks running" in refused["content"][0]["text"]
    assert start(running, "bob", 0.1)["resultType"] == "task"  # others are not held up
    request(running, "ada", "tasks/cancel", {"taskId": first["taskId"]})
    assert settled(running, "ada", first["taskId"])["status"] == "cancelled"
    assert start(running, "ada", 0.1)["resultType"] == "task"  # a cancelled task frees its place


def test_a_finished_task_is_forgotten_after_its_ttl(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http(everything, auth=AUTH, task_ttl_s=1)
    task = start(running, "ada", 0)
    assert task["ttlMs"] == 1000
    assert settled(running, "ada", task["taskId"])["status"] == "completed"
    time.sleep(1.2)
    assert get(running, "ada", task["taskId"])["error"]["code"] == -32602


def test_a_cancelled_task_stops_its_work(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http(everything, auth=AUTH)
    task = start(running, "ada", 600)
    assert request(running, "ada", "tasks/cancel", {"taskId": task["taskId"]})["result"]["resultType"] == "complete"
    assert settled(running, "ada", task["taskId"])["status"] == "cancelled"
    runtime = running.host.runtimes[0]
    for _ in range(100):  # the work left its concurrency slot: it no longer runs
        if runtime.limiter.borrowed_tokens == 0:
            break
        time.sleep(0.05)
    assert runtime.limiter.borrowed_tokens == 0


def test_a_multi_round_trip_may_land_on_another_replica_sharing_the_state_key(
    toolpark_http: Callable[..., RunningHost],
) -> None:
    """Stateless replicas behind one address: the answers of earlier rounds ride the requestState,
    sealed with `state_key`. Another replica with the same key continues the call; one without
    refuses the state, as it refuses any state it cannot unseal."""
    key = "a-shared-secret-of-the-deployment"
    first, second = (toolpark_http(everything, auth=AUTH, stateless=True, state_key=key) for _ in range(2))
    alone = toolpark_http(everything, auth=AUTH, stateless=True)
    call = {"name": "test_input_required_result_multi_round", "arguments": {}}
    asked = request(first, "ada", "tools/call", call)["result"]
    assert asked["resultType"] == "input_required" and list(asked["inputRequests"]) == ["step1"]
    answered = {**call, "inputResponses": {"step1": {"action": "accept", "content": {"name": "Ada"}}}}
    onward = request(second, "ada", "tools/call", {**answered, "requestState": asked["requestState"]})["result"]
    assert list(onward["inputRequests"]) == ["step2"]
    refused = request(alone, "ada", "tools/call", {**answered, "requestState": asked["requestState"]})
    assert refused["error"]["code"] == -32602
    done = {**call, "inputResponses": {"step2": {"action": "accept", "content": {"color": "blue"}}}}
    final = request(first, "ada", "tools/call", {**done, "requestState": onward["requestState"]})["result"]
    assert final["content"][0]["text"] == "Ada likes blue."
    stolen = request(first, "bob", "tools/call", {**done, "requestState": onward["requestState"]})
    assert "error" in stolen  # the state is bound to the caller who answered


@pytest.mark.anyio
async def test_a_caller_keeps_a_bounded_number_of_finished_tasks() -> None:
    """Memory stays bounded whatever the TTL: beyond KEPT_PER_CALLER finished tasks the oldest go."""
    tasks = Tasks(ttl_s=3600, per_caller=1)
    made = []
    for _ in range(KEPT_PER_CALLER + 5):
        task = await tasks.create("api_key:ada", "slow_compute")
        task.settle("completed", result={"content": []})
        made.append(task.id)
    other = await tasks.create("api_key:bob", "slow_compute")
    with pytest.raises(MCPError):
        await tasks.find("api_key:ada", made[0])
    assert (await tasks.find("api_key:ada", made[-1])).status == "completed"
    assert (await tasks.find("api_key:bob", other.id)).status == "working"


def test_the_task_ledger_keeps_results_readable_by_its_owner_alone(tmp_path: Path) -> None:
    """Task results are kept in clear; the ledger was created 0644 (the umask's default)."""
    path = tmp_path / "state" / "tasks.sqlite"
    ledger = TaskLedger(path)
    ledger.open()
    ledger.save(Task(id="t1", owner="key:ada", tool="ingest", ttl_ms=60_000, poll_ms=500, result={"secret": "x"}))
    written = [path, path.with_name("tasks.sqlite-wal")]
    assert all(stat.S_IMODE(file.stat().st_mode) == 0o600 for file in written), [oct(f.stat().st_mode) for f in written]
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    ledger.db.close()
    # An existing ledger made before is narrowed when opened.
    path.chmod(0o644)
    again = TaskLedger(path)
    assert [task.id for task in again.open()] == ["t1"] and stat.S_IMODE(path.stat().st_mode) == 0o600
    again.db.close()

"""Replicas of one server share their tasks and listen-stream events in PostgreSQL
(`shared_database_url`), so whichever replica a load balancer picks answers for a task another one
runs (reads it, cancels it, answers its questions), a task whose replica stopped ends `failed`
saying why, a result one replica kept is read on another, and a change made on one replica
reaches listen streams on the others.

The hosts here run in this process against the embedded PostgreSQL; tests/stack/test_replicas.py
kills a replica's process behind Caddy."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ResourceLink, TextContent

from tests.core.host.tasks.taskwire import AUTH, KEYS, get, request, settled, start, stream
from toolpark.clients import http_client
from toolpark.host.tasks.spill import Spills
from toolpark.operations.embedded import postgres
from toolpark.plugins.everything import plugin as everything
from toolpark.testing import RunningHost, serve_http

KEY = "a-shared-secret-of-the-deployment"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres(tmp_path_factory.mktemp("pg")) as service:
        yield service.url


def replica(toolpark_http: Callable[..., RunningHost], database: str, **options: object) -> RunningHost:
    return toolpark_http(everything, auth=AUTH, stateless=True, state_key=KEY, shared_database_url=database, **options)


def test_any_replica_reads_and_cancels_a_task_another_runs(
    toolpark_http: Callable[..., RunningHost], database: str
) -> None:
    first, second = replica(toolpark_http, database), replica(toolpark_http, database)
    task = start(first, "ada", 600)
    assert get(second, "ada", task["taskId"])["result"]["status"] == "working"
    assert get(second, "bob", task["taskId"])["error"]["code"] == -32602  # still the caller's alone
    assert request(second, "ada", "tasks/cancel", {"taskId": task["taskId"]})["result"]["resultType"] == "complete"
    assert settled(first, "ada", task["taskId"])["status"] == "cancelled"
    runtime = first.host.runtimes[0]
    for _ in range(100):  # the cancel reached the work on the first replica: it left its slot
        if runtime.limiter.borrowed_tokens == 0:
            break
        time.sleep(0.05)
    assert runtime.limiter.borrowed_tokens == 0
    quick = start(first, "ada", 0.2)
    assert settled(second, "ada", quick["taskId"])["result"]["content"][0]["text"].endswith("done after 0.2 s")
    for odd in ("a\x00b", "\x1b[2J"):  # PostgreSQL refused NUL with an internal error
        refused = get(second, "ada", odd)["error"]
        assert refused["code"] == -32602 and "Unknown task" in refused["message"], refused


def test_a_question_asked_on_one_replica_is_answered_on_another(
    toolpark_http: Callable[..., RunningHost], database: str
) -> None:
    first, second = replica(toolpark_http, database), replica(toolpark_http, database)
    call = {"name": "confirm_delete", "arguments": {"filename": "plans.txt"}}
    task = request(first, "ada", "tools/call", call)["result"]
    for _ in range(100):
        seen = get(second, "ada", task["taskId"])["result"]
        if seen["status"] == "input_required":
            break
        time.sleep(0.05)
    assert seen["status"] == "input_required", seen
    (key,) = seen["inputRequests"]
    answer = {"action": "accept", "content": {"confirm": True}}
    request(second, "ada", "tasks/update", {"taskId": task["taskId"], "inputResponses": {key: answer}})
    done = settled(second, "ada", task["taskId"])
    assert done["status"] == "completed" and done["result"]["content"][0]["text"] == "plans.txt: deleted"


def test_the_bound_on_running_tasks_holds_across_replicas(
    toolpark_http: Callable[..., RunningHost], database: str
) -> None:
    first, second = (replica(toolpark_http, database, tasks_per_caller=1) for _ in range(2))
    running = start(first, "bob", 600)
    refused = start(second, "bob", 1)
    assert refused["isError"] and "already have 1 tasks running" in refused["content"][0]["text"]
    request(second, "bob", "tasks/cancel", {"taskId": running["taskId"]})
    assert settled(first, "bob", running["taskId"])["status"] == "cancelled"


def test_a_task_of_a_replica_that_stopped_ends_failed_saying_why(
    toolpark_http: Callable[..., RunningHost], database: str
) -> None:
    survivor = replica(toolpark_http, database)
    options = {"stateless": True, "state_key": KEY, "shared_database_url": database}
    with serve_http(everything, auth=AUTH, **options) as leaving:
        task = start(leaving, "ada", 600)
    ended = settled(survivor, "ada", task["taskId"])
    assert ended["status"] == "failed"
    assert "server running this task stopped" in ended["error"]["message"]
    assert "slow_compute" in ended["error"]["message"]


def test_a_listen_stream_on_one_replica_hears_a_change_made_on_another(
    toolpark_http: Callable[..., RunningHost], database: str
) -> None:
    """Retrieval's `create_collection` changes its tool list on the replica that ran it; a client's
    `subscriptions/listen` stream may be open on any other."""
    first, second = replica(toolpark_http, database), replica(toolpark_http, database)
    heard: list[dict[str, Any]] = []
    listening = threading.Event()

    def listen() -> None:
        params = {"notifications": {"toolsListChanged": True}}
        with stream(second, "ada", "subscriptions/listen", params) as response:
            for line in response.iter_lines():
                if line.startswith("data:") and line[5:].strip():
                    heard.append(json.loads(line[5:]))
                    listening.set()  # the first frame is the acknowledgement
                    if heard[-1].get("method") == "notifications/tools/list_changed":
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert listening.wait(10), "the listen stream was not acknowledged"
    changed = request(first, "ada", "tools/call", {"name": "test_trigger_tool_change", "arguments": {}})
    assert changed["result"]["content"][0]["text"] == "tool list changed"
    thread.join(10)
    assert [frame.get("method") for frame in heard][-1] == "notifications/tools/list_changed", heard


@pytest.mark.anyio
async def test_a_result_kept_by_one_replica_is_read_on_another(
    toolpark_http: Callable[..., RunningHost], database: str
) -> None:
    capped = {"everything": {"max_result_bytes": 50_000}}
    first, second = (replica(toolpark_http, database, settings=capped) for _ in range(2))
    ada, bob = ({"Authorization": f"Bearer {KEYS[who]}"} for who in ("ada", "bob"))
    async with http_client(first.url("everything"), headers=ada) as client:
        answer = await client.call_tool("generate", {"size": 120_000})
    (link,) = [block for block in answer.content if isinstance(block, ResourceLink)]
    parts: list[str] = []
    async with http_client(second.url("everything"), headers=ada) as client:
        while len("".join(parts)) < (link.size or 0):
            read = await client.read_resource(f"{link.uri}?offset={len(''.join(parts))}&length=50000")
            parts.append(read.contents[0].text)  # type: ignore[union-attr]
    assert json.loads("".join(parts))["content"][0]["text"] == "x" * 120_000
    async with http_client(second.url("everything"), headers=bob) as client:
        with pytest.raises(MCPError):
            await client.read_resource(f"{link.uri}?offset=0")


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["memory", "table"])
async def test_kept_results_are_bounded_per_caller_and_oldest_first(database: str, where: str) -> None:
    """One caller's large results used to evict every other caller's: each now holds a quarter of the store."""
    spills = Spills(ttl_s=60, max_bytes=400_000, shared_url=database if where == "table" else None)

    async def keep(owner: str, n: int, size: int) -> str:
        result = CallToolResult(content=[TextContent(type="text", text=str(n) * size)])
        kept = await spills.keep(owner, "generate", result, page=50_000)
        assert kept is not None
        return next(b for b in kept.content if isinstance(b, ResourceLink)).uri.split("/")[-1]

    async with spills.running():
        bobs = await keep("api_key:bob", 9, 30_000)
        adas = [await keep("api_key:ada", n, 40_000) for n in range(8)]  # 320 kB: past her 100 kB
        for gone in adas[:-2]:  # her own oldest went, two fit her share
            with pytest.raises(ResourceNotFoundError):
                await spills.read("api_key:ada", gone, "", "")
        assert json.loads(await spills.read("api_key:ada", adas[-1], "", ""))["content"][0]["text"][0] == "7"
        assert json.loads(await spills.read("api_key:bob", bobs, "", ""))["content"][0]["text"][0] == "9"
        too_big = CallToolResult(content=[TextContent(type="text", text="x" * 120_000)])  # more than a share
        assert await spills.keep("api_key:ada", "generate", too_big, page=50_000) is None

"""Every tool call runs under limits, and every failure is an isError result the model can act on.

Each case runs in memory and over the real HTTP host, and each ends by showing the server still
answers a normal call.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult

from toolpark import Plugin, ToolError
from toolpark.plugins.everything import plugin
from toolpark.testing import RunningHost, connect

pytestmark = pytest.mark.anyio

LIMITS = {"call_timeout_s": 1.0, "max_result_bytes": 50_000, "max_concurrency": 2}

Connector = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture(params=["memory", "http"])
def connected(request: pytest.FixtureRequest, toolpark_http: Callable[..., RunningHost]) -> Connector:
    """Opens a client to the everything plugin with the given settings, in memory or over HTTP."""

    @asynccontextmanager
    async def open_client(**settings: Any) -> AsyncIterator[Client]:
        merged = {**LIMITS, **settings}
        if request.param == "memory":
            async with connect(plugin, settings=merged) as client:
                yield client
        else:
            running = toolpark_http(plugin, settings={"everything": merged})
            async with Client(running.url("everything")) as client:
                yield client

    return open_client


def text(result: CallToolResult) -> str:
    return result.content[0].text  # type: ignore[union-attr]


async def still_serving(client: Client) -> None:
    result = await client.call_tool("echo", {"text": "ok"})
    assert not result.is_error and result.structured_content == {"text": "ok", "length": 2}


async def test_structured_result_with_text_rendering(connected: Connector) -> None:
    async with connected() as client:
        result = await client.call_tool("echo", {"text": "hi", "repeat": 3})
    assert not result.is_error
    assert result.structured_content == {"text": "hi hi hi", "length": 8}
    assert '"hi hi hi"' in text(result)


async def test_bad_input_names_each_bad_field(connected: Connector) -> None:
    async with connected() as client:
        result = await client.call_tool("echo", {"text": "", "repeat": 500})
        missing = await client.call_tool("echo", {})
        await still_serving(client)
    assert result.is_error
    assert "'text'" in text(result) and "'repeat'" in text(result) and "less than or equal to 100" in text(result)
    assert missing.is_error and "'text': Field required" in text(missing)


async def test_expected_failure_keeps_its_message(connected: Connector) -> None:
    async with connected() as client:
        result = await client.call_tool("test_error_handling", {})
        await still_serving(client)
    assert result.is_error and text(result) == "This tool intentionally returns an error for testing"


async def test_crash_shows_only_an_incident_id(connected: Connector, caplog: pytest.LogCaptureFixture) -> None:
    async with connected() as client:
        result = await client.call_tool("crash", {})
        await still_serving(client)
    assert result.is_error
    assert "hunter2" not in text(result) and "Traceback" not in text(result)
    incident = text(result).split("(incident ")[1].split(")")[0]
    logged = [r for r in caplog.records if incident in r.getMessage()]
    assert logged and logged[0].exc_info is not None and "hunter2" in str(logged[0].exc_info[1])


async def test_hanging_tool_is_cancelled_at_the_timeout(connected: Connector) -> None:
    async with connected() as client:
        started = time.monotonic()
        result = await client.call_tool("sleep", {"seconds": 60})
        elapsed = time.monotonic() - started
        await still_serving(client)
    assert result.is_error and "did not finish within 1 s" in text(result)
    assert elapsed < 10


async def test_an_oversized_result_is_kept_and_linked_not_cut(connected: Connector) -> None:
    """tests/core/host/tasks/test_spill.py reads such results back; here: the call path hands them over."""
    async with connected() as client:
        result = await client.call_tool("generate", {"size": 200_000})
        fits = await client.call_tool("generate", {"size": 10_000})
        await still_serving(client)
    part, note = text(result).split("\n\n[")
    assert set(part) == {"x"} and len(part) <= 50_000 and "part 1 of 5 of the result of 'generate'" in note
    assert [block.type for block in result.content] == ["text", "resource_link"]
    assert not fits.is_error and fits.content[0].type == "text"


def test_a_result_larger_than_a_callers_share_of_the_store_is_refused(
    toolpark_http: Callable[..., RunningHost],
) -> None:
    running = toolpark_http(plugin, settings={"everything": LIMITS}, spill_max_bytes=100_000)

    async def call() -> CallToolResult:
        async with Client(running.url("everything")) as client:
            return await client.call_tool("generate", {"size": 200_000})

    result = anyio.run(call)
    assert result.is_error and "more than this server keeps. Ask for less" in text(result)


async def test_unknown_tool_lists_the_known_ones(connected: Connector) -> None:
    async with connected() as client:
        result = await client.call_tool("nope", {})
    assert result.is_error and "Unknown tool 'nope'" in text(result) and "echo" in text(result)


async def test_concurrency_limit_queues_calls(connected: Connector) -> None:
    async with connected(max_concurrency=1, call_timeout_s=5) as client:
        started = time.monotonic()
        async with anyio.create_task_group() as group:
            for _ in range(2):
                group.start_soon(client.call_tool, "sleep", {"seconds": 0.5})
        assert time.monotonic() - started >= 1.0


async def test_cancelled_call_frees_its_slot(connected: Connector) -> None:
    """With one slot, a call the client abandons must stop running, or the next call would wait for it."""
    async with connected(max_concurrency=1, call_timeout_s=20) as client:
        with anyio.move_on_after(0.5):
            await client.call_tool("sleep", {"seconds": 15})
        started = time.monotonic()
        await still_serving(client)
        assert time.monotonic() - started < 5


async def test_progress_and_log_notifications_reach_the_client(connected: Connector) -> None:
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async with connected() as client:
        result = await client.call_tool("sleep", {"seconds": 0.3}, progress_callback=on_progress)
    assert not result.is_error and progress and progress[-1] == pytest.approx(0.3)


async def test_paging_a_long_text_reproduces_it(connected: Connector) -> None:
    from toolpark.plugins.everything.tools import LOREM

    pieces, start = [], 0
    async with connected() as client:
        while start is not None:
            result = await client.call_tool("read_long_text", {"start_index": start, "max_length": 4000})
            page = result.structured_content
            assert page is not None
            pieces.append(page["text"])
            start = page["next_index"]
    assert "".join(pieces) == LOREM and len(pieces) == 5


async def test_foreseen_failures_inside_a_task_group_keep_their_message() -> None:
    """A tool that fans out in a task group gets an ExceptionGroup, not its ToolError; the host
    still answers with the message rather than an incident."""
    fanning = Plugin("fanning", version="0.1.0", description="Fans out.")

    async def refuse(batch: int) -> None:
        raise ToolError(f"batch {batch} was refused: input too long")

    @fanning.tool(read_only=True)
    async def fan_out() -> str:
        """Runs two batches at once."""
        async with anyio.create_task_group() as group:
            group.start_soon(refuse, 1)
            group.start_soon(refuse, 2)
        return "done"

    async with connect(fanning) as client:
        result = await client.call_tool("fan_out", {})
    assert result.is_error and text(result) in (
        "batch 1 was refused: input too long",
        "batch 2 was refused: input too long",
    )

"""The HTTP and stdio host: endpoints, readiness, lifespans, modes, and protocol versions."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from mcp import Client, StdioServerParameters

from toolpark import Plugin, PluginSettings, ToolContext
from toolpark.plugins.everything import plugin as everything
from toolpark.testing import RunningHost, post_initialize, serve_http

pytestmark = pytest.mark.anyio


@dataclass
class Journal:
    events: list[str] = field(default_factory=list)


def journaled(name: str, journal: Journal, *, fail: bool = False) -> Plugin[PluginSettings, Journal]:
    """A plugin whose lifespan writes to `journal`, or fails to start."""
    plugin: Plugin[PluginSettings, Journal] = Plugin(name, version="2.0", description="Journals its life.")

    @plugin.lifespan
    async def life(settings: PluginSettings) -> AsyncIterator[Journal]:
        if fail:
            raise ConnectionError("database unreachable")
        journal.events.append("opened")
        try:
            yield journal
        finally:
            journal.events.append("closed")

    @plugin.tool(read_only=True)
    async def events(ctx: ToolContext[PluginSettings, Journal]) -> list[str]:
        """The journal so far."""
        return ctx.state.events

    return plugin


async def test_lifespan_opens_once_and_closes_on_shutdown() -> None:
    journal = Journal()
    with serve_http(journaled("diary", journal), combined=True) as running:
        for url in (running.url("diary"), running.url()):
            async with Client(url) as client:
                tools = [t.name for t in (await client.list_tools()).tools]
                result = await client.call_tool(tools[0], {})
            assert result.structured_content == {"result": ["opened"]}
        assert journal.events == ["opened"]
    assert journal.events == ["opened", "closed"]


async def test_a_plugin_that_fails_to_start_is_not_ready_and_says_why() -> None:
    broken = journaled("broken", Journal(), fail=True)
    with serve_http([broken, everything]) as running:
        async with httpx.AsyncClient(base_url=running.base_url) as http:
            health = await http.get("/healthz")
            ready = await http.get("/readyz")
        async with Client(running.url("broken")) as client:
            result = await client.call_tool("events", {})
        async with Client(running.url("everything")) as client:
            fine = await client.call_tool("echo", {"text": "x"})
    assert health.status_code == 200
    assert ready.status_code == 503
    body = ready.json()
    assert body["plugins"]["everything"]["ready"] is True
    assert body["plugins"]["broken"] == {"ready": False, "detail": "ConnectionError: database unreachable"}
    assert result.is_error and "not ready (ConnectionError: database unreachable)" in result.content[0].text  # type: ignore[union-attr]
    assert not fine.is_error


async def test_readiness_probe_runs_on_each_request(toolpark_http: Callable[..., RunningHost]) -> None:
    journal = Journal()
    plugin = journaled("probed", journal)

    @plugin.ready
    async def probe(state: Journal) -> None:
        if "down" in state.events:
            raise RuntimeError("backend down")

    running = toolpark_http(plugin)
    async with httpx.AsyncClient(base_url=running.base_url) as http:
        assert (await http.get("/readyz")).status_code == 200
        journal.events.append("down")
        down = await http.get("/readyz")
    assert down.status_code == 503 and down.json()["plugins"]["probed"]["detail"] == "RuntimeError: backend down"


async def test_combined_endpoint_prefixes_tool_names(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http([everything, journaled("diary", Journal())], combined=True)
    async with Client(running.url()) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("everything_echo", {"text": "x"})
    assert {"everything_echo", "diary_events"} <= names and "echo" not in names
    assert result.structured_content == {"text": "x", "length": 1}


async def test_stateless_mode_needs_no_session(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http(everything, stateless=True)
    async with Client(running.url("everything"), mode="legacy") as client:
        result = await client.call_tool("echo", {"text": "x"})
    assert not result.is_error
    init = post_initialize(running.url("everything"), "2025-11-25")
    assert init.status_code == 200 and "mcp-session-id" not in init.headers


async def test_json_response_mode_answers_in_one_body(toolpark_http: Callable[..., RunningHost]) -> None:
    """Large results skip SSE framing in this mode; the calls themselves are unchanged."""
    running = toolpark_http(everything, json_response=True)
    init = post_initialize(running.url("everything"), "2025-11-25")
    assert init.status_code == 200 and init.headers["content-type"].startswith("application/json")
    async with Client(running.url("everything"), mode="legacy") as client:
        result = await client.call_tool("read_long_text", {"max_length": 20_000})
    assert not result.is_error and "Sentence 500 of the long example text." in result.content[0].text  # type: ignore[union-attr]
    default = post_initialize(toolpark_http(everything).url("everything"), "2025-11-25")
    assert default.headers["content-type"].startswith("text/event-stream")


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
async def test_handshake_protocol_versions(toolpark_http: Callable[..., RunningHost], version: str) -> None:
    running = toolpark_http(everything)
    response = post_initialize(running.url("everything"), version)
    assert response.status_code == 200
    assert f'"protocolVersion":"{version}"' in response.text.replace(" ", "")
    assert response.headers["mcp-session-id"]


async def test_modern_protocol_version(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http(everything)
    async with Client(running.url("everything")) as client:
        assert client.protocol_version == "2026-07-28"
        assert not (await client.call_tool("echo", {"text": "x"})).is_error


async def test_dns_rebinding_is_refused(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http(everything)
    evil = post_initialize(
        running.url("everything"), "2025-11-25", Host="evil.example.com", Origin="http://evil.example.com"
    )
    assert 400 <= evil.status_code < 500


async def test_allowed_hosts_opens_a_named_host(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http(everything, allowed_hosts="tools.internal:*")
    named = post_initialize(running.url("everything"), "2025-11-25", Host="tools.internal:80")
    assert named.status_code == 200


async def test_stdio_transport() -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "toolpark", "serve", "everything"])
    async with Client(params) as client:
        result = await client.call_tool("echo", {"text": "over stdio"})
        headers = await client.call_tool("echo_headers", {"names": ["host"]})
    assert result.structured_content == {"text": "over stdio", "length": 10}
    assert headers.structured_content == {}

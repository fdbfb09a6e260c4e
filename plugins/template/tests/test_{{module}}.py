"""Tests of the {{name}} plugin: in memory through the harness, and over the real HTTP host."""

from __future__ import annotations

import pytest
from mcp import Client
from toolpark.security.keys import hash_key
from toolpark.testing import connect
from toolpark.testing.contract import check_mcp_contract

from {{module}} import plugin

pytestmark = pytest.mark.anyio


async def test_greet_returns_structured_greeting() -> None:
    async with connect(plugin, settings={"greeting": "Hi"}) as client:
        first = await client.call_tool("greet", {"name": "Ada"})
        again = await client.call_tool("greet", {"name": "Ada"})
    assert not first.is_error
    assert first.structured_content == {"message": "Hi, Ada!", "length": 8, "times": 1}
    assert again.structured_content["times"] == 2  # the lifespan's state lives as long as the host


async def test_bad_name_is_a_clear_error() -> None:
    async with connect(plugin) as client:
        empty = await client.call_tool("greet", {"name": ""})
        padded = await client.call_tool("greet", {"name": " Ada"})
    assert empty.is_error and "'name'" in empty.content[0].text
    assert padded.is_error and "spaces" in padded.content[0].text


async def test_listed_with_schemas() -> None:
    async with connect(plugin) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    tool = tools["greet"]  # a second tool added to the plugin keeps this test true
    assert tool.input_schema["required"] == ["name"]
    assert tool.output_schema is not None
    assert tool.annotations is not None and tool.annotations.read_only_hint


async def test_over_http(toolpark_http) -> None:
    running = toolpark_http(plugin, settings={"greeting": "Hi"})  # the plugin's settings, as connect takes them
    async with Client(running.url("{{name}}")) as client:
        result = await client.call_tool("greet", {"name": "Ada"})
    assert result.structured_content == {"message": "Hi, Ada!", "length": 8, "times": 1}


async def test_meets_the_mcp_contract(toolpark_http) -> None:
    """What any MCP server must do, in the real host: the handshake (2025-11-25) and per-request
    discovery (2026-07-28), tool schemas valid under JSON Schema 2020-12, isError naming the field for
    bad arguments, and with authentication on, the 401 pointing at the OAuth resource metadata."""
    key = "tpk_contract-check"
    running = toolpark_http(
        plugin,
        auth={
            "api_keys": [{"name": "tests", "hash": hash_key(key)}],
            "oidc_issuer": "https://sso.example.test/realms/main",  # published, not contacted
            "oidc_audience": "{{name}}",
        },
    )
    await check_mcp_contract(running.url("{{name}}"), headers={"Authorization": f"Bearer {key}"}, oidc=True)

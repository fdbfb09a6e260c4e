"""Tool search on the combined endpoint: two tools listed instead of every plugin's; the search
finds what the caller may call; a call through `call_tool` takes the ordinary path, grants included."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.core.security.test_auth import ADMIN_KEY, API_KEYS, USER_KEY, bearer
from toolpark.clients import http_client
from toolpark.plugins.everything import plugin as everything
from toolpark.plugins.notes import plugin as notes
from toolpark.testing import RunningHost

pytestmark = pytest.mark.anyio


@pytest.fixture
def combined(toolpark_http: Callable[..., RunningHost]) -> RunningHost:
    keys = [{**key, "scopes": ["notes:write"]} if key["name"] == "ops" else key for key in API_KEYS]
    return toolpark_http([everything, notes], auth={"api_keys": keys}, combined=True, tool_search=True)


async def test_the_combined_endpoint_lists_search_and_call_only(combined: RunningHost) -> None:
    async with http_client(combined.url(), headers=bearer(USER_KEY)) as client:
        listed = [tool.name for tool in (await client.list_tools()).tools]
    async with http_client(combined.url("everything"), headers=bearer(USER_KEY)) as client:
        own = [tool.name for tool in (await client.list_tools()).tools]
    assert listed == ["search_tools", "call_tool", "read_more"]  # read_more: the host's own, for big results
    assert "echo" in own and len(own) > 40  # a plugin's own endpoint still lists its tools
    metrics = (await combined.get("/metrics")).text
    tokens = {m[0]: float(m[1]) for m in re.findall(r'toolpark_tool_list_tokens\{endpoint="(\w+)"\} (\S+)', metrics)}
    assert tokens["combined"] * 5 < tokens["everything"]


async def test_search_finds_tools_by_what_they_do_and_call_tool_calls_them(combined: RunningHost) -> None:
    async with http_client(combined.url(), headers=bearer(USER_KEY)) as client:
        found = await client.call_tool("search_tools", {"query": "repeat a text several times", "limit": 3})
        echoed = await client.call_tool("call_tool", {"name": "everything_echo", "arguments": {"text": "hi"}})
        invalid = await client.call_tool("call_tool", {"name": "everything_echo", "arguments": {"repeat": 2}})
        unknown = await client.call_tool("call_tool", {"name": "nope", "arguments": {}})
        empty = await client.call_tool("search_tools", {"query": " "})
    tools = found.structured_content["tools"]  # type: ignore[index]
    assert tools[0]["name"] == "everything_echo" and "text" in tools[0]["inputSchema"]["properties"]
    assert "call one with call_tool" in found.content[0].text  # type: ignore[union-attr]
    assert echoed.structured_content == {"text": "hi", "length": 2}
    assert invalid.is_error and "'text': Field required" in invalid.content[0].text  # type: ignore[union-attr]
    assert unknown.is_error and "Unknown tool 'nope'" in unknown.content[0].text  # type: ignore[union-attr]
    assert empty.is_error and "needs a query" in empty.content[0].text  # type: ignore[union-attr]


async def test_search_and_call_respect_the_callers_grants(combined: RunningHost) -> None:
    query = {"query": "add a note to a namespace", "limit": 10}
    async with http_client(combined.url(), headers=bearer(USER_KEY)) as client:
        unseen = await client.call_tool("search_tools", query)
        refused = await client.call_tool("call_tool", {"name": "notes_add_note", "arguments": {"text": "x"}})
    async with http_client(combined.url(), headers=bearer(ADMIN_KEY)) as client:
        seen = await client.call_tool("search_tools", query)
    names = [tool["name"] for tool in unseen.structured_content["tools"]]  # type: ignore[index]
    assert "notes_add_note" not in names and "notes_list_notes" in names
    assert seen.structured_content["tools"][0]["name"] == "notes_add_note"  # type: ignore[index]
    assert refused.is_error and "needs the role or scope 'notes:write'" in refused.content[0].text  # type: ignore[union-attr]

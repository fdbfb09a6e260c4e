"""Results too large for one message are kept for their caller and read back in ranges through a
resource: never cut into something invalid, never readable by another caller."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ResourceLink, TextResourceContents

from tests.core.security.test_auth import ADMIN_KEY, API_KEYS, USER_KEY, bearer
from toolpark.clients import http_client
from toolpark.plugins.everything import plugin as everything
from toolpark.testing import RunningHost

pytestmark = pytest.mark.anyio

CAP = 50_000


@pytest.fixture
def capped(toolpark_http: Callable[..., RunningHost]) -> RunningHost:
    return toolpark_http(everything, auth={"api_keys": API_KEYS}, settings={"everything": {"max_result_bytes": CAP}})


async def _read_back(running: RunningHost, key: str, link: ResourceLink) -> dict[str, Any]:
    """The kept result, read in ranges of at most CAP bytes by the caller holding `key`."""
    parts: list[str] = []
    async with http_client(running.url("everything"), headers=bearer(key)) as client:
        while sum(map(len, parts)) < (link.size or 0):
            read = await client.read_resource(f"{link.uri}?offset={sum(map(len, parts))}&length={CAP}")
            (contents,) = read.contents
            assert isinstance(contents, TextResourceContents) and 0 < len(contents.text) <= CAP
            parts.append(contents.text)
    assert len(parts) > 1  # it really came in ranges
    return json.loads("".join(parts))  # type: ignore[no-any-return]


def _link(result: CallToolResult) -> ResourceLink:
    (link,) = [block for block in result.content if isinstance(block, ResourceLink)]
    return link


async def test_an_oversized_structured_result_is_kept_for_its_caller_and_still_validates(
    capped: RunningHost,
) -> None:
    async with http_client(capped.url("everything"), headers=bearer(USER_KEY)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        answer = await client.call_tool("echo", {"text": "x" * 1000, "repeat": 100})
    # An output schema asks for structured content the link is not: the answer is an error that
    # carries the way to the whole result, so it never breaks the schema.
    assert answer.is_error and answer.structured_content is None
    assert "more than fits in one message" in answer.content[0].text  # type: ignore[union-attr]
    link = _link(answer)
    whole = await _read_back(capped, USER_KEY, link)
    assert whole["structuredContent"] == {"text": " ".join(["x" * 1000] * 100), "length": 100_099}
    jsonschema.validate(whole["structuredContent"], tools["echo"].output_schema or {})
    async with http_client(capped.url("everything"), headers=bearer(ADMIN_KEY)) as stranger:
        with pytest.raises(MCPError) as refused:
            await stranger.read_resource(f"{link.uri}?offset=0&length={CAP}")
    assert refused.value.error.code == -32602 and "not yours" in refused.value.error.message
    metrics = (await capped.get("/metrics")).text
    assert 'toolpark_tool_calls_total{outcome="spilled",plugin="everything",tool="echo"} 1.0' in metrics


async def test_an_oversized_image_is_read_back_whole(capped: RunningHost) -> None:
    async with http_client(capped.url("everything"), headers=bearer(USER_KEY)) as client:
        answer = await client.call_tool("noise_image", {"width": 150, "height": 120})
        refusals = []
        for offset in ("minus-one", "²", "٣"):  # '²' passed str.isdigit and broke int(): -32603
            with pytest.raises(MCPError) as bad:
                await client.read_resource(f"{_link(answer).uri}?offset={offset}")
            refusals.append(bad.value.error)
    assert not answer.is_error  # no output schema to owe: the link is the answer
    assert all(e.code == -32602 and "offset must be a whole number" in e.message for e in refusals), refusals
    whole = await _read_back(capped, USER_KEY, _link(answer))
    async with http_client(capped.url("everything"), headers=bearer(ADMIN_KEY)) as stranger:
        with pytest.raises(MCPError, match="not yours"):
            await stranger.read_resource(f"{_link(answer).uri}?offset=0")
    (image,) = whole["content"]
    png = base64.b64decode(image["data"])
    assert image["type"] == "image" and image["mimeType"] == "image/png" and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", png[16:24]) == (150, 120)
    idat = png[png.index(b"IDAT") + 4 : png.index(b"IEND") - 8]
    assert len(zlib.decompress(idat)) == 120 * (1 + 150 * 3)  # every row of every pixel is there

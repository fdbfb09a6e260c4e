"""Results too large for one message are kept for their caller: the answer is the first part, read on
with the host's `read_more` tool (what a model behind a chat front end can call), and the whole is
read back in ranges through a resource; never cut into something invalid, never readable by another
caller."""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ResourceLink, TextContent, TextResourceContents

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


def _texts(answer: CallToolResult) -> list[str]:
    return [block.text for block in answer.content if isinstance(block, TextContent)]


def note(answer: CallToolResult) -> str:
    """The note on an answer holding a part: the bracketed paragraph that ends its text."""
    return "\n\n".join(_texts(answer)).rsplit("\n\n[", 1)[1]


async def read_on(client: Client, answer: CallToolResult) -> list[CallToolResult]:
    """Every part of an oversized result, the first answer's included, read on with `read_more` as
    each answer's note (its last text block) says."""
    answers = [answer]
    while found := re.search(r'read_more tool: result "([^"]+)", part (\d+)', note(answers[-1])):
        answers.append(await client.call_tool("read_more", {"result": found[1], "part": int(found[2])}))
        assert not answers[-1].is_error, answers[-1]
    return answers


def part_text(answer: CallToolResult) -> str:
    """The text of the part an answer holds, without its note."""
    return "".join(_texts(answer)).rsplit("\n\n[", 1)[0]


def _link(result: CallToolResult) -> ResourceLink:
    (link,) = [block for block in result.content if isinstance(block, ResourceLink)]
    return link


async def test_an_oversized_structured_result_is_read_on_in_parts_and_still_validates(
    capped: RunningHost,
) -> None:
    async with http_client(capped.url("everything"), headers=bearer(USER_KEY)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        answer = await client.call_tool("echo", {"text": "x" * 1000, "repeat": 100})
        answers = await read_on(client, answer)
    assert "read_more" in tools and tools["read_more"].annotations.read_only_hint  # type: ignore[union-attr]
    # An output schema asks for structured content that validates, and the result's (100 KB) is more
    # than one part: the answer is an error that carries the first part and the way on.
    assert answer.is_error and answer.structured_content is None
    assert note(answer).startswith("Not a failure: this is part 1 of 3 of the result of 'echo'")
    link = _link(answer)
    whole = await _read_back(capped, USER_KEY, link)
    assert whole["structuredContent"] == {"text": " ".join(["x" * 1000] * 100), "length": 100_099}
    jsonschema.validate(whole["structuredContent"], tools["echo"].output_schema or {})
    # The parts are the result's text, whole words each, in order, each answer within the cap.
    assert [part_text(a) for a in answers] and "".join(map(part_text, answers)) == whole["content"][0]["text"]
    assert len(answers) == 3 and all(len(a.model_dump_json(by_alias=True)) <= CAP for a in answers)
    assert all(part_text(a).endswith((" ", "\n")) for a in answers[:-1])
    assert note(answers[-1]).endswith("That is the end of it.]")
    async with http_client(capped.url("everything"), headers=bearer(ADMIN_KEY)) as stranger:
        with pytest.raises(MCPError) as refused:
            await stranger.read_resource(f"{link.uri}?offset=0&length={CAP}")
        result_id = link.uri.rsplit("/", 1)[1]
        theirs = await stranger.call_tool("read_more", {"result": result_id, "part": 2})
    assert refused.value.error.code == -32602 and "not yours" in refused.value.error.message
    assert theirs.is_error and "it is not yours" in _texts(theirs)[0]
    async with http_client(capped.url("everything"), headers=bearer(USER_KEY)) as client:
        past = await client.call_tool("read_more", {"result": result_id, "part": 4})
        wrong = await client.call_tool("read_more", {"result": result_id})
    assert past.is_error and "has 3 part(s): ask for part 1 to 3" in _texts(past)[0]
    assert wrong.is_error and "needs the result id and the part number" in _texts(wrong)[0]
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
    assert not answer.is_error  # no output schema to owe
    # An image larger than a part is not cut: its place says where the whole is.
    assert _texts(answer)[0].startswith("[image/png, ") and "more than one part holds" in _texts(answer)[0]
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


async def test_without_kept_results_there_is_no_read_more(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http(everything, spill_max_bytes=0, settings={"everything": {"max_result_bytes": CAP}})
    async with http_client(running.url("everything")) as client:
        listed = [tool.name for tool in (await client.list_tools()).tools]
        refused = await client.call_tool("generate", {"size": 2 * CAP})
        unknown = await client.call_tool("read_more", {"result": "x", "part": 2})
    assert "read_more" not in listed and "generate" in listed
    assert refused.is_error and "more than this server keeps" in _texts(refused)[0]
    assert unknown.is_error and "Unknown tool 'read_more'" in _texts(unknown)[0]

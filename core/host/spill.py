"""Results too large for one message: kept for their caller and read back in ranges.

A result over the plugin's `max_result_bytes` is neither cut (a cut JSON or image is invalid) nor
thrown away: the host keeps the whole result, as the JSON of its `CallToolResult`, for `ttl_s`,
and answers with a `resource_link` to it. The caller reads it with `resources/read` in ranges of at
most the cap (`toolpark://results/<id>?offset=0&length=<cap>`, then the next offset), joins the
text and parses it. Only the caller who got the link may read it; another caller, an expired id and
an unknown one get the same answer. The store is bounded: the oldest results go first, and a result
larger than the whole store is refused as before.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp_types import CallToolResult, ResourceLink, TextContent

__all__ = ["SPILL_TEMPLATE", "Spills", "spill_uri"]

SPILL_TEMPLATE = "toolpark://results/{result_id}{?offset,length}"


def spill_uri(result_id: str) -> str:
    return f"toolpark://results/{result_id}"


@dataclass(frozen=True)
class _Kept:
    owner: str
    text: str  # ASCII JSON: a character is a byte, so ranges are byte ranges
    page: int  # the most one read returns: the cap of the plugin that produced it
    expires: float


class Spills:
    """Oversized results of one host, at most `max_bytes` together, each kept `ttl_s`."""

    def __init__(self, *, ttl_s: float, max_bytes: int) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._size = 0

    def keep(self, owner: str, tool: str, result: CallToolResult, page: int) -> CallToolResult | None:
        """The answer that links to `result`, kept for `owner`; None when the store cannot hold it."""
        wire = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        text = json.dumps(wire, ensure_ascii=True, separators=(",", ":"))
        if len(text) > self.max_bytes:
            return None
        self._forget(len(text))
        result_id = secrets.token_urlsafe(18)
        self._kept[result_id] = _Kept(owner, text, page, time.monotonic() + self.ttl_s)
        self._size += len(text)
        uri = spill_uri(result_id)
        note = (
            f"The result of '{tool}' is {len(text)} bytes, more than fits in one message ({page}). It is kept for "
            f"you for {self.ttl_s:g} s at {uri}: read it with resources/read in ranges "
            f"({uri}?offset=0&length={page}, then the next offset, until {len(text)}), join the text, and parse it "
            "as JSON: the tool's whole result (content, structuredContent)."
        )
        link = ResourceLink(
            type="resource_link", uri=uri, name=f"{tool} result", mime_type="application/json", size=len(text)
        )
        # A tool with an output schema owes structured content that validates; a link is not that,
        # so the answer is an error that carries the way to the whole result.
        return CallToolResult(
            content=[TextContent(type="text", text=note), link], is_error=result.structured_content is not None
        )

    def read(self, owner: str, result_id: str, offset: str, length: str) -> str:
        """Characters `offset` to `offset + length` of a kept result (`length` at most its page); a
        refusal is invalid params (-32602) with a message saying why."""
        self._forget(0)
        kept = self._kept.get(result_id)
        if kept is None or kept.owner != owner:
            raise ResourceNotFoundError(
                f"No kept result {result_id!r}: it expired, or it is not yours. Call the tool again."
            )
        start = _number("offset", offset, 0)
        size = min(_number("length", length, kept.page), kept.page)
        if start > len(kept.text):
            raise ResourceNotFoundError(f"offset {start} is past the end of the result ({len(kept.text)} bytes)")
        return kept.text[start : start + size]

    def _forget(self, room: int) -> None:
        """Drop expired results, then the oldest until `room` more bytes fit."""
        now = time.monotonic()
        for result_id, kept in list(self._kept.items()):
            if kept.expires > now and self._size + room <= self.max_bytes:
                break
            del self._kept[result_id]
            self._size -= len(kept.text)


def _number(name: str, value: str, default: int) -> int:
    if value == "":
        return default
    if not value.isdigit():
        raise ResourceNotFoundError(f"{name} must be a whole number of bytes, not {value!r}")
    return int(value)

"""Results too large for one message: kept for their caller, read on in parts or in ranges.

A result over the plugin's `max_result_bytes` is neither cut into something invalid nor thrown
away: the host keeps the whole result, as the JSON of its `CallToolResult`, for `ttl_s`. The
answer is its first part (`parts.py`: whole paragraphs, lines, images), a note saying how many
parts there are and how to read on with the host's `read_more` tool, which is how a model behind
LibreChat or Open WebUI reads on (neither lets a model read resources), and a `resource_link` for
clients that read resources: `resources/read` in ranges of at most the cap
(`toolpark://results/<id>?offset=0&length=<cap>`, then the next offset), joined and parsed. A
tool's structured content stays in the answer when it is small (a fetched page's metadata beside
its text); when it is large the answer is an error that carries the first part, since a tool with
an output schema owes structured content that validates. Only the caller who got the result may
read it; another caller, an expired id and an unknown one get the same answer. The store is
bounded, and so is each caller's share of it (a quarter): a caller's own oldest results go first,
then the oldest of all, so one caller's large results never evict everyone else's; a result larger
than a caller's share is refused as before.
Kept in memory, or, for replicas behind a load balancer (`shared_database_url`), in a PostgreSQL
table any replica reads.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import pydantic_core
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp_types import CallToolResult, ContentBlock, ResourceLink, TextContent, ToolAnnotations
from mcp_types import Tool as McpTool

from toolpark.contract.errors import error_result
from toolpark.host.tasks.parts import parts

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

__all__ = ["READ_MORE", "SPILL_TEMPLATE", "Spills", "spill_uri"]

SPILL_TEMPLATE = "toolpark://results/{result_id}{?offset,length}"
_LARGEST = 2**31 - 2  # offsets and lengths beyond any result, within PostgreSQL's integer
_SHARES = 4  # a caller holds at most 1/_SHARES of the store
_NOTE_ROOM = 1024  # bytes of an answer left for the note and the link beside its part

READ_MORE = McpTool(
    name="read_more",
    description="Read on in a tool result too large for one message: the result id and part number its answer gave.",
    input_schema={
        "type": "object",
        "properties": {
            "result": {"type": "string", "minLength": 1, "maxLength": 100},
            "part": {"type": "integer", "minimum": 1},
        },
        "required": ["result", "part"],
    },
    annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
)
"""The host's tool for reading on, listed wherever results are kept."""


def caller_share(max_bytes: int) -> int:
    return max_bytes // _SHARES


def spill_uri(result_id: str) -> str:
    return f"toolpark://results/{result_id}"


@dataclass(frozen=True)
class _Held:
    owner: str
    text: str
    page: int


@dataclass(frozen=True)
class _Slice:
    owner: str
    total: int  # characters of the whole result: ASCII JSON, so characters are bytes
    text: str


class _Store(Protocol):
    async def put(self, result_id: str, owner: str, text: str, page: int) -> None: ...

    async def slice(self, result_id: str, start: int, size: int) -> _Slice | None:
        """Characters `start` to `start + size` (no more than the result's page) of a live result."""
        ...

    async def whole(self, result_id: str) -> _Held | None: ...


@dataclass(frozen=True)
class _Kept:
    owner: str
    text: str
    page: int  # the most one read returns: the cap of the plugin that produced it
    expires: float


class _Memory:
    """This process's kept results."""

    def __init__(self, ttl_s: float, max_bytes: int) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._size = 0

    async def put(self, result_id: str, owner: str, text: str, page: int) -> None:
        self._forget(len(text), owner)
        self._kept[result_id] = _Kept(owner, text, page, time.monotonic() + self.ttl_s)
        self._size += len(text)

    async def slice(self, result_id: str, start: int, size: int) -> _Slice | None:
        self._forget(0)
        kept = self._kept.get(result_id)
        if kept is None:
            return None
        return _Slice(kept.owner, len(kept.text), kept.text[start : start + min(size, kept.page)])

    async def whole(self, result_id: str) -> _Held | None:
        self._forget(0)
        kept = self._kept.get(result_id)
        return _Held(kept.owner, kept.text, kept.page) if kept else None

    def _forget(self, room: int, owner: str | None = None) -> None:
        """Drop expired results; then `owner`'s oldest until `room` more bytes fit its share, and
        the oldest of all until they fit the store. All live as long: the oldest expire first."""
        now, share = time.monotonic(), caller_share(self.max_bytes)
        held = sum(len(k.text) for k in self._kept.values() if k.owner == owner)
        for result_id, kept in list(self._kept.items()):
            if kept.expires > now and self._size + room <= self.max_bytes:
                if held + room <= share:
                    break
                if kept.owner != owner:
                    continue
            del self._kept[result_id]
            self._size -= len(kept.text)
            held -= len(kept.text) if kept.owner == owner else 0


_SCHEMA = """
CREATE TABLE IF NOT EXISTS toolpark_results (
    id text PRIMARY KEY, owner text NOT NULL, page integer NOT NULL, size integer NOT NULL,
    created timestamptz NOT NULL DEFAULT now(), expires timestamptz NOT NULL, text text NOT NULL
);
CREATE INDEX IF NOT EXISTS toolpark_results_created ON toolpark_results (created);
CREATE INDEX IF NOT EXISTS toolpark_results_owner ON toolpark_results (owner, created);
"""


class _Table:
    """Kept results in PostgreSQL, shared by the replicas of the stack."""

    def __init__(self, url: str, ttl_s: float, max_bytes: int) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._pool: AsyncConnectionPool | None = None

    @asynccontextmanager
    async def open(self) -> AsyncIterator[None]:
        try:
            from psycopg_pool import AsyncConnectionPool
        except ImportError as exc:
            raise RuntimeError("shared results need psycopg: pip install 'toolpark[replicas]'") from exc
        async with AsyncConnectionPool(self.url, min_size=1, max_size=4, kwargs={"autocommit": True}) as pool:
            async with pool.connection() as db, db.transaction():
                await db.execute("SELECT pg_advisory_xact_lock(hashtext('toolpark_results'))")
                await db.execute(_SCHEMA)
            self._pool = pool
            try:
                yield
            finally:
                self._pool = None

    @property
    def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise RuntimeError("kept results are open only while the host runs")
        return self._pool

    async def put(self, result_id: str, owner: str, text: str, page: int) -> None:
        async with self.pool.connection() as db:
            await db.execute("DELETE FROM toolpark_results WHERE expires < now()")
            # The newest first: whatever of the owner's no longer fits its share beside the new one
            # goes, then whatever of all no longer fits the store.
            await db.execute(
                "DELETE FROM toolpark_results WHERE id IN (SELECT id FROM (SELECT id, sum(size) OVER "
                "(ORDER BY created DESC, id) AS held FROM toolpark_results WHERE owner = %s) newest WHERE held > %s)",
                (owner, caller_share(self.max_bytes) - len(text)),
            )
            await db.execute(
                "DELETE FROM toolpark_results WHERE id IN (SELECT id FROM (SELECT id, sum(size) OVER "
                "(ORDER BY created DESC, id) AS held FROM toolpark_results) newest WHERE held > %s)",
                (self.max_bytes - len(text),),
            )
            await db.execute(
                "INSERT INTO toolpark_results (id, owner, page, size, expires, text) "
                "VALUES (%s, %s, %s, %s, now() + %s * interval '1 second', %s)",
                (result_id, owner, page, len(text), self.ttl_s, text),
            )

    async def slice(self, result_id: str, start: int, size: int) -> _Slice | None:
        async with self.pool.connection() as db:
            cursor = await db.execute(
                "SELECT owner, size, substr(text, %s, least(%s, page)) FROM toolpark_results "
                "WHERE id = %s AND expires > now()",
                (start + 1, size, result_id),
            )
            row = await cursor.fetchone()
        return _Slice(row[0], row[1], row[2]) if row else None

    async def whole(self, result_id: str) -> _Held | None:
        async with self.pool.connection() as db:
            cursor = await db.execute(
                "SELECT owner, text, page FROM toolpark_results WHERE id = %s AND expires > now()", (result_id,)
            )
            row = await cursor.fetchone()
        return _Held(row[0], row[1], row[2]) if row else None


class Spills:
    """Oversized results of one host (or of all replicas), at most `max_bytes` together and a quarter
    of that per caller, each kept `ttl_s`."""

    def __init__(self, *, ttl_s: float, max_bytes: int, shared_url: str | None = None) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._table = _Table(shared_url, ttl_s, max_bytes) if shared_url else None
        self._store: _Store = self._table or _Memory(ttl_s, max_bytes)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        if self._table is None:
            yield
            return
        async with self._table.open():
            yield

    async def keep(self, owner: str, tool: str, result: CallToolResult, page: int) -> CallToolResult | None:
        """The answer that links to `result`, kept for `owner`; None when the store cannot hold it."""
        wire = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        text = json.dumps(wire, ensure_ascii=True, separators=(",", ":"))
        if len(text) > caller_share(self.max_bytes):
            return None
        result_id = secrets.token_urlsafe(18)
        await self._store.put(result_id, owner, text, page)
        return self._part(result_id, result, page, 1, tool=tool, total=len(text))

    async def read_on(self, owner: str, result_id: str, number: int) -> CallToolResult:
        """Part `number` of a kept result, for `read_more`; an error result saying why not."""
        held = await self._store.whole(result_id)
        if held is None or held.owner != owner:
            return error_result(
                f"No kept result {result_id!r}: it expired (results are kept {self.ttl_s:g} s), or it is not yours. "
                "Call the tool again."
            )
        result = CallToolResult.model_validate_json(held.text)
        return self._part(result_id, result, held.page, number)

    def _part(
        self, result_id: str, result: CallToolResult, page: int, number: int, *, tool: str = "", total: int = 0
    ) -> CallToolResult:
        """The answer holding part `number`: the first (with `tool` and `total`) answers the call itself."""
        uri = spill_uri(result_id)
        structured = result.structured_content
        size = len(pydantic_core.to_json(structured)) if structured is not None else 0  # as the cap counts it
        repeated = structured is not None and size <= page // 4  # metadata beside a text: it fits every answer
        found = parts(result, max(page - _NOTE_ROOM - (size if repeated else 0), page // 4), uri)
        if not 1 <= number <= len(found):
            return error_result(f"Result {result_id!r} has {len(found)} part(s): ask for part 1 to {len(found)}.")
        more = (
            f'Read on with the read_more tool: result "{result_id}", part {number + 1} (of {len(found)}).'
            if number < len(found)
            else "That is the end of it."
        )
        if number > 1:
            note = f"[Part {number} of {len(found)} of kept result {result_id}. {more}]"
            return CallToolResult(content=_noted(found[number - 1], note))
        owed = structured is not None and not repeated
        note = (
            f"[{'Not a failure: this' if owed else 'This'} is part 1 of {len(found)} of the result of '{tool}', "
            f"which is {total:,} bytes, more than one message holds. {more} "
            + ("Its structured content is too large to repeat here. " if owed else "")
            + f"The whole result is kept for you for {self.ttl_s:g} s at {uri}, as JSON, for clients that read "
            f"resources (resources/read in ranges of at most {page} bytes: offset, length).]"
        )
        link = ResourceLink(
            type="resource_link", uri=uri, name=f"{tool} result", mime_type="application/json", size=total
        )
        return CallToolResult(
            content=[*_noted(found[0], note), link],
            structured_content=structured if repeated else None,
            # A tool with an output schema owes structured content that validates: without it the
            # answer is an error, which clients pass on to the model without checking a schema.
            is_error=result.is_error or owed,
        )

    async def read(self, owner: str, result_id: str, offset: str, length: str) -> str:
        """Characters `offset` to `offset + length` of a kept result (`length` at most its page); a
        refusal is invalid params (-32602) with a message saying why."""
        start = _number("offset", offset, 0)
        size = _number("length", length, self.max_bytes)
        found = await self._store.slice(result_id, start, size)
        if found is None or found.owner != owner:
            raise ResourceNotFoundError(
                f"No kept result {result_id!r}: it expired, or it is not yours. Call the tool again."
            )
        if start > found.total:
            raise ResourceNotFoundError(f"offset {start} is past the end of the result ({found.total} bytes)")
        return found.text


def _noted(part: list[ContentBlock], note: str) -> list[ContentBlock]:
    """The part with the note at the end of its last text, where it has one: Open WebUI hands a model a
    result of one text as that text, and one of several as a JSON list of them."""
    if part and isinstance(last := part[-1], TextContent):
        return [*part[:-1], last.model_copy(update={"text": f"{last.text}\n\n{note}"})]
    return [*part, TextContent(type="text", text=note)]


def _number(name: str, value: str, default: int) -> int:
    if value == "":
        return default
    if not (value.isascii() and value.isdigit()):  # str.isdigit also takes '²', which int() refuses
        raise ResourceNotFoundError(f"{name} must be a whole number of bytes, not {value!r}")
    return min(int(value), _LARGEST)

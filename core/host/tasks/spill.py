"""Results too large for one message: kept for their caller and read back in ranges.

A result over the plugin's `max_result_bytes` is neither cut (a cut JSON or image is invalid) nor
thrown away: the host keeps the whole result, as the JSON of its `CallToolResult`, for `ttl_s`,
and answers with a `resource_link` to it. The caller reads it with `resources/read` in ranges of at
most the cap (`toolpark://results/<id>?offset=0&length=<cap>`, then the next offset), joins the
text and parses it. Only the caller who got the link may read it; another caller, an expired id and
an unknown one get the same answer. The store is bounded, and so is each caller's part of it (a
quarter): a caller's own oldest results go first, then the oldest of all, so one caller's large
results never evict everyone else's; a result larger than a caller's part is refused as before.
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

from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp_types import CallToolResult, ResourceLink, TextContent

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

__all__ = ["SPILL_TEMPLATE", "Spills", "spill_uri"]

SPILL_TEMPLATE = "toolpark://results/{result_id}{?offset,length}"
_LARGEST = 2**31 - 2  # offsets and lengths beyond any result, within PostgreSQL's integer
_SHARES = 4  # a caller holds at most 1/_SHARES of the store


def caller_share(max_bytes: int) -> int:
    return max_bytes // _SHARES


def spill_uri(result_id: str) -> str:
    return f"toolpark://results/{result_id}"


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


def _number(name: str, value: str, default: int) -> int:
    if value == "":
        return default
    if not (value.isascii() and value.isdigit()):  # str.isdigit also takes '²', which int() refuses
        raise ResourceNotFoundError(f"{name} must be a whole number of bytes, not {value!r}")
    return min(int(value), _LARGEST)

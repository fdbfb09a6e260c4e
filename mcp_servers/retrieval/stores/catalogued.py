"""The store on a vector database without transactions or joins (Chroma, Qdrant, Milvus): a catalog
of collections and documents kept in the database itself, one chunk space per collection, and
ingest made all-or-nothing by generations.

A document's new chunks are written under a fresh generation number; writing its catalog record
(one upsert) is the commit; then its other generations' chunks are deleted. Searches drop chunks
whose generation is not their document's current one, so a failed, cancelled or unfinished ingest
is never seen, and a crash between the steps leaves only chunks no search returns (the next ingest
or delete of that document removes them). Deleting removes the record first, for the same reason.

Ids are stable hashes (53 bits, exact in JSON): a collection's of its namespace and name, a
document's of its collection and source, so re-ingesting a source keeps its id as in PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import anyio

from toolpark.contract.errors import ToolError
from toolpark.mcp_servers.retrieval.chunking import Chunk
from toolpark.mcp_servers.retrieval.filters import Condition
from toolpark.mcp_servers.retrieval.stores.protocol import (
    Citation,
    Collection,
    DocumentRow,
    Embed,
    Hit,
    Mode,
    StoredChunk,
    check_filter_types,
    checked,
    fuse,
    json_type,
    written_meanwhile,
)

__all__ = ["CatalogStore", "ChunkRecord", "Engine", "Record", "stable_id"]

T = TypeVar("T")
MAX_DOCUMENTS = 100_000  # most documents list_documents pages through in one collection
COLLECTION, DOCUMENT = "collection", "document"


def stable_id(*parts: object) -> int:
    """A positive 53-bit id of `parts` (exact in JavaScript numbers, as MCP clients read them)."""
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 53) - 1) or 1


@dataclass(frozen=True)
class Record:
    """A catalog entry: a collection (key: its namespace) or a document (key: its collection's id)."""

    id: int
    kind: str
    key: str
    body: dict[str, Any]


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk as stored: its vector, its text, and the payload searches filter and cite by."""

    id: int
    vector: Sequence[float]
    text: str
    document_id: int
    generation: int
    position: int
    page: int | None
    char_start: int
    char_end: int
    meta: dict[str, Any] = field(default_factory=dict)  # the document's scalar metadata, filterable

    def payload(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id, "generation": self.generation, "position": self.position,
            "page": self.page, "char_start": self.char_start, "char_end": self.char_end,
        }  # fmt: skip


@dataclass(frozen=True)
class Found:
    """A chunk a search returned: its id, text, payload (as `ChunkRecord.payload`) and score."""

    id: int
    text: str
    payload: dict[str, Any]
    score: float


class Engine(Protocol):
    """What one database does for the catalog store; blocking calls, run in worker threads."""

    name: str

    def put(self, record: Record) -> None: ...

    def get(self, ids: Sequence[int]) -> list[Record]: ...

    def find(self, kind: str, keys: Sequence[str] | None, limit: int) -> list[Record]:
        """Records of `kind` with one of `keys` (None: any)."""
        ...

    def remove(self, record_id: int) -> None: ...

    def create_space(self, space: str, dimension: int, language: str) -> None: ...

    def drop_space(self, space: str) -> None: ...

    def add(self, space: str, chunks: Sequence[ChunkRecord], language: str) -> None: ...

    def drop(self, space: str, document_id: int, keep: int | None) -> None:
        """Delete a document's chunks but those of generation `keep`."""
        ...

    def chunks_of(self, space: str, document_id: int, generation: int) -> list[Found]: ...

    def nearest(self, space: str, vector: Sequence[float], k: int, filters: list[Condition]) -> list[Found]:
        """The k chunks nearest `vector` that pass `filters`, best first, score = cosine similarity."""
        ...

    def matching(self, space: str, query: str, language: str, k: int, filters: list[Condition]) -> list[Found]:
        """The k chunks best matching `query`'s words that pass `filters`, best first."""
        ...

    def close(self) -> None: ...


def space_of(collection: Collection) -> str:
    return collection.space or f"toolpark_c{collection.id}"


def scalar_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata values filters can compare: strings, numbers and booleans."""
    return {k: v for k, v in metadata.items() if isinstance(v, str | int | float | bool)}


class CatalogStore:
    """The retrieval store on an `Engine`."""

    def __init__(self, engine: Engine, *, concurrency: int) -> None:
        self.engine = engine
        self.name = engine.name
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._writing: defaultdict[int, anyio.Lock] = defaultdict(anyio.Lock)

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        try:
            return await anyio.to_thread.run_sync(call, *args, limiter=self._limiter)
        except ToolError:
            raise
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise ToolError(f"The {self.name} database is unavailable ({exc}); try again shortly.") from exc

    async def ready(self) -> None:
        with anyio.fail_after(3):
            await self._run(self.engine.find, COLLECTION, ["-"], 1)

    async def create_collection(
        self, *, namespace: str, name: str, model: str, dimension: int, language: str, description: str
    ) -> Collection:
        collection_id = stable_id(COLLECTION, namespace, name)
        if await self._run(self.engine.get, [collection_id]):
            raise ToolError(f"A collection named {name!r} already exists in {namespace}.")
        collection = Collection(
            id=collection_id, name=name, namespace=namespace, embedding_model=model, dimension=dimension,
            language=language, description=description,
        )  # fmt: skip
        await self._run(self.engine.create_space, space_of(collection), dimension, language)
        body = {**collection.model_dump(exclude={"id"}), "fields": {}}
        await self._run(self.engine.put, Record(collection_id, COLLECTION, namespace, body))
        return collection

    async def _collection_records(self, namespaces: Sequence[str] | None) -> list[Record]:
        return await self._run(self.engine.find, COLLECTION, None if namespaces is None else list(namespaces), 10_000)

    async def collections(self, namespaces: Sequence[str] | None) -> list[Collection]:
        found = [
            Collection(id=r.id, **{k: v for k, v in r.body.items() if k != "fields"})
            for r in await self._collection_records(namespaces)
        ]
        return sorted(found, key=lambda c: (c.namespace, c.name))

    async def metadata_fields(self, namespaces: Sequence[str], limit: int = 200) -> list[str]:
        names = {name for r in await self._collection_records(namespaces) for name in r.body.get("fields", {})}
        return sorted(names)[:limit]

    async def field_types(self, collection: Collection, fields: Sequence[str]) -> dict[str, set[str]]:
        records = await self._run(self.engine.get, [collection.id])
        known = records[0].body.get("fields", {}) if records else {}
        return {name: set(known.get(name, [])) for name in fields}

    async def _document(self, collection: Collection, document_id: int) -> Record | None:
        found = await self._run(self.engine.get, [document_id])
        if found and found[0].kind == DOCUMENT and found[0].key == str(collection.id):
            return found[0]
        return None

    async def stored_hashes(self, collection: Collection, source_uris: Sequence[str]) -> dict[str, str]:
        ids = {stable_id(DOCUMENT, collection.id, uri): uri for uri in source_uris}
        found = await self._run(self.engine.get, list(ids)) if ids else []
        return {
            ids[record.id]: str(record.body["content_hash"])
            for record in found
            if record.kind == DOCUMENT and record.key == str(collection.id) and record.id in ids
        }

    async def ingest(
        self,
        collection: Collection,
        *,
        source_uri: str,
        title: str | None,
        content_hash: str,
        metadata: dict[str, Any],
        chunks: Sequence[Chunk],
        vectors: Sequence[Sequence[float]],
    ) -> tuple[int, str]:
        document_id = stable_id(DOCUMENT, collection.id, source_uri)
        space = space_of(collection)
        async with self._writing[document_id]:
            existing = await self._document(collection, document_id)
            if existing and existing.body["content_hash"] == content_hash:
                return document_id, "unchanged"
            for vector in vectors:
                if len(vector) != collection.dimension:
                    raise ToolError(
                        f"A vector has dimension {len(vector)}, but collection {collection.name!r} holds "
                        f"{collection.dimension}."
                    )
            generation = secrets.randbits(53)
            meta = scalar_metadata(metadata)
            records = [
                ChunkRecord(
                    id=stable_id(document_id, generation, position),
                    vector=vector,
                    text=chunk.text,
                    document_id=document_id,
                    generation=generation,
                    position=position,
                    page=chunk.page,
                    char_start=chunk.char_start,
                    char_end=chunk.char_end,
                    meta=meta,
                )
                for position, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True))
            ]
            try:
                await self._run(self.engine.add, space, records, collection.language)
            except BaseException:
                with anyio.CancelScope(shield=True):  # unseen either way; removed so it takes no space
                    await self._run(self.engine.drop, space, document_id, existing and existing.body["generation"])
                raise
            now = datetime.now(UTC).isoformat()
            body = {
                "source_uri": source_uri, "title": title, "content_hash": content_hash, "metadata": metadata,
                "generation": generation, "chunks": len(records),
                "updated_at": now,
            }  # fmt: skip
            await self._run(self.engine.put, Record(document_id, DOCUMENT, str(collection.id), body))
            await self._record_fields(collection, meta)
            await self._run(self.engine.drop, space, document_id, generation)
            return document_id, "replaced" if existing else "created"

    async def _record_fields(self, collection: Collection, meta: dict[str, Any]) -> None:
        """Note new metadata fields and value types in the collection's record (for filter checks)."""
        if not meta:  # nothing to note: no read of the record on an ingest without metadata
            return
        (record,) = await self._run(self.engine.get, [collection.id])
        fields: dict[str, list[str]] = dict(record.body.get("fields", {}))
        changed = False
        for name, value in meta.items():
            kind = json_type(value)
            if kind not in fields.get(name, []):
                fields[name] = sorted({*fields.get(name, []), kind})
                changed = True
        if changed:
            await self._run(
                self.engine.put, Record(record.id, COLLECTION, record.key, {**record.body, "fields": fields})
            )

    async def search(
        self,
        collection: Collection,
        *,
        mode: Mode,
        query: str,
        vector: Sequence[float] | None,
        k: int,
        filters: list[Condition] | None,
    ) -> list[Hit]:
        await check_filter_types(self, collection, filters)
        space, conditions = space_of(collection), list(filters or [])
        pool = k if mode != "hybrid" else max(4 * k, 50)
        asked = 2 * pool + 10
        for _ in range(2):  # chunks of unfinished or superseded ingests are dropped: ask for more
            semantic = (
                await self._run(self.engine.nearest, space, vector, asked, conditions) if mode != "keyword" else []
            )
            lexical = (
                await self._run(self.engine.matching, space, query, collection.language, asked, conditions)
                if mode != "vector"
                else []
            )
            current = await self._current(collection, [*semantic, *lexical])
            short = any(len(got) == asked and sum(f.id in current for f in got) < pool for got in (semantic, lexical))
            semantic, lexical = [f for f in semantic if f.id in current], [f for f in lexical if f.id in current]
            if not short:
                break
            asked *= 4
        found = {f.id: f for f in (*semantic, *lexical)}
        if mode == "vector":
            ranked = [(f.id, f.score) for f in semantic]
        elif mode == "keyword":
            ranked = [(f.id, f.score) for f in lexical]
        else:
            ranked = fuse([f.id for f in semantic[:pool]], [f.id for f in lexical[:pool]])
        hits = []
        for chunk_id, score in ranked[:k]:
            chunk, document = found[chunk_id], current[chunk_id]
            citation = Citation(
                document_id=chunk.payload["document_id"], chunk_id=chunk_id, source_uri=document.body["source_uri"],
                title=document.body["title"], page=chunk.payload["page"], char_start=chunk.payload["char_start"],
                char_end=chunk.payload["char_end"], score=float(score),
            )  # fmt: skip
            hits.append(Hit(chunk.text, citation))
        return hits

    async def _current(self, collection: Collection, found: Sequence[Found]) -> dict[int, Record]:
        """Of `found`, the chunks of their document's current generation, with that document's record."""
        ids = sorted({f.payload["document_id"] for f in found})
        records = {r.id: r for r in await self._run(self.engine.get, ids) if r.key == str(collection.id)}
        return {
            f.id: records[f.payload["document_id"]]
            for f in found
            if f.payload["document_id"] in records
            and records[f.payload["document_id"]].body["generation"] == f.payload["generation"]
        }

    def _row(self, record: Record) -> DocumentRow:
        body = record.body
        return DocumentRow(
            id=record.id, source_uri=body["source_uri"], title=body["title"], metadata=body["metadata"],
            updated_at=datetime.fromisoformat(body["updated_at"]), chunks=body["chunks"],
        )  # fmt: skip

    async def document(self, collection: Collection, document_id: int) -> tuple[DocumentRow, list[StoredChunk]]:
        record = await self._document(collection, document_id)
        if record is None:
            raise ToolError(f"No document {document_id} in collection {collection.name!r}.")
        found = await self._run(self.engine.chunks_of, space_of(collection), document_id, record.body["generation"])
        chunks = [
            StoredChunk(
                id=f.id,
                position=f.payload["position"],
                page=f.payload["page"],
                char_start=f.payload["char_start"],
                char_end=f.payload["char_end"],
                text=f.text,
            )
            for f in found
        ]
        return self._row(record), sorted(chunks, key=lambda c: c.position)

    async def documents(self, collection: Collection, *, limit: int, offset: int) -> list[DocumentRow]:
        records = await self._run(self.engine.find, DOCUMENT, [str(collection.id)], MAX_DOCUMENTS)
        return [self._row(r) for r in sorted(records, key=lambda r: r.id)[offset : offset + limit]]

    async def delete(self, collection: Collection, document_id: int) -> bool:
        async with self._writing[document_id]:
            if await self._document(collection, document_id) is None:
                return False
            await self._run(self.engine.remove, document_id)
            await self._run(self.engine.drop, space_of(collection), document_id, None)
            return True

    async def reembed(
        self, collection: Collection, *, model: str, dimension: int, embed: Embed, progress: Callable[[int, int], None]
    ) -> int:
        """Into a fresh chunk space (a space's dimension is fixed when it is made), document by document
        at its current generation. The collection's record naming the new space is the commit; then the
        old space goes. A document written meanwhile makes it drop the new space and say so. These
        stores keep no chunk's headings: chunks are embedded again from their text."""
        old, space = space_of(collection), f"toolpark_c{collection.id}_r{secrets.token_hex(4)}"
        before = await self._run(self.engine.find, DOCUMENT, [str(collection.id)], MAX_DOCUMENTS)
        total, done, embed = sum(int(record.body["chunks"]) for record in before), 0, checked(embed, dimension)
        pending: list[tuple[Record, Found]] = []  # embedded 256 at a time, across documents, as ingest does

        async def flush() -> None:
            nonlocal done
            vectors = await embed([found.text for _, found in pending])
            moved = [_moved(record, found, vector) for (record, found), vector in zip(pending, vectors, strict=True)]
            await self._run(self.engine.add, space, moved, collection.language)
            done += len(pending)
            pending.clear()
            progress(done, total)

        await self._run(self.engine.create_space, space, dimension, collection.language)
        try:
            for record in before:
                for found in await self._run(self.engine.chunks_of, old, record.id, record.body["generation"]):
                    pending.append((record, found))
                    if len(pending) == 256:
                        await flush()
            if pending:
                await flush()
            after = await self._run(self.engine.find, DOCUMENT, [str(collection.id)], MAX_DOCUMENTS)
            if {r.id: r.body["generation"] for r in after} != {r.id: r.body["generation"] for r in before}:
                raise written_meanwhile(collection, "Documents")
            (held,) = await self._run(self.engine.get, [collection.id])
            body = {**held.body, "embedding_model": model, "dimension": dimension, "space": space}
            await self._run(self.engine.put, Record(collection.id, COLLECTION, collection.namespace, body))
        except BaseException:
            with anyio.CancelScope(shield=True):  # never seen: no record names it
                await self._run(self.engine.drop_space, space)
            raise
        await self._run(self.engine.drop_space, old)
        return done


def _moved(record: Record, found: Found, vector: Sequence[float]) -> ChunkRecord:
    """A document's chunk as it was, with a new vector."""
    return ChunkRecord(
        id=found.id,
        vector=vector,
        text=found.text,
        document_id=record.id,
        generation=record.body["generation"],
        position=found.payload["position"],
        page=found.payload["page"],
        char_start=found.payload["char_start"],
        char_end=found.payload["char_end"],
        meta=scalar_metadata(record.body["metadata"]),
    )

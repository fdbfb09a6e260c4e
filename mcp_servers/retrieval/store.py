"""Collections, documents and chunks in PostgreSQL with pgvector, and the three ways to search them.

Ingesting a document replaces its chunks in one transaction, so a failed ingest leaves nothing
half-written, and an unchanged document (same content hash) is not touched at all. Hybrid search
fuses the HNSW and full-text ranked lists by reciprocal rank fusion; metadata filters apply in
every mode, with pgvector's iterative index scans keeping filtered vector searches at k results.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel, ConfigDict

from toolpark.contract.errors import ToolError
from toolpark.mcp_servers.retrieval.chunking import Chunk
from toolpark.mcp_servers.retrieval.filters import Condition, compile_filters

__all__ = ["Citation", "Collection", "CollectionInfo", "Hit", "Store"]

Mode = Literal["hybrid", "vector", "keyword"]
RRF_K = 60
EXACT_BELOW = 20_000  # filtered vector searches over fewer chunks are ranked exactly


class CollectionInfo(BaseModel):
    """A collection as callers see it."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str
    embedding_model: str
    dimension: int
    language: str
    description: str


class Collection(CollectionInfo):
    """A stored collection: what callers see, and its row id."""

    id: int

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Collection:
        """From `id, name, namespace, embedding_model, dimension, language, description`."""
        names = ("id", "name", "namespace", "embedding_model", "dimension", "language", "description")
        return cls(**dict(zip(names, row, strict=True)))

    @property
    def vector_type(self) -> str:
        # HNSW indexes vectors of up to 2,000 dimensions; half precision goes to 4,000.
        return f"halfvec({self.dimension})" if self.dimension > 2000 else f"vector({self.dimension})"


class Citation(BaseModel):
    """Where a passage comes from: enough to cite it and to read the document around it."""

    model_config = ConfigDict(frozen=True)

    document_id: int
    chunk_id: int
    source_uri: str
    title: str | None
    page: int | None
    char_start: int
    char_end: int
    score: float


@dataclass(frozen=True)
class Hit:
    text: str
    citation: Citation


class Store:
    """The retrieval tables behind a connection pool.

    An outage of the database is a named, transient error for the call (never an incident), and
    marks the pool `lost`; `keep_connected` then replaces it once the database answers again.
    """

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self.lost = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A pooled connection; an outage becomes "the database is unavailable" within the pool's timeout."""
        try:
            async with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if isinstance(exc, psycopg.errors.QueryCanceled):  # a statement timeout, not an outage
                raise
            self.lost = True
            raise ToolError("The database is unavailable; try again shortly.") from exc

    async def keep_connected(self, open_pool: Callable[[], Awaitable[AsyncConnectionPool[Any]]]) -> None:
        """While the pool is lost, try every two seconds for a fresh one, and swap it in.

        psycopg_pool reconnects on its own, but with a backoff that doubles per failed attempt: after
        a minute's outage the next attempt is a minute away. A fresh pool answers within seconds."""
        while True:
            await anyio.sleep(2)
            if not self.lost:
                continue
            try:
                fresh = await open_pool()
            except (psycopg.OperationalError, PoolTimeout):
                continue
            stale, self.pool, self.lost = self.pool, fresh, False
            await stale.close()

    async def create_collection(
        self, *, namespace: str, name: str, model: str, dimension: int, language: str, description: str
    ) -> Collection:
        async with self.connection() as conn, conn.transaction():
            cursor = await conn.execute("SELECT 1 FROM pg_ts_config WHERE cfgname = %s", (language,))
            if await cursor.fetchone() is None:
                raise ToolError(f"Unknown full-text language {language!r}; use e.g. english, german, simple.")
            cursor = await conn.execute(
                "INSERT INTO collections (name, namespace, embedding_model, dimension, language, description) "
                "VALUES (%s, %s, %s, %s, %s::regconfig, %s) ON CONFLICT (namespace, name) DO NOTHING RETURNING id",
                (name, namespace, model, dimension, language, description),
            )
            row = await cursor.fetchone()
            if row is None:
                raise ToolError(f"A collection named {name!r} already exists in {namespace}.")
            collection = Collection.from_row((row[0], name, namespace, model, dimension, language, description))
            await conn.execute(
                sql.SQL("CREATE INDEX {} ON chunks USING hnsw ((embedding::{}) {}) WHERE collection_id = {}").format(
                    sql.Identifier(f"chunks_hnsw_{collection.id}"),
                    sql.SQL(collection.vector_type),
                    sql.SQL("halfvec_cosine_ops" if dimension > 2000 else "vector_cosine_ops"),
                    sql.Literal(collection.id),
                )
            )
            return collection

    async def collections(self, namespaces: Sequence[str]) -> list[Collection]:
        async with self.connection() as conn:
            cursor = await conn.execute(
                "SELECT id, name, namespace, embedding_model, dimension, language::text, description FROM collections "
                "WHERE namespace = ANY(%s) ORDER BY namespace, name",
                (list(namespaces),),
            )
            return [Collection.from_row(row) for row in await cursor.fetchall()]

    async def metadata_fields(self, namespaces: Sequence[str], limit: int = 200) -> list[str]:
        """The metadata keys of the documents in `namespaces`' collections (at most `limit`)."""
        async with self.connection() as conn:
            cursor = await conn.execute(
                "SELECT DISTINCT key FROM documents d JOIN collections c ON c.id = d.collection_id, "
                "jsonb_object_keys(d.metadata) AS key WHERE c.namespace = ANY(%s) ORDER BY key LIMIT %s",
                (list(namespaces), limit),
            )
            return [row[0] for row in await cursor.fetchall()]

    async def collection(self, namespaces: Sequence[str], name: str) -> Collection:
        found = [c for c in await self.collections(namespaces) if c.name == name]
        if not found:
            raise ToolError(f"No collection {name!r} that you may read; list_collections shows them.")
        own = [c for c in found if c.namespace == namespaces[0]]
        return (own or found)[0]

    async def stored_hash(self, collection: Collection, source_uri: str) -> str | None:
        """The content hash of the stored document from `source_uri`, if there is one."""
        async with self.connection() as conn:
            cursor = await conn.execute(
                "SELECT content_hash FROM documents WHERE collection_id = %s AND source_uri = %s",
                (collection.id, source_uri),
            )
            row = await cursor.fetchone()
            return None if row is None else str(row[0])

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
        """Store a document and its chunks; returns its id and `created`, `replaced` or `unchanged`."""
        async with self.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "SELECT id, content_hash FROM documents WHERE collection_id = %s AND source_uri = %s FOR UPDATE",
                (collection.id, source_uri),
            )
            existing = await cursor.fetchone()
            if existing and existing[1] == content_hash:
                return existing[0], "unchanged"
            if existing:
                await _count_terms(conn, existing[0], -1)
                await conn.execute("DELETE FROM chunks WHERE document_id = %s", (existing[0],))
                await conn.execute(
                    "UPDATE documents SET title = %s, content_hash = %s, metadata = %s, updated_at = now() "
                    "WHERE id = %s",
                    (title, content_hash, json.dumps(metadata), existing[0]),
                )
                document_id, status = existing[0], "replaced"
            else:
                cursor = await conn.execute(
                    "INSERT INTO documents (collection_id, source_uri, title, content_hash, metadata) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (collection.id, source_uri, title, content_hash, json.dumps(metadata)),
                )
                row = await cursor.fetchone()
                assert row is not None
                document_id, status = row[0], "created"
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO chunks (document_id, collection_id, position, page, char_start, char_end, text, "
                    "metadata, embedding, tsv) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::vector, "
                    "to_tsvector(%s::regconfig, %s))",
                    [
                        (
                            document_id, collection.id, position, chunk.page, chunk.char_start, chunk.char_end,
                            chunk.text, json.dumps(metadata), _literal(vector), collection.language,
                            " ".join((*chunk.headings, chunk.text)),
                        )
                        for position, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True))
                    ],
                )  # fmt: skip
            await _count_terms(conn, document_id, 1)
            return document_id, status

    async def search(
        self,
        collection: Collection,
        *,
        mode: Mode,
        query: str,
        vector: Sequence[float] | None,
        k: int,
        filters: list[Condition] | None,
        weights: tuple[float, float] = (1.0, 1.0),
    ) -> list[Hit]:
        condition, params = compile_filters(filters)
        await self._check_filter_types(collection, filters)
        pool_size = k if mode != "hybrid" else max(4 * k, 50)
        async with self.connection() as conn, conn.transaction():
            await conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(max(200, 2 * pool_size))))
            if filters and await self._few(conn, collection, condition, params):
                # A selective filter leaves few chunks: ranking them exactly beats walking the graph.
                await conn.execute("SET LOCAL enable_indexscan = off")
            else:
                await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            semantic = (
                await self._vector(conn, collection, vector, pool_size, condition, params) if mode != "keyword" else []
            )
            lexical = (
                await self._keyword(conn, collection, query, pool_size, condition, params) if mode != "vector" else []
            )
        if mode == "vector":
            ranked = [(row, 1.0 - row["distance"]) for row in semantic]
        elif mode == "keyword":
            ranked = [(row, row["rank"]) for row in lexical]
        else:
            ranked = _fuse(semantic, lexical, weights)
        return [_hit(row, score) for row, score in ranked[:k]]

    async def _few(self, conn: Any, collection: Collection, condition: Any, params: list[Any]) -> bool:
        """Whether at most EXACT_BELOW chunks of the collection pass the filter."""
        query = sql.SQL(
            "SELECT count(*) FROM (SELECT 1 FROM chunks c WHERE c.collection_id = %s AND ({condition}) LIMIT %s) found"
        ).format(condition=condition)
        row = await (await conn.execute(query, [collection.id, *params, EXACT_BELOW + 1])).fetchone()
        return bool(row and row[0] <= EXACT_BELOW)

    async def _vector(
        self,
        conn: Any,
        collection: Collection,
        vector: Sequence[float] | None,
        k: int,
        condition: Any,
        params: list[Any],
    ) -> list[dict[str, Any]]:
        assert vector is not None
        cast = sql.SQL(collection.vector_type)
        query = sql.SQL(
            "SELECT c.id, c.document_id, c.text, c.page, c.char_start, c.char_end, c.metadata, d.source_uri, d.title, "
            "c.embedding::{cast} <=> %s::{cast} AS distance FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE c.collection_id = %s AND ({condition}) ORDER BY c.embedding::{cast} <=> %s::{cast} LIMIT %s"
        ).format(cast=cast, condition=condition)
        literal = _literal(vector)
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, [literal, collection.id, *params, literal, k])
            return list(await cur.fetchall())

    async def _keyword(
        self, conn: Any, collection: Collection, text: str, k: int, condition: Any, params: list[Any]
    ) -> list[dict[str, Any]]:
        """BM25 over the collection's chunks: any query term may match; rare terms weigh most."""
        query = sql.SQL(
            "WITH terms AS (SELECT DISTINCT t.lexeme FROM unnest(to_tsvector(%s::regconfig, %s)) t), "
            "size AS (SELECT greatest(chunks, 1) AS n, greatest(lexemes, 1)::float / greatest(chunks, 1) AS avglen "
            "FROM collection_sizes WHERE collection_id = %s), "
            "idf AS (SELECT terms.lexeme, "
            "ln(1 + (size.n - coalesce(ct.chunks, 0) + 0.5) / (coalesce(ct.chunks, 0) + 0.5)) AS weight "
            "FROM terms CROSS JOIN size LEFT JOIN collection_terms ct "
            "ON ct.collection_id = %s AND ct.term = terms.lexeme), "
            "q AS (SELECT to_tsquery('simple', string_agg(quote_literal(lexeme), ' | ')) AS query FROM terms) "
            "SELECT c.id, c.document_id, c.text, c.page, c.char_start, c.char_end, c.metadata, d.source_uri, d.title, "
            "(SELECT sum(idf.weight * (array_length(t.positions, 1) * 2.2) / (array_length(t.positions, 1) "
            " + 1.2 * (0.25 + 0.75 * length(c.tsv) / size.avglen))) "
            " FROM unnest(c.tsv) t JOIN idf ON idf.lexeme = t.lexeme) AS rank "
            "FROM q, size, chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE q.query IS NOT NULL AND c.collection_id = %s AND c.tsv @@ q.query AND ({condition}) "
            "ORDER BY rank DESC, c.id LIMIT %s"
        ).format(condition=condition)
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                query, [collection.language, text, collection.id, collection.id, collection.id, *params, k]
            )
            return list(await cur.fetchall())

    async def _check_filter_types(self, collection: Collection, filters: list[Condition] | None) -> None:
        """A range filter on a field whose stored values are of another type is a mistake worth naming."""
        for condition in filters or []:
            if condition.op in ("eq", "in"):
                continue
            field = condition.field
            wanted = "number" if isinstance(condition.value, int | float) else "string"
            async with self.connection() as conn:
                cursor = await conn.execute(
                    "SELECT DISTINCT jsonb_typeof(metadata->%s) FROM chunks WHERE collection_id = %s "
                    "AND metadata ? %s LIMIT 3",
                    (field, collection.id, field),
                )
                kinds = {row[0] for row in await cursor.fetchall()}
            if kinds and wanted not in kinds:
                raise ToolError(
                    f"Filter {field} {condition.op} compares with a {wanted}, but {field!r} holds "
                    f"{'/'.join(sorted(kinds))} values in this collection."
                )

    async def document(self, collection: Collection, document_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with self.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT id, source_uri, title, metadata, created_at, updated_at FROM documents "
                "WHERE id = %s AND collection_id = %s",
                (document_id, collection.id),
            )
            found = await cur.fetchone()
            if found is None:
                raise ToolError(f"No document {document_id} in collection {collection.name!r}.")
            await cur.execute(
                "SELECT id, position, page, char_start, char_end, text FROM chunks WHERE document_id = %s "
                "ORDER BY position",
                (document_id,),
            )
            return found, list(await cur.fetchall())

    async def documents(self, collection: Collection, *, limit: int, offset: int) -> list[dict[str, Any]]:
        async with self.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT d.id, d.source_uri, d.title, d.metadata, d.updated_at, count(c.id) AS chunks FROM documents d "
                "LEFT JOIN chunks c ON c.document_id = d.id WHERE d.collection_id = %s GROUP BY d.id "
                "ORDER BY d.id LIMIT %s OFFSET %s",
                (collection.id, limit, offset),
            )
            return list(await cur.fetchall())

    async def delete(self, collection: Collection, document_id: int) -> bool:
        async with self.connection() as conn, conn.transaction():
            await _count_terms(conn, document_id, -1)
            cursor = await conn.execute(
                "DELETE FROM documents WHERE id = %s AND collection_id = %s", (document_id, collection.id)
            )
            return bool(cursor.rowcount > 0)


async def _count_terms(conn: Any, document_id: int, sign: int) -> None:
    """Add (sign 1) or remove (sign -1) a document's chunks from its collection's term statistics."""
    terms = (
        "SELECT c.collection_id, t.lexeme AS term, count(*) AS n FROM chunks c, unnest(c.tsv) t "
        "WHERE c.document_id = %s GROUP BY c.collection_id, t.lexeme"
    )
    sizes = (
        "SELECT collection_id, count(*) AS n, coalesce(sum(length(tsv)), 0) AS lexemes FROM chunks "
        "WHERE document_id = %s GROUP BY collection_id"
    )
    if sign > 0:
        await conn.execute(
            f"INSERT INTO collection_terms (collection_id, term, chunks) {terms} "
            "ON CONFLICT (collection_id, term) DO UPDATE SET chunks = collection_terms.chunks + excluded.chunks",
            (document_id,),
        )
        await conn.execute(
            f"INSERT INTO collection_sizes (collection_id, chunks, lexemes) {sizes} ON CONFLICT (collection_id) "
            "DO UPDATE SET chunks = collection_sizes.chunks + excluded.chunks, "
            "lexemes = collection_sizes.lexemes + excluded.lexemes",
            (document_id,),
        )
    else:
        await conn.execute(
            f"UPDATE collection_terms ct SET chunks = ct.chunks - d.n FROM ({terms}) d "
            "WHERE ct.collection_id = d.collection_id AND ct.term = d.term",
            (document_id,),
        )
        await conn.execute(
            f"UPDATE collection_sizes cs SET chunks = cs.chunks - d.n, lexemes = cs.lexemes - d.lexemes "
            f"FROM ({sizes}) d WHERE cs.collection_id = d.collection_id",
            (document_id,),
        )


def _literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def _fuse(
    semantic: list[dict[str, Any]], lexical: list[dict[str, Any]], weights: tuple[float, float]
) -> list[tuple[dict[str, Any], float]]:
    """Reciprocal rank fusion: each list adds weight / (60 + rank) to the chunks it ranks."""
    scores: dict[int, float] = {}
    rows: dict[int, dict[str, Any]] = {}
    for weight, ranked in zip(weights, (semantic, lexical), strict=True):
        for rank, row in enumerate(ranked, start=1):
            scores[row["id"]] = scores.get(row["id"], 0.0) + weight / (RRF_K + rank)
            rows[row["id"]] = row
    return sorted(((rows[i], s) for i, s in scores.items()), key=lambda pair: -pair[1])


def _hit(row: dict[str, Any], score: float) -> Hit:
    citation = Citation(
        chunk_id=row["id"], document_id=row["document_id"], source_uri=row["source_uri"], title=row["title"],
        page=row["page"], char_start=row["char_start"], char_end=row["char_end"], score=float(score),
    )  # fmt: skip
    return Hit(row["text"], citation)

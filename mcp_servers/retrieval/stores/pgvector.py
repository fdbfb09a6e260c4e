"""Collections, documents and chunks in PostgreSQL with pgvector, and the three ways to search them.

Ingesting a document replaces its chunks in one transaction, so a failed ingest leaves nothing
half-written, and an unchanged document (same content hash) is not touched at all. Hybrid search
fuses the HNSW and full-text ranked lists by reciprocal rank fusion; metadata filters apply in
every mode, with pgvector's iterative index scans keeping filtered vector searches at k results.
"""

from __future__ import annotations

import json
import select
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from toolpark.contract.errors import ToolError
from toolpark.mcp_servers.retrieval.chunking import Chunk, embedded_text
from toolpark.mcp_servers.retrieval.filters import Condition
from toolpark.mcp_servers.retrieval.stores.migrations import apply_migrations
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
    written_meanwhile,
)
from toolpark.operations.embedded import data_dir, postgres

__all__ = ["PgvectorStore", "open_pgvector"]

K1, B = 1.2, 0.75  # BM25's term-frequency saturation and length normalisation
KEYWORD_CANDIDATES = 5_000  # a keyword search scores the chunks holding its rarer terms, about this many
# A filtered graph walk finds a few passing chunks a window (ef_search); going past the first
# window walks again: at a 5% filter about 10 ms for 20 chunks, 30 ms for 50. Hybrid search with
# a filter fuses this many nearest (what its top 10 loses: docs/performance.md#scale).
FILTERED_HYBRID_DEPTH = 20


_RANGE = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def compile_filters(filters: list[Condition] | None) -> tuple[sql.Composable, list[object]]:
    """Filters as an SQL condition over `c.metadata` (chunks aliased `c`; `TRUE` when empty) and its parameters."""
    parts: list[sql.Composable] = []
    params: list[object] = []
    for condition in filters or []:
        field, value = condition.field, condition.value
        if condition.op == "in" or isinstance(value, list):
            if condition.op not in ("in", "eq") or not isinstance(value, list):
                raise ToolError(f"Filter on {field}: a list of values goes with op 'in', and 'in' needs a list.")
            parts.append(
                sql.SQL("({})").format(sql.SQL(" OR ").join(sql.SQL("c.metadata @> %s::jsonb") for _ in value))
            )
            params.extend(json.dumps({field: item}) for item in value)
        elif condition.op == "eq":
            parts.append(sql.SQL("c.metadata @> %s::jsonb"))
            params.append(json.dumps({field: value}))
        else:
            if isinstance(value, bool):
                raise ToolError(f"Filter {field} {condition.op} compares with a number or a string, not {value!r}.")
            kind = "numeric" if isinstance(value, int | float) else "text"
            # A metadata value of another type fails the comparison instead of the query.
            guard = "jsonb_typeof(c.metadata->%s) = " + ("'number'" if kind == "numeric" else "'string'")
            parts.append(sql.SQL(f"({guard} AND (c.metadata->>%s)::{kind} {_RANGE[condition.op]} %s)"))
            params.extend([field, field, value])
    if not parts:
        return sql.SQL("TRUE"), []
    return sql.SQL(" AND ").join(parts), params


class PgvectorStore:
    """The retrieval tables behind a connection pool.

    An outage of the database is a named, transient error for the call (never an incident), and
    marks the pool `lost`; `keep_connected` then replaces it once the database answers again.
    """

    name = "pgvector"

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool
        self.lost = False

    async def ready(self) -> None:
        try:
            with anyio.fail_after(3):
                async with self.connection() as conn:
                    await conn.execute("SELECT 1")
        except TimeoutError:
            self.lost = True
            raise RuntimeError("the database does not answer") from None

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
                "VALUES (%s, %s, %s, %s, %s::regconfig, %s) ON CONFLICT (namespace, name) DO NOTHING "
                "RETURNING id, index_precision",
                (name, namespace, model, dimension, language, description),
            )
            row = await cursor.fetchone()
            if row is None:
                raise ToolError(f"A collection named {name!r} already exists in {namespace}.")
            collection = Collection.from_row((row[0], name, namespace, model, dimension, language, description, row[1]))
            await conn.execute(_vector_index(collection))
            await conn.execute(_text_index(collection))
            return collection

    async def collections(self, namespaces: Sequence[str] | None) -> list[Collection]:
        async with self.connection() as conn:
            cursor = await conn.execute(
                "SELECT id, name, namespace, embedding_model, dimension, language::text, description, index_precision "
                "FROM collections "
                "WHERE %s::text[] IS NULL OR namespace = ANY(%s) ORDER BY namespace, name",
                (None if namespaces is None else list(namespaces),) * 2,
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

    async def stored_hashes(self, collection: Collection, source_uris: Sequence[str]) -> dict[str, str]:
        async with self.connection() as conn:
            cursor = await conn.execute(
                "SELECT source_uri, content_hash FROM documents WHERE collection_id = %s AND source_uri = ANY(%s)",
                (collection.id, list(source_uris)),
            )
            return {row[0]: str(row[1]) for row in await cursor.fetchall()}

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
                    "headings, metadata, embedding, tsv) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::vector, "
                    "to_tsvector(%s::regconfig, %s))",
                    [
                        (
                            document_id, collection.id, position, chunk.page, chunk.char_start, chunk.char_end,
                            chunk.text, list(chunk.headings), json.dumps(metadata), _literal(vector),
                            collection.language, embedded_text(chunk.headings, chunk.text),
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
    ) -> list[Hit]:
        condition, params = compile_filters(filters)
        await check_filter_types(self, collection, filters)
        pool_size = k if mode != "hybrid" else max(4 * k, 50)
        depth = min(pool_size, max(2 * k, FILTERED_HYBRID_DEPTH)) if filters else pool_size
        semantic: list[dict[str, Any]] = []
        lexical: list[dict[str, Any]] = []

        async def by_vector() -> None:
            nonlocal semantic
            semantic = await self._nearest(collection, vector, depth, bool(filters), condition, params)

        async def by_keyword() -> None:
            nonlocal lexical
            async with self.connection() as conn, conn.transaction():
                lexical = await self._keyword(conn, collection, query, pool_size, condition, params)

        # Hybrid search asks both at once, each on a connection of its own: its time is the slower's.
        async with anyio.create_task_group() as both:
            if mode != "keyword":
                both.start_soon(by_vector)
            if mode != "vector":
                both.start_soon(by_keyword)
        rows = {row["id"]: row for row in (*semantic, *lexical)}
        if mode == "vector":
            ranked = [(row["id"], 1.0 - row["distance"]) for row in semantic]
        elif mode == "keyword":
            ranked = [(row["id"], row["rank"]) for row in lexical]
        else:
            ranked = fuse([row["id"] for row in semantic], [row["id"] for row in lexical])
        return [_hit(rows[chunk_id], score) for chunk_id, score in ranked[:k]]

    async def _nearest(
        self,
        collection: Collection,
        vector: Sequence[float] | None,
        k: int,
        filtered: bool,
        condition: Any,
        params: list[Any],
    ) -> list[dict[str, Any]]:
        """The k nearest chunks passing the filter, nearest first: HNSW with pgvector's iterative
        scan, which walks on until k chunks pass the filter."""
        async with self.connection() as conn, conn.transaction():
            # Only a share of a filtered walk's neighbours pass: a wider walk keeps recall@10 near
            # 0.95 (0.936 at 200 with a filter passing 5%, 0.954 at 400; bench/retrieval_scale.py).
            width = max(400 if filtered else 200, 2 * k)
            await conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(width)))
            await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            rows = await self._vector(conn, collection, vector, k, condition, params)
            if filtered and len(rows) < k:
                # The walk stopped (hnsw.max_scan_tuples) before enough chunks passed a selective
                # filter: those few are ranked exactly instead.
                await conn.execute("SET LOCAL enable_indexscan = off")
                rows = await self._vector(conn, collection, vector, k, condition, params)
        # relaxed_order: the walk may return a near neighbour slightly out of place.
        return sorted(rows, key=lambda row: row["distance"])

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
        """BM25 over the collection's chunks: any query term may match; rare terms weigh most.

        Scored are the chunks holding the query's rarer terms, as many terms as add up to about
        KEYWORD_CANDIDATES chunks: every term in all but large collections, where the ranking is
        BM25's over every chunk that matches. In a large one, scoring every chunk that holds "flow"
        or "high" is most of a million chunks, seconds a search; its top k is the best of the
        chunks holding a rarer term, the ones keyword search is for (a code, a name, a rare word),
        each scored over all the query's terms. A query whose every term is common scores the
        chunks holding its rarest terms together."""
        cursor = await conn.execute(
            "WITH terms AS (SELECT DISTINCT t.lexeme FROM unnest(to_tsvector(%s::regconfig, %s)) t), "
            "size AS (SELECT greatest(chunks, 1) AS n, greatest(lexemes, 1)::float / greatest(chunks, 1) AS avglen "
            "FROM collection_sizes WHERE collection_id = %s) "
            "SELECT terms.lexeme, ct.chunks, ln(1 + (size.n - ct.chunks + 0.5) / (ct.chunks + 0.5)), "
            "size.n, size.avglen "
            "FROM terms CROSS JOIN size JOIN collection_terms ct ON ct.collection_id = %s AND ct.term = terms.lexeme "
            "WHERE ct.chunks > 0 ORDER BY ct.chunks, terms.lexeme",
            (collection.language, text, collection.id, collection.id),
        )
        terms = await cursor.fetchall()  # rarest first
        if not terms:
            return []
        lexemes, weights = [t[0] for t in terms], [float(t[2]) for t in terms]
        counts, size, average = [t[1] for t in terms], terms[0][3], terms[0][4]
        scored, counted = 1, counts[0]
        while scored < len(terms) and counted + counts[scored] <= KEYWORD_CANDIDATES:
            counted += counts[scored]
            scored += 1
        matching = " | ".join(_quoted(lexeme) for lexeme in lexemes[:scored])
        if counted > KEYWORD_CANDIDATES:  # no rare term: the rarest together, their overlap estimated as chance
            together, expected = 1, float(counts[0])
            while together < len(terms) and expected > KEYWORD_CANDIDATES:
                expected *= counts[together] / size
                together += 1
            matching = " & ".join(_quoted(lexeme) for lexeme in lexemes[:together])
        return await self._bm25(conn, collection, lexemes, weights, average, matching, k, condition, params)

    async def _bm25(
        self,
        conn: Any,
        collection: Collection,
        lexemes: list[str],
        weights: list[float],
        average: float,
        matching: str,
        k: int,
        condition: Any,
        params: list[Any],
    ) -> list[dict[str, Any]]:
        """The k chunks that the tsquery `matching` matches, by BM25 over all the query's lexemes
        (`average`: the collection's lexemes a chunk).

        Each chunk's lexemes are cut to the query's before they are unnested (`setweight` marks
        the query's, `ts_filter` keeps the marked: both in C; chunks' text carries no weights of
        its own), and meet the query's weights in one hash join. The text search is a constant to
        the planner (never a prepared statement's parameter), so it estimates the matches from the
        collection's index; a generic plan guessed them and scanned the collection."""
        query = sql.SQL(
            "WITH idf AS (SELECT * FROM unnest(%s::text[], %s::float8[]) AS idf(lexeme, weight)), "
            "found AS MATERIALIZED (SELECT c.id, c.tsv, length(c.tsv) AS len FROM chunks c "
            " WHERE c.collection_id = %s AND c.tsv @@ %s::tsquery AND ({condition})), "
            "top AS (SELECT found.id, sum(idf.weight * (array_length(t.positions, 1) * {k1plus}) / "
            " (array_length(t.positions, 1) + {k1} * ({b0} + {b} * found.len / %s::float8))) AS rank "
            " FROM found CROSS JOIN LATERAL unnest(ts_filter(setweight(found.tsv, 'A', %s::text[]), '{{a}}')) t "
            " JOIN idf ON idf.lexeme = t.lexeme "
            " GROUP BY found.id ORDER BY rank DESC, found.id LIMIT %s) "
            "SELECT c.id, c.document_id, c.text, c.page, c.char_start, c.char_end, c.metadata, d.source_uri, d.title, "
            "top.rank FROM top JOIN chunks c ON c.id = top.id JOIN documents d ON d.id = c.document_id "
            "ORDER BY top.rank DESC, c.id"
        ).format(
            condition=condition,
            k1plus=sql.Literal(K1 + 1),
            k1=sql.Literal(K1),
            b0=sql.Literal(1 - B),
            b=sql.Literal(B),
        )
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                query, [lexemes, weights, collection.id, matching, *params, average, lexemes, k], prepare=False
            )
            return list(await cur.fetchall())

    async def field_types(self, collection: Collection, fields: Sequence[str]) -> dict[str, set[str]]:
        # From the documents, whose metadata every chunk carries a copy of: a thousandth of the rows.
        async with self.connection() as conn:
            cursor = await conn.execute(
                "SELECT f.field, array(SELECT DISTINCT jsonb_typeof(metadata->f.field) FROM documents "
                "WHERE collection_id = %s AND metadata ? f.field LIMIT 3) FROM unnest(%s::text[]) AS f(field)",
                (collection.id, list(fields)),
            )
            return {row[0]: set(row[1]) for row in await cursor.fetchall()}

    async def document(self, collection: Collection, document_id: int) -> tuple[DocumentRow, list[StoredChunk]]:
        async with self.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT d.id, d.source_uri, d.title, d.metadata, d.updated_at, "
                "(SELECT count(*) FROM chunks c WHERE c.document_id = d.id) AS chunks FROM documents d "
                "WHERE d.id = %s AND d.collection_id = %s",
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
            return DocumentRow(**found), [StoredChunk(**row) for row in await cur.fetchall()]

    async def documents(self, collection: Collection, *, limit: int, offset: int) -> list[DocumentRow]:
        async with self.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT d.id, d.source_uri, d.title, d.metadata, d.updated_at, count(c.id) AS chunks "
                "FROM documents d "
                "LEFT JOIN chunks c ON c.document_id = d.id WHERE d.collection_id = %s GROUP BY d.id "
                "ORDER BY d.id LIMIT %s OFFSET %s",
                (collection.id, limit, offset),
            )
            return [DocumentRow(**row) for row in await cur.fetchall()]

    async def delete(self, collection: Collection, document_id: int) -> bool:
        async with self.connection() as conn, conn.transaction():
            await _count_terms(conn, document_id, -1)
            cursor = await conn.execute(
                "DELETE FROM documents WHERE id = %s AND collection_id = %s", (document_id, collection.id)
            )
            return bool(cursor.rowcount > 0)

    async def reembed(
        self, collection: Collection, *, model: str, dimension: int, embed: Embed, progress: Callable[[int, int], None]
    ) -> int:
        """The new vectors go to a temporary table first, batch by batch, with no lock held; then one
        transaction swaps them in (the collection's index goes, since its rows no longer fit its
        dimension), and the index is built again without blocking searches of other collections."""
        new = collection.model_copy(update={"embedding_model": model, "dimension": dimension})
        async with self.connection() as conn:
            async with conn.transaction():
                await conn.execute("CREATE TEMP TABLE reembedded (id bigint PRIMARY KEY, embedding vector NOT NULL)")
            try:
                done = await self._embed_into_temp(conn, collection, checked(embed, dimension), progress)
                async with conn.transaction():
                    # Writers wait (readers do not) while the count is checked and the vectors swapped.
                    await conn.execute("LOCK TABLE chunks IN SHARE MODE")
                    cursor = await conn.execute(
                        "SELECT count(*) FROM chunks c LEFT JOIN reembedded r ON r.id = c.id "
                        "WHERE c.collection_id = %s AND r.id IS NULL",
                        (collection.id,),
                    )
                    if (added := (await cursor.fetchone())[0]) > 0:
                        raise written_meanwhile(collection, f"{added} chunk(s)")
                    await conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(_index_name(collection)))
                    await conn.execute(
                        "UPDATE chunks c SET embedding = r.embedding FROM reembedded r "
                        "WHERE c.id = r.id AND c.collection_id = %s",
                        (collection.id,),
                    )
                    await conn.execute(
                        "UPDATE collections SET embedding_model = %s, dimension = %s WHERE id = %s",
                        (model, dimension, collection.id),
                    )
            finally:
                async with conn.transaction():
                    await conn.execute("DROP TABLE IF EXISTS reembedded")
            await conn.set_autocommit(True)  # CREATE INDEX CONCURRENTLY runs outside a transaction
            try:
                await conn.execute(_vector_index(new, concurrently=True))
            finally:
                await conn.set_autocommit(False)
        return done

    async def _embed_into_temp(
        self, conn: Any, collection: Collection, embed: Embed, progress: Callable[[int, int], None]
    ) -> int:
        cursor = await conn.execute("SELECT count(*) FROM chunks WHERE collection_id = %s", (collection.id,))
        total, done, last = (await cursor.fetchone())[0], 0, 0
        await conn.commit()
        while True:
            cursor = await conn.execute(
                "SELECT id, headings, text FROM chunks WHERE collection_id = %s AND id > %s ORDER BY id LIMIT 256",
                (collection.id, last),
            )
            rows = await cursor.fetchall()
            await conn.commit()
            if not rows:
                return done
            vectors = await embed([embedded_text(headings, text) for _, headings, text in rows])
            async with conn.transaction(), conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO reembedded (id, embedding) VALUES (%s, %s::vector)",
                    [(row[0], _literal(vector)) for row, vector in zip(rows, vectors, strict=True)],
                )
            done, last = done + len(rows), rows[-1][0]
            progress(done, total)


@asynccontextmanager
async def open_pgvector(url: str | None, *, pool_size: int, timeout_s: float) -> AsyncIterator[PgvectorStore]:
    """The store on the PostgreSQL at `url` (none: an embedded one under the data folder), its
    migrations applied, reconnecting after an outage while it is open."""
    async with AsyncExitStack() as stack:
        if url is None:
            service = await anyio.to_thread.run_sync(lambda: stack.enter_context(postgres(data_dir("postgres"))))
            url = service.url
        location = url

        async def open_pool(wait_s: float = 5.0) -> AsyncConnectionPool[Any]:
            pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                location, min_size=1, max_size=pool_size, open=False, timeout=timeout_s,
                check=_alive, kwargs={"connect_timeout": 5},
            )  # fmt: skip
            try:
                await pool.open(wait=True, timeout=wait_s)
            except BaseException:
                await pool.close()
                raise
            return pool

        pool = await open_pool(30.0)
        stack.push_async_callback(pool.close)
        async with pool.connection() as conn:
            await apply_migrations(conn)
        store = PgvectorStore(pool)
        stack.push_async_callback(lambda: store.pool.close())  # the one in use, if keep_connected swapped it
        tasks = await stack.enter_async_context(anyio.create_task_group())
        tasks.start_soon(store.keep_connected, open_pool)
        stack.callback(tasks.cancel_scope.cancel)
        yield store


async def _alive(conn: psycopg.AsyncConnection[Any]) -> None:
    """The pool's check of a connection before lending it. A round trip at every checkout was two of
    a small document's round trips; a connection the server closed (restart, failover, idle kill)
    has something to read, its last message or the end of the stream, so only then does it get one."""
    if conn.closed or select.select([conn.fileno()], [], [], 0)[0]:
        await AsyncConnectionPool.check_connection(conn)


async def _count_terms(conn: Any, document_id: int, sign: int) -> None:
    """Add (sign 1) or remove (sign -1) a document's chunks from its collection's term statistics.

    Writers of one collection's statistics take turns on its row: two documents ingested at once
    would otherwise upsert their shared terms in different orders and deadlock. The row lock does
    not block other writers' chunk inserts (their foreign-key checks take a key-share lock)."""
    await conn.execute(
        "SELECT 1 FROM collections WHERE id = (SELECT collection_id FROM documents WHERE id = %s) FOR NO KEY UPDATE",
        (document_id,),
    )
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


def _vector_index(collection: Collection, *, concurrently: bool = False) -> sql.Composed:
    """The collection's own HNSW index, over its vectors cast to its dimension."""
    return sql.SQL("CREATE INDEX {} {} ON chunks USING hnsw ((embedding::{}) {}) WHERE collection_id = {}").format(
        sql.SQL("CONCURRENTLY IF NOT EXISTS" if concurrently else ""),
        _index_name(collection),
        sql.SQL(collection.vector_type),
        sql.SQL("halfvec_cosine_ops" if collection.vector_type.startswith("halfvec") else "vector_cosine_ops"),
        sql.Literal(collection.id),
    )


def _text_index(collection: Collection) -> sql.Composed:
    """The collection's own full-text index: keyword search reads its postings only."""
    return sql.SQL("CREATE INDEX {} ON chunks USING gin (tsv) WHERE collection_id = {}").format(
        sql.Identifier(f"chunks_tsv_{collection.id}"), sql.Literal(collection.id)
    )


def _index_name(collection: Collection) -> sql.Identifier:
    return sql.Identifier(f"chunks_hnsw_{collection.id}")


def _quoted(lexeme: str) -> str:
    """A lexeme as a tsquery operand: quoted, so that `:` or `&` in it (a URL's, a path's) are its own."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def _hit(row: dict[str, Any], score: float) -> Hit:
    citation = Citation(
        chunk_id=row["id"], document_id=row["document_id"], source_uri=row["source_uri"], title=row["title"],
        page=row["page"], char_start=row["char_start"], char_end=row["char_end"], score=float(score),
    )  # fmt: skip
    return Hit(row["text"], citation)

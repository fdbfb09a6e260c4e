"""The retrieval schema on the embedded PostgreSQL with pgvector: migrations, concurrency, indexes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import psycopg
import pytest

from toolpark.mcp_servers.retrieval.stores.migrations import apply_migrations, available
from toolpark.operations.embedded import PostgresService, postgres

pytestmark = pytest.mark.anyio


@pytest.fixture
def database(tmp_path: Path) -> Iterator[PostgresService]:
    with postgres(tmp_path / "pg") as service:
        yield service


async def test_migrations_apply_once_even_from_concurrent_replicas(database: PostgresService) -> None:
    results: list[list[str]] = []

    async def replica() -> None:
        async with await psycopg.AsyncConnection.connect(database.url) as conn:
            results.append(await apply_migrations(conn))

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(replica)
    names = [name for _, name, _ in available()]
    assert sorted(name for applied in results for name in applied) == sorted(names)
    async with await psycopg.AsyncConnection.connect(database.url) as conn:
        assert await apply_migrations(conn) == []
        rows = await (await conn.execute("SELECT name FROM toolpark_retrieval_migrations ORDER BY version")).fetchall()
    assert [r[0] for r in rows] == names


async def test_per_collection_hnsw_index_serves_knn(database: PostgresService) -> None:
    async with await psycopg.AsyncConnection.connect(database.url, autocommit=True) as conn:
        await apply_migrations(conn)
        collection = await (
            await conn.execute(
                "INSERT INTO collections (name, namespace, embedding_model, dimension) "
                "VALUES ('c', 'user:a', 'm', 3) RETURNING id"
            )
        ).fetchone()
        assert collection is not None
        cid = collection[0]
        await conn.execute(
            f"CREATE INDEX chunks_hnsw_{cid} ON chunks USING hnsw ((embedding::vector(3)) vector_cosine_ops) "
            f"WHERE collection_id = {cid}"
        )
        document = await (
            await conn.execute(
                "INSERT INTO documents (collection_id, source_uri, content_hash) VALUES (%s, 'u', 'h') RETURNING id",
                (cid,),
            )
        ).fetchone()
        assert document is not None
        for n in range(200):
            await conn.execute(
                "INSERT INTO chunks (document_id, collection_id, position, char_start, char_end, text, embedding, tsv) "
                "VALUES (%s, %s, %s, 0, 1, 'x', %s::vector, to_tsvector('english', 'x'))",
                (document[0], cid, n, f"[{n % 7 + 1},{n % 5 + 1},{n % 3 + 1}]"),
            )
        await conn.execute("ANALYZE chunks")
        # So few rows would be sorted outright; forbid that to see that the index can order them.
        await conn.execute("SET enable_sort = off")
        plan = await (
            await conn.execute(
                f"EXPLAIN SELECT id FROM chunks WHERE collection_id = {cid} "
                "ORDER BY embedding::vector(3) <=> '[1,1,1]'::vector(3) LIMIT 5"
            )
        ).fetchall()
    assert any(f"chunks_hnsw_{cid}" in row[0] for row in plan), plan

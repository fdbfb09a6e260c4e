"""Vector search latency and recall at 100,000 chunks, with and without a selective filter.

The chunks' vectors are made without embedding 100k texts: 2,000 real MiniLM embeddings of
Cranfield sentences, each repeated 50 times with Gaussian noise (sigma 0.05) and normalised, which
keeps the clustered shape of real embeddings. Queries are the MiniLM embeddings of the Cranfield
queries. Latency is the store's search call (SQL round trip, embedding excluded); recall@10 is
against exact search (the same query with index scans turned off). The filter keeps 1% of chunks.
Targets: p50 <= 10 ms, recall >= 0.95.

    .venv/bin/python bench/retrieval_latency.py [--data ../shared/data] [--chunks 100000]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from psycopg_pool import AsyncConnectionPool

from toolpark.mcp_servers.retrieval.embeddings import LocalEmbedder
from toolpark.mcp_servers.retrieval.filters import Condition
from toolpark.mcp_servers.retrieval.stores.migrations import apply_migrations
from toolpark.mcp_servers.retrieval.store import Store
from toolpark.operations.embedded import postgres

ROOT = Path(__file__).resolve().parent.parent
GROUPS = 100


def sentences(path: Path, count: int) -> list[str]:
    text = path.read_text(errors="replace")
    found = [s.strip() for s in re.split(r"(?<=\.)\s+", re.sub(r"\.[ITABW].*\n", " ", text)) if len(s.split()) > 5]
    return found[:count]


async def run(data: Path, total: int) -> None:
    embedder = await anyio.to_thread.run_sync(LocalEmbedder)
    base = np.array(await embedder.embed(sentences(data / "cranfield" / "cran.all.1400", 2000)), dtype=np.float32)
    queries = re.findall(r"\.W\n(.*?)(?=\n\.I |\Z)", (data / "cranfield" / "cran.qry").read_text(), re.DOTALL)
    query_vectors = await embedder.embed([" ".join(q.split()) for q in queries[:200]])
    rng = np.random.default_rng(7)
    vectors = base[np.arange(total) % len(base)] + rng.normal(0, 0.05, (total, base.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    with tempfile.TemporaryDirectory() as directory, postgres(Path(directory)) as database:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(database.url, min_size=1, max_size=2, open=False)
        await pool.open()
        async with pool.connection() as conn:
            await apply_migrations(conn)
        store = Store(pool)
        collection = await store.create_collection(
            namespace="bench", name="latency", model=embedder.model, dimension=384, language="english", description=""
        )
        started = time.perf_counter()
        async with pool.connection() as conn:
            await conn.execute(f"DROP INDEX chunks_hnsw_{collection.id}")  # build it once, after the load
            document = await (
                await conn.execute(
                    "INSERT INTO documents (collection_id, source_uri, content_hash) "
                    "VALUES (%s, 'bench', 'h') RETURNING id",
                    (collection.id,),
                )
            ).fetchone()
            assert document is not None
            async with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY chunks (document_id, collection_id, position, char_start, char_end, text, metadata, "
                    "embedding, tsv) FROM STDIN"
                ) as copy,
            ):
                for n, vector in enumerate(vectors):
                    literal = "[" + ",".join(f"{x:.6f}" for x in vector) + "]"
                    await copy.write_row(
                        (
                            document[0],
                            collection.id,
                            n,
                            0,
                            1,
                            f"chunk {n}",
                            json.dumps({"group": n % GROUPS}),
                            literal,
                            "",
                        )
                    )
            await conn.execute("SET maintenance_work_mem = '1GB'")
            await conn.execute(
                f"CREATE INDEX chunks_hnsw_{collection.id} ON chunks USING hnsw ((embedding::vector(384)) "
                f"vector_cosine_ops) WHERE collection_id = {collection.id}"
            )
            await conn.execute("ANALYZE chunks")
            await conn.commit()
        print(f"loaded {total} chunks and built the HNSW index in {time.perf_counter() - started:.0f} s")

        rows = []
        one_group = [Condition(field="group", value=7)]
        for label, filters in (("no filter", None), (f"filter: 1 group of {GROUPS}", one_group)):
            latencies, recalls = [], []
            for vector in query_vectors:
                began = time.perf_counter()
                hits = await store.search(collection, mode="vector", query="", vector=vector, k=10, filters=filters)
                latencies.append(time.perf_counter() - began)
                exact = await exact_ids(pool, collection.id, vector, filters)
                recalls.append(len({h.citation.chunk_id for h in hits} & exact) / max(1, len(exact)))
            latencies.sort()
            rows.append(
                (label, latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)], statistics.mean(recalls))
            )
        await pool.close()

    print(f"\n{len(query_vectors)} queries, k=10, {total} chunks of 384 dimensions")
    print("| search | p50 ms | p99 ms | recall@10 vs exact |")
    print("|---|---|---|---|")
    for label, p50, p99, recall in rows:
        print(f"| {label} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | {recall:.3f} |")
    print("\ntargets: p50 <= 10 ms, recall >= 0.95")


async def exact_ids(pool: AsyncConnectionPool[Any], collection: int, vector: list[float], filters: Any) -> set[int]:
    literal = "[" + ",".join(map(str, vector)) + "]"
    condition = "TRUE" if not filters else "metadata @> %s::jsonb"
    wanted = {c.field: c.value for c in filters or []}
    params: list[Any] = [collection, *([json.dumps(wanted)] if filters else []), literal]
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_indexscan = off")
        await conn.execute("SET LOCAL enable_bitmapscan = off")
        rows = await (
            await conn.execute(
                f"SELECT id FROM chunks WHERE collection_id = %s AND {condition} "
                "ORDER BY embedding::vector(384) <=> %s::vector(384) LIMIT 10",
                params,
            )
        ).fetchall()
    return {row[0] for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--chunks", type=int, default=100_000)
    args = parser.parse_args()
    anyio.run(run, args.data, args.chunks)


if __name__ == "__main__":
    main()

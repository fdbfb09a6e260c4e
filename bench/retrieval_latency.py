"""Vector search latency and recall at 100,000 chunks, with and without a selective filter, on every
vector store retrieval runs on, side by side in one run.

The chunks' vectors are made without embedding 100k texts: 2,000 real MiniLM embeddings of
Cranfield sentences, each repeated 50 times with Gaussian noise (sigma 0.05) and normalised, which
keeps the clustered shape of real embeddings. Queries are the MiniLM embeddings of the Cranfield
queries. The chunks are stored through each store's `ingest`, as 100 documents of 1,000 chunks with
a `group` field; the filter keeps one group (1% of chunks). Latency is the store's search call
(embedding excluded); recall@10 is against exact search computed here with NumPy over the same
vectors. Each store runs embedded: PostgreSQL with pgvector, Chroma's folder, Qdrant's client local
mode (not the Qdrant server: brute force in NumPy) and Milvus Lite 3 (not the Milvus server).
Targets for pgvector: p50 <= 10 ms, recall >= 0.95.

With `--across 20`, the `search` tool itself instead (in memory through the host, the query embedded
by the server, hybrid mode): the same chunks in one collection, named; split over 20 collections,
one named; and over all 20 with no collection named, which searches each and fuses the rankings.

    .venv/bin/python bench/retrieval_latency.py [--data ../shared/data] [--chunks 100000] [--queries 200]
        [--stores pgvector,chroma,qdrant,milvus] [--across 20]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from toolpark.mcp_servers.retrieval import plugin as retrieval
from toolpark.mcp_servers.retrieval.chunking import Chunk
from toolpark.mcp_servers.retrieval.embeddings import LocalEmbedder
from toolpark.mcp_servers.retrieval.filters import Condition
from toolpark.mcp_servers.retrieval.stores.opening import BACKENDS, Backend, open_store
from toolpark.mcp_servers.retrieval.stores.protocol import Collection, Store
from toolpark.operations.embedded import postgres
from toolpark.testing import connect

ROOT = Path(__file__).resolve().parent.parent
GROUPS = 100


def sentences(path: Path, count: int) -> list[str]:
    text = path.read_text(errors="replace")
    found = [s.strip() for s in re.split(r"(?<=\.)\s+", re.sub(r"\.[ITABW].*\n", " ", text)) if len(s.split()) > 5]
    return found[:count]


def noisy(base: np.ndarray, total: int) -> np.ndarray:
    """`total` vectors: the real embeddings repeated, each with Gaussian noise (sigma 0.05), normalised."""
    vectors = base[np.arange(total) % len(base)] + np.random.default_rng(7).normal(0, 0.05, (total, base.shape[1]))
    vectors = vectors.astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


async def run(data: Path, total: int, stores: list[Backend], asked: int) -> None:
    embedder = await anyio.to_thread.run_sync(LocalEmbedder)
    base = np.array(await embedder.embed(sentences(data / "cranfield" / "cran.all.1400", 2000)), dtype=np.float32)
    queries = re.findall(r"\.W\n(.*?)(?=\n\.I |\Z)", (data / "cranfield" / "cran.qry").read_text(), re.DOTALL)
    query_vectors = await embedder.embed([" ".join(q.split()) for q in queries[:asked]])
    vectors = noisy(base, total)
    groups = np.arange(total) % GROUPS
    exact = {}  # the rows of the 10 nearest chunks of each query, over all chunks and over group 7
    for label, rows in (("all", np.arange(total)), ("group", np.flatnonzero(groups == 7))):
        similarities = vectors[rows] @ np.array(query_vectors, dtype=np.float32).T
        exact[label] = [set(rows[np.argsort(-column)[:10]].tolist()) for column in similarities.T]

    rows = []
    for backend in stores:
        with tempfile.TemporaryDirectory() as directory:
            os.environ["TOOLPARK_DATA_DIR"] = directory
            async with open_store(backend, None, None, pool_size=2, timeout_s=30) as store:
                loaded = await load(store, embedder.model, vectors, groups)
                for label, filters, key in (
                    ("no filter", None, "all"),
                    (f"filter: 1 group of {GROUPS}", [Condition(field="group", value=7)], "group"),
                ):
                    latencies, recalls = [], []
                    for vector, truth in zip(query_vectors, exact[key], strict=True):
                        began = time.perf_counter()
                        hits = await store.search(
                            loaded[0], mode="vector", query="", vector=vector, k=10, filters=filters
                        )
                        latencies.append(time.perf_counter() - began)
                        recalls.append(len({loaded[1][h.citation.chunk_id] for h in hits} & truth) / 10)
                    latencies.sort()
                    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
                    rows.append((backend, label, loaded[2], p50, p99, statistics.mean(recalls)))

    print(f"\n{len(query_vectors)} queries, k=10, {total} chunks of 384 dimensions")
    print("| store | search | load s | p50 ms | p99 ms | recall@10 vs exact |")
    print("|---|---|---|---|---|---|")
    for backend, label, load_s, p50, p99, recall in rows:
        print(f"| {backend} | {label} | {load_s:.0f} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | {recall:.3f} |")
    print("\ntargets (pgvector): p50 <= 10 ms, recall >= 0.95")


async def across(data: Path, total: int, collections: int, asked: int) -> None:
    """`search` named vs over every collection the caller may read (`--across`)."""
    texts = sentences(data / "cranfield" / "cran.all.1400", 2000)
    found = re.findall(r"\.W\n(.*?)(?=\n\.I |\Z)", (data / "cranfield" / "cran.qry").read_text(), re.DOTALL)
    queries = [" ".join(q.split()) for q in found[:asked]]
    embedder = await anyio.to_thread.run_sync(LocalEmbedder)
    vectors = noisy(np.array(await embedder.embed(texts), dtype=np.float32), total)
    rows = np.arange(total)
    with tempfile.TemporaryDirectory() as directory, postgres(Path(directory)) as database:
        async with (
            connect(retrieval, settings={"database_url": database.url}) as client,
            open_store("pgvector", database.url, None, pool_size=2, timeout_s=30) as store,
        ):

            async def stored(name: str, part: np.ndarray) -> None:
                made = await client.call_tool("create_collection", {"name": name})
                namespace = made.structured_content["namespace"]
                (collection,) = [c for c in await store.collections([namespace]) if c.name == name]
                await load_rows(store, collection, vectors[part], [texts[row % len(texts)] for row in part])

            for index, part in enumerate(np.array_split(rows, collections)):
                await stored(f"part-{index}", part)
            size = total // collections
            results = [
                (f"1 of {collections} collections of {size} chunks, named", await timed(client, queries, "part-0")),
                (f"all {collections} collections, none named", await timed(client, queries, None)),
            ]
            await stored("whole", rows)  # after the search naming none, which would read it too
            results.append((f"1 collection of {total} chunks, named", await timed(client, queries, "whole")))
    print(f"\n{asked} queries, k=10, hybrid, through the search tool (the query embedded by the server)")
    print("| search | p50 ms | p99 ms |\n|---|---|---|")
    for label, latencies in results:
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
        print(f"| {label} | {p50 * 1000:.1f} | {p99 * 1000:.1f} |")


async def timed(client: Any, queries: list[str], collection: str | None) -> list[float]:
    """Each query's `search` call, in seconds, sorted."""
    latencies = []
    named = {"collection": collection} if collection else {}
    for query in queries:
        began = time.perf_counter()
        found = await client.call_tool("search", {"query": query, "k": 10, **named})
        latencies.append(time.perf_counter() - began)
        assert not found.is_error, found.content
    return sorted(latencies)


async def load_rows(store: Store, collection: Collection, vectors: np.ndarray, texts: list[str]) -> None:
    """Rows stored as documents of 1,000 chunks each, with their sentences as text (keyword search reads them)."""
    for start in range(0, len(vectors), 1000):
        chunks = [
            Chunk(text=t, page=None, char_start=0, char_end=len(t), headings=()) for t in texts[start : start + 1000]
        ]
        await store.ingest(
            collection, source_uri=f"rows-{start}", title=None, content_hash=str(start), metadata={},
            chunks=chunks, vectors=vectors[start : start + 1000].tolist(),
        )  # fmt: skip


async def load(
    store: Store, model: str, vectors: np.ndarray, groups: np.ndarray
) -> tuple[Collection, dict[int, int], float]:
    """The vectors stored as one document per group; the collection, chunk id -> row, and seconds taken."""
    collection = await store.create_collection(
        namespace="bench", name="latency", model=model, dimension=vectors.shape[1], language="english", description=""
    )
    started = time.perf_counter()
    rows_of: dict[int, int] = {}
    for group in range(GROUPS):
        rows = np.flatnonzero(groups == group)
        chunks = [Chunk(text=f"chunk {row}", page=None, char_start=0, char_end=1, headings=()) for row in rows]
        document_id, _ = await store.ingest(
            collection, source_uri=f"group-{group}", title=None, content_hash=str(group), metadata={"group": group},
            chunks=chunks, vectors=vectors[rows].tolist(),
        )  # fmt: skip
        stored = await store.document(collection, document_id)
        rows_of.update({chunk.id: int(rows[chunk.position]) for chunk in stored[1]})
    took = time.perf_counter() - started
    print(f"{store.name}: stored {len(vectors)} chunks in {took:.0f} s")
    return collection, rows_of, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--stores", default=",".join(BACKENDS), help="comma-separated: " + ", ".join(BACKENDS))
    parser.add_argument("--across", type=int, help="Time the search tool over this many collections instead.")
    args = parser.parse_args()
    if args.across:
        anyio.run(across, args.data, args.chunks, args.across, args.queries)
        return
    anyio.run(run, args.data, args.chunks, [s for s in args.stores.split(",") if s], args.queries)


if __name__ == "__main__":
    main()

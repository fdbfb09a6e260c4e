"""Retrieval at a million passages: hybrid, vector and keyword search in one tenant's collection and
in a large shared one, with and without a metadata filter, on pgvector beside Qdrant (client local
mode) and Milvus Lite on the same vectors, in one run.

The store: 1,000,000 passages in six collections of the one `chunks` table, as tenants hold them: a
shared archive of half the passages and five teams' collections of a tenth each. A passage's text is
2-3 consecutive sentences of a Cranfield abstract (keyword search has real work: common
aeronautics terms match hundreds of thousands of passages); its vector is the real MiniLM
embedding of its first sentence (4,000 sentences embedded) plus Gaussian noise (sigma 0.05),
normalised, which keeps the clustered shape of real embeddings. Documents hold 1,000 passages and
a `year` (2006-2025); the filter keeps one year, 5%. The embeddings are made once and cached, and
so is the loaded database (its build times are kept with it and printed again) under
~/.cache/toolpark/bench/retrieval-scale; `--rebuild` makes it again.

Latency is the store's `search` call (embedding excluded; the Cranfield queries' MiniLM vectors),
after one warming pass; recall@10 of the vector ranking is against exact search with NumPy over
the same vectors; a keyword ranking's against exhaustive BM25; a filtered hybrid ranking's
against the one fused from a vector list as deep as the keyword list (FILTERED_HYBRID_DEPTH
lifted). pgvector is measured with full-precision and half-precision HNSW indexes
(`index_precision`). The baselines get vector search only (their keyword search does not run at
this size in their embedded modes) on the archive collection, through their own clients: Qdrant's
local mode (NumPy brute force, no server) and Milvus Lite 3 (FAISS HNSW, M 16, efConstruction 64,
as pgvector's defaults).

    .venv/bin/python bench/retrieval_scale.py [--data ../shared/data] [--passages 1000000]
        [--queries 225] [--baseline-queries 10] [--baselines qdrant,milvus] [--no-pgvector] [--rebuild]
        [--shared-buffers 4GB]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import psutil
import psycopg

from toolpark.mcp_servers.retrieval.filters import Condition
from toolpark.mcp_servers.retrieval.stores import pgvector
from toolpark.mcp_servers.retrieval.stores.opening import open_store
from toolpark.mcp_servers.retrieval.stores.pgvector import PgvectorStore
from toolpark.mcp_servers.retrieval.stores.protocol import Collection, Mode
from toolpark.operations.embedded import postgres

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "toolpark" / "bench" / "retrieval-scale"
VERSION = 1  # of the generated data: a change of how it is made builds the cache again
DIMENSION = 384
CENTERS = 4000  # real embeddings the passages' vectors are made around
PER_DOCUMENT = 1000
YEARS = 20
EXHAUSTIVE_QUERIES = 30  # keyword rankings checked against scoring every matching chunk (seconds each)
# (namespace, name, tenths of the passages)
LAYOUT = (("shared", "archive", 5), *((f"team-{n}", "docs", 1) for n in range(1, 6)))


@dataclass
class Corpus:
    sentences: list[str]  # every Cranfield abstract sentence, in order
    starts: np.ndarray  # (N,) a passage's first sentence
    lengths: np.ndarray  # (N,) its number of sentences (2-3, within its abstract)
    vectors: np.ndarray  # (N, 384) float32, normalised
    collection: np.ndarray  # (N,) index into LAYOUT
    year: np.ndarray  # (N,)
    document: np.ndarray  # (N,) from 0, in order
    queries: list[str]
    query_vectors: np.ndarray  # (Q, 384)

    def text(self, row: int) -> str:
        start = int(self.starts[row])
        return " ".join(self.sentences[start : start + int(self.lengths[row])])


def abstracts(path: Path) -> list[list[str]]:
    """Each Cranfield document's text (`.W`) as its sentences."""
    found = re.findall(r"\.W\n(.*?)(?=\n\.I |\Z)", path.read_text(errors="replace"), re.DOTALL)
    return [[s for s in re.split(r"(?<=\.)\s+", " ".join(text.split())) if len(s.split()) > 3] for text in found]


def corpus(data: Path, total: int) -> Corpus:
    """The passages' texts, vectors, collections and years; the embeddings from the cache when there."""
    documents = [sentences for sentences in abstracts(data / "cranfield" / "cran.all.1400") if len(sentences) >= 3]
    sentences = [s for doc in documents for s in doc]
    # The last sentence a passage may start at: 2-3 sentences must follow within its abstract.
    room = np.concatenate([np.arange(len(doc))[::-1] for doc in documents])
    found = re.findall(r"\.W\n(.*?)(?=\n\.I |\Z)", (data / "cranfield" / "cran.qry").read_text(), re.DOTALL)
    queries = [" ".join(q.split()) for q in found]
    # A million passages round 4,000 real embeddings (250 each); a small run embeds fewer.
    count = min(CENTERS, len(sentences), max(50, total // 250))
    centres = np.linspace(0, len(sentences) - 1, count).astype(int)
    centres = centres[room[centres] >= 1]
    cached = CACHE / f"embeddings-{count}-v{VERSION}.npz"
    if not cached.exists():
        from toolpark.mcp_servers.retrieval.embeddings import LocalEmbedder

        embedder = LocalEmbedder(batch_size=64)
        print(f"embedding {len(centres)} sentences and {len(queries)} queries once (cached in {cached})")
        made = anyio.run(embedder.embed, [sentences[i] for i in centres])
        asked = anyio.run(embedder.embed, queries)
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, centres=np.array(made, np.float32), queries=np.array(asked, np.float32))
    embedded = np.load(cached)
    rng = np.random.default_rng(7)
    of = rng.integers(len(centres), size=total)
    vectors = np.empty((total, DIMENSION), np.float32)
    for begin in range(0, total, 100_000):  # in slices: the noise of a million rows at once is 3 GB
        part = embedded["centres"][of[begin : begin + 100_000]]
        part = part + rng.normal(0, 0.05, part.shape).astype(np.float32)
        vectors[begin : begin + 100_000] = part / np.linalg.norm(part, axis=1, keepdims=True)
    starts = centres[of]
    lengths = np.minimum(rng.integers(2, 4, size=total), room[starts] + 1)
    # Documents of 1,000 passages (fewer in a small run, so every collection gets some), each
    # document in one collection and one year.
    per_document = max(1, min(PER_DOCUMENT, total // 1000))
    count = -(-total // per_document)
    sizes = [count * tenths // 10 for _, _, tenths in LAYOUT]
    sizes[0] += count - sum(sizes)
    document = np.arange(total) // per_document
    collection = np.repeat(np.arange(len(LAYOUT)), sizes)[document]
    year = 2006 + document % YEARS
    return Corpus(sentences, starts, lengths, vectors, collection, year, document, queries, embedded["queries"])


# --- pgvector: the database, loaded once ---------------------------------------------------------------


def database_dir(total: int) -> Path:
    return CACHE / f"pgvector-{total}-v{VERSION}"


async def create_collections(url: str) -> list[Collection]:
    """The collections, made through the store itself (its migrations, its per-collection index)."""
    async with open_store("pgvector", url, None, pool_size=2, timeout_s=60) as store:
        return [
            await store.create_collection(
                namespace=namespace,
                name=name,
                model="all-MiniLM-L6-v2+noise",
                dimension=DIMENSION,
                language="english",
                description="",
            )
            for namespace, name, _ in LAYOUT
        ]


def binary_vectors(ids: np.ndarray, vectors: np.ndarray) -> bytes:
    """Rows `(id bigint, embedding vector)` in COPY's binary format: pgvector's is the dimension
    (int16), an unused int16, then the floats, all big-endian. Built with NumPy: text literals of
    384 floats a row would take minutes of Python for a million rows."""
    row = np.dtype(
        [("fields", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("vec_len", ">i4"),
         ("dim", ">i2"), ("unused", ">i2"), ("vec", ">f4", (DIMENSION,))]
    )  # fmt: skip
    rows = np.zeros(len(ids), row)
    rows["fields"], rows["id_len"], rows["id"] = 2, 8, ids
    rows["vec_len"], rows["dim"], rows["vec"] = 4 + 4 * DIMENSION, DIMENSION, vectors
    return rows.tobytes()


def load(url: str, data: Corpus, collections: list[Collection]) -> dict[str, float]:
    """The passages bulk-loaded into the store's own tables with its indexes dropped, then the
    indexes built again (each timed), as a large import would; returns seconds per step."""
    took: dict[str, float] = {}
    total = len(data.vectors)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '4GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")  # the second of two cores
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chunks' AND indexname <> 'chunks_pkey'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(psycopg.sql.SQL("DROP INDEX {}").format(psycopg.sql.Identifier(name)))
        started = time.perf_counter()
        documents = int(data.document[-1]) + 1
        first = np.searchsorted(data.document, np.arange(documents))  # each document's first row
        with conn.cursor().copy(
            "COPY documents (id, collection_id, source_uri, title, content_hash, metadata) FROM STDIN"
        ) as copy:
            for doc, row in enumerate(first.tolist()):
                metadata = json.dumps({"year": int(data.year[row])})
                copy.write_row((doc + 1, collections[data.collection[row]].id, f"passages-{doc}", None, "0", metadata))
        conn.execute("CREATE UNLOGGED TABLE staged (id bigint PRIMARY KEY, embedding vector(384))")
        with conn.cursor().copy("COPY staged (id, embedding) FROM STDIN (FORMAT binary)") as copy:
            copy.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
            for begin in range(0, total, 50_000):
                part = np.arange(begin, min(begin + 50_000, total))
                copy.write(binary_vectors(part + 1, data.vectors[part]))
            copy.write(struct.pack(">h", -1))
        conn.execute("CREATE UNLOGGED TABLE staged_text (id bigint PRIMARY KEY, document_id bigint, text text)")
        with conn.cursor().copy("COPY staged_text (id, document_id, text) FROM STDIN") as copy:
            for row, doc in enumerate(data.document.tolist()):
                copy.write_row((row + 1, doc + 1, data.text(row)))
        conn.execute(
            "INSERT INTO chunks (id, document_id, collection_id, position, page, char_start, char_end, text, "
            "metadata, embedding, tsv) SELECT s.id, d.id, d.collection_id, s.id - 1, NULL, 0, length(t.text), "
            "t.text, d.metadata, s.embedding, to_tsvector('english', t.text) "
            "FROM staged s JOIN staged_text t USING (id) JOIN documents d ON d.id = t.document_id"
        )
        conn.execute("DROP TABLE staged, staged_text")
        conn.execute("SELECT setval('documents_id_seq', %s), setval('chunks_id_seq', %s)", (documents, total))
        conn.execute(
            "INSERT INTO collection_terms (collection_id, term, chunks) SELECT c.collection_id, t.lexeme, count(*) "
            "FROM chunks c, unnest(c.tsv) t GROUP BY 1, 2"
        )
        conn.execute(
            "INSERT INTO collection_sizes (collection_id, chunks, lexemes) "
            "SELECT collection_id, count(*), sum(length(tsv)) FROM chunks GROUP BY 1"
        )
        took["rows and term statistics"] = time.perf_counter() - started
        for name, definition in indexes:
            started = time.perf_counter()
            conn.execute(definition)
            took[name] = time.perf_counter() - started
            print(f"  index {name}: {took[name]:.0f} s", flush=True)
        conn.execute("VACUUM ANALYZE chunks")
    return took


def other_indexes(url: str, collections: list[Collection]) -> dict[str, float]:
    """Each collection's HNSW index built again in the other precision (`index_precision`), so
    that both are measured on the same rows: a search uses the one its cast matches."""
    took = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '4GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        for collection in collections:
            other = "full" if collection.index_precision == "half" else "half"
            kind = "vector" if other == "full" else "halfvec"
            name = f"chunks_hnsw_{other}_{collection.id}"
            started = time.perf_counter()
            conn.execute(
                f"CREATE INDEX {name} ON chunks USING hnsw ((embedding::{kind}({DIMENSION})) {kind}_cosine_ops) "
                f"WHERE collection_id = {collection.id}"
            )
            took[name] = time.perf_counter() - started
            print(f"  index {name}: {took[name]:.0f} s", flush=True)
    return took


@dataclass
class Built:
    url: str
    collections: list[Collection]
    took: dict[str, float]
    built_on: str


@contextmanager
def built(data: Corpus, rebuild: bool, shared_buffers: str) -> Iterator[Built]:
    """The loaded database, running with `shared_buffers`; built when it is not in the cache (or `rebuild`)."""
    directory = database_dir(len(data.vectors))
    record = directory / "toolpark-bench.json"
    if rebuild or not record.exists():
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        with postgres(directory) as service:
            print(f"loading {len(data.vectors)} passages into pgvector at {directory}", flush=True)
            collections = anyio.run(create_collections, service.url)
            took = load(service.url, data, collections)
            took |= other_indexes(service.url, collections)
        record.write_text(
            json.dumps(
                {
                    "took": took,
                    "built_on": datetime.now(UTC).strftime("%Y-%m-%d"),
                    "collections": [
                        c.model_dump() | {"id": c.id, "index_precision": c.index_precision} for c in collections
                    ],
                }
            )
        )
    saved = json.loads(record.read_text())
    with postgres(directory) as service, psycopg.connect(service.url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(psycopg.sql.Literal(shared_buffers))
        )
    with postgres(directory) as service:  # started again: shared_buffers takes a restart
        yield Built(service.url, [Collection(**c) for c in saved["collections"]], saved["took"], saved["built_on"])


# --- measuring ---------------------------------------------------------------------------------------------


def exact(data: Corpus, rows: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    """The 10 nearest rows of each query among `rows`, by exact cosine (the vectors are normalised)."""
    found: list[set[int]] = []
    for begin in range(0, len(queries), 32):
        similarities = data.vectors[rows] @ queries[begin : begin + 32].T
        top = np.argpartition(-similarities, 10, axis=0)[:10]
        found.extend(set(rows[column].tolist()) for column in top.T)
    return found


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return ordered[len(ordered) // 2] * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def pg_memory() -> float:
    """The embedded PostgreSQL's memory, MB: the proportional set size of its processes (shared
    buffers counted once across them, not once per backend)."""
    total = 0
    for process in psutil.process_iter(["cmdline"]):
        try:
            if process.info["cmdline"] and "postgres" in process.info["cmdline"][0]:
                total += process.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / 2**20


async def measure_pgvector(data: Corpus, base: Built, asked: int) -> list[tuple[Any, ...]]:
    """p50/p99 and recall@10 per collection, filter, mode and index precision."""
    rows_out: list[tuple[Any, ...]] = []
    year = int(data.year[0])
    queries, vectors = data.queries[:asked], data.query_vectors[:asked]
    async with open_store("pgvector", base.url, None, pool_size=2, timeout_s=60) as store:
        assert isinstance(store, PgvectorStore)
        for index in (0, 1):  # the shared archive, one team's collection
            collection = base.collections[index]
            members = np.flatnonzero(data.collection == index)
            for filtered in (False, True):
                rows = members[data.year[members] == year] if filtered else members
                truth = exact(data, rows, vectors)
                filters = [Condition(field="year", value=year)] if filtered else None
                for precision in ("full", "half"):
                    shown = collection.model_copy(update={"index_precision": precision})
                    for mode in ("vector", "hybrid", "keyword"):
                        if mode == "keyword" and precision == "half":
                            continue  # no vectors involved
                        latencies: list[float] = []
                        recalls: list[float] = []
                        for warming in (True, False):
                            for query, vector in zip(queries, vectors, strict=True):
                                began = time.perf_counter()
                                hits = await store.search(
                                    shown, mode=mode, query=query, vector=vector.tolist(), k=10, filters=filters
                                )
                                if warming:
                                    continue
                                latencies.append(time.perf_counter() - began)
                                if mode == "vector":
                                    found = {h.citation.chunk_id - 1 for h in hits}
                                    recalls.append(len(found & truth[len(recalls)]) / 10)
                        if mode == "keyword" and not filtered:
                            recalls = await agreement(
                                store, shown, queries[:EXHAUSTIVE_QUERIES], vectors, None,
                                mode=mode, bound="KEYWORD_CANDIDATES",
                            )  # fmt: skip
                        if mode == "hybrid" and filtered:
                            recalls = await agreement(
                                store, shown, queries, vectors, filters, mode=mode, bound="FILTERED_HYBRID_DEPTH"
                            )
                        p50, p99 = percentiles(latencies)
                        recall = f"{np.mean(recalls):.3f}" if recalls else ""
                        where = f"{collection.namespace}/{collection.name} ({len(members):,})"
                        what = f"year filter ({len(rows):,})" if filtered else "none"
                        rows_out.append((where, what, mode, precision if mode != "keyword" else "", p50, p99, recall))
                        print("  " + " | ".join(map(str, rows_out[-1])), flush=True)
    return rows_out


async def agreement(
    store: PgvectorStore,
    collection: Collection,
    queries: list[str],
    vectors: np.ndarray,
    filters: list[Condition] | None,
    *,
    mode: Mode,
    bound: str,
) -> list[float]:
    """Each query's top 10 against the same search with the store's `bound` lifted (keyword:
    KEYWORD_CANDIDATES, so every chunk holding a query term is scored, exhaustive BM25; hybrid:
    FILTERED_HYBRID_DEPTH, so the filtered vector list is as deep as the keyword list): the share
    of that top 10 it returns."""
    found = []
    for query, vector in zip(queries, vectors, strict=False):
        search = partial(
            store.search, collection, mode=mode, query=query, vector=vector.tolist(), k=10, filters=filters
        )
        hits = await search()
        kept = getattr(pgvector, bound)
        setattr(pgvector, bound, 10**9)
        try:
            every = await search()
        finally:
            setattr(pgvector, bound, kept)
        truth = {h.citation.chunk_id for h in every}
        found.append(len({h.citation.chunk_id for h in hits} & truth) / max(1, len(truth)))
    return found


def measure_qdrant(data: Corpus, rows: np.ndarray, asked: int) -> list[tuple[Any, ...]]:
    """Qdrant's client in local mode (in memory, NumPy brute force) on the same vectors."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(location=":memory:")
    client.create_collection(
        "scale", vectors_config=models.VectorParams(size=DIMENSION, distance=models.Distance.COSINE)
    )
    started = time.perf_counter()
    for begin in range(0, len(rows), 10_000):
        part = rows[begin : begin + 10_000]
        client.upload_collection(
            "scale", vectors=data.vectors[part], ids=part.tolist(),
            payload=[{"year": int(y)} for y in data.year[part]],
        )  # fmt: skip
    load_s = time.perf_counter() - started

    def search(vector: np.ndarray, year: int | None) -> list[int]:
        only = models.FieldCondition(key="year", match=models.MatchValue(value=year)) if year else None
        found = client.query_points(
            "scale", query=vector, limit=10, query_filter=models.Filter(must=[only]) if only else None
        )
        return [int(p.id) for p in found.points]

    return _baseline("qdrant (client local mode)", data, rows, asked, load_s, search)


def measure_milvus(data: Corpus, rows: np.ndarray, asked: int) -> list[tuple[Any, ...]]:
    """Milvus Lite 3 (a file; FAISS HNSW) on the same vectors."""
    from pymilvus import DataType, MilvusClient

    with tempfile.TemporaryDirectory() as directory:
        client = MilvusClient(uri=str(Path(directory) / "scale.db"))
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIMENSION)
        schema.add_field("year", DataType.INT64)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="HNSW", metric_type="COSINE", params={"M": 16, "efConstruction": 64})
        client.create_collection("scale", schema=schema, index_params=index)
        started = time.perf_counter()
        for begin in range(0, len(rows), 10_000):
            part = rows[begin : begin + 10_000]
            client.insert(
                "scale",
                [{"id": int(r), "vector": data.vectors[r], "year": int(data.year[r])} for r in part],
            )
        client.flush("scale")
        client.load_collection("scale")
        load_s = time.perf_counter() - started
        try:
            return _baseline(
                "milvus (Milvus Lite 3)", data, rows, asked, load_s,
                lambda vector, year: [
                    hit["id"] for hit in client.search(
                        "scale", [vector], limit=10, filter=f"year == {year}" if year else "",
                        search_params={"params": {"ef": 200}},
                    )[0]
                ],
            )  # fmt: skip
        finally:
            client.close()


def _baseline(
    name: str, data: Corpus, rows: np.ndarray, asked: int, load_s: float, search: Any
) -> list[tuple[Any, ...]]:
    year = int(data.year[0])
    out = []
    for filtered in (False, True):
        subset = rows[data.year[rows] == year] if filtered else rows
        vectors = data.query_vectors[:asked]
        truth = exact(data, subset, vectors)
        search(vectors[0], year if filtered else None)  # warming
        latencies, recalls = [], []
        for vector, expected in zip(vectors, truth, strict=True):
            began = time.perf_counter()
            found = search(vector, year if filtered else None)
            latencies.append(time.perf_counter() - began)
            recalls.append(len(set(found) & expected) / 10)
        p50, p99 = percentiles(latencies)
        what = f"year filter ({len(subset):,})" if filtered else "none"
        out.append((f"{name}, loaded in {load_s:.0f} s", what, "vector", "", p50, p99, f"{np.mean(recalls):.3f}"))
        print("  " + " | ".join(map(str, out[-1])), flush=True)
    return out


def sizes(url: str) -> list[tuple[str, float]]:
    """The chunks table and each of its indexes, MB on disk."""
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT 'chunks table (heap and TOAST)', pg_table_size('chunks') UNION ALL "
            "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
            "WHERE indrelid = 'chunks'::regclass ORDER BY 2 DESC"
        ).fetchall()
    return [(name, size / 2**20) for name, size in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=225)
    parser.add_argument("--baseline-queries", type=int, default=10, help="Their searches take seconds here.")
    parser.add_argument("--baselines", default="qdrant,milvus", help="Comma-separated; empty for none.")
    parser.add_argument("--no-pgvector", dest="pgvector", action="store_false", help="The baselines alone.")
    parser.add_argument("--rebuild", action="store_true", help="Build the cached database again.")
    parser.add_argument(
        "--shared-buffers", default="4GB", help="PostgreSQL's shared_buffers (the embedded default is 128MB)."
    )
    args = parser.parse_args()
    data = corpus(args.data, args.passages)
    print(f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; {args.passages:,} passages")  # fmt: skip
    results: list[tuple[Any, ...]] = []
    if args.pgvector:
        with built(data, args.rebuild, args.shared_buffers) as base:
            results = anyio.run(measure_pgvector, data, base, args.queries)
            memory = pg_memory()
            on_disk = sizes(base.url)
        table(f"{args.queries} Cranfield queries, k=10, embedding excluded; pgvector", results)
        print(f"\nbuilt {base.built_on} (seconds; `--rebuild` measures again):")
        for step, seconds in base.took.items():
            print(f"  {step}: {seconds:.0f}")
        print("\non disk (MB):")
        for name, size in on_disk:
            print(f"  {name}: {size:.0f}")
        print(f"\nPostgreSQL's memory after the runs (PSS): {memory:.0f} MB, shared_buffers {args.shared_buffers}")
        print(f"keyword recall@10: against exhaustive BM25 (every matching chunk scored), {EXHAUSTIVE_QUERIES} queries")
        print("filtered hybrid recall@10: against fusing the vector list as deep as the keyword list")
    archive = np.flatnonzero(data.collection == 0)
    measures = {"qdrant": measure_qdrant, "milvus": measure_milvus}
    baselines = [
        row
        for name in args.baselines.split(",")
        if name
        for row in measures[name](data, archive, args.baseline_queries)
    ]
    if baselines:
        table(f"the baselines on the archive's vectors, the first {args.baseline_queries} queries", baselines)
    print("\ntargets: hybrid p50 <= 25 ms, p99 <= 80 ms with a filter; recall@10 >= 0.95")


def table(title: str, rows: list[tuple[Any, ...]]) -> None:
    print(f"\n{title}")
    print("| collection | filter | mode | index | p50 ms | p99 ms | recall@10 |\n|---|---|---|---|---|---|---|")
    for where, what, mode, precision, p50, p99, recall in rows:
        print(f"| {where} | {what} | {mode} | {precision} | {p50:.1f} | {p99:.1f} | {recall} |")


if __name__ == "__main__":
    main()

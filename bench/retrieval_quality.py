"""Retrieval quality on the Cranfield collection: keyword, vector and hybrid search through the
retrieval server's MCP tools on every vector store (embedded: pgvector, Chroma, Qdrant's local mode,
Milvus Lite), next to a BM25 baseline (the `rank-bm25` library) in the same run. Each text is
embedded once and its vector reused by every store, so the rows compare stores, not embedder runs.

Cranfield: 1,400 aeronautics abstracts, 225 queries, graded judgements. A judgement's query
number is the query's position in cran.qry (the collection's well-known quirk). Codes 1-4 are
graded relevance, gain 5 - code for nDCG@10; codes 1-3 count as relevant for recall@100; the
-1 rows (the document a question was written from, by common account) are left out.
Target: hybrid above both BM25 and vector-only.

    .venv/bin/python bench/retrieval_quality.py [--data ../shared/data] [--queries 225] [--stores pgvector,chroma]
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio
from rank_bm25 import BM25Okapi

from toolpark.mcp_servers.retrieval import plugin
from toolpark.mcp_servers.retrieval.embeddings import LocalEmbedder
from toolpark.mcp_servers.retrieval.stores.opening import BACKENDS, Backend
from toolpark.testing import connect

ROOT = Path(__file__).resolve().parent.parent


def smart(path: Path) -> dict[str, dict[str, str]]:
    """SMART-format records: `.I id` then fields `.T`, `.A`, `.B`, `.W`."""
    records: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    field = None
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(".I "):
            current = {}
            records[line[3:].strip()] = current
            field = None
        elif re.match(r"^\.[TABW]$", line):
            field = line[1]
            current[field] = ""
        elif field:
            current[field] += line + "\n"
    return records


def judgements(path: Path) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for line in path.read_text().split("\n"):
        parts = line.split()
        if len(parts) == 3 and int(parts[2]) in (1, 2, 3, 4):
            found[int(parts[0])][parts[1]] = int(parts[2])
    return found


def ndcg10(ranked: list[str], grades: dict[str, int]) -> float:
    gain = [5 - grades[d] if d in grades else 0 for d in ranked[:10]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gain))
    ideal = sorted((5 - g for g in grades.values()), reverse=True)[:10]
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / best if best else 0.0


def recall100(ranked: list[str], grades: dict[str, int]) -> float:
    relevant = {d for d, g in grades.items() if g <= 3}
    return len(relevant & set(ranked[:100])) / len(relevant) if relevant else 0.0


class OnceEmbedder(LocalEmbedder):
    """The local model, each text embedded once across the stores."""

    seen: dict[str, list[float]] = {}  # noqa: RUF012 - shared by every instance on purpose

    async def embed(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.seen]
        if missing:
            self.seen.update(zip(missing, await super().embed(missing), strict=True))
        return [self.seen[t] for t in texts]


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


async def run(data: Path, limit: int, stores: list[Backend]) -> None:
    docs = smart(data / "cranfield" / "cran.all.1400")
    queries = list(smart(data / "cranfield" / "cran.qry").values())[:limit]
    qrels = judgements(data / "cranfield" / "cranqrel")
    texts = {doc_id: (fields.get("T", "") + "\n\n" + fields.get("W", "")).strip() for doc_id, fields in docs.items()}
    texts = {doc_id: body for doc_id, body in texts.items() if body}  # a few records are empty
    scores: dict[str, list[tuple[float, float]]] = defaultdict(list)

    ids = list(texts)
    bm25 = BM25Okapi([tokens(texts[d]) for d in ids])
    for number, query in enumerate(queries, start=1):
        ranking = bm25.get_scores(tokens(query["W"]))
        ranked = [ids[i] for i in sorted(range(len(ids)), key=lambda i: -ranking[i])[:100]]
        scores["BM25 (rank-bm25)"].append((ndcg10(ranked, qrels[number]), recall100(ranked, qrels[number])))

    importlib.import_module("toolpark.mcp_servers.retrieval.declaration").LocalEmbedder = OnceEmbedder
    for backend in stores:
        with tempfile.TemporaryDirectory() as directory:
            os.environ["TOOLPARK_DATA_DIR"] = directory
            settings = {"store": backend, "max_k": 100, "result_tokens": 1_000_000}
            async with connect(plugin, settings=settings) as client:
                await client.call_tool("create_collection", {"name": "cranfield"})
                started = time.perf_counter()
                for doc_id, body in texts.items():
                    done = await client.call_tool(
                        "ingest", {"collection": "cranfield", "text": body, "source_uri": doc_id}
                    )
                    assert not done.is_error, done.content
                print(f"{backend}: ingested {len(texts)} documents in {time.perf_counter() - started:.0f} s")
                for mode in ("keyword", "vector", "hybrid"):
                    for number, query in enumerate(queries, start=1):
                        found = await client.call_tool(
                            "search", {"collection": "cranfield", "query": query["W"], "mode": mode, "k": 100}
                        )
                        passages: list[dict[str, Any]] = (found.structured_content or {}).get("passages", [])
                        ranked = list(dict.fromkeys(p["citation"]["source_uri"] for p in passages))
                        grades = qrels[number]
                        scores[f"{backend} {mode}"].append((ndcg10(ranked, grades), recall100(ranked, grades)))

    print(f"\n{len(queries)} Cranfield queries, {len(texts)} documents")
    print("| ranking | nDCG@10 | recall@100 |")
    print("|---|---|---|")
    for name, values in scores.items():
        ndcg, recall = (sum(v[i] for v in values) / len(values) for i in (0, 1))
        print(f"| {name} | {ndcg:.3f} | {recall:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--queries", type=int, default=225)
    parser.add_argument("--stores", default=",".join(BACKENDS), help="comma-separated: " + ", ".join(BACKENDS))
    args = parser.parse_args()
    anyio.run(run, args.data, args.queries, [s for s in args.stores.split(",") if s])


if __name__ == "__main__":
    main()

"""Chroma, embedded (a folder) or as its own server (`chroma run`), through its official client.

Chroma keeps sparse (BM25) indexes only in its hosted distributed edition; the embedded engine and
the single-node server refuse them ("Sparse vector indexing is not enabled in local"). Keyword
search here is therefore BM25 computed by toolpark over the chunks Chroma's full-text filter
(`where_document` regular expressions, one per query word) selects, with document frequencies
counted from those selections. Range filters compare numbers only (Chroma's `$gt`... take no strings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from toolpark.contract.errors import ToolError
from toolpark.mcp_servers.retrieval.filters import Condition
from toolpark.mcp_servers.retrieval.stores import terms
from toolpark.mcp_servers.retrieval.stores.catalogued import ChunkRecord, Found, Record

__all__ = ["ChromaEngine"]

CATALOG = "toolpark_catalog"
PER_WORD = 500  # chunks one query word selects for keyword ranking, at most
_OPS = {"gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}


def compile_filters(filters: list[Condition]) -> dict[str, Any] | None:
    """A Chroma `where` clause over the chunks' `meta.<field>` metadata."""
    parts: list[dict[str, Any]] = []
    for condition in filters:
        key, value = f"meta.{condition.field}", condition.value
        if isinstance(value, list):
            parts.append({key: {"$in": value}})
        elif condition.op == "eq":
            parts.append({key: {"$eq": value}})
        elif isinstance(value, str | bool):
            raise ToolError(
                f"Filter {condition.field} {condition.op} {value!r}: Chroma compares only numbers in range filters "
                "(store dates as numbers, e.g. 20240131)."
            )
        else:
            parts.append({key: {_OPS[condition.op]: value}})
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _found(chunk_id: str, text: str | None, metadata: Any, score: float) -> Found:
    payload = {k: metadata.get(k) for k in ("document_id", "generation", "position", "page", "char_start", "char_end")}
    return Found(int(chunk_id), text or "", payload, score)


class ChromaEngine:
    name = "chroma"

    def __init__(self, location: str, api_key: str | None = None) -> None:
        """`location`: a Chroma server's http(s) URL, or the folder of an embedded Chroma."""
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        if location.startswith(("http://", "https://")):
            parts = urlsplit(location)
            headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
            self.client: Any = chromadb.HttpClient(
                host=parts.hostname or "localhost", port=parts.port or 8000, ssl=parts.scheme == "https",
                headers=headers, settings=settings,
            )  # fmt: skip
        else:
            self.client = chromadb.PersistentClient(path=location, settings=settings)
        self.catalog = self.client.get_or_create_collection(CATALOG, embedding_function=None)
        self.batch = min(self.client.get_max_batch_size(), 1000)

    def _space(self, space: str) -> Any:
        return self.client.get_collection(space, embedding_function=None)

    def put(self, record: Record) -> None:
        meta = {"kind": record.kind, "key": record.key, "body": json.dumps(record.body)}
        self.catalog.upsert(ids=[str(record.id)], embeddings=[[1.0, 0.0]], metadatas=[meta])

    def _records(self, got: Any) -> list[Record]:
        return [
            Record(int(i), m["kind"], m["key"], json.loads(m["body"]))
            for i, m in zip(got["ids"], got["metadatas"], strict=True)
        ]

    def get(self, ids: Sequence[int]) -> list[Record]:
        if not ids:
            return []
        return self._records(self.catalog.get(ids=[str(i) for i in ids], include=["metadatas"]))

    def find(self, kind: str, keys: Sequence[str] | None, limit: int) -> list[Record]:
        where: dict[str, Any] = {"kind": kind}
        if keys is not None:
            where = {"$and": [where, {"key": {"$in": list(keys)}}]}
        return self._records(self.catalog.get(where=where, limit=limit, include=["metadatas"]))

    def remove(self, record_id: int) -> None:
        self.catalog.delete(ids=[str(record_id)])

    def drop_space(self, space: str) -> None:
        self.client.delete_collection(space)

    def create_space(self, space: str, dimension: int, language: str) -> None:
        self.client.get_or_create_collection(
            space, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )

    def add(self, space: str, chunks: Sequence[ChunkRecord], language: str) -> None:
        target = self._space(space)
        for start in range(0, len(chunks), self.batch):
            batch = chunks[start : start + self.batch]
            target.add(
                ids=[str(c.id) for c in batch],
                embeddings=[list(c.vector) for c in batch],
                documents=[c.text for c in batch],
                metadatas=[
                    {
                        **{k: v for k, v in c.payload().items() if v is not None},
                        **{f"meta.{k}": v for k, v in c.meta.items()},
                    }
                    for c in batch
                ],
            )

    def drop(self, space: str, document_id: int, keep: int | None) -> None:
        where: dict[str, Any] = {"document_id": document_id}
        if keep is not None:
            where = {"$and": [where, {"generation": {"$ne": keep}}]}
        self._space(space).delete(where=where)

    def chunks_of(self, space: str, document_id: int, generation: int) -> list[Found]:
        where = {"$and": [{"document_id": document_id}, {"generation": generation}]}
        got = self._space(space).get(where=where, include=["documents", "metadatas"])
        return [_found(*row, 0.0) for row in zip(got["ids"], got["documents"], got["metadatas"], strict=True)]

    def nearest(self, space: str, vector: Sequence[float], k: int, filters: list[Condition]) -> list[Found]:
        target = self._space(space)
        got = target.query(
            query_embeddings=[list(vector)], n_results=k, where=compile_filters(filters),
            include=["documents", "metadatas", "distances"],
        )  # fmt: skip
        rows = zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0], strict=True)
        return [_found(i, text, meta, 1.0 - distance) for i, text, meta, distance in rows]

    def matching(self, space: str, query: str, language: str, k: int, filters: list[Condition]) -> list[Found]:
        target = self._space(space)
        where = compile_filters(filters)
        selected: dict[str, tuple[str, Any]] = {}
        containing: dict[str, int] = {}
        for word in sorted(set(terms.words(query)))[:16]:
            pattern = r"(?i)\b" + re.escape(word) + r"\b"
            got = target.get(
                where=where, where_document={"$regex": pattern}, limit=PER_WORD, include=["documents", "metadatas"]
            )
            for term in terms.terms(word, language):
                containing[term] = containing.get(term, 0) + len(got["ids"])
            selected.update(zip(got["ids"], zip(got["documents"], got["metadatas"], strict=True), strict=True))
        if not selected:
            return []
        ids = list(selected)
        scores = terms.rank(query, [selected[i][0] for i in ids], language, target.count(), containing)
        ranked = sorted(zip(ids, scores, strict=True), key=lambda pair: -pair[1])[:k]
        return [_found(i, *selected[i], score) for i, score in ranked]

    def close(self) -> None:
        """The client holds no process; its folder closes with it."""

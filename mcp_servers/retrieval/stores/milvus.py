"""Milvus, as a server (`store_url`, e.g. http://milvus:19530) or Milvus Lite (a file), through pymilvus.

Keyword search is Milvus's own full-text search: a BM25 function turns each chunk's analysed text into
a sparse vector and Milvus ranks by BM25. The analyser stems for the collection's language on a Milvus
server; Milvus Lite 3 (a Python engine over FAISS, not the Milvus server) only lower-cases and splits
words. Range filters compare numbers and strings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pymilvus import DataType, Function, FunctionType, MilvusClient

from toolpark.mcp_servers.retrieval.filters import Condition
from toolpark.mcp_servers.retrieval.stores.catalogued import ChunkRecord, Found, Record

__all__ = ["MilvusEngine"]

CATALOG = "toolpark_catalog"
BATCH = 256
MAX_QUERY = 16_384  # Milvus's largest query window
_PAYLOAD = ["document_id", "generation", "position", "page", "char_start", "char_end", "text"]
_OPS = {"eq": "==", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_STEMMED = ("english", "german", "french", "spanish", "dutch")


def literal(value: Any) -> str:
    """A value as a Milvus expression literal (strings JSON-quoted, which Milvus reads)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


def compile_filters(filters: list[Condition], *must: str) -> str:
    """A Milvus boolean expression over the chunks' `meta` JSON, with `must` clauses added."""
    parts = list(must)
    for condition in filters:
        key = f'meta["{condition.field}"]'  # the field's pattern admits no quote
        if isinstance(condition.value, list):  # Milvus Lite takes no `in` on JSON keys
            parts.append(" or ".join(f"{key} == {literal(item)}" for item in condition.value))
        else:
            parts.append(f"{key} {_OPS[condition.op]} {literal(condition.value)}")
    return " and ".join(f"({p})" for p in parts)


def _found(hit: dict[str, Any], score: float) -> Found:
    entity = hit.get("entity", hit)
    payload = {k: entity.get(k) for k in _PAYLOAD if k != "text"}
    return Found(int(hit["id"]), entity.get("text", ""), payload, score)


class MilvusEngine:
    name = "milvus"

    def __init__(self, location: str, api_key: str | None = None) -> None:
        """`location`: a Milvus server's URL, or the file of a Milvus Lite database."""
        self.client = MilvusClient(uri=location, token=api_key or "")
        if not self.client.has_collection(CATALOG):
            schema = self.client.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs one; unused
            schema.add_field("kind", DataType.VARCHAR, max_length=32)
            schema.add_field("key", DataType.VARCHAR, max_length=512)
            schema.add_field("body", DataType.JSON)
            index = self.client.prepare_index_params()
            index.add_index("vector", index_type="AUTOINDEX", metric_type="L2")
            self.client.create_collection(CATALOG, schema=schema, index_params=index)

    def put(self, record: Record) -> None:
        row = {"id": record.id, "vector": [1.0, 0.0], "kind": record.kind, "key": record.key, "body": record.body}
        self.client.upsert(CATALOG, [row])

    def _records(self, rows: Sequence[dict[str, Any]]) -> list[Record]:
        return [Record(int(r["id"]), r["kind"], r["key"], r["body"]) for r in rows]

    def get(self, ids: Sequence[int]) -> list[Record]:
        return (
            self._records(self.client.get(CATALOG, ids=list(ids), output_fields=["kind", "key", "body"])) if ids else []
        )

    def find(self, kind: str, keys: Sequence[str] | None, limit: int) -> list[Record]:
        where = f"kind == {literal(kind)}" + (f" and key in {literal(list(keys))}" if keys is not None else "")
        rows = self.client.query(
            CATALOG, filter=where, output_fields=["kind", "key", "body"], limit=min(limit, MAX_QUERY)
        )
        return self._records(rows)

    def remove(self, record_id: int) -> None:
        self.client.delete(CATALOG, ids=[record_id])

    def drop_space(self, space: str) -> None:
        self.client.drop_collection(space)

    def create_space(self, space: str, dimension: int, language: str) -> None:
        if self.client.has_collection(space):
            return
        analyzer: dict[str, Any] = {"tokenizer": "standard", "filter": ["lowercase"]}
        if language in _STEMMED:
            analyzer["filter"].append({"type": "stemmer", "language": language})
        schema = self.client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_field("text", DataType.VARCHAR, max_length=65_535, enable_analyzer=True, analyzer_params=analyzer)
        schema.add_field("terms", DataType.SPARSE_FLOAT_VECTOR)
        for name in ("document_id", "generation", "position", "char_start", "char_end"):
            schema.add_field(name, DataType.INT64)
        schema.add_field("page", DataType.INT64, nullable=True)
        schema.add_field("meta", DataType.JSON)
        schema.add_function(
            Function(
                name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["terms"]
            )
        )
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
        index.add_index("terms", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        self.client.create_collection(space, schema=schema, index_params=index)

    def add(self, space: str, chunks: Sequence[ChunkRecord], language: str) -> None:
        for start in range(0, len(chunks), BATCH):
            rows = [
                {"id": c.id, "vector": list(c.vector), "text": c.text, "meta": c.meta, **c.payload()}
                for c in chunks[start : start + BATCH]
            ]
            self.client.insert(space, rows)

    def drop(self, space: str, document_id: int, keep: int | None) -> None:
        where = f"document_id == {document_id}" + (f" and generation != {keep}" if keep is not None else "")
        self.client.delete(space, filter=where)

    def chunks_of(self, space: str, document_id: int, generation: int) -> list[Found]:
        where = f"document_id == {document_id} and generation == {generation}"
        return [_found(r, 0.0) for r in self.client.query(space, filter=where, output_fields=_PAYLOAD, limit=MAX_QUERY)]

    def nearest(self, space: str, vector: Sequence[float], k: int, filters: list[Condition]) -> list[Found]:
        (hits,) = self.client.search(
            space, data=[list(vector)], anns_field="vector", limit=min(k, MAX_QUERY), filter=compile_filters(filters),
            output_fields=_PAYLOAD, search_params={"metric_type": "COSINE"},
        )  # fmt: skip
        return [_found(h, float(h["distance"])) for h in hits]

    def matching(self, space: str, query: str, language: str, k: int, filters: list[Condition]) -> list[Found]:
        (hits,) = self.client.search(
            space, data=[query], anns_field="terms", limit=min(k, MAX_QUERY), filter=compile_filters(filters),
            output_fields=_PAYLOAD, search_params={"metric_type": "BM25"},
        )  # fmt: skip
        # Milvus Lite reports BM25 as a negative distance; the order is best first either way.
        return [_found(h, abs(float(h["distance"]))) for h in hits]

    def close(self) -> None:
        self.client.close()

"""Qdrant, as a server (`store_url`) or in its client's local mode (a folder), through its official client.

Keyword search is Qdrant's own sparse-vector search: each chunk carries a sparse vector of its terms'
BM25 term weights (made here, `terms.sparse`), and the space applies the IDF modifier, so Qdrant
keeps the document frequencies and the query is the bag of its terms: BM25 inside Qdrant.
Range filters compare numbers only (Qdrant ranges take no strings).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qdrant_client import QdrantClient, models

from toolpark.contract.errors import ToolError
from toolpark.mcp_servers.retrieval.filters import Condition
from toolpark.mcp_servers.retrieval.stores import terms
from toolpark.mcp_servers.retrieval.stores.catalogued import ChunkRecord, Found, Record

__all__ = ["QdrantEngine"]

CATALOG = "toolpark_catalog"
BATCH = 256
DENSE, SPARSE = "dense", "terms"
_PAYLOAD = ("document_id", "generation", "position", "page", "char_start", "char_end")


def _match(key: str, value: Any) -> models.FieldCondition:
    if isinstance(value, float) and not value.is_integer():  # Qdrant matches str, int and bool exactly
        return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def compile_filters(filters: list[Condition], *must: models.Condition) -> models.Filter | None:
    """A Qdrant filter over the chunks' `meta.<field>` payload, with `must` conditions added."""
    parts: list[models.Condition] = list(must)
    for condition in filters:
        key, value = f"meta.{condition.field}", condition.value
        if isinstance(value, list):
            parts.append(models.Filter(should=[_match(key, item) for item in value]))
        elif condition.op == "eq":
            parts.append(_match(key, value))
        elif isinstance(value, str | bool):
            raise ToolError(
                f"Filter {condition.field} {condition.op} {value!r}: Qdrant compares only numbers in range filters "
                "(store dates as numbers, e.g. 20240131)."
            )
        else:
            parts.append(models.FieldCondition(key=key, range=models.Range(**{condition.op: value})))
    return models.Filter(must=parts) if parts else None


def _is(key: str, value: int | str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _found(point: Any) -> Found:
    payload = point.payload or {}
    return Found(
        int(point.id),
        payload.get("text", ""),
        {k: payload.get(k) for k in _PAYLOAD},
        float(getattr(point, "score", 0.0) or 0.0),
    )


def _record(point: Any) -> Record:
    return Record(int(point.id), point.payload["kind"], point.payload["key"], point.payload["body"])


class QdrantEngine:
    name = "qdrant"

    def __init__(self, location: str, api_key: str | None = None) -> None:
        """`location`: a Qdrant server's http(s) URL, or the folder of the client's local mode."""
        remote = location.startswith(("http://", "https://"))
        self.client = QdrantClient(url=location, api_key=api_key) if remote else QdrantClient(path=location)
        if not self.client.collection_exists(CATALOG):
            self.client.create_collection(CATALOG, vectors_config={})
            self.client.create_payload_index(CATALOG, "key", models.PayloadSchemaType.KEYWORD)

    def put(self, record: Record) -> None:
        payload = {"kind": record.kind, "key": record.key, "body": record.body}
        self.client.upsert(CATALOG, points=[models.PointStruct(id=record.id, vector={}, payload=payload)])

    def get(self, ids: Sequence[int]) -> list[Record]:
        points = self.client.retrieve(CATALOG, ids=list(ids), with_payload=True) if ids else []
        return [_record(p) for p in points]

    def find(self, kind: str, keys: Sequence[str] | None, limit: int) -> list[Record]:
        must: list[models.Condition] = [_is("kind", kind)]
        if keys is not None:
            must.append(models.FieldCondition(key="key", match=models.MatchAny(any=list(keys))))
        where = models.Filter(must=must)
        found: list[Record] = []
        offset = None
        while len(found) < limit:
            points, offset = self.client.scroll(
                CATALOG, scroll_filter=where, limit=min(1000, limit - len(found)), offset=offset, with_payload=True
            )
            found += [_record(p) for p in points]
            if offset is None:
                break
        return found

    def remove(self, record_id: int) -> None:
        self.client.delete(CATALOG, points_selector=models.PointIdsList(points=[record_id]))

    def drop_space(self, space: str) -> None:
        self.client.delete_collection(space)

    def create_space(self, space: str, dimension: int, language: str) -> None:
        if self.client.collection_exists(space):
            return
        self.client.create_collection(
            space,
            vectors_config={DENSE: models.VectorParams(size=dimension, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        self.client.create_payload_index(space, "document_id", models.PayloadSchemaType.INTEGER)

    def add(self, space: str, chunks: Sequence[ChunkRecord], language: str) -> None:
        for start in range(0, len(chunks), BATCH):
            points = []
            for c in chunks[start : start + BATCH]:
                weights = terms.sparse(c.text, language)
                vector = {
                    DENSE: list(c.vector),
                    SPARSE: models.SparseVector(indices=list(weights), values=list(weights.values())),
                }
                points.append(
                    models.PointStruct(id=c.id, vector=vector, payload={**c.payload(), "text": c.text, "meta": c.meta})
                )
            self.client.upsert(space, points=points)

    def drop(self, space: str, document_id: int, keep: int | None) -> None:
        where = models.Filter(
            must=[_is("document_id", document_id)], must_not=[_is("generation", keep)] if keep is not None else None
        )
        self.client.delete(space, points_selector=models.FilterSelector(filter=where))

    def chunks_of(self, space: str, document_id: int, generation: int) -> list[Found]:
        where = models.Filter(must=[_is("document_id", document_id), _is("generation", generation)])
        found: list[Found] = []
        offset = None
        while True:
            points, offset = self.client.scroll(
                space, scroll_filter=where, limit=1000, offset=offset, with_payload=True
            )
            found += [_found(p) for p in points]
            if offset is None:
                return found

    def nearest(self, space: str, vector: Sequence[float], k: int, filters: list[Condition]) -> list[Found]:
        got = self.client.query_points(
            space, query=list(vector), using=DENSE, limit=k, query_filter=compile_filters(filters), with_payload=True
        )
        return [_found(p) for p in got.points]

    def matching(self, space: str, query: str, language: str, k: int, filters: list[Condition]) -> list[Found]:
        wanted = sorted({terms.term_id(t) for t in terms.terms(query, language)})
        if not wanted:
            return []
        got = self.client.query_points(
            space, query=models.SparseVector(indices=wanted, values=[1.0] * len(wanted)), using=SPARSE, limit=k,
            query_filter=compile_filters(filters), with_payload=True,
        )  # fmt: skip
        return [_found(p) for p in got.points]

    def close(self) -> None:
        self.client.close()

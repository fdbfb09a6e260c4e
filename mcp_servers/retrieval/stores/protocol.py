"""What every vector store gives the retrieval tools: collections, citations, hits, and the `Store`
interface the tools call. One implementation per database (pgvector, Chroma, Qdrant, Milvus); the
tools and their guarantees (tenant namespaces, filters in every mode, citations, atomic re-ingest,
delete) do not change with the choice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from toolpark.contract.errors import ToolError
from toolpark.mcp_servers.retrieval.chunking import Chunk
from toolpark.mcp_servers.retrieval.filters import Condition

__all__ = [
    "Citation",
    "Collection",
    "CollectionInfo",
    "DocumentRow",
    "Embed",
    "Hit",
    "Mode",
    "Store",
    "StoredChunk",
    "check_filter_types",
    "checked",
    "collection_named",
    "fuse",
    "reference",
    "written_meanwhile",
]

Mode = Literal["hybrid", "vector", "keyword"]
RRF_K = 60
KeyT = TypeVar("KeyT", bound=Hashable)


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
    """A stored collection: what callers see, and its id in the store."""

    id: int
    # Where a store without tables keeps its chunks, once they moved (`reembed`); never shown to callers.
    space: str | None = Field(None, exclude=True)
    # How pgvector's index holds the vectors (`half`: halfvec, half the memory); never shown to callers.
    index_precision: Literal["full", "half"] = Field("full", exclude=True)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Collection:
        """From `id, name, namespace, embedding_model, dimension, language, description, index_precision`."""
        names = ("id", "name", "namespace", "embedding_model", "dimension", "language", "description")
        return cls(**dict(zip(names, row[:7], strict=True)), index_precision=row[7])

    @property
    def vector_type(self) -> str:
        # HNSW indexes vectors of up to 2,000 dimensions; half precision goes to 4,000.
        half = self.index_precision == "half" or self.dimension > 2000
        return f"halfvec({self.dimension})" if half else f"vector({self.dimension})"


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


@dataclass(frozen=True)
class DocumentRow:
    """A stored document without its text."""

    id: int
    source_uri: str
    title: str | None
    metadata: dict[str, Any]
    updated_at: datetime
    chunks: int


@dataclass(frozen=True)
class StoredChunk:
    """One chunk of a stored document, as `get_document` reassembles them."""

    id: int
    position: int
    page: int | None
    char_start: int
    char_end: int
    text: str


Embed = Callable[[list[str]], Awaitable[list[list[float]]]]
"""An embedding model: texts in, one vector each out."""


def checked(embed: Embed, dimension: int) -> Embed:
    """`embed`, refusing vectors of another size than `dimension` before a store writes them."""

    async def run(texts: list[str]) -> list[list[float]]:
        vectors = await embed(texts)
        if any(len(vector) != dimension for vector in vectors):
            raise ToolError(f"The embedding model returned vectors of another dimension than {dimension}.")
        return vectors

    return run


def written_meanwhile(collection: Collection, what: str) -> ToolError:
    """Why `reembed` changed nothing: the collection was written to while it ran."""
    return ToolError(
        f"{what} of {collection.name!r} were written while it was being embedded again; nothing changed. "
        "Run reindex again when nothing writes to it."
    )


class Store(Protocol):
    """The retrieval tools' view of a vector database. Ingest is all or nothing: a failed or
    cancelled one leaves the stored document as it was; an unchanged one (same content hash)
    writes nothing."""

    name: str

    async def ready(self) -> None:
        """Raise unless the database answers now."""
        ...

    async def create_collection(
        self, *, namespace: str, name: str, model: str, dimension: int, language: str, description: str
    ) -> Collection: ...

    async def collections(self, namespaces: Sequence[str] | None) -> list[Collection]:
        """The collections of `namespaces` (None: of every namespace, for the operator's checks)."""
        ...

    async def metadata_fields(self, namespaces: Sequence[str], limit: int = 200) -> list[str]: ...

    async def field_types(self, collection: Collection, fields: Sequence[str]) -> dict[str, set[str]]:
        """The JSON types (`number`, `string`, ...) the stored metadata holds under each field."""
        ...

    async def stored_hashes(self, collection: Collection, source_uris: Sequence[str]) -> dict[str, str]:
        """The content hashes of the stored documents from `source_uris` (those there are)."""
        ...

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
        ...

    async def search(
        self,
        collection: Collection,
        *,
        mode: Mode,
        query: str,
        vector: Sequence[float] | None,
        k: int,
        filters: list[Condition] | None,
    ) -> list[Hit]: ...

    async def document(self, collection: Collection, document_id: int) -> tuple[DocumentRow, list[StoredChunk]]: ...

    async def documents(self, collection: Collection, *, limit: int, offset: int) -> list[DocumentRow]: ...

    async def delete(self, collection: Collection, document_id: int) -> bool: ...

    async def reembed(
        self, collection: Collection, *, model: str, dimension: int, embed: Embed, progress: Callable[[int, int], None]
    ) -> int:
        """Embed every chunk again with `embed` (as ingest embeds it: headings, then text) and make
        `model` and `dimension` the collection's; searches see the old vectors until all the new are
        in. Calls `progress(done, total)` along the way; returns the chunks re-embedded."""
        ...


def reference(collection: Collection, among: Sequence[Collection], own: str) -> str:
    """How a caller names `collection` among those it may read: by its name where that is unique or
    the collection is the caller's own (a bare name means the caller's own first), else as
    `namespace/name` (a collection's name holds no slash)."""
    if collection.namespace == own or sum(c.name == collection.name for c in among) == 1:
        return collection.name
    return f"{collection.namespace}/{collection.name}"


async def collection_named(store: Store, namespaces: Sequence[str], name: str) -> Collection:
    """The collection a caller names (`reference`) among `namespaces`, the caller's own first."""
    namespace, _, bare = name.rpartition("/")
    found = [c for c in await store.collections(namespaces) if c.name == bare and namespace in ("", c.namespace)]
    if not found:
        raise ToolError(f"No collection {name!r} that you may read; list_collections shows them.")
    own = [c for c in found if c.namespace == namespaces[0]]
    if own or len(found) == 1:
        return (own or found)[0]
    named = ", ".join(f"{c.namespace}/{c.name}" for c in found)
    raise ToolError(f"Several collections you may read are named {bare!r} ({named}): name one of them so.")


async def check_filter_types(store: Store, collection: Collection, filters: list[Condition] | None) -> None:
    """A range filter on a field whose stored values are of another type is a mistake worth naming."""
    ranges = [c for c in filters or [] if c.op not in ("eq", "in")]
    if not ranges:
        return
    kinds = await store.field_types(collection, [c.field for c in ranges])
    for condition in ranges:
        wanted = "number" if isinstance(condition.value, int | float) else "string"
        held = kinds.get(condition.field, set())
        if held and wanted not in held:
            raise ToolError(
                f"Filter {condition.field} {condition.op} compares with a {wanted}, but {condition.field!r} holds "
                f"{'/'.join(sorted(held))} values in this collection."
            )


def json_type(value: Any) -> str:
    """The JSON type name of a metadata value, as PostgreSQL's jsonb_typeof names it."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "null" if value is None else "object"


def fuse(*rankings: Sequence[KeyT]) -> list[tuple[KeyT, float]]:
    """Reciprocal rank fusion of ranked lists (a search's vector and keyword lists of chunk ids, or
    several collections' results): each place adds 1 / (60 + rank), so ranks count, not scores,
    which of different searches do not compare."""
    scores: dict[KeyT, float] = {}
    for ranked in rankings:
        for rank, key in enumerate(ranked, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])

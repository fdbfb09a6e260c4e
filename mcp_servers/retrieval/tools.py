"""The `retrieval` server's tools."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

import anyio
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from toolpark import ToolContext, ToolError, paginate, text_result
from toolpark.contract.results import sources_card
from toolpark.documents.decoding import decode, is_textual
from toolpark.documents.html import convert_html
from toolpark.mcp_servers.retrieval.chunking import Chunk, approximate_tokens, chunk_pages, embedded_text
from toolpark.mcp_servers.retrieval.declaration import RetrievalSettings, State, plugin
from toolpark.mcp_servers.retrieval.embeddings import known_dimension
from toolpark.mcp_servers.retrieval.filters import Filters
from toolpark.mcp_servers.retrieval.stores.protocol import (
    Citation,
    Collection,
    CollectionInfo,
    Hit,
    StoredChunk,
    collection_named,
    fuse,
    reference,
)
from toolpark.storage.urls import read_s3_url

Ctx = ToolContext[RetrievalSettings, State]
# A name, or namespace/name where several the caller may read have it (`reference`).
CollectionName = Annotated[str, Field(min_length=1, max_length=400, description="The collection's name.")]
writable = lambda s: not s.read_only  # noqa: E731 - the `when` of the tools that write


def _rescored(hit: Hit, score: float) -> Hit:
    return replace(hit, citation=hit.citation.model_copy(update={"score": score}))


def _info(c: Collection) -> CollectionInfo:
    return CollectionInfo(**c.model_dump(exclude={"id"}))


async def _collection(ctx: Ctx, name: str, *, write: bool = False) -> Collection:
    scope = ctx.tenant
    namespaces = [scope.own, *sorted((scope.writable if write else scope.readable) - {scope.own})]
    found = await collection_named(ctx.state.store, namespaces, name)
    if found.embedding_model != ctx.state.embedder.model:
        raise ToolError(
            f"Collection {name!r} was embedded with {found.embedding_model!r}, but this server embeds with "
            f"{ctx.state.embedder.model!r}; searching it would compare unlike vectors. The operator can embed "
            f"it again with this model: toolpark reindex {found.name} --namespace {found.namespace}"
        )
    return found


class Collections(BaseModel):
    collections: list[CollectionInfo]


@plugin.tool(read_only=True, idempotent=True)
async def list_collections(ctx: Ctx) -> Collections:
    """The collections you may search: your own and the shared ones your roles open."""
    found = await ctx.state.store.collections(sorted(ctx.tenant.readable))
    return Collections(collections=[_info(c) for c in found])


@plugin.tool(destructive=False, when=writable)
async def create_collection(
    ctx: Ctx,
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")],
    description: Annotated[str, Field(max_length=1000)] = "",
    language: Annotated[str | None, Field(description="Full-text language: english, german, simple, ...")] = None,
    namespace: Annotated[str | None, Field(description="A shared namespace you may write; default your own.")] = None,
) -> CollectionInfo:
    """Create a collection for documents, embedded with this server's model."""
    embedder = ctx.state.embedder
    dimension = await known_dimension(embedder)
    created = await ctx.state.store.create_collection(
        namespace=ctx.tenant.write(namespace), name=name, model=embedder.model, dimension=dimension,
        language=language or ctx.settings.language, description=description,
    )  # fmt: skip
    await ctx.tools_changed()  # the tools' `collection` enum now offers it
    return _info(created)


class Ingested(BaseModel):
    document_id: int
    source_uri: str
    status: Literal["created", "replaced", "unchanged"]
    chunks: int


# The fields of a document, as `ingest` takes them one by one and `ingest_documents` in a list.
Text = Annotated[str | None, Field(description="Plain text or markdown to add.")]
Url = Annotated[str | None, Field(description="An http(s) URL, or s3://bucket/key where enabled.")]
DataBase64 = Annotated[str | None, Field(description="A file's bytes (PDF, HTML, text), base64-encoded.")]
ContentType = Annotated[str | None, Field(description="The file's type, e.g. application/pdf.")]
SourceUri = Annotated[str | None, Field(max_length=2048, description="Identity of the document; default url.")]
Title = Annotated[str | None, Field(max_length=1000)]
Metadata = Annotated[dict[str, Any] | None, Field(description="Filterable fields, e.g. {year: 2024}.")]


class Document(BaseModel):
    """One document to add: exactly one of text, url or data_base64."""

    text: Text = None
    url: Url = None
    data_base64: DataBase64 = None
    content_type: ContentType = None
    source_uri: SourceUri = None
    title: Title = None
    metadata: Metadata = None


@dataclass
class _Prepared:
    """A document read and checked against the limits; `chunks` are set by `_chunk_changed` unless
    the collection holds it unchanged."""

    source: str
    document: Document
    content_hash: str
    pages: list[tuple[int | None, str]]
    chars: int
    chunks: list[Chunk] | None = None


# A large document takes minutes to parse and embed: for a client that takes tasks it becomes one.
# It stores in one transaction, so a cancelled or interrupted task leaves nothing behind.
@plugin.tool(destructive=False, idempotent=True, open_world=True, when=writable, task=True)
async def ingest(
    ctx: Ctx,
    collection: CollectionName,
    text: Text = None,
    url: Url = None,
    data_base64: DataBase64 = None,
    content_type: ContentType = None,
    source_uri: SourceUri = None,
    title: Title = None,
    metadata: Metadata = None,
) -> Ingested:
    """Add a document: chunked by its structure, embedded, stored in one transaction. Ingesting the same
    source again replaces it when its content changed and does nothing when it did not."""
    target = await _collection(ctx, collection, write=True)
    ctx.tenant.write(target.namespace)
    document = Document(text=text, url=url, data_base64=data_base64, content_type=content_type,
                        source_uri=source_uri, title=title, metadata=metadata)  # fmt: skip
    prepared = await _read(ctx, document)
    await _chunk_changed(ctx, target, [prepared])
    (vectors,) = await _embed(ctx, [prepared])
    return await _store(ctx, target, prepared, vectors)


class DocumentOutcome(BaseModel):
    source_uri: str | None
    status: Literal["created", "replaced", "unchanged", "failed"]
    document_id: int | None = None
    chunks: int = 0
    error: str | None = None


class IngestedDocuments(BaseModel):
    documents: list[DocumentOutcome]


@plugin.tool(destructive=False, idempotent=True, open_world=True, when=writable, task=True)
async def ingest_documents(
    ctx: Ctx,
    collection: CollectionName,
    documents: Annotated[list[Document], Field(min_length=1, max_length=64, description="Up to 64 documents.")],
) -> IngestedDocuments:
    """Add several documents at once (many small files: one call, and their chunks embedded together).
    Each is stored in its own transaction as ingest does; one that fails is reported and writes nothing."""
    target = await _collection(ctx, collection, write=True)
    ctx.tenant.write(target.namespace)
    outcomes: list[DocumentOutcome | None] = [None] * len(documents)
    prepared: list[tuple[int, _Prepared]] = []
    limit, held = ctx.settings.max_ingest_chars, 0  # the call's documents together, as for one document
    for n, document in enumerate(documents):
        try:
            ready = await _read(ctx, document)
            held += ready.chars
            if held > limit:
                raise ToolError(f"The documents of one call hold at most {limit} characters together; "
                                "this one is past that: send it in another call.")  # fmt: skip
        except ToolError as exc:
            outcomes[n] = _failed(document.source_uri or document.url, exc)
            continue
        prepared.append((n, ready))
    readied = [ready for _, ready in prepared]
    await _chunk_changed(ctx, target, readied)
    vectors = await _embed(ctx, readied)
    for (n, ready), own in zip(prepared, vectors, strict=True):
        try:
            done = await _store(ctx, target, ready, own)
        except ToolError as exc:
            outcomes[n] = _failed(ready.source, exc)
            continue
        outcomes[n] = DocumentOutcome(**done.model_dump())
    return IngestedDocuments(documents=[outcome for outcome in outcomes if outcome is not None])


def _failed(source: str | None, exc: ToolError) -> DocumentOutcome:
    return DocumentOutcome(source_uri=source, status="failed", error=str(exc))


async def _read(ctx: Ctx, document: Document) -> _Prepared:
    """The document's text read (fetched, parsed) and checked against the limits."""
    s = ctx.settings
    max_chars = s.max_ingest_chars
    text, url, data_base64 = document.text, document.url, document.data_base64
    if sum(source is not None for source in (text, url, data_base64)) != 1:
        raise ToolError("Give exactly one of text, url or data_base64.")
    pages: list[tuple[int | None, str]] = [(None, text or "")]
    if url is not None and url.startswith("s3://"):
        data, kind = await read_s3_url(ctx.state.storage, s, ctx.identity, url, max_chars * 4)
        pages = await _pages(ctx, data, kind, url)
    elif url is not None:
        fetched = await ctx.egress.fetch(url, max_bytes=max_chars * 4)
        if fetched.status_code >= 400:
            raise ToolError(f"Failed to fetch {url} - status code {fetched.status_code}")
        pages = await _pages(ctx, fetched.content, fetched.headers.get("content-type", ""), url)
    elif data_base64 is not None:
        if len(data_base64) > max_chars * 6:
            raise ToolError(f"The file is larger than this server's limit ({max_chars * 4} bytes).")
        try:
            data = base64.b64decode(data_base64, validate=True)
        except ValueError as exc:
            raise ToolError("data_base64 is not valid base64.") from exc
        pages = await _pages(ctx, data, document.content_type or "", document.source_uri)
    if url is not None or data_base64 is not None:
        text = "\n\n".join(body for _, body in pages)
    assert text is not None
    if len(text) > max_chars:
        raise ToolError(f"The text has {len(text)} characters, over this server's limit of {max_chars}.")
    if not text.strip():
        raise ToolError("The text is empty.")
    content_hash = hashlib.sha256(text.encode()).hexdigest()
    source = document.source_uri or url or "text:" + content_hash[:16]
    return _Prepared(source, document, content_hash, pages, len(text))


async def _chunk_changed(ctx: Ctx, target: Collection, documents: list[_Prepared]) -> None:
    """Chunk the documents the collection does not hold as they are (one lookup for all of them);
    the unchanged ones have nothing to embed again."""
    s = ctx.settings
    stored = await ctx.state.store.stored_hashes(target, [document.source for document in documents])
    for document in documents:
        if stored.get(document.source) != document.content_hash:
            document.chunks = chunk_pages(
                document.pages, max_tokens=s.chunk_tokens, overlap_tokens=min(s.chunk_overlap, s.chunk_tokens - 1)
            )


async def _embed(ctx: Ctx, documents: list[_Prepared]) -> list[list[list[float]]]:
    """Each document's chunk vectors, the chunks of all of them embedded together, with progress."""
    chunks = [chunk for document in documents for chunk in document.chunks or ()]
    await ctx.progress(0, len(chunks), f"embedding {len(chunks)} chunks")
    vectors: list[list[float]] = []
    for start in range(0, len(chunks), 256):
        batch = chunks[start : start + 256]
        vectors += await ctx.state.embedder.embed([embedded_text(c.headings, c.text) for c in batch])
        await ctx.progress(len(vectors), len(chunks), "embedding")
    split, start = [], 0
    for document in documents:
        split.append(vectors[start : start + len(document.chunks or ())])
        start += len(document.chunks or ())
    return split


async def _store(ctx: Ctx, target: Collection, prepared: _Prepared, vectors: list[list[float]]) -> Ingested:
    """Store a prepared document (in one transaction); an unchanged one only has its id looked up."""
    document = prepared.document
    document_id, status = await ctx.state.store.ingest(
        target, source_uri=prepared.source, title=document.title, content_hash=prepared.content_hash,
        metadata=document.metadata or {}, chunks=prepared.chunks or [], vectors=vectors,
    )  # fmt: skip
    chunks = 0 if prepared.chunks is None else len(prepared.chunks)
    return Ingested(document_id=document_id, source_uri=prepared.source, status=status, chunks=chunks)


async def _pages(ctx: Ctx, data: bytes, content_type: str, where: str | None) -> list[tuple[int | None, str]]:
    """A document's text: HTML by main-content extraction, PDFs page by page through the host's
    out-of-process parser, other text as it is."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/pdf" or data[:5] == b"%PDF-":
        return [(page, body) for page, body, _ in await ctx.documents.page_texts(data)]
    if kind and not is_textual(content_type):
        raise ToolError(f"{where or 'The file'} is {kind}; ingest takes text, HTML and PDF.")
    body = decode(data, content_type)
    if kind in ("text/html", "application/xhtml+xml") or "<html" in body[:200].lower():
        body = (await anyio.to_thread.run_sync(lambda: convert_html(body, url=where, fmt="markdown"))).text
    return [(None, body)]


class Passage(BaseModel):
    text: str
    citation: Citation
    collection: str


class Results(BaseModel):
    query: str
    mode: str
    passages: list[Passage]


def _within_budget(hits: list[Hit], budget: int) -> list[Hit]:
    kept: list[Hit] = []
    used = 0
    for hit in hits:
        used += approximate_tokens(hit.text)
        if kept and used > budget:
            break
        kept.append(hit)
    return kept


@plugin.tool(read_only=True, idempotent=True)
async def search(
    ctx: Ctx,
    query: Annotated[str, Field(min_length=1, max_length=2000, description="What to look for.")],
    collection: Annotated[
        str | None, Field(min_length=1, max_length=400, description="One collection; default: all you may read.")
    ] = None,
    mode: Literal["hybrid", "vector", "keyword"] = "hybrid",
    k: Annotated[int, Field(ge=1, le=1000, description="How many passages.")] = 5,
    filters: Annotated[Filters | None, Field(description="Conditions on metadata, all of which must hold.")] = None,
    max_tokens: Annotated[int | None, Field(ge=50, description="Budget for the passages' text.")] = None,
    rerank: Annotated[bool | None, Field(description="Rerank the candidates; default: when a reranker is set.")] = None,
) -> Annotated[CallToolResult, Results]:
    """Find the passages that answer a query, with citations (collection, document, page, character span),
    in one collection or in all you may read. hybrid (default) fuses vector and keyword search; filters
    apply in every mode."""
    if not query.strip():
        raise ToolError("The query is empty.")
    if k > ctx.settings.max_k:
        raise ToolError(f"k is {k}; this server returns at most {ctx.settings.max_k} passages.")
    if collection:
        targets, labels = [await _collection(ctx, collection)], [collection]
    else:
        targets, readable = await _searchable(ctx, mode)
        labels = [reference(target, readable, ctx.tenant.own) for target in targets]  # as the caller names them
    vector = (await ctx.state.embedder.embed([query]))[0] if mode != "keyword" else None
    reranker = ctx.state.reranker if rerank is not False else None
    if rerank and reranker is None:
        raise ToolError("No reranker is configured on this server; search without rerank.")
    candidates = k * 4 if reranker else k
    ranked: list[list[tuple[str, Hit]]] = [[] for _ in targets]

    async def search_one(index: int) -> None:
        found = await ctx.state.store.search(
            targets[index], mode=mode, query=query, vector=vector, k=candidates, filters=filters
        )
        ranked[index] = [(labels[index], hit) for hit in found]

    async with anyio.create_task_group() as group:  # the collections at once, as the store's pool allows
        for index in range(len(targets)):
            group.start_soon(search_one, index)
    hits = ranked[0] if len(ranked) == 1 else _fused(ranked, candidates)
    if reranker and hits:
        order = await reranker.order(query, [h.text for _, h in hits], k)
        hits = [(hits[index][0], _rescored(hits[index][1], score)) for index, score in order]
    hits = hits[: len(_within_budget([h for _, h in hits], max_tokens or ctx.settings.result_tokens))]  # a prefix
    passages = [
        Passage(
            text=h.text, citation=h.citation.model_copy(update={"score": round(h.citation.score, 6)}), collection=name
        )
        for name, h in hits
    ]
    lines = [
        f"[{n}] {p.citation.title or p.citation.source_uri}"
        + (f", page {p.citation.page}" if p.citation.page else "")
        + f" (collection {p.collection}, document {p.citation.document_id}, "
        + f"chars {p.citation.char_start}-{p.citation.char_end}):\n{p.text}"
        for n, p in enumerate(passages, start=1)
    ]
    where = repr(collection) if collection else f"the {len(targets)} collection(s) you may read"
    text = "\n\n".join(lines) if lines else f"No passages in {where} match {query!r}."
    result = text_result(text, Results(query=query, mode=mode, passages=passages))
    if ctx.identity.shows_ui and passages:
        places = {(p.citation.title or p.citation.source_uri, p.citation.source_uri, _place(p)): None for p in passages}
        result.content.append(sources_card(f"Sources for {query!r}", list(places)))
    return result


def _place(passage: Passage) -> str:
    page = f"page {passage.citation.page}, " if passage.citation.page else ""
    return f"{page}collection {passage.collection}"


async def _searchable(ctx: Ctx, mode: str) -> tuple[list[Collection], list[Collection]]:
    """Every collection the caller may read that a search in `mode` can compare against: vectors only
    of the server's own embedding model (keyword search reads any); and all the caller may read."""
    readable = await ctx.state.store.collections(sorted(ctx.tenant.readable))
    model = ctx.state.embedder.model
    found = [c for c in readable if mode == "keyword" or c.embedding_model == model]
    if not found:
        raise ToolError(
            "You have no collection to search yet: create_collection, then ingest."
            if not readable
            else f"None of your collections is embedded with this server's model {model!r}; search with mode keyword, "
            "or ask the operator to embed them again (toolpark reindex)."
        )
    return found, readable


def _fused(ranked: list[list[tuple[str, Hit]]], k: int) -> list[tuple[str, Hit]]:
    """The collections' rankings as one, by reciprocal rank, as hybrid search fuses its two."""
    places = fuse(*([(index, rank) for rank in range(len(hits))] for index, hits in enumerate(ranked)))
    return [(ranked[i][r][0], _rescored(ranked[i][r][1], score)) for (i, r), score in places[:k]]


class DocumentPage(BaseModel):
    document_id: int
    source_uri: str
    title: str | None
    metadata: dict[str, Any]
    start_index: int
    next_index: int | None
    total_length: int


@plugin.tool(read_only=True, idempotent=True)
async def get_document(
    ctx: Ctx,
    collection: CollectionName,
    document_id: int,
    start_index: Annotated[int, Field(ge=0)] = 0,
    max_length: Annotated[int, Field(ge=100, le=200_000)] = 20_000,
) -> Annotated[CallToolResult, DocumentPage]:
    """A stored document's text, a page at a time (continue at next_index)."""
    target = await _collection(ctx, collection)
    found, chunks = await ctx.state.store.document(target, document_id)
    whole = _reassemble(chunks)
    part = paginate(whole, start_index=start_index, max_length=max_length)
    meta = DocumentPage(
        document_id=document_id, source_uri=found.source_uri, title=found.title, metadata=found.metadata,
        start_index=start_index, next_index=part.next_index, total_length=part.total_length,
    )  # fmt: skip
    return text_result(part.text, meta)


def _reassemble(chunks: list[StoredChunk]) -> str:
    """The document's text from its overlapping chunks, by character offsets (per page)."""
    pieces: list[str] = []
    end, page = 0, object()
    for chunk in chunks:
        if chunk.page != page:
            end, page = 0, chunk.page
            if pieces:
                pieces.append("\n\n")
        if chunk.char_end <= end:
            continue
        skip = max(0, end - chunk.char_start)
        gap = "\n\n" if chunk.char_start > end and end else ""
        pieces.append(gap + chunk.text[skip:])
        end = chunk.char_end
    return "".join(pieces)


class DocumentList(BaseModel):
    documents: list[dict[str, Any]]


@plugin.tool(read_only=True, idempotent=True)
async def list_documents(
    ctx: Ctx,
    collection: CollectionName,
    limit: Annotated[int, Field(ge=1, le=500)] = 50,
    offset: Annotated[int, Field(ge=0)] = 0,
) -> DocumentList:
    """The documents of a collection: id, source, title, metadata, chunk count."""
    target = await _collection(ctx, collection)
    rows = await ctx.state.store.documents(target, limit=limit, offset=offset)
    return DocumentList(
        documents=[
            {"id": r.id, "source_uri": r.source_uri, "title": r.title, "metadata": r.metadata,
             "updated_at": r.updated_at.isoformat(), "chunks": r.chunks}
            for r in rows
        ]
    )  # fmt: skip


@plugin.tool(destructive=True, idempotent=True, when=writable)
async def delete_document(ctx: Ctx, collection: CollectionName, document_id: int) -> str:
    """Delete a document and its chunks from a collection you may write."""
    target = await _collection(ctx, collection, write=True)
    ctx.tenant.write(target.namespace)
    if not await ctx.state.store.delete(target, document_id):
        raise ToolError(f"No document {document_id} in collection {collection!r}.")
    return f"deleted document {document_id} from {collection}"

"""The `retrieval` server's declaration, settings and resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import anyio
from pydantic import Field, SecretStr

from toolpark import Plugin
from toolpark.clients import api_client, probe
from toolpark.contract.tenancy import TenantScope
from toolpark.mcp_servers.retrieval.embeddings import Embedder, LocalEmbedder, OpenAIEmbedder, WhileAway
from toolpark.mcp_servers.retrieval.rerank import Reranker
from toolpark.mcp_servers.retrieval.stores.opening import Backend, open_store
from toolpark.mcp_servers.retrieval.stores.protocol import Store, reference
from toolpark.storage.client import S3Client
from toolpark.storage.urls import S3Inputs, s3_inputs

__all__ = ["RetrievalSettings", "State", "plugin"]


class RetrievalSettings(S3Inputs):
    """`TOOLPARK_RETRIEVAL_*`, or `[plugins.retrieval]`. Without a URL the chosen store runs embedded."""

    call_timeout_s: float = Field(600.0, gt=0, description="Seconds a tool call may run before it is cancelled.")
    store: Backend = Field(
        "pgvector", description="The vector database: pgvector (the reference), chroma, qdrant or milvus."
    )
    store_url: str | None = Field(
        None,
        description="The store's server: a PostgreSQL URL, Chroma's http://host:8000, Qdrant's http://host:6333, "
        "Milvus's http://host:19530; none: embedded under the data folder.",
    )
    store_api_key: SecretStr | None = Field(None, description="Key for a Chroma, Qdrant or Milvus server.")
    database_url: SecretStr | None = Field(
        None, description="PostgreSQL with pgvector, for store pgvector (a secret: store_url's alternative)."
    )
    pool_size: int = Field(8, ge=1, description="Database connections kept open (calls at a time on other servers).")
    database_timeout_s: float = Field(
        10.0, gt=0, description="Seconds a call waits for a database connection before it says the database is down."
    )
    embedding_url: str | None = Field(
        None, description="OpenAI-compatible base URL (…/v1) for embeddings; none: the local MiniLM model."
    )
    embedding_model: str | None = Field(None, description="Model name sent to the embedding endpoint.")
    embedding_api_key: SecretStr | None = Field(None, description="Bearer key for the embedding endpoint.")
    embedding_truncate: bool = Field(
        False,
        description="Have the endpoint cut inputs to the model's window (vLLM's truncate_prompt_tokens), "
        "as the local model does; for vLLM, not for endpoints that refuse unknown fields.",
    )
    embedding_status_url: str | None = Field(
        None,
        description="Where to ask when an unreachable embedding endpoint is back (the GPU scheduler's /status); "
        "its answer goes into the error.",
    )
    embedding_fallback_local: bool = Field(
        False,
        description="While the embedding endpoint is unreachable, embed with the local MiniLM; only for an "
        "endpoint that serves all-MiniLM-L6-v2 (other models' vectors do not compare).",
    )
    rerank_url: str | None = Field(
        None, description="OpenAI-style rerank endpoint base URL (…/v1); none: no reranking."
    )
    rerank_model: str | None = Field(None, description="Model name sent to the rerank endpoint.")
    rerank_api_key: SecretStr | None = Field(None, description="Bearer key for the rerank endpoint.")
    language: str = Field("english", description="Default full-text language of new collections.")
    chunk_tokens: int = Field(200, ge=16, le=8192, description="Most tokens in one chunk.")
    chunk_overlap: int = Field(40, ge=0, description="Tokens of whole sentences repeated between chunks.")
    max_ingest_chars: int = Field(5_000_000, ge=1, description="Longest text one ingest takes.")
    max_k: int = Field(50, ge=1, le=1000, description="Most results one search returns.")
    result_tokens: int = Field(4000, ge=100, description="Default budget of text tokens in one search's results.")
    read_only: bool = Field(False, description="Hide the tools that write (ingest, create, delete).")


@dataclass
class State:
    store: Store
    embedder: Embedder
    storage: S3Client | None = None  # for s3:// sources
    reranker: Reranker | None = None


plugin: Plugin[RetrievalSettings, State] = Plugin(
    "retrieval",
    version="0.1.0",
    description="Searches an organisation's documents (hybrid vector and keyword search) with citations.",
    settings=RetrievalSettings,
    instructions=(
        "search finds passages with citations, in all collections you may read unless you name one; cite "
        "source_uri and page. ingest adds text or a URL (ingest_documents up to 64 at once); get_document reads a "
        "whole document."
    ),
)


@plugin.lifespan
async def open_state(settings: RetrievalSettings) -> AsyncIterator[State]:
    async with AsyncExitStack() as stack:
        url = settings.store_url
        if settings.store == "pgvector" and settings.database_url:
            url = url or settings.database_url.get_secret_value()
        key = settings.store_api_key.get_secret_value() if settings.store_api_key else None
        store = await stack.enter_async_context(
            open_store(settings.store, url, key, pool_size=settings.pool_size, timeout_s=settings.database_timeout_s)
        )
        embedder: Embedder
        if settings.embedding_url:
            client = await stack.enter_async_context(
                api_client(settings.embedding_url, settings.embedding_api_key, timeout_s=120.0)
            )
            model = settings.embedding_model or "default"
            endpoint = OpenAIEmbedder(client, model=model, truncate=settings.embedding_truncate)
            embedder = endpoint
            if settings.embedding_status_url or settings.embedding_fallback_local:
                local = settings.embedding_fallback_local
                fallback = (lambda: anyio.to_thread.run_sync(LocalEmbedder)) if local else None
                embedder = WhileAway(endpoint, fallback=fallback, status_url=settings.embedding_status_url)
        else:
            embedder = await anyio.to_thread.run_sync(LocalEmbedder)
        state = State(store, embedder, storage=await stack.enter_async_context(s3_inputs(settings)))
        if settings.rerank_url:
            reranking = await stack.enter_async_context(api_client(settings.rerank_url, settings.rerank_api_key))
            state.reranker = Reranker(reranking, model=settings.rerank_model or "default")
        yield state


@plugin.ready
async def dependencies_answer(state: State) -> None:
    """The database, and the embedding and rerank endpoints where configured. An endpoint that may
    be away on a schedule (`WhileAway`) is not asked: the server answers meanwhile."""
    if isinstance(state.embedder, OpenAIEmbedder):
        await probe(state.embedder.client, "embedding endpoint")
    if state.reranker is not None:
        await probe(state.reranker.client, "rerank endpoint")
    await state.store.ready()


@plugin.choices("collection")
async def readable_collections(state: State, tenant: TenantScope) -> list[str]:
    """The collections a caller may read, offered wherever a tool takes `collection`, as it names them."""
    found = await state.store.collections(sorted(tenant.readable))
    return [reference(c, found, tenant.own) for c in found]


@plugin.choices("filters.field")
async def metadata_fields(state: State, tenant: TenantScope) -> list[str]:
    """The metadata fields of the caller's documents, offered as the fields filters can name; with
    none, `filters` is not offered at all."""
    return await state.store.metadata_fields(sorted(tenant.readable))


@plugin.choices("rerank")
async def rerank_choices(state: State, tenant: TenantScope) -> list[bool]:
    """`rerank` is offered only where a reranker is configured: otherwise it can only be refused."""
    return [False, True] if state.reranker is not None else []

"""Opening the store one setting (`store`) chooses: pgvector (the reference), Chroma, Qdrant or
Milvus, each embedded under the data folder unless given a URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import anyio

from toolpark.mcp_servers.retrieval.stores.catalogued import CatalogStore, Engine
from toolpark.mcp_servers.retrieval.stores.pgvector import open_pgvector
from toolpark.mcp_servers.retrieval.stores.protocol import Store
from toolpark.operations.embedded import data_dir

__all__ = ["BACKENDS", "Backend", "open_store"]

Backend = Literal["pgvector", "chroma", "qdrant", "milvus"]
BACKENDS: tuple[Backend, ...] = ("pgvector", "chroma", "qdrant", "milvus")


def _engine(backend: Backend, url: str | None, api_key: str | None) -> Engine:
    """The engine of a backend other than pgvector; imported here, so each client is needed only when chosen."""
    if backend == "chroma":
        from toolpark.mcp_servers.retrieval.stores.chroma import ChromaEngine

        return ChromaEngine(url or str(data_dir("chroma")), api_key)
    if backend == "qdrant":
        from toolpark.mcp_servers.retrieval.stores.qdrant import QdrantEngine

        return QdrantEngine(url or str(data_dir("qdrant")), api_key)
    from toolpark.mcp_servers.retrieval.stores.milvus import MilvusEngine

    return MilvusEngine(url or str(data_dir("milvus") / "milvus.db"), api_key)


@asynccontextmanager
async def open_store(
    backend: Backend, url: str | None, api_key: str | None, *, pool_size: int, timeout_s: float
) -> AsyncIterator[Store]:
    """The chosen store, open for as long as the context lasts."""
    if backend == "pgvector":
        async with open_pgvector(url, pool_size=pool_size, timeout_s=timeout_s) as store:
            yield store
        return
    engine = await anyio.to_thread.run_sync(_engine, backend, url, api_key)
    try:
        # The embedded engines keep state in the process (Qdrant's local mode, Chroma's folder,
        # Milvus Lite's file) and are not made for concurrent callers: one call at a time.
        yield CatalogStore(engine, concurrency=pool_size if url else 1)
    finally:
        await anyio.to_thread.run_sync(engine.close)

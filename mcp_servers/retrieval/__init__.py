"""`retrieval`: RAG over a vector store: pgvector (the reference), Chroma, Qdrant or Milvus.

Collections per tenant namespace, structure-aware chunking, local or OpenAI-compatible embeddings,
hybrid (vector + keyword, fused by reciprocal rank) search with metadata filters and citations.

`plugin` (with its tools registered) loads on first use: `toolpark ingest`, in this package,
needs none of it to print its help.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolpark.mcp_servers.retrieval import tools
    from toolpark.mcp_servers.retrieval.declaration import plugin

__all__ = ["plugin", "tools"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    tools = import_module(f"{__name__}.tools")  # registers the tools on the plugin
    value = tools if name == "tools" else import_module(f"{__name__}.declaration").plugin
    globals()[name] = value
    return value

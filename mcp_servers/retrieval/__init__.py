"""`retrieval`: RAG over a vector store: pgvector (the reference), Chroma, Qdrant or Milvus.

Collections per tenant namespace, structure-aware chunking, local or OpenAI-compatible embeddings,
hybrid (vector + keyword, fused by reciprocal rank) search with metadata filters and citations.
"""

from toolpark.mcp_servers.retrieval import tools
from toolpark.mcp_servers.retrieval.plugin import plugin

__all__ = ["plugin", "tools"]

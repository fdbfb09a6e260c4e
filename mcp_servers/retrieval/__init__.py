"""`retrieval`: RAG over pgvector. Under construction: the schema and its migrations, and
structure-aware chunking, exist; embeddings, ingestion, search and the MCP tools do not yet,
so the plugin is not registered.
"""

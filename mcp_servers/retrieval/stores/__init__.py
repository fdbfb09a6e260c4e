"""The vector stores retrieval runs on, chosen by one setting (`store`): pgvector (the reference),
Chroma, Qdrant or Milvus, each embedded under the data folder unless given a URL.

The contract every store keeps is `protocol`; `opening` opens the chosen one.
"""

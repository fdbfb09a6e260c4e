"""Which setting of which toolpark server the stack feeds, and from what: data, not branches.

The renderer writes each entry as the server's env var (`TOOLPARK_<SERVER>_<SETTING>`); the
topology draws a link from the server to the source's service. A test checks every entry against
the server's own settings model, so renaming a setting breaks a test, not a deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["SERVICE_OF", "WIRING", "Fact", "Feed", "Source"]

Source = Literal["database", "embeddings", "vision", "s3"]
Fact = Literal[
    "url", "model", "api_key", "truncate", "access_key_id", "secret_access_key", "buckets", "region", "path_style",
    "status_url", "fallback_local",
]  # fmt: skip

SERVICE_OF: dict[Source, str] = {"database": "postgres", "embeddings": "vllm-embedding", "vision": "vllm-vision"}
"""The stack's service behind a source; S3 is outside the stack (the spec's endpoint)."""


@dataclass(frozen=True)
class Feed:
    """`server`'s setting `setting` takes `fact` of `source`."""

    server: str
    setting: str
    source: Source
    fact: Fact


def _s3_inputs(server: str) -> tuple[Feed, ...]:
    """The `s3_*` settings a server reading s3:// inputs has (`toolpark.storage.urls.S3Inputs`)."""
    facts: tuple[Fact, ...] = ("url", "access_key_id", "secret_access_key", "buckets")
    return tuple(Feed(server, f"s3_{'endpoint_url' if f == 'url' else f}", "s3", f) for f in facts)


WIRING: tuple[Feed, ...] = (
    Feed("retrieval", "database_url", "database", "url"),
    Feed("retrieval", "embedding_url", "embeddings", "url"),
    Feed("retrieval", "embedding_model", "embeddings", "model"),
    Feed("retrieval", "embedding_api_key", "embeddings", "api_key"),
    # vLLM refuses, rather than cuts, inputs over the model's window.
    Feed("retrieval", "embedding_truncate", "embeddings", "truncate"),
    # Where the embedding model's node is scheduled: when it is back, and what stands in meanwhile.
    Feed("retrieval", "embedding_status_url", "embeddings", "status_url"),
    Feed("retrieval", "embedding_fallback_local", "embeddings", "fallback_local"),
    *_s3_inputs("retrieval"),
    Feed("extract", "vision_url", "vision", "url"),
    Feed("extract", "vision_model", "vision", "model"),
    Feed("extract", "vision_api_key", "vision", "api_key"),
    *_s3_inputs("extract"),
    Feed("s3", "endpoint_url", "s3", "url"),
    Feed("s3", "access_key_id", "s3", "access_key_id"),
    Feed("s3", "secret_access_key", "s3", "secret_access_key"),
    Feed("s3", "buckets", "s3", "buckets"),
    Feed("s3", "region", "s3", "region"),
    Feed("s3", "path_style", "s3", "path_style"),
)

"""Which setting of which toolpark server the stack feeds, and from what: data, not branches.

The renderer writes each entry as the server's env var (`TOOLPARK_<SERVER>_<SETTING>`); the
topology draws a link from the server to the source's service. A test checks every entry against
the server's own settings model, so renaming a setting breaks a test, not a deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from toolpark.compose.spec import Deployment

__all__ = ["ROLE_OF", "WIRING", "Fact", "Feed", "Source", "service_of"]

Source = Literal["database", "embeddings", "vision", "s3"]
Fact = Literal[
    "url", "model", "api_key", "truncate", "access_key_id", "secret_access_key", "buckets", "user_roots",
    "owner_tags", "region", "path_style", "status_url", "fallback_local",
]  # fmt: skip

ROLE_OF: dict[Source, str] = {"embeddings": "embedding", "vision": "vision"}


def service_of(spec: Deployment, source: Source) -> str | None:
    """The stack's service behind a source; none for S3 and models outside the stack."""
    if source == "database":
        return "postgres"
    return spec.models.service(ROLE_OF[source]) if source in ROLE_OF else None


@dataclass(frozen=True)
class Feed:
    """`server`'s setting `setting` takes `fact` of `source`."""

    server: str
    setting: str
    source: Source
    fact: Fact


def _s3_inputs(server: str) -> tuple[Feed, ...]:
    """The `s3_*` settings a server reading s3:// inputs has (`toolpark.storage.urls.S3Inputs`)."""
    facts: tuple[Fact, ...] = ("url", "access_key_id", "secret_access_key", "buckets", "user_roots", "owner_tags")
    return tuple(Feed(server, f"s3_{'endpoint_url' if f == 'url' else f}", "s3", f) for f in facts)


WIRING: tuple[Feed, ...] = (
    Feed("retrieval", "database_url", "database", "url"),
    Feed("retrieval", "embedding_url", "embeddings", "url"),
    Feed("retrieval", "embedding_model", "embeddings", "model"),
    Feed("retrieval", "embedding_api_key", "embeddings", "api_key"),
    # vLLM refuses, rather than cuts, inputs over the model's window (unless asked).
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
    # The stack has one bucket: the tools use it when the model names none (it named none, and was
    # told to call list_buckets first).
    Feed("s3", "single_bucket", "s3", "buckets"),
    Feed("s3", "user_roots", "s3", "user_roots"),
    Feed("s3", "owner_tags", "s3", "owner_tags"),
    Feed("s3", "region", "s3", "region"),
    Feed("s3", "path_style", "s3", "path_style"),
)

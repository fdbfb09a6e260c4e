"""The `s3` server's declaration, settings and connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio
import boto3
from botocore.config import Config
from pydantic import Field, SecretStr

from core import Plugin, PluginSettings
from core.embedded import data_dir, seaweedfs
from core.settings import CommaList
from mcp_servers.extract.workers import LazyPool

__all__ = ["S3Settings", "State", "make_client", "plugin"]


class S3Settings(PluginSettings):
    """`TOOLPARK_S3_*`, or `[plugins.s3]`. Without `endpoint_url` an embedded SeaweedFS serves."""

    endpoint_url: str | None = Field(None, description="S3 endpoint; none: start the embedded SeaweedFS.")
    region: str = Field("us-east-1", description="Region name sent to the endpoint.")
    access_key_id: str | None = Field(None, description="Access key; none: the standard AWS credential chain.")
    secret_access_key: SecretStr | None = Field(None, description="Secret key matching access_key_id.")
    path_style: bool = Field(True, description="Path-style addressing (most S3-compatible stores need it).")
    buckets: CommaList = Field(
        default_factory=list,
        description="Allowed `bucket` or `bucket/prefix` entries, comma-separated; empty: every bucket.",
    )
    single_bucket: str | None = Field(None, description="The one bucket tools use when none is named.")
    writes_enabled: bool = Field(False, description="Offer put_object, delete_object, copy_object and PUT presigning.")
    user_root: str | None = Field(
        "users/", description="Keys under this prefix belong to users: each may use only <user_root><subject>/."
    )
    max_read_bytes: int = Field(1_000_000, ge=1, description="Most bytes one read returns.")
    max_document_bytes: int = Field(50_000_000, ge=1, description="Largest object read_document parses.")
    max_keys: int = Field(1000, ge=1, le=1000, description="Most keys one listing returns.")
    max_scanned_keys: int = Field(100_000, ge=1, description="Most keys search_keys looks at.")
    max_image_pixels: int = Field(100_000_000, ge=1, description="Largest image decoded.")
    max_output_pixels: int = Field(2_000_000, ge=10_000, description="Images are scaled down to this many pixels.")
    presign_max_s: int = Field(3600, ge=1, le=604800, description="Longest lifetime of a presigned URL, in seconds.")
    parallel_requests: int = Field(8, ge=1, description="S3 requests in flight at once.")


@dataclass
class State:
    client: Any  # a boto3 S3 client; boto3 ships no types
    endpoint: str
    limiter: anyio.CapacityLimiter
    # The extract server's parser, started on the first document: parsing stays out of process.
    parsers: LazyPool = field(default_factory=LazyPool)

    async def call(self, method: str, **arguments: Any) -> Any:
        """One boto3 call in a worker thread, at most `parallel_requests` at once."""
        async with self.limiter:
            return await anyio.to_thread.run_sync(lambda: getattr(self.client, method)(**arguments))


plugin: Plugin[S3Settings, State] = Plugin(
    "s3",
    version="0.1.0",
    description="Browses and reads files in S3-compatible object storage, within allowed buckets and prefixes.",
    settings=S3Settings,
    instructions=(
        "list_objects browses (use delimiter '/' for folders); read_object reads text or images in ranges; "
        "read_document extracts text from PDFs and images; presign gives a download link."
    ),
)


def make_client(settings: S3Settings, endpoint: str | None, key: str | None, secret: str | None) -> Any:
    config = Config(
        s3={"addressing_style": "path" if settings.path_style else "auto"},
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=settings.parallel_requests,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=settings.region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=config,
    )


@plugin.lifespan
async def connect(settings: S3Settings) -> AsyncIterator[State]:
    with ExitStack() as stack:
        if settings.endpoint_url:
            secret = settings.secret_access_key.get_secret_value() if settings.secret_access_key else None
            endpoint = settings.endpoint_url
            client = make_client(settings, endpoint, settings.access_key_id, secret)
        else:
            service = await anyio.to_thread.run_sync(lambda: stack.enter_context(seaweedfs(data_dir("s3"))))
            endpoint = service.endpoint_url
            client = make_client(settings, endpoint, service.access_key_id, service.secret_access_key)
        state = State(client, endpoint, anyio.CapacityLimiter(settings.parallel_requests))
        try:
            yield state
        finally:
            state.parsers.close()

"""`s3://bucket/key` inputs for any server (extract and retrieval read documents from them), under
the same allowlist form and per-user folders as the s3 server's tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import Field, SecretStr

from toolpark.contract.errors import ToolError
from toolpark.contract.identity import Identity
from toolpark.contract.settings import CommaList, PluginSettings
from toolpark.storage.client import S3Client
from toolpark.storage.owners import check_owner
from toolpark.storage.policy import Access

__all__ = ["S3Inputs", "read_s3_url", "s3_inputs"]


class S3Inputs(PluginSettings):
    """Settings a server gains to read s3:// inputs (`TOOLPARK_<SERVER>_S3_*`)."""

    s3_endpoint_url: str | None = Field(None, description="S3 endpoint that s3:// inputs are read from; none: off.")
    s3_access_key_id: str | None = Field(None, description="Access key for s3:// inputs.")
    s3_secret_access_key: SecretStr | None = Field(None, description="Secret key for s3:// inputs.")
    s3_buckets: CommaList = Field(
        default_factory=list,
        description="Allowed bucket or bucket/folder entries for s3:// inputs (as TOOLPARK_S3_BUCKETS); empty: all.",
    )
    s3_user_roots: CommaList = Field(
        default_factory=lambda: ["users/"],
        description="Folders of one folder per user for s3:// inputs (as TOOLPARK_S3_USER_ROOTS); empty: none.",
    )
    s3_owner_tags: CommaList = Field(
        default_factory=list, description="Owner-tagged folders for s3:// inputs (as TOOLPARK_S3_OWNER_TAGS)."
    )


@asynccontextmanager
async def s3_inputs(settings: S3Inputs) -> AsyncIterator[S3Client | None]:
    """A client for s3:// inputs while the server runs, when an endpoint is configured."""
    if not settings.s3_endpoint_url:
        yield None
        return
    secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None
    async with S3Client(
        settings.s3_endpoint_url, access_key_id=settings.s3_access_key_id, secret_access_key=secret, parallel_requests=4
    ) as client:
        yield client


async def read_s3_url(
    client: S3Client | None, settings: S3Inputs, identity: Identity, url: str, max_bytes: int
) -> tuple[bytes, str]:
    """The object's bytes and content type, or a ToolError saying why not."""
    if client is None:
        raise ToolError("s3:// inputs are not enabled on this server (its S3_ENDPOINT_URL setting).")
    bucket, _, key = url.removeprefix("s3://").partition("/")
    rules = Access(
        tuple(settings.s3_buckets), None, tuple(settings.s3_user_roots), identity, tuple(settings.s3_owner_tags)
    )
    name = rules.bucket(bucket)
    key = rules.key(name, key)
    await check_owner(client, rules, name, key)
    head = await client.head(name, key)
    if head.size > max_bytes:
        raise ToolError(f"{url} is larger than this server's limit of {max_bytes} bytes.")
    data, found = await client.get(name, key)
    return data, str(found.get("ContentType") or "")

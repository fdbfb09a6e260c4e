"""Reading `s3://bucket/key` inputs from other servers (extract, retrieval) with the s3 server's
client and rules: the same allowlist form and the same per-user folders."""

from __future__ import annotations

import anyio
from pydantic import Field, SecretStr

from core import PluginSettings
from core.errors import ToolError
from core.identity import Identity
from core.settings import CommaList
from mcp_servers.s3.plugin import S3Settings, State, make_client
from mcp_servers.s3.policy import Access
from mcp_servers.s3.store import s3

__all__ = ["S3Inputs", "read_s3_url", "s3_inputs"]


class S3Inputs(PluginSettings):
    """Settings a server gains to read s3:// inputs (`TOOLPARK_<SERVER>_S3_*`)."""

    s3_endpoint_url: str | None = Field(None, description="S3 endpoint that s3:// inputs are read from; none: off.")
    s3_access_key_id: str | None = Field(None, description="Access key for s3:// inputs.")
    s3_secret_access_key: SecretStr | None = Field(None, description="Secret key for s3:// inputs.")
    s3_buckets: CommaList = Field(
        default_factory=list, description="Allowed bucket or bucket/prefix entries for s3:// inputs; empty: all."
    )


def s3_inputs(settings: S3Inputs) -> State | None:
    """The s3 server's client and call wrapper for s3:// inputs, when an endpoint is configured."""
    if not settings.s3_endpoint_url:
        return None
    config = S3Settings.model_construct(path_style=True, region="us-east-1", parallel_requests=4)
    secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None
    client = make_client(config, settings.s3_endpoint_url, settings.s3_access_key_id, secret)
    return State(client, settings.s3_endpoint_url, anyio.CapacityLimiter(4))


async def read_s3_url(
    storage: State | None, settings: S3Inputs, identity: Identity, url: str, max_bytes: int
) -> tuple[bytes, str]:
    """The object's bytes and content type, or a ToolError saying why not."""
    if storage is None:
        raise ToolError("s3:// inputs are not enabled on this server (its S3_ENDPOINT_URL setting).")
    bucket, _, key = url.removeprefix("s3://").partition("/")
    rules = Access(tuple(settings.s3_buckets), None, "users/", identity)
    name = rules.bucket(bucket)
    head = await s3(storage, "head_object", bucket=name, key=rules.key(name, key))
    if head["ContentLength"] > max_bytes:
        raise ToolError(f"{url} is larger than this server's limit of {max_bytes} bytes.")
    found = await s3(storage, "get_object", bucket=name, key=key)
    body = found["Body"]
    try:
        data: bytes = await anyio.to_thread.run_sync(body.read)
    finally:
        body.close()
    return data, str(found.get("ContentType") or "")

"""The `s3` server's declaration, settings and connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack

import anyio
from pydantic import Field, SecretStr

from toolpark import Plugin, PluginSettings
from toolpark.contract.settings import CommaList
from toolpark.operations.embedded import data_dir, seaweedfs
from toolpark.storage.client import S3Client

__all__ = ["S3Settings", "plugin"]


class S3Settings(PluginSettings):
    """`TOOLPARK_S3_*`, or `[plugins.s3]`. Without `endpoint_url` an embedded SeaweedFS serves."""

    endpoint_url: str | None = Field(None, description="S3 endpoint; none: start the embedded SeaweedFS.")
    region: str = Field("us-east-1", description="Region name sent to the endpoint.")
    access_key_id: str | None = Field(None, description="Access key; none: the standard AWS credential chain.")
    secret_access_key: SecretStr | None = Field(None, description="Secret key matching access_key_id.")
    path_style: bool = Field(True, description="Path-style addressing (most S3-compatible stores need it).")
    buckets: CommaList = Field(
        default_factory=list,
        description="Allowed `bucket` or `bucket/folder` entries, comma-separated (a folder ends at `/`; "
        "`bucket/prefix*` allows a raw prefix); empty: every bucket.",
    )
    single_bucket: str | None = Field(None, description="The one bucket tools use when none is named.")
    writes_enabled: bool = Field(False, description="Offer put_object, delete_object, copy_object and PUT presigning.")
    user_roots: CommaList = Field(
        default_factory=lambda: ["users/"],
        description="Folders of one folder per user, comma-separated: in each, a caller may use only "
        "<root><its subject>/ (LibreChat's uploads: images/, uploads/); empty: none.",
    )
    owner_tags: CommaList = Field(
        default_factory=list,
        description="Owner-tagged folders as folder=Tag-Key, comma-separated: an object there is readable by the "
        "caller its tag names, by no one else, and no tool writes there (Open WebUI's uploads: "
        "openwebui/=OpenWebUI-User-Id).",
    )
    max_read_bytes: int = Field(1_000_000, ge=1, description="Most bytes one read returns.")
    max_document_bytes: int = Field(50_000_000, ge=1, description="Largest object read_document parses.")
    max_keys: int = Field(1000, ge=1, le=1000, description="Most keys one listing returns.")
    max_scanned_keys: int = Field(100_000, ge=1, description="Most keys search_keys looks at.")
    max_output_pixels: int = Field(2_000_000, ge=10_000, description="Images are scaled down to this many pixels.")
    presign_max_s: int = Field(3600, ge=1, le=604800, description="Longest lifetime of a presigned URL, in seconds.")
    parallel_requests: int = Field(8, ge=1, description="S3 requests in flight at once.")


plugin: Plugin[S3Settings, S3Client] = Plugin(
    "s3",
    version="0.1.0",
    description="Browses and reads files in S3-compatible object storage, within allowed buckets and prefixes.",
    settings=S3Settings,
    instructions=(
        "list_objects browses (use delimiter '/' for folders); read_object reads text or images in ranges; "
        "read_document extracts text from PDFs and images; presign gives a download link."
    ),
)


@plugin.lifespan
async def open_state(settings: S3Settings) -> AsyncIterator[S3Client]:
    """The configured endpoint's client, or an embedded SeaweedFS's, stopped with the server."""
    with ExitStack() as stack:
        if settings.endpoint_url:
            secret = settings.secret_access_key.get_secret_value() if settings.secret_access_key else None
            endpoint, key = settings.endpoint_url, settings.access_key_id
        else:
            service = await anyio.to_thread.run_sync(lambda: stack.enter_context(seaweedfs(data_dir("s3"))))
            endpoint, key, secret = service.endpoint_url, service.access_key_id, service.secret_access_key
        async with S3Client(
            endpoint, region=settings.region, access_key_id=key, secret_access_key=secret,
            path_style=settings.path_style, parallel_requests=settings.parallel_requests,
        ) as client:  # fmt: skip
            yield client


@plugin.ready
async def store_answers(client: S3Client) -> None:
    await client.ping()

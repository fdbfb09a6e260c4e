"""An S3 client for servers: boto3 calls in worker threads behind a limiter, with every failure
turned into a message a model can act on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ConnectTimeoutError, ReadTimeoutError

from toolpark.contract.errors import ToolError

__all__ = ["ObjectHead", "S3Client"]

_UNREACHABLE = (ConnectionError, ConnectTimeoutError, ReadTimeoutError)
T = TypeVar("T")


@dataclass(frozen=True)
class ObjectHead:
    """What `head` knows of an object."""

    size: int
    content_type: str | None
    modified: Any
    etag: str | None
    metadata: dict[str, str]


class S3Client:
    """One S3 endpoint. `parallel_requests` bounds the calls in flight (and boto3's connection pool)."""

    def __init__(
        self,
        endpoint: str | None,
        *,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        path_style: bool = True,
        parallel_requests: int = 8,
    ) -> None:
        config = Config(
            s3={"addressing_style": "path" if path_style else "auto"},
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=parallel_requests,
        )
        self.endpoint = endpoint or "AWS"
        self.boto: Any = boto3.client(  # boto3 ships no types
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )
        self._limiter = anyio.CapacityLimiter(parallel_requests)

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` (blocking boto3 code) in a worker thread, within the limit of calls in flight."""
        async with self._limiter:
            return await anyio.to_thread.run_sync(work)

    async def ping(self, timeout_s: float = 4.0) -> None:
        """Raise when the store does not answer a listing within `timeout_s` (for readiness probes).

        The thread is abandoned on timeout, so a frozen store cannot hold the probe; the request
        runs beside the limiter, so a busy server still reports itself ready."""
        try:
            with anyio.fail_after(timeout_s):
                await anyio.to_thread.run_sync(lambda: self.boto.list_buckets(), abandon_on_cancel=True)
        except TimeoutError:
            raise RuntimeError(f"the object store at {self.endpoint} did not answer within {timeout_s:g} s") from None
        except (BotoCoreError, ClientError) as exc:
            raise RuntimeError(f"the object store at {self.endpoint} is unavailable ({type(exc).__name__})") from exc

    async def call(self, method: str, *, bucket: str | None = None, key: str | None = None, **arguments: Any) -> Any:
        """`boto.<method>(Bucket=bucket, Key=key, ...)`, or a ToolError saying what went wrong."""
        if bucket is not None:
            arguments["Bucket"] = bucket
        if key is not None:
            arguments["Key"] = key
        try:
            return await self.run(lambda: getattr(self.boto, method)(**arguments))
        except ClientError as exc:
            raise _refusal(exc, method, bucket, key) from exc
        except _UNREACHABLE as exc:
            raise ToolError(
                f"The S3 endpoint {self.endpoint} is unreachable ({type(exc).__name__}); try again later."
            ) from exc
        except BotoCoreError as exc:
            raise ToolError(f"The S3 request failed: {type(exc).__name__}.") from exc

    async def head(self, bucket: str, key: str) -> ObjectHead:
        found = await self.call("head_object", bucket=bucket, key=key)
        return ObjectHead(
            size=int(found.get("ContentLength", 0)),
            content_type=found.get("ContentType"),
            modified=found.get("LastModified"),
            etag=found.get("ETag"),
            metadata=dict(found.get("Metadata") or {}),
        )

    async def get(self, bucket: str, key: str, **arguments: Any) -> tuple[bytes, dict[str, Any]]:
        """The object's bytes (a `Range` among `arguments` for part of it) and the response's fields."""
        found = await self.call("get_object", bucket=bucket, key=key, **arguments)
        body = found.pop("Body")
        try:
            data: bytes = await self.run(body.read)
        finally:
            body.close()
        return data, found


def _refusal(exc: ClientError, method: str, bucket: str | None, key: str | None) -> ToolError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ("NoSuchBucket",) or (status == 404 and key is None):
        return ToolError(f"No bucket named {bucket!r}; list_buckets shows the ones you may use.")
    if code in ("NoSuchKey", "404", "NotFound") or status == 404:
        return ToolError(f"No object {key!r} in bucket {bucket!r}; list_objects shows what is there.")
    if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 403:
        return ToolError(f"The S3 endpoint refused access to {bucket!r}; the server's credentials lack it.")
    if code == "InvalidRange" or status == 416:
        return ToolError("The requested start is past the end of the object.")
    return ToolError(f"S3 answered {code or status} for {method} on {bucket!r}.")

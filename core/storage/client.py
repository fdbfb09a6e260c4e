"""An S3 client for servers: boto3 calls in worker threads behind a limiter, with every failure
turned into a message a model can act on. Reads of objects and listings, on the path of most
tool calls, go through `SignedReads` on the event loop (boto3 names their URLs and credentials,
but does not send them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ConnectTimeoutError, ReadTimeoutError

from toolpark.contract.errors import ToolError
from toolpark.storage.reads import S3Failure, SignedReads, Unreachable

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
    """One S3 endpoint. `parallel_requests` bounds the calls in flight (and the connection pools).
    An async context manager: leaving it closes the connections of the signed reads."""

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
        # One session, so boto3's client and the signed reads use the same credentials (the chain's,
        # refreshed as boto3 refreshes them, when no key is given) and the same CA bundle
        # (AWS_CA_BUNDLE or the config file's ca_bundle: a private store's own CA).
        core = botocore.session.get_session()
        session = boto3.session.Session(
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=region,
            botocore_session=core,
        )  # fmt: skip
        self.boto: Any = session.client("s3", endpoint_url=endpoint, config=config)  # boto3 ships no types
        self.reads = SignedReads(
            self.boto, session.get_credentials(), connections=parallel_requests,
            ca_bundle=core.get_config_variable("ca_bundle"),
        )  # fmt: skip
        self._limiter = anyio.CapacityLimiter(parallel_requests)

    async def __aenter__(self) -> S3Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.reads.aclose()

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
        operation = getattr(self.boto, method)
        return await self._answer(lambda: anyio.to_thread.run_sync(lambda: operation(**arguments)), method, bucket, key)

    async def _answer(self, work: Callable[[], Awaitable[T]], method: str, bucket: str | None, key: str | None) -> T:
        """`await work()` within the limit of calls in flight, its failures (boto3's or the signed
        reads') as ToolErrors."""
        try:
            async with self._limiter:
                return await work()
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise _refusal(str(exc.response.get("Error", {}).get("Code", "")), status, method, bucket, key) from exc
        except S3Failure as exc:
            raise _refusal(exc.code, exc.status, method, bucket, key) from exc
        except (*_UNREACHABLE, Unreachable) as exc:
            cause = exc.args[0] if isinstance(exc, Unreachable) else type(exc).__name__
            raise ToolError(f"The S3 endpoint {self.endpoint} is unreachable ({cause}); try again later.") from exc
        except BotoCoreError as exc:
            raise ToolError(f"The S3 request failed: {type(exc).__name__}.") from exc

    async def list_objects(self, bucket: str, **arguments: Any) -> dict[str, Any]:
        """A ListObjectsV2 page (`Prefix`, `Delimiter`, `MaxKeys`, `ContinuationToken`) in boto3's shape."""
        return await self._answer(lambda: self.reads.list_objects(bucket, **arguments), "list_objects_v2", bucket, None)

    async def head(self, bucket: str, key: str) -> ObjectHead:
        found = await self.call("head_object", bucket=bucket, key=key)
        return ObjectHead(
            size=int(found.get("ContentLength", 0)),
            content_type=found.get("ContentType"),
            modified=found.get("LastModified"),
            etag=found.get("ETag"),
            metadata=dict(found.get("Metadata") or {}),
        )

    async def tags(self, bucket: str, key: str) -> dict[str, str]:
        found = await self.call("get_object_tagging", bucket=bucket, key=key)
        return {tag["Key"]: tag["Value"] for tag in found.get("TagSet", [])}

    async def get(self, bucket: str, key: str, byte_range: str | None = None) -> tuple[bytes, dict[str, Any]]:
        """The object's bytes (those of `byte_range`, an HTTP Range, when given) and the response's
        fields (ContentType, ContentLength, ContentRange, ETag)."""
        return await self._answer(lambda: self.reads.get_object(bucket, key, byte_range), "get_object", bucket, key)


def _refusal(code: str, status: int | None, method: str, bucket: str | None, key: str | None) -> ToolError:
    if code in ("NoSuchBucket",) or (status == 404 and key is None):
        return ToolError(f"No bucket named {bucket!r}; list_buckets shows the ones you may use.")
    if code in ("NoSuchKey", "404", "NotFound") or status == 404:
        return ToolError(f"No object {key!r} in bucket {bucket!r}; list_objects shows what is there.")
    if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 403:
        return ToolError(f"The S3 endpoint refused access to {bucket!r}; the server's credentials lack it.")
    if code == "InvalidRange" or status == 416:
        return ToolError("The requested start is past the end of the object.")
    return ToolError(f"S3 answered {code or status} for {method} on {bucket!r}.")

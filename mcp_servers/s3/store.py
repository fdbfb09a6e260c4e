"""S3 calls with their failures turned into messages a model can act on."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ConnectTimeoutError, ReadTimeoutError

from core.errors import ToolError
from mcp_servers.s3.plugin import State

__all__ = ["s3"]

_UNREACHABLE = (ConnectionError, ConnectTimeoutError, ReadTimeoutError)


async def s3(state: State, method: str, *, bucket: str, key: str | None = None, **arguments: Any) -> Any:
    """`client.<method>(Bucket=bucket, Key=key, ...)`, or a ToolError saying what went wrong."""
    if key is not None:
        arguments["Key"] = key
    try:
        return await state.call(method, Bucket=bucket, **arguments)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchBucket",) or (status == 404 and key is None):
            raise ToolError(f"No bucket named {bucket!r}; list_buckets shows the ones you may use.") from exc
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            raise ToolError(f"No object {key!r} in bucket {bucket!r}; list_objects shows what is there.") from exc
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 403:
            raise ToolError(f"The S3 endpoint refused access to {bucket!r}; the server's credentials lack it.") from exc
        if code == "InvalidRange" or status == 416:
            raise ToolError("The requested start is past the end of the object.") from exc
        raise ToolError(f"S3 answered {code or status} for {method} on {bucket!r}.") from exc
    except _UNREACHABLE as exc:
        raise ToolError(
            f"The S3 endpoint {state.endpoint} is unreachable ({type(exc).__name__}); try again later."
        ) from exc
    except BotoCoreError as exc:
        raise ToolError(f"The S3 request failed: {type(exc).__name__}.") from exc

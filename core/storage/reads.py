"""The two S3 requests on the path of nearly every tool call, a GET of (part of) an object and a
page of a listing, sent without boto3's per-call machinery and without a worker thread.

boto3 spends about 0.4 ms building and sending a ranged GET, and about 4.5 ms turning a 100-key
listing's XML into dicts (with a datetime per key), where the store itself answers in under 2 ms;
and a blocking client needs a worker thread, whose hand-offs and GIL contention with the event
loop cost a 64 KB read another 0.3-0.9 ms in the host; measured with `bench/s3_overhead.py`.
boto3 still decides everything that differs between stores and deployments: where a bucket's
keys live (endpoint, path or virtual-host addressing, region) comes from its presigner, once per
bucket, and the credentials from its chain; this module only builds the URL below that, signs
(botocore's SigV4, in headers) and sends on the event loop through an aiohttp pool (boto3's CA
bundle and proxies from the environment, its timeouts, one retry on connection errors and 5xx).
Failures come back as `S3Failure` with the store's error code, for the caller to word as boto3's
would be.
"""

from __future__ import annotations

import ssl
import xml.etree.ElementTree as ElementTree
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode, urlsplit, urlunsplit

import aiohttp
import anyio
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from botocore.exceptions import NoCredentialsError
from botocore.httpsession import get_cert_path
from botocore.utils import get_environ_proxies
from opentelemetry.trace import SpanKind
from yarl import URL

from toolpark.operations.traces import failed, span

__all__ = ["S3Failure", "SignedReads", "Unreachable"]

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_LISTING_PARAMETERS = {
    "Prefix": "prefix", "Delimiter": "delimiter", "MaxKeys": "max-keys",
    "ContinuationToken": "continuation-token",
}  # fmt: skip
_KNOWN_BUCKETS = 256  # bucket locations kept; past that the cache starts over (bucket names come from callers)


@dataclass
class S3Failure(Exception):
    """The store answered with an error: its code (as S3 names them) and HTTP status."""

    code: str
    status: int


class Unreachable(Exception):
    """No answer from the store: connection refused, reset, or timed out."""


@dataclass(frozen=True)
class _Location:
    """Where a bucket's keys live: scheme, host, path prefix, and the proxy boto3 would use."""

    scheme: str
    host: str
    path: str
    proxy: str | None


class SignedReads:
    """GETs signed with `credentials` for the client whose presigner names the URLs. The
    connection pool opens on first use; `aclose` closes it."""

    def __init__(
        self, boto: Any, credentials: Credentials | None, *, connections: int, ca_bundle: str | None = None
    ) -> None:
        self.boto = boto
        self.credentials = credentials
        self.connections = connections
        self.ca_bundle = ca_bundle or get_cert_path(True)  # boto3's default: certifi's bundle
        self._http: aiohttp.ClientSession | None = None
        self._locations: dict[str, _Location] = {}

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def get_object(self, bucket: str, key: str, byte_range: str | None = None) -> tuple[bytes, dict[str, Any]]:
        """The object's bytes (those of `byte_range`, an HTTP Range, when given) and its fields."""
        where = await self._location(bucket)
        url = urlunsplit((where.scheme, where.host, where.path + quote(key, safe="/~"), "", ""))  # as botocore escapes
        data, headers = await self._get("GetObject", bucket, url, where, {"Range": byte_range} if byte_range else {})
        found: dict[str, Any] = {
            "ContentType": headers.get("Content-Type"),
            "ContentLength": int(headers.get("Content-Length") or len(data)),
            "ETag": headers.get("ETag"),
        }
        if "Content-Range" in headers:
            found["ContentRange"] = headers["Content-Range"]
        return data, found

    async def list_objects(self, bucket: str, **arguments: Any) -> dict[str, Any]:
        """A ListObjectsV2 page in boto3's shape: Contents (Key, Size, LastModified, ETag),
        CommonPrefixes, IsTruncated, NextContinuationToken."""
        where = await self._location(bucket)
        query = [("list-type", "2"), *((_LISTING_PARAMETERS[k], str(v)) for k, v in arguments.items())]
        signed_query = urlencode([*query, ("encoding-type", "url")], quote_via=quote, safe="~")  # as SigV4 escapes
        url = urlunsplit((where.scheme, where.host, where.path.rstrip("/") or "/", signed_query, ""))
        data, _ = await self._get("ListObjectsV2", bucket, url, where, {})
        root = ElementTree.fromstring(data)
        page: dict[str, Any] = {
            "Contents": [
                {
                    "Key": unquote_plus(_text(item, "Key")),
                    "Size": int(_text(item, "Size") or 0),
                    "LastModified": _datetime(_text(item, "LastModified")),
                    "ETag": _text(item, "ETag"),
                }
                for item in root.iterfind(f"{_NS}Contents")
            ],
            "CommonPrefixes": [
                {"Prefix": unquote_plus(_text(item, "Prefix"))} for item in root.iterfind(f"{_NS}CommonPrefixes")
            ],
            "IsTruncated": _text(root, "IsTruncated") == "true",
        }
        if token := _text(root, "NextContinuationToken"):
            page["NextContinuationToken"] = token
        return page

    async def _location(self, bucket: str) -> _Location:
        """Where `bucket`'s keys live, read off the URL boto3 presigns for a one-letter key
        (`/bucket/k` path-style, `/k` on a virtual host); in a worker thread, as presigning may
        refresh credentials over the network."""
        if (known := self._locations.get(bucket)) is None:
            if len(self._locations) >= _KNOWN_BUCKETS:
                self._locations.clear()
            presigned = await anyio.to_thread.run_sync(
                lambda: self.boto.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
            )
            url = urlsplit(presigned)
            proxy = get_environ_proxies(f"{url.scheme}://{url.netloc}").get(url.scheme)  # as botocore picks one
            known = _Location(url.scheme, url.netloc, url.path.removesuffix("k"), proxy)
            self._locations[bucket] = known
        return known

    async def _signer(self) -> S3SigV4Auth:
        """A SigV4 signer with the current credentials; refreshing them (an STS or metadata
        request) happens in a worker thread, not on the event loop."""
        credentials = self.credentials
        if credentials is None:
            raise NoCredentialsError  # as boto3 raises it, and worded where boto3's is
        if isinstance(credentials, RefreshableCredentials) and credentials.refresh_needed():
            frozen: ReadOnlyCredentials = await anyio.to_thread.run_sync(credentials.get_frozen_credentials)
        else:
            frozen = credentials.get_frozen_credentials()
        return S3SigV4Auth(frozen, "s3", self.boto.meta.region_name)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.connections, ssl=ssl.create_default_context(cafile=self.ca_bundle)
                ),
                timeout=aiohttp.ClientTimeout(sock_connect=5, sock_read=30),
                # The bytes as stored, as boto3 returns them; no cookies kept between requests.
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._http

    async def _get(
        self, operation: str, bucket: str, url: str, where: _Location, headers: dict[str, str]
    ) -> tuple[bytes, Any]:
        """GET `url` signed in headers, traced as botocore's instrumentation traces its calls; the
        body and headers, or S3Failure."""
        request = AWSRequest("GET", url, headers=headers)
        (await self._signer()).add_auth(request)
        signed = dict(request.headers.items())
        attributes = {"rpc.system": "aws-api", "rpc.service": "S3", "rpc.method": operation, "aws.s3.bucket": bucket}
        with span(f"S3.{operation}", kind=SpanKind.CLIENT, attributes=attributes) as current:
            for attempt in (1, 2):  # as boto3's standard mode: a second try on connection errors and 5xx
                try:
                    # encoded=True: the path and query go out exactly as signed.
                    async with self._session().get(URL(url, encoded=True), headers=signed, proxy=where.proxy) as answer:
                        status, data, found = answer.status, await answer.read(), answer.headers
                except aiohttp.SocketTimeoutError as exc:  # the store took the request and went quiet: no retry
                    failed(current, type(exc).__name__)
                    raise Unreachable(type(exc).__name__) from exc
                except (aiohttp.ClientConnectionError, OSError) as exc:
                    if attempt == 1:
                        continue
                    failed(current, type(exc).__name__)
                    raise Unreachable(type(exc).__name__) from exc
                if status < 500 or attempt == 2:
                    break
            current.set_attribute("http.response.status_code", status)
            if status >= 300:
                code = ""
                with suppress(ElementTree.ParseError):  # a proxy's page, or no body: the status says enough
                    code = _text(ElementTree.fromstring(data), "Code", namespace="")
                failed(current, code or str(status))
                raise S3Failure(code or str(status), status)
            return data, found


def _text(element: ElementTree.Element, name: str, *, namespace: str = _NS) -> str:
    return element.findtext(f"{namespace}{name}") or ""


def _datetime(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None

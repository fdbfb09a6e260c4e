"""The two S3 requests on the path of nearly every tool call, a GET of (part of) an object and a
page of a listing, sent without boto3's per-call machinery.

boto3 spends about 0.4 ms building and sending a ranged GET, and about 4.5 ms turning a 100-key
listing's XML into dicts (with a datetime per key), where the store itself answers in under 2 ms;
measured with `bench/s3_overhead.py`. boto3 still decides everything that differs between stores
and deployments: where a bucket's keys live (endpoint, path or virtual-host addressing, region)
comes from its presigner, once per bucket, and the credentials from its chain; this module only
builds the URL below that, signs (botocore's SigV4, in headers), sends through a urllib3 pool and
reads the answer. Failures come back as `S3Failure` with the store's error code, for the caller
to word as boto3's would be.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode, urlsplit, urlunsplit

import urllib3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import NoCredentialsError
from botocore.httpsession import get_cert_path
from opentelemetry.trace import SpanKind

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


class SignedReads:
    """GETs signed with `credentials` for the client whose presigner names the URLs."""

    def __init__(self, boto: Any, credentials: Credentials | None, *, connections: int) -> None:
        self.boto = boto
        self.signer = S3SigV4Auth(credentials, "s3", boto.meta.region_name) if credentials else None
        self.pool = urllib3.PoolManager(
            maxsize=connections,
            timeout=urllib3.Timeout(connect=5, read=30),
            # As boto3's standard mode: a second try on connection errors and 5xx answers.
            retries=urllib3.Retry(total=1, read=0, status_forcelist=(500, 502, 503, 504), raise_on_status=False),
            cert_reqs="CERT_REQUIRED",
            ca_certs=get_cert_path(True),
        )
        self._locations: dict[str, tuple[str, str, str]] = {}

    def get_object(self, bucket: str, key: str, byte_range: str | None = None) -> tuple[bytes, dict[str, Any]]:
        """The object's bytes (those of `byte_range`, an HTTP Range, when given) and its fields."""
        scheme, host, path = self._location(bucket)
        url = urlunsplit((scheme, host, path + quote(key, safe="/~"), "", ""))  # as botocore escapes keys
        response = self._get("GetObject", bucket, url, {"Range": byte_range} if byte_range else {})
        headers = response.headers
        found: dict[str, Any] = {
            "ContentType": headers.get("Content-Type"),
            "ContentLength": int(headers.get("Content-Length") or len(response.data)),
            "ETag": headers.get("ETag"),
        }
        if "Content-Range" in headers:
            found["ContentRange"] = headers["Content-Range"]
        return response.data, found

    def list_objects(self, bucket: str, **arguments: Any) -> dict[str, Any]:
        """A ListObjectsV2 page in boto3's shape: Contents (Key, Size, LastModified, ETag),
        CommonPrefixes, IsTruncated, NextContinuationToken."""
        scheme, host, path = self._location(bucket)
        query = [("list-type", "2"), *((_LISTING_PARAMETERS[k], str(v)) for k, v in arguments.items())]
        signed_query = urlencode([*query, ("encoding-type", "url")], quote_via=quote, safe="~")  # as SigV4 escapes
        response = self._get(
            "ListObjectsV2", bucket, urlunsplit((scheme, host, path.rstrip("/") or "/", signed_query, "")), {}
        )
        root = ElementTree.fromstring(response.data)
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

    def _location(self, bucket: str) -> tuple[str, str, str]:
        """Scheme, host and path prefix of `bucket`'s keys, read off the URL boto3 presigns for a
        one-letter key (`/bucket/k` path-style, `/k` on a virtual host)."""
        if (known := self._locations.get(bucket)) is None:
            if len(self._locations) >= _KNOWN_BUCKETS:
                self._locations.clear()
            url = urlsplit(self.boto.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}))
            known = self._locations[bucket] = (url.scheme, url.netloc, url.path.removesuffix("k"))
        return known

    def _get(self, operation: str, bucket: str, url: str, headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
        """GET `url` signed in headers, traced as botocore's instrumentation traces its calls; the
        response, or S3Failure."""
        if self.signer is None:
            raise NoCredentialsError  # as boto3 raises it, and worded where boto3's is
        attributes = {"rpc.system": "aws-api", "rpc.service": "S3", "rpc.method": operation, "aws.s3.bucket": bucket}
        with span(f"S3.{operation}", kind=SpanKind.CLIENT, attributes=attributes) as current:
            request = AWSRequest("GET", url, headers=headers)
            self.signer.add_auth(request)
            try:
                response = self.pool.request("GET", url, headers=dict(request.headers.items()))
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                failed(current, type(exc).__name__)
                raise Unreachable(type(exc).__name__) from exc
            current.set_attribute("http.response.status_code", response.status)
            if response.status >= 300:
                code = ""
                with suppress(ElementTree.ParseError):  # a proxy's page, or no body: the status says enough
                    code = _text(ElementTree.fromstring(response.data), "Code", namespace="")
                failed(current, code or str(response.status))
                raise S3Failure(code or str(response.status), response.status)
            return response


def _text(element: ElementTree.Element, name: str, *, namespace: str = _NS) -> str:
    return element.findtext(f"{namespace}{name}") or ""


def _datetime(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None

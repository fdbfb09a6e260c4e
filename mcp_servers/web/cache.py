"""A private HTTP cache, bounded in bytes: fresh responses are served without a request, stale
ones with validators are revalidated (`If-None-Match` / `If-Modified-Since`, answered by 304)."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime

from toolpark.contract.outbound import Fetched

__all__ = ["Cached", "HttpCache"]


@dataclass(frozen=True)
class Cached:
    response: Fetched
    fresh_until: float

    @property
    def fresh(self) -> bool:
        return time.time() < self.fresh_until

    def validators(self) -> dict[str, str]:
        headers = {}
        if etag := self.response.headers.get("etag"):
            headers["If-None-Match"] = etag
        if modified := self.response.headers.get("last-modified"):
            headers["If-Modified-Since"] = modified
        return headers


def _directives(response: Fetched) -> dict[str, str]:
    value = response.headers.get("cache-control", "")
    found = {}
    for part in value.split(","):
        key, _, arg = part.strip().partition("=")
        if key:
            found[key.lower()] = arg.strip('"')
    return found


def _lifetime(response: Fetched) -> float:
    directives = _directives(response)
    if "no-cache" in directives:
        return 0.0
    if directives.get("max-age", "").isdigit():
        return float(directives["max-age"])
    if expires := response.headers.get("expires"):
        try:
            return max(0.0, parsedate_to_datetime(expires).timestamp() - time.time())
        except (TypeError, ValueError):
            return 0.0
    return 0.0


class HttpCache:
    """Responses by URL, least recently used dropped first once `max_bytes` is passed."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Cached] = OrderedDict()
        self._size = 0

    def get(self, url: str) -> Cached | None:
        entry = self._entries.get(url)
        if entry is not None:
            self._entries.move_to_end(url)
        return entry

    def put(self, url: str, response: Fetched) -> None:
        """Keep a 200 response unless it forbids storing or could never be reused."""
        directives = _directives(response)
        lifetime = _lifetime(response)
        reusable = lifetime > 0 or "etag" in response.headers or "last-modified" in response.headers
        # Requests carry no user credentials, so "private" responses are safe to share here.
        if response.status_code != 200 or "no-store" in directives:
            return
        if not reusable or len(response.content) > self.max_bytes // 4:
            return
        self._drop(url)
        self._entries[url] = Cached(response, time.time() + lifetime)
        self._size += len(response.content)
        while self._size > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def revalidated(self, url: str, entry: Cached, not_modified: Fetched) -> Fetched:
        """Refresh `entry` from a 304's headers and return the stored response."""
        merged = replace(entry.response, headers=entry.response.headers.copy())
        for key in ("cache-control", "expires", "etag", "last-modified", "date"):
            if key in not_modified.headers:
                merged.headers[key] = not_modified.headers[key]
        self._drop(url)
        self._entries[url] = Cached(merged, time.time() + _lifetime(merged))
        self._size += len(merged.content)
        return merged

    def _drop(self, url: str) -> None:
        old = self._entries.pop(url, None)
        if old is not None:
            self._size -= len(old.response.content)

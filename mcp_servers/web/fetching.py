"""Getting pages: through the host's safe egress, at most a few requests per site at once,
with the HTTP cache in front, and each converted page remembered briefly so that paging
through it with `start_index` reads one and the same text."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio

from toolpark.contract.outbound import Fetched, OutboundHTTP
from toolpark.mcp_servers.web.cache import HttpCache

__all__ = ["Fetcher", "Rendered"]

ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,text/plain;q=0.8,*/*;q=0.5"


@dataclass(frozen=True)
class Rendered:
    """A page as the fetch tool serves it: the text to page through and what is known about it."""

    url: str
    final_url: str
    status: int
    content_type: str
    text: str
    prefix: str = ""
    title: str | None = None
    author: str | None = None
    date: str | None = None
    canonical_url: str | None = None
    note: str | None = None


class Fetcher:
    def __init__(self, *, cache_bytes: int, per_host: int, memo_s: float, max_bytes: int) -> None:
        self.cache = HttpCache(cache_bytes)
        self.per_host = per_host
        self.memo_s = memo_s
        self.max_bytes = max_bytes
        self._limits: dict[str, anyio.CapacityLimiter] = {}
        self._memo: OrderedDict[tuple[str, ...], tuple[float, Rendered]] = OrderedDict()

    async def get(self, egress: OutboundHTTP, url: str, user_agent: str) -> Fetched:
        """`url`'s response: from the cache while fresh, revalidated when stale, else fetched."""
        entry = self.cache.get(url)
        if entry is not None and entry.fresh:
            return entry.response
        headers = {"User-Agent": user_agent, "Accept": ACCEPT, **(entry.validators() if entry else {})}
        host = urlsplit(url).netloc.lower()
        limiter = self._limits.setdefault(host, anyio.CapacityLimiter(self.per_host))
        async with limiter:
            response = await egress.fetch(url, headers=headers, max_bytes=self.max_bytes)
        if response.status_code == 304 and entry is not None:
            return self.cache.revalidated(url, entry, response)
        self.cache.put(url, response)
        return response

    def remembered(self, key: tuple[str, ...]) -> Rendered | None:
        found = self._memo.get(key)
        if found is None or time.monotonic() - found[0] > self.memo_s:
            return None
        return found[1]

    def remember(self, key: tuple[str, ...], page: Rendered, *, limit: int = 256) -> None:
        self._memo[key] = (time.monotonic(), page)
        self._memo.move_to_end(key)
        while len(self._memo) > limit:
            self._memo.popitem(last=False)

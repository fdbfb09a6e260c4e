"""A per-identity token bucket: each caller gets `per_minute` tool calls a minute, in bursts of `burst`."""

from __future__ import annotations

import time
from collections import OrderedDict

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token buckets keyed by caller; the least recently seen are forgotten past `max_callers`."""

    def __init__(self, per_minute: float, burst: int, *, max_callers: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_callers = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, caller: str) -> float:
        """Spend one token; returns 0 when allowed, else the seconds until a token is free."""
        now = time.monotonic()
        tokens, stamp = self._buckets.pop(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens >= 1:
            self._buckets[caller] = (tokens - 1, now)
            wait = 0.0
        else:
            self._buckets[caller] = (tokens, now)
            wait = (1 - tokens) / self.rate
        while len(self._buckets) > self.max_callers:
            self._buckets.popitem(last=False)
        return wait

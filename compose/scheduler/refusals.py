"""Bootstrap requests without a valid token, counted rather than reported one by one: each guess
used to write an event and post the webhook synchronously, so 200 guesses meant 200 posts and
pushed the real events out of /status. Now one report per period says how many came and from
where, and a peer past its share of refusals in a period is answered 429 without a lookup."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

__all__ = ["Refusals"]


class Refusals:
    def __init__(self, period_s: float = 600, per_peer: int = 20, clock: Callable[[], float] = time.monotonic) -> None:
        self.period_s, self.per_peer, self.clock = period_s, per_peer, clock
        self._lock = threading.Lock()
        self._reported_at = -period_s  # the first refusal is reported at once
        self._unreported: Counter[str] = Counter()  # refusals per peer since the last report
        self._window_at = -period_s
        self._window: Counter[str] = Counter()  # refusals per peer in the current period

    def throttled(self, peer: str) -> bool:
        with self._lock:
            self._roll(self.clock())
            return self._window[peer] >= self.per_peer

    def refused(self, peer: str) -> str | None:
        """Counts a refusal from `peer`; the report to make now, if one is due."""
        now = self.clock()
        with self._lock:
            self._roll(now)
            self._window[peer] += 1
            self._unreported[peer] += 1
            if now - self._reported_at < self.period_s:
                return None
            sources, self._unreported, self._reported_at = self._unreported, Counter(), now
        named = ", ".join(f"{name} ({n})" for name, n in sources.most_common(3))
        return f"{sources.total()} bootstrap request(s) without a valid token since the last report, from {named}"

    def _roll(self, now: float) -> None:
        if now - self._window_at >= self.period_s:
            self._window_at, self._window = now, Counter()

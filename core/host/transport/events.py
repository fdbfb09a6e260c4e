"""A bounded in-memory event store, so a client whose SSE stream drops can resume it.

Streamable HTTP lets a client reconnect with `Last-Event-ID` and receive what it missed. The
store keeps the newest `max_events` events of this process; a replica that did not see the
original stream cannot replay it, which is why stateless mode runs without one.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict

from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp_types import JSONRPCMessage

__all__ = ["MemoryEventStore"]


class MemoryEventStore(EventStore):
    """Keeps the newest `max_events` events, oldest dropped first."""

    def __init__(self, max_events: int = 10_000) -> None:
        self.max_events = max_events
        self._events: OrderedDict[int, tuple[str, JSONRPCMessage | None]] = OrderedDict()
        self._ids = itertools.count(1)

    async def store_event(self, stream_id: str, message: JSONRPCMessage | None) -> str:
        event_id = next(self._ids)
        self._events[event_id] = (stream_id, message)
        while len(self._events) > self.max_events:
            self._events.popitem(last=False)
        return str(event_id)

    async def replay_events_after(self, last_event_id: str, send_callback: EventCallback) -> str | None:
        try:
            after = int(last_event_id)
        except ValueError:
            return None
        found = self._events.get(after)
        if found is None:
            return None
        stream_id = found[0]
        for event_id, (stream, message) in list(self._events.items()):
            if event_id > after and stream == stream_id and message is not None:
                await send_callback(EventMessage(message, str(event_id)))
        return stream_id

"""Per-connection client state the host keeps: resource subscriptions and the log level.

The SDK builds a `ServerSession` per request; what must outlive a request is keyed by the
session's `Connection`, held weakly so a client that leaves without unsubscribing leaks nothing.
"""

from __future__ import annotations

import logging
import weakref

from mcp.server.connection import Connection
from mcp.server.session import ServerSession
from mcp_types import LoggingLevel

from toolpark.sdk import connection_of

__all__ = ["Subscriptions"]

logger = logging.getLogger("toolpark.subscriptions")


class Subscriptions:
    """Which connection watches which resource URI, and what log level each asked for."""

    def __init__(self) -> None:
        self._watching: weakref.WeakKeyDictionary[Connection, set[str]] = weakref.WeakKeyDictionary()
        self._levels: weakref.WeakKeyDictionary[Connection, LoggingLevel] = weakref.WeakKeyDictionary()

    def subscribe(self, session: ServerSession, uri: str) -> None:
        self._watching.setdefault(connection_of(session), set()).add(uri)

    def unsubscribe(self, session: ServerSession, uri: str) -> None:
        self._watching.get(connection_of(session), set()).discard(uri)

    def set_log_level(self, session: ServerSession, level: LoggingLevel) -> None:
        self._levels[connection_of(session)] = level

    def log_level(self, session: ServerSession) -> LoggingLevel:
        return self._levels.get(connection_of(session), "debug")

    async def notify_updated(self, uri: str) -> None:
        """Send `notifications/resources/updated` to every connection subscribed to `uri`."""
        for connection, uris in list(self._watching.items()):
            if uri in uris:
                try:
                    await connection.send_resource_updated(uri)
                except Exception:  # a closed connection must not fail the caller's tool
                    logger.debug("dropping update of %s for a closed connection", uri, exc_info=True)

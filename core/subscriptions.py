"""Per-session client state the host keeps: resource subscriptions and the log level.

Sessions are held weakly, so a client that goes away without unsubscribing leaks nothing.
"""

from __future__ import annotations

import logging
import weakref

from mcp.server.session import ServerSession
from mcp_types import LoggingLevel

__all__ = ["Subscriptions"]

logger = logging.getLogger("toolpark.subscriptions")


class Subscriptions:
    """Which session watches which resource URI, and what log level each asked for."""

    def __init__(self) -> None:
        self._watching: weakref.WeakKeyDictionary[ServerSession, set[str]] = weakref.WeakKeyDictionary()
        self._levels: weakref.WeakKeyDictionary[ServerSession, LoggingLevel] = weakref.WeakKeyDictionary()

    def subscribe(self, session: ServerSession, uri: str) -> None:
        self._watching.setdefault(session, set()).add(uri)

    def unsubscribe(self, session: ServerSession, uri: str) -> None:
        self._watching.get(session, set()).discard(uri)

    def is_subscribed(self, session: ServerSession, uri: str) -> bool:
        return uri in self._watching.get(session, ())

    def set_log_level(self, session: ServerSession, level: LoggingLevel) -> None:
        self._levels[session] = level

    def log_level(self, session: ServerSession) -> LoggingLevel:
        return self._levels.get(session, "debug")

    async def notify_updated(self, uri: str) -> None:
        """Send `notifications/resources/updated` to every session subscribed to `uri`."""
        for session, uris in list(self._watching.items()):
            if uri in uris:
                try:
                    await session.send_resource_updated(uri)
                except Exception:  # a closed session must not fail the caller's tool
                    logger.debug("dropping update of %s for a closed session", uri, exc_info=True)

"""The MCP SDK's and sse_starlette's private parts toolpark reaches for, each in one function here.

Every name below is private to its library and may change in any release; `tests/core/test_sdk.py`
holds one canary per function, which fails naming the change, so an upgrade breaks there first
and not somewhere in the host. Nothing else in toolpark reaches into either library's private parts
(`tests/test_layout.py` holds that rule).
"""

from __future__ import annotations

import re
from typing import Any

from mcp.client._transport import TransportStreams
from mcp.server.connection import Connection
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer
from mcp.server.session import ServerSession
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.subscriptions import SubscriptionBus
from sse_starlette.event import ServerSentEvent

__all__ = [
    "TransportStreams", "connection_of", "lifespan_state", "lowlevel", "open_sessions", "subscriptions_of",
    "use_fast_line_split",
]  # fmt: skip


def lowlevel(server: MCPServer[Any]) -> Server[Any]:
    """The SDK's low-level server inside `server` (`MCPServer._lowlevel_server`): replacing a request
    handler (`add_request_handler`) and mounting several servers under one ASGI app both need it."""
    inner: Server[Any] = server._lowlevel_server  # noqa: SLF001
    return inner


def subscriptions_of(server: MCPServer[Any]) -> SubscriptionBus:
    """`MCPServer._subscriptions`, which a tool's `Context` takes, as the SDK's own tools/call handler passes it."""
    bus: SubscriptionBus = server._subscriptions  # noqa: SLF001
    return bus


def open_sessions(manager: StreamableHTTPSessionManager) -> set[str]:
    """The ids of the sessions `manager` holds now (`_server_instances`): counting a caller's live
    sessions needs them; the manager forgets one on DELETE, idle timeout or crash."""
    return set(manager._server_instances)  # noqa: SLF001


def lifespan_state(manager: StreamableHTTPSessionManager) -> Any:
    """The lifespan state the manager entered once for its lifetime (`_lifespan_state`), which its
    own request paths pass to each request."""
    return manager._lifespan_state  # noqa: SLF001


def connection_of(session: ServerSession) -> Connection:
    """The per-client `Connection` behind a per-request session (`ServerSession._connection`): what
    must outlive a request (subscriptions, the log level) is keyed by it."""
    connection: Connection = session._connection  # noqa: SLF001
    return connection


# A faster line split for sse_starlette's event encoder, which frames every SSE response.
#
# `ServerSentEvent.encode` splits each event's data on line breaks with a regex, to send each line
# as a `data:` field. The regex engine walks the whole text: 0.7 ms for a 128 KB event on this
# machine, a sixth of the host's CPU for a tool returning 64 KB of text. JSON-RPC messages, as the
# SDK serializes them, hold no raw line breaks (JSON escapes them), and a substring test finds that
# out in microseconds. The encoder's output is unchanged: data with line breaks goes to the regex.


class _LineSplit:
    """The encoder's line-break pattern, skipping the regex when the text has no line break."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def split(self, text: str) -> list[str]:
        if "\n" not in text and "\r" not in text:
            return [text]
        return self.pattern.split(text)

    def sub(self, replacement: str, text: str) -> str:
        if "\n" not in text and "\r" not in text:
            return text
        return self.pattern.sub(replacement, text)

    def __getattr__(self, name: str) -> Any:  # anything else a later sse_starlette asks of its pattern
        return getattr(self.pattern, name)


def use_fast_line_split() -> None:
    """Put `_LineSplit` in front of the encoder's pattern (`ServerSentEvent._LINE_SEP_EXPR`; once,
    and a no-op if sse_starlette changed it)."""
    pattern = getattr(ServerSentEvent, "_LINE_SEP_EXPR", None)
    if isinstance(pattern, re.Pattern) and pattern.pattern == r"\r\n|\r|\n":
        ServerSentEvent._LINE_SEP_EXPR = _LineSplit(pattern)  # type: ignore[assignment]  # noqa: SLF001

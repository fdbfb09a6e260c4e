"""Sessions per caller: one client cannot open so many MCP sessions that everyone else is refused.

The SDK's session manager caps sessions for the whole endpoint (and answers every new client 503
once the cap is reached); this sits in front of it and caps them per identity, or per source
address for anonymous callers, so the abuser is refused and nobody else. Sessions end as before:
on DELETE, or when idle for `session_idle_s`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolpark.sdk import open_sessions
from toolpark.security.auth import identity_from_scope

__all__ = ["SessionQuota"]

SESSION_HEADER = b"mcp-session-id"


class SessionQuota:
    """At most `limit` open sessions per caller on one endpoint; refusals answer 429 and are counted."""

    def __init__(
        self, app: ASGIApp, manager: StreamableHTTPSessionManager, *, limit: int, on_refusal: Callable[[], None]
    ) -> None:
        self.app = app
        self.manager = manager
        self.limit = limit
        self.on_refusal = on_refusal
        self.owned: dict[str, set[str]] = {}

    def _caller(self, scope: Scope) -> str:
        identity = identity_from_scope(scope)
        if identity is not None and identity.authenticated:
            return f"{identity.method}:{identity.via or ''}:{identity.subject}"
        client = scope.get("client")
        return f"address:{client[0] if client else 'unknown'}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        opening = (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and not any(name == SESSION_HEADER for name, _ in scope["headers"])
        )
        if not opening:
            await self.app(scope, receive, send)
            return
        caller = self._caller(scope)
        live = self.owned.get(caller, set()) & open_sessions(self.manager)
        self.owned[caller] = live
        if len(live) >= self.limit:
            self.on_refusal()
            await _too_many(self.limit)(send)
            return

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == SESSION_HEADER:
                        self.owned.setdefault(caller, set()).add(value.decode("latin-1"))
            await send(message)

        await self.app(scope, receive, remember)


def _too_many(limit: int) -> Callable[[Send], Awaitable[None]]:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {
                "code": -32000,
                "message": f"Too many open sessions from you ({limit}): close sessions you no longer use "
                "(HTTP DELETE with their Mcp-Session-Id) or wait until idle ones expire.",
            },
        }
    ).encode()

    async def answer(send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"retry-after", b"60")]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return answer

"""Slow clients cannot hold connections: a deadline for a request's headers, and one for each part
of its body. uvicorn has neither (its keep-alive timeout starts only after a first response), so
400 connections trickling bytes could be held open for as long as they liked."""

from __future__ import annotations

import asyncio

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["BodyTimeout", "header_timeout_protocol"]


def header_timeout_protocol(seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol (the one it picks when installed, a C parser), closing a
    connection whose next request's headers take longer than `seconds` to arrive (counted from the
    connection, or from the previous response), and reading header values without surrounding
    whitespace."""

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def on_header(self, name: bytes, value: bytes) -> None:
            # RFC 9110 5.5: a field value excludes the whitespace around it; llhttp keeps trailing
            # whitespace (h11 strips it), and the SDK compares Mcp-Name and Mcp-Method verbatim.
            super().on_header(name, value.strip(b" \t"))

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            super().data_received(data)
            if self.cycle is not before:  # a request's headers arrived
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_deadline = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _too_slow(self) -> None:
            self._header_deadline = None
            if self.cycle is None or self.cycle.response_complete:  # no request in progress
                self.transport.close()

    return HeaderTimeoutProtocol


class BodyTimeout:
    """Answers 408 when a part of a request's body takes longer than `seconds` to arrive.

    Only the body is timed: once it is complete, waiting for the client to disconnect (a
    streamed response, an SSE stream held open) is not."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False
        started = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            with anyio.fail_after(self.seconds):
                message = await receive()
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, watched_send)
        except TimeoutError:
            if started:
                raise
            await send({"type": "http.response.start", "status": 408, "headers": [(b"connection", b"close")]})
            await send({"type": "http.response.body", "body": b"request body too slow"})

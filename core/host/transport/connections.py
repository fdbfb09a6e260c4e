"""Slow or oversized clients cannot hold connections or memory: a deadline for a request's headers,
one for each part of its body, and a cap on the headers' bytes and count. uvicorn has none of these
(its keep-alive timeout starts only after a first response; httptools buffers a header of any size
until it ends), so 400 connections trickling bytes could be held open for as long as they liked,
and a 64 MB header was read whole before authentication saw it."""

from __future__ import annotations

import asyncio

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEADERS", "MAX_HEADER_BYTES", "BodyTimeout", "header_timeout_protocol"]

# What a request line and its headers may take, as proxies cap them (nginx 4 x 8 KiB buffers by
# default, Node.js 16 KiB): room for a long OIDC token and a front end's user headers.
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 100
_TOO_LARGE = b"request header fields too large"


class _HeadersTooLarge(Exception):
    """Raised from a parser callback: httptools stops, and uvicorn answers through send_400_response."""


def header_timeout_protocol(seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol (the one it picks when installed, a C parser), closing a
    connection whose next request's headers take longer than `seconds` to arrive (counted from the
    connection, or from the previous response), answering 431 to a request line and headers past
    MAX_HEADER_BYTES or MAX_HEADERS before they are read whole, and reading header values without
    surrounding whitespace."""

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_deadline: asyncio.TimerHandle | None = None
        _in_headers = False  # between a request's first byte and the end of its headers
        _header_bytes = 0
        _header_count = 0
        _too_large = False

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_headers, self._header_bytes, self._header_count = True, 0, 0

        def on_headers_complete(self) -> None:
            self._in_headers = False
            super().on_headers_complete()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            if self._header_count > MAX_HEADERS:
                self._too_large = True
                raise _HeadersTooLarge
            # RFC 9110 5.5: a field value excludes the whitespace around it; llhttp keeps trailing
            # whitespace (h11 strips it), and the SDK compares Mcp-Name and Mcp-Method verbatim.
            super().on_header(name, value.strip(b" \t"))

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            super().data_received(data)
            if self.cycle is not before:  # a request's headers arrived
                self._disarm()
            if self._in_headers and not self.transport.is_closing():
                # Headers still incomplete: httptools holds them until they end, so they are
                # counted as they come (the chunk may also hold the end of an earlier request's
                # body: counted too, which errs on the safe side).
                self._header_bytes += len(data)
                if self._header_bytes > MAX_HEADER_BYTES:
                    self._too_large = True
                    self.send_400_response("")

        def send_400_response(self, msg: str) -> None:
            if not self._too_large:
                super().send_400_response(msg)
                return
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TOO_LARGE), _TOO_LARGE)
            )
            self.transport.close()

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

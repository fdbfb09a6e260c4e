"""Stateless JSON mode's call path: one POST, one request, one JSON answer, in the request's own task.

The SDK serves a stateless request of the handshake-era protocol by building a whole connection for
it: a transport, memory streams, a dispatcher and a task to run them, torn down again after one
message. Profiled under load that machinery was a fifth of the server's CPU for a no-op call. Here a
well-formed request (anything but `initialize`) goes straight to the SDK's single-request driver
(`serve_one`, what it uses for the 2026 protocol's single exchanges), with the same born-ready
connection the SDK would build; everything else (initialize, notifications, malformed input, other
protocol versions, GET and DELETE) is handed to the SDK's own path with the body replayed, so its
answers and errors stay exactly the SDK's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import Server
from mcp.server.runner import serve_one
from mcp.server.streamable_http import check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware
from mcp.shared.dispatcher import CallOptions
from mcp.shared.exceptions import NoBackChannelError
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data
from mcp.shared.message import MessageMetadata, ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from mcp_types import DEFAULT_NEGOTIATED_VERSION, ErrorData, RequestId
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolpark.sdk import lifespan_state

__all__ = ["StatelessJson"]


@dataclass
class _OneRequest:
    """The dispatch context of one request with no stream to the client: in JSON-response mode
    notifications (progress, logs) have nowhere to go, and the server cannot ask the client."""

    transport: TransportContext
    request_id: RequestId
    message_metadata: MessageMetadata
    cancel_requested: anyio.Event = field(default_factory=anyio.Event)
    can_send_request: bool = False

    async def send_raw_request(
        self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None
    ) -> dict[str, Any]:
        raise NoBackChannelError(method)

    async def notify(self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None) -> None:
        return None

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        return None


class StatelessJson:
    """The ASGI app of an endpoint in stateless JSON-response mode, in front of the SDK's manager."""

    def __init__(self, manager: StreamableHTTPSessionManager, server: Server[Any], sdk_app: ASGIApp) -> None:
        self.manager = manager
        self.server = server
        self.sdk_app = sdk_app
        self.security = TransportSecurityMiddleware(manager.security_settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER)
        if (
            request.method != "POST"
            or (version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS)
            or not check_accept_headers(request)[0]
            or request.headers.get("content-type", "").split(";")[0].strip() != "application/json"
        ):
            await self.sdk_app(scope, receive, send)
            return
        body = await request.body()
        message = _request_of(body)
        if message is None or await self.security.validate_request(request, is_post=True) is not None:
            await self.sdk_app(scope, _replay(body, receive), send)
            return
        await self._answer(request, message, version or DEFAULT_NEGOTIATED_VERSION, send)

    async def _answer(self, request: Request, message: dict[str, Any], version: str, send: Send) -> None:
        request_id = message["id"]
        context = _OneRequest(
            transport=TransportContext(kind="streamable-http", can_send_request=False, headers=request.headers),
            request_id=request_id,
            message_metadata=ServerMessageMetadata(request_context=request),
        )
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        try:
            # The lifespan state the manager entered once for its lifetime, as its own paths pass it.
            reply["result"] = await serve_one(
                self.server, context, message["method"], message.get("params"),
                connection=Connection.from_envelope(version, None, None),
                lifespan_state=lifespan_state(self.manager),
            )  # fmt: skip
        except Exception as exc:
            # The SDK's own mapping; code 0 for anything else, as its dispatcher answers.
            error = handler_exception_to_error_data(exc) or ErrorData(code=0, message=str(exc))
            reply["error"] = error.model_dump(mode="json", by_alias=True, exclude_none=True)
        body = json.dumps(reply, separators=(",", ":"), ensure_ascii=False).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _request_of(body: bytes) -> dict[str, Any] | None:
    """The body as one JSON-RPC request this path serves, or None for the SDK's path to answer."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not (
        isinstance(message, dict)
        and message.get("jsonrpc") == "2.0"
        and isinstance(message.get("method"), str)
        and message["method"] != "initialize"
        and isinstance(message.get("id"), (str, int))
        and not isinstance(message["id"], bool)
        and isinstance(message.get("params", {}), dict)
    ):
        return None
    return message


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the already-read body again, then what the client does next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed

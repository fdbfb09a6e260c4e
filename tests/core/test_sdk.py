"""Canaries for the private parts of the MCP SDK and sse_starlette that `toolpark.sdk` reaches for:
each fails naming the library change that broke it. And the host's line split in front of
sse_starlette's event encoder frames events as before."""

from __future__ import annotations

import re

import pytest
from mcp.server.connection import Connection
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer
from mcp.server.session import ServerSession
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from sse_starlette.event import ServerSentEvent

from toolpark.host.runtime import PluginRuntime
from toolpark.host.transport.serving import Host
from toolpark.plugins.everything import plugin as everything
from toolpark.sdk import _LineSplit, connection_of, lifespan_state, lowlevel, open_sessions, subscriptions_of

BREAKS = re.compile(r"\r\n|\r|\n")  # the encoder's own pattern


def _changed(what: str, where: str) -> str:
    return f"{what} changed: update toolpark.sdk.{where}, the one place toolpark reads it"


def test_the_sdks_server_keeps_its_low_level_server_and_subscription_bus() -> None:
    server: MCPServer[object] = MCPServer("canary")
    try:
        inner = lowlevel(server)
    except AttributeError:
        pytest.fail(_changed("mcp: MCPServer._lowlevel_server", "lowlevel"))
    assert isinstance(inner, Server), _changed("mcp: MCPServer._lowlevel_server's type", "lowlevel")
    try:
        bus = subscriptions_of(server)
    except AttributeError:
        pytest.fail(_changed("mcp: MCPServer._subscriptions", "subscriptions_of"))
    assert callable(bus.publish) and callable(bus.subscribe), _changed(
        "mcp: MCPServer._subscriptions (no longer a SubscriptionBus)", "subscriptions_of"
    )


def test_the_sdks_session_manager_keeps_its_sessions_and_lifespan_state() -> None:
    manager = StreamableHTTPSessionManager(app=lowlevel(MCPServer("canary")))
    try:
        assert open_sessions(manager) == set()
    except AttributeError:
        pytest.fail(_changed("mcp: StreamableHTTPSessionManager._server_instances", "open_sessions"))
    assert isinstance(manager._server_instances, dict), _changed("its type", "open_sessions")
    try:
        assert lifespan_state(manager) is None  # entered when the manager runs
    except AttributeError:
        pytest.fail(_changed("mcp: StreamableHTTPSessionManager._lifespan_state", "lifespan_state"))


def test_the_sdks_session_keeps_its_connection() -> None:
    connection = Connection.from_envelope("2025-11-25", None, None)
    session = ServerSession(object(), connection)  # type: ignore[arg-type]  # only stored
    try:
        assert connection_of(session) is connection
    except (AttributeError, AssertionError):
        pytest.fail(_changed("mcp: ServerSession._connection", "connection_of"))


def test_sse_starlettes_encoder_keeps_its_line_pattern() -> None:
    Host([PluginRuntime.configure(everything)]).http_app()
    assert isinstance(ServerSentEvent._LINE_SEP_EXPR, _LineSplit), _changed(
        "sse_starlette: ServerSentEvent._LINE_SEP_EXPR (no longer the pattern r'\\r\\n|\\r|\\n')",
        "use_fast_line_split",
    )


@pytest.mark.parametrize(
    "data", ['{"jsonrpc":"2.0","id":1,"result":{}}', "one\ntwo\r\nthree\rfour", "\n", "", "x" * 100_000 + "\r\n"]
)
def test_events_are_framed_as_the_encoder_frames_them(data: str) -> None:
    Host([PluginRuntime.configure(everything)]).http_app()  # puts the split in front of the encoder
    assert isinstance(ServerSentEvent._LINE_SEP_EXPR, _LineSplit)
    lines = "".join(f"data: {line}\r\n" for line in BREAKS.split(data))
    assert ServerSentEvent(data=data, event="message", id="7").encode() == (
        f"id: 7\r\nevent: message\r\n{lines}\r\n".encode()
    )
    assert ServerSentEvent(data=data, event="mess\nage").encode().startswith(b"event: message\r\n")

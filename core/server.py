"""Builds the MCP server for one or more plugins, and runs every tool call under its limits.

The MCP SDK's `MCPServer` derives schemas and converts results; `tools/call` is handled here so
that each call gets its plugin's context, a timeout, a concurrency slot and a result-size cap,
and so that every failure becomes an `isError` result a model can act on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pydantic_core
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import (
    CallToolRequestParams,
    CallToolResult,
    CompleteRequestParams,
    CompleteResult,
    Completion,
    EmptyResult,
    InputRequiredResult,
    ListToolsResult,
    PaginatedRequestParams,
    SetLevelRequestParams,
    SubscribeRequestParams,
    UnsubscribeRequestParams,
)
from pydantic import ValidationError

from core.auth import identity_from_scope
from core.context import ToolContext
from core.errors import ToolError, describe_validation_error, error_result, foreseen_error, incident_id
from core.identity import LOCAL, Identity
from core.plugin import ToolSpec
from core.runtime import PluginRuntime
from core.services import Services

__all__ = ["build_server", "lowlevel", "result_size"]

logger = logging.getLogger("toolpark.calls")


@dataclass(frozen=True)
class _Entry:
    runtime: PluginRuntime
    spec: ToolSpec
    tool: Tool


def lowlevel(server: MCPServer[Any]) -> Server[Any]:
    """The SDK's low-level server inside `server`.

    `MCPServer` keeps it private, yet replacing a request handler (`add_request_handler`) and
    mounting several servers under one ASGI app both need it; this is the one place we reach in.
    """
    inner: Server[Any] = server._lowlevel_server  # noqa: SLF001
    return inner


@contextmanager
def _root_logging_untouched() -> Iterator[None]:
    """`MCPServer()` calls `logging.basicConfig`; a library must leave logging to the application."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def build_server(
    runtimes: Sequence[PluginRuntime],
    services: Services,
    *,
    prefix_tools: bool = False,
) -> MCPServer[Any]:
    """One MCP server exposing the tools, resources and prompts of `runtimes`.

    With `prefix_tools`, tool names become `<plugin>_<tool>` so that several plugins can share
    one endpoint without collisions.
    """
    entries: dict[str, _Entry] = {}
    for runtime in runtimes:
        for spec in runtime.plugin.tools.values():
            if spec.when is not None and not spec.when(runtime.settings):
                continue
            exposed = f"{runtime.name.replace('-', '_')}_{spec.name}" if prefix_tools else spec.name
            if exposed in entries:
                raise ValueError(f"tool {exposed!r} is declared by two plugins")
            entries[exposed] = _Entry(runtime, spec, _sdk_tool(spec, exposed))

    only = runtimes[0].plugin if len(runtimes) == 1 else None
    with _root_logging_untouched():
        server: MCPServer[Any] = MCPServer(
            name=only.name if only else "toolpark",
            version=only.version if only else "",
            instructions="\n\n".join(r.plugin.instructions for r in runtimes if r.plugin.instructions) or None,
            tools=[entry.tool for entry in entries.values()],
        )
    for runtime in runtimes:
        for resource in runtime.plugin.resources:
            server.resource(resource.uri, **resource.options)(resource.fn)
        for prompt in runtime.plugin.prompts:
            server.prompt(**prompt.options)(prompt.fn)
    _add_completion(server, runtimes)
    _add_session_handlers(server, services)
    _add_tool_listing(server, entries)
    lowlevel(server).add_request_handler("tools/call", CallToolRequestParams, _ToolCaller(server, entries, services))
    return server


def caller(ctx: ServerRequestContext[Any, Any]) -> Identity:
    """The identity the HTTP auth middleware attached to this request; the local user elsewhere."""
    return identity_from_scope(getattr(ctx.request, "scope", None)) or LOCAL


def _missing(spec: ToolSpec, identity: Identity) -> list[str]:
    """The scopes or roles `spec` requires that `identity` lacks."""
    return [need for need in spec.requires if not identity.may(need)]


def _add_tool_listing(server: MCPServer[Any], entries: dict[str, _Entry]) -> None:
    """List only the tools the caller may call, so a model is not offered what it will be refused."""

    async def list_tools(ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None) -> ListToolsResult:
        identity = caller(ctx)
        tools = await server.list_tools()
        return ListToolsResult(tools=[t for t in tools if not _missing(entries[t.name].spec, identity)])

    lowlevel(server).add_request_handler("tools/list", PaginatedRequestParams, list_tools)


def _sdk_tool(spec: ToolSpec, exposed: str) -> Tool:
    tool = Tool.from_function(
        spec.fn,
        name=exposed,
        title=spec.title,
        description=spec.description,
        context_kwarg=spec.context_param,
        annotations=spec.annotations,
        structured_output=spec.structured_output,
    )
    if spec.input_schema is not None:
        tool.parameters = spec.input_schema
    return tool


def _add_completion(server: MCPServer[Any], runtimes: Sequence[PluginRuntime]) -> None:
    handlers = [r.plugin.completion_handler for r in runtimes if r.plugin.completion_handler]
    if not handlers:
        return

    async def complete(ctx: ServerRequestContext[Any, Any], params: CompleteRequestParams) -> CompleteResult:
        for handler in handlers:
            found = await handler(params.ref, params.argument, params.context)
            if found is not None:
                return CompleteResult(completion=found)
        return CompleteResult(completion=Completion(values=[], total=0, has_more=False))

    lowlevel(server).add_request_handler("completion/complete", CompleteRequestParams, complete)


def _add_session_handlers(server: MCPServer[Any], services: Services) -> None:
    subscriptions = services.subscriptions

    async def subscribe(ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams) -> EmptyResult:
        subscriptions.subscribe(ctx.session, str(params.uri))
        return EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams) -> EmptyResult:
        subscriptions.unsubscribe(ctx.session, str(params.uri))
        return EmptyResult()

    async def set_level(ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams) -> EmptyResult:
        subscriptions.set_log_level(ctx.session, params.level)
        return EmptyResult()

    inner = lowlevel(server)
    inner.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    inner.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    inner.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)


def result_size(result: CallToolResult) -> int:
    """Bytes the result's payload takes on the wire, near enough to enforce a cap."""
    size = 0
    for block in result.content:
        for attr in ("text", "data"):
            value = getattr(block, attr, None)
            if isinstance(value, str):
                size += len(value.encode())
        inner = getattr(block, "resource", None)
        if inner is not None:
            size += len((getattr(inner, "text", None) or getattr(inner, "blob", None) or "").encode())
    if result.structured_content is not None:
        size += len(pydantic_core.to_json(result.structured_content))
    return size


class _ToolCaller:
    """The `tools/call` handler: lookup, identity, authorization, limits, metrics and error mapping."""

    def __init__(self, server: MCPServer[Any], entries: dict[str, _Entry], services: Services) -> None:
        self.server = server
        self.entries = entries
        self.services = services

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams
    ) -> CallToolResult | InputRequiredResult:
        entry = self.entries.get(params.name)
        identity = caller(ctx)
        if entry is None:
            return self._unknown(params.name, identity)
        runtime = entry.runtime
        metrics = self.services.metrics
        started = time.perf_counter()
        outcome = "ok"
        metrics.in_flight.labels(runtime.name).inc()
        try:
            result, outcome = await self._run(ctx, params, entry, identity)
            return result
        finally:
            elapsed = time.perf_counter() - started
            metrics.in_flight.labels(runtime.name).dec()
            metrics.calls.labels(runtime.name, params.name, outcome).inc()
            metrics.latency.labels(runtime.name, params.name).observe(elapsed)
            logger.info(
                "tool call %s/%s: %s",
                runtime.name,
                params.name,
                outcome,
                extra={
                    "request_id": ctx.request_id,
                    "plugin": runtime.name,
                    "tool": params.name,
                    "subject": identity.subject,
                    "auth": identity.method,
                    "duration_ms": round(elapsed * 1000, 2),
                    "outcome": outcome,
                },
            )

    def _unknown(self, name: str, identity: Identity) -> CallToolResult:
        known = sorted(n for n, e in self.entries.items() if not _missing(e.spec, identity))
        return error_result(f"Unknown tool '{name}'. Available tools: {', '.join(known) or 'none'}.")

    async def _run(
        self, ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams, entry: _Entry, identity: Identity
    ) -> tuple[CallToolResult | InputRequiredResult, str]:
        runtime, name = entry.runtime, params.name
        missing = _missing(entry.spec, identity)
        if missing:
            return error_result(
                f"Tool '{name}' needs {' and '.join(missing)}, which your credentials do not carry. "
                "Ask the operator for access."
            ), "denied"
        if runtime.status != "ready":
            return error_result(
                f"The '{runtime.name}' server is not ready ({runtime.failure or runtime.status}). "
                "Try again later; if it persists, the operator must fix its configuration."
            ), "unavailable"
        limiter = self.services.rate_limiter
        wait = limiter.take(f"{identity.method}:{identity.subject}") if limiter else 0.0
        if wait:
            self.services.metrics.rate_limited.labels(runtime.name).inc()
            return error_result(
                f"Rate limit reached: too many tool calls from you in the last minute. Try again in {wait:.0f} s."
            ), "rate_limited"
        tool_ctx = ToolContext(
            plugin=runtime.name,
            settings=runtime.settings,
            state=runtime.state,
            identity=identity,
            sdk=Context(
                request_context=ctx,
                mcp_server=self.server,
                input_params=params,
                subscriptions=self.server._subscriptions,  # noqa: SLF001 - as the SDK's own tools/call handler does
            ),
            services=self.services,
        )
        timeout = entry.spec.timeout_s or runtime.settings.call_timeout_s
        try:
            # The timeout also bounds the wait for a free slot, so an overloaded plugin answers in time.
            with anyio.fail_after(timeout):
                async with runtime.limiter:
                    # The SDK hands `tool_ctx` to the parameter we named as the context one; it is
                    # typed for its own Context, which ToolContext wraps.
                    result = await entry.tool.run(
                        params.arguments or {},
                        tool_ctx,  # type: ignore[arg-type]
                        convert_result=True,
                    )
        except TimeoutError:
            return error_result(
                f"Tool '{name}' did not finish within {timeout:g} s and was cancelled. "
                "Try a smaller request, or try again later if the server is busy."
            ), "timeout"
        except UnexpectedToolError as exc:
            if (foreseen := foreseen_error(exc.__cause__)) is not None:  # raised inside a task group
                return error_result(str(foreseen)), "error"
            incident = incident_id()
            logger.error(
                "incident %s: tool %s of plugin %s crashed",
                incident,
                name,
                runtime.name,
                exc_info=exc.__cause__ or exc,
                extra={"incident": incident, "plugin": runtime.name, "tool": name, "request_id": ctx.request_id},
            )
            return error_result(
                f"Tool '{name}' failed with an internal error (incident {incident}). "
                "Retrying will probably not help; the operator can look the incident up in the server log."
            ), "crash"
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                return error_result(describe_validation_error(name, cause)), "invalid_arguments"
            return error_result(str(cause) if cause is not None else str(exc)), "error"
        if isinstance(result, CallToolResult):
            size = result_size(result)
            if size > runtime.settings.max_result_bytes:
                return error_result(
                    f"Tool '{name}' produced {size} bytes, more than this server's limit of "
                    f"{runtime.settings.max_result_bytes}. Ask for less: a narrower query, fewer items, "
                    "or a smaller page (max_length / start_index where the tool has them)."
                ), "too_large"
            return result, "error" if result.is_error else "ok"
        return result, "input_required"

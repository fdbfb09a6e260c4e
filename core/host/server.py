"""Builds the MCP server for one or more plugins.

The MCP SDK's `MCPServer` derives schemas and converts results; `tools/list` and `tools/call`
are replaced so the caller sees only its tools and every call runs the steps in `calls.py`.
"""

from __future__ import annotations

import copy
import logging
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer, RequestStateSecurity
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CallToolRequestParams,
    CompleteRequestParams,
    CompleteResult,
    Completion,
    EmptyResult,
    ListToolsResult,
    PaginatedRequestParams,
    SetLevelRequestParams,
    SubscribeRequestParams,
    ToolExecution,
    UnsubscribeRequestParams,
)
from mcp_types import Tool as McpTool

from toolpark.contract.errors import error_result
from toolpark.contract.plugin import ToolSpec
from toolpark.contract.tenancy import TenantScope
from toolpark.host.calls import Entry, ToolCaller, callable_by, caller, owner_of_request
from toolpark.host.runtime import PluginRuntime
from toolpark.host.schemas import published
from toolpark.host.services import Services
from toolpark.host.tasks.registry import TasksExtension
from toolpark.host.tasks.spill import READ_MORE, SPILL_TEMPLATE
from toolpark.host.toolsearch import CALL_TOOL, SEARCH_LISTING, SEARCH_TOOL, ToolIndex, found_tools
from toolpark.operations.traces import header_context
from toolpark.sdk import lowlevel

__all__ = ["build_server", "hosts_own"]

logger = logging.getLogger("toolpark.server")


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
    tool_search: bool = False,
    state_keys: Sequence[str] = (),
) -> MCPServer[Any]:
    """One MCP server exposing the tools, resources and prompts of `runtimes`.

    With `prefix_tools`, tool names become `<plugin>_<tool>` so that several plugins can share
    one endpoint without collisions; with `tool_search` the listing holds `search_tools` and
    `call_tool` instead of them all. `state_keys` seal the multi-round-trip state (the first seals,
    all unseal); without them a random key serves this process alone.
    """
    entries: dict[str, Entry] = {}
    for runtime in runtimes:
        for spec in runtime.plugin.tools.values():
            if spec.when is not None and not spec.when(runtime.settings):
                continue
            exposed = f"{runtime.name.replace('-', '_')}_{spec.name}" if prefix_tools else spec.name
            if exposed in entries:
                raise ValueError(f"tool {exposed!r} is declared by two plugins")
            if exposed == READ_MORE.name and _keeps_results(services):
                raise ValueError(f"tool {exposed!r} of plugin {runtime.name!r} has the name of the host's own tool")
            entries[exposed] = Entry(runtime, spec, _sdk_tool(spec, exposed))

    only = runtimes[0].plugin if len(runtimes) == 1 else None
    with _root_logging_untouched():
        server: MCPServer[Any] = MCPServer(
            name=only.name if only else "toolpark",
            version=only.version if only else "",
            instructions="\n\n".join(r.plugin.instructions for r in runtimes if r.plugin.instructions) or None,
            tools=[entry.tool for entry in entries.values()],
            request_state_security=RequestStateSecurity(
                keys=list(state_keys) or [secrets.token_bytes(32)],
                # The answers in a round's state are the caller's: another caller may not continue with them.
                bind_principal=owner_of_request,
            ),
            subscriptions=services.events.bus(only.name if only else "toolpark") if services.events else None,
            extensions=[TasksExtension(services.tasks, owner_of_request)]
            if any(entry.spec.task for entry in entries.values())
            else None,
        )
    for runtime in runtimes:
        for resource in runtime.plugin.resources:
            server.resource(resource.uri, **resource.options)(resource.fn)
        for prompt in runtime.plugin.prompts:
            server.prompt(**prompt.options)(prompt.fn)
    _add_spill_reader(server, services)
    _add_completion(server, runtimes)
    _add_session_handlers(server, services)
    lowlevel(server).middleware.insert(0, _header_trace_context)  # outside the SDK's span, which it parents
    listing = _Listing(server, entries, services)
    call = _ReadingOn(ToolCaller(server, entries, services), services)
    if tool_search:
        lowlevel(server).add_request_handler("tools/list", PaginatedRequestParams, listing.search_handle)
        lowlevel(server).add_request_handler("tools/call", CallToolRequestParams, _SearchingCaller(call, listing))
    else:
        lowlevel(server).add_request_handler("tools/list", PaginatedRequestParams, listing.handle)
        lowlevel(server).add_request_handler("tools/call", CallToolRequestParams, call)
    return server


def _keeps_results(services: Services) -> bool:
    return services.spills.max_bytes > 0


def hosts_own(services: Services) -> list[McpTool]:
    """The host's own tools every endpoint lists beside the plugins': `read_more` where results are kept."""
    return [READ_MORE] if _keeps_results(services) else []


class _ReadingOn:
    """`tools/call` with the host's `read_more` ahead of the plugins' tools: the next part of a result
    too large for one message, for its own caller only."""

    def __init__(self, call: ToolCaller, services: Services) -> None:
        self.call = call
        self.services = services

    async def __call__(self, ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams) -> Any:
        if params.name != READ_MORE.name or not _keeps_results(self.services):
            return await self.call(ctx, params)
        arguments = params.arguments or {}
        result, part = arguments.get("result"), arguments.get("part")
        if not isinstance(result, str) or not result or not isinstance(part, int) or part < 1:
            return error_result("read_more needs the result id and the part number (from 1) a tool's answer gave.")
        owner = owner_of_request(ctx)
        limiter = self.services.rate_limiter  # each read parses the kept result again: counted like a call
        if limiter is not None and (wait := limiter.take(f"read_more:{owner}")):
            return error_result(
                f"Rate limit reached: too many reads from you in the last minute. Try again in {wait:.0f} s."
            )
        return await self.services.spills.read_on(owner, result[:100], part)


def _add_spill_reader(server: MCPServer[Any], services: Services) -> None:
    """Every endpoint reads back, in ranges, the results too large for one message it kept for a caller."""

    @server.resource(
        SPILL_TEMPLATE,
        name="kept_result",
        mime_type="application/json",
        description="A tool result too large for one message, kept for the caller who got its link: "
        "read it in ranges (offset, length), join the text, parse the JSON.",
    )
    async def kept_result(result_id: str, ctx: Context[Any], offset: str = "", length: str = "") -> str:
        return await services.spills.read(owner_of_request(ctx.request_context), result_id, offset, length)


async def _header_trace_context(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """A client that sends `traceparent` as an HTTP header, not in `_meta`, is traced as well."""
    headers = getattr(ctx.request, "headers", None)
    return await header_context(headers, ctx.meta, lambda: call_next(ctx))


RATE_LIMITED = -32000  # JSON-RPC's range for server errors: MCP names no code for a rate limit


class _Listing:
    """The tools a caller may call, so a model is not offered what it will be refused, with the
    values a plugin offers this caller (`Plugin.choices`) as enums."""

    def __init__(self, server: MCPServer[Any], entries: dict[str, Entry], services: Services) -> None:
        self.server = server
        self.entries = entries
        self.services = services

    def throttled(self, ctx: ServerRequestContext[Any, Any]) -> str | None:
        """Why the caller must wait before listing again, or None. A listing asks each plugin's
        choices (database queries) for the caller: counted in a bucket of the caller's own,
        apart from its tool calls, at the rate the host gives those."""
        limiter = self.services.rate_limiter
        if limiter is None or not (wait := limiter.take(f"tools/list:{owner_of_request(ctx)}")):
            return None
        self.services.metrics.rate_limited.labels("*", "tools/list", "listing").inc()
        return f"Rate limit reached: too many tool listings from you in the last minute. Try again in {wait:.0f} s."

    async def visible(self, ctx: ServerRequestContext[Any, Any]) -> list[McpTool]:
        identity, entries = caller(ctx), self.entries
        tools = [t for t in await self.server.list_tools() if callable_by(entries[t.name].spec, identity)]
        choices = _Choices(TenantScope.of(identity, self.services.tenancy))
        return [
            _with_task_support(await choices.offered(t, entries[t.name].runtime), entries[t.name].spec) for t in tools
        ]

    async def handle(self, ctx: ServerRequestContext[Any, Any], _: PaginatedRequestParams | None) -> ListToolsResult:
        if refusal := self.throttled(ctx):
            raise MCPError(code=RATE_LIMITED, message=refusal)
        return ListToolsResult(tools=await self.visible(ctx) + hosts_own(self.services))

    async def search_handle(
        self, _: ServerRequestContext[Any, Any], __: PaginatedRequestParams | None
    ) -> ListToolsResult:
        return ListToolsResult(tools=[*SEARCH_LISTING, *hosts_own(self.services)])


class _SearchingCaller:
    """`tools/call` with tool search: `search_tools` over what the caller may call, `call_tool` into
    the ordinary call path, and any other name straight there."""

    def __init__(self, call: _ReadingOn, listing: _Listing) -> None:
        self.call = call
        self.listing = listing

    async def __call__(self, ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams) -> Any:
        arguments = params.arguments or {}
        if params.name == SEARCH_TOOL.name:
            query, limit = arguments.get("query"), arguments.get("limit", 5)
            if not isinstance(query, str) or not query.strip() or not isinstance(limit, int) or not 1 <= limit <= 20:
                return error_result("search_tools needs a query (what the tool should do) and a limit from 1 to 20.")
            if refusal := self.listing.throttled(ctx):
                return error_result(refusal)
            return found_tools(query, ToolIndex(await self.listing.visible(ctx)).search(query[:500], limit))
        if params.name == CALL_TOOL.name:
            name, inner = arguments.get("name"), arguments.get("arguments", {})
            if not isinstance(name, str) or not isinstance(inner, dict):
                return error_result("call_tool needs the tool's name and its arguments as an object.")
            params = params.model_copy(update={"name": name, "arguments": inner})
        return await self.call(ctx, params)


class _Choices:
    """The values each plugin offers one caller, asked once per listing."""

    def __init__(self, tenant: TenantScope) -> None:
        self.tenant = tenant
        self.found: dict[tuple[str, str], list[Any] | None] = {}  # None: the source failed

    async def offered(self, tool: McpTool, runtime: PluginRuntime) -> McpTool:
        properties = tool.input_schema.get("properties", {})
        sources = {p: f for p, f in runtime.plugin.choice_sources.items() if p.split(".")[0] in properties}
        if not sources or runtime.status != "ready":
            return tool
        schema = copy.deepcopy(tool.input_schema)
        for path, source in sources.items():
            key = (runtime.name, path)
            if key not in self.found:
                try:
                    self.found[key] = sorted(set(await source(runtime.state, self.tenant)))
                except Exception:  # a listing without the enum beats no listing
                    logger.exception("choices for %s of plugin %s failed", path, runtime.name)
                    self.found[key] = None
            values = self.found[key]
            top = path.split(".")[0]
            if values:
                if (target := _schema_at(schema, path)) is not None:
                    target["enum"] = values
            elif values is not None and top not in schema.get("required", []) and top in schema["properties"]:
                # Nothing to choose from: an optional parameter that could only be filled wrongly goes
                # (a small model fills every field it is offered).
                del schema["properties"][top]
        return tool.model_copy(update={"input_schema": schema})


def _with_task_support(tool: McpTool, spec: ToolSpec) -> McpTool:
    """Say in the listing which tools may run as tasks (`execution.taskSupport`)."""
    if spec.task is None:
        return tool
    return tool.model_copy(update={"execution": ToolExecution(task_support=spec.task)})


def _schema_at(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The schema of a dotted parameter path (`filters.field`: the `field` of `filters`' items),
    through optional (`anyOf` with null), array items and `$defs` references."""
    node: dict[str, Any] | None = schema["properties"].get(path.split(".")[0])
    for part in path.split(".")[1:]:
        node = _resolved(schema, node)
        if node is not None and "items" in node:
            node = _resolved(schema, node["items"])
        node = (node or {}).get("properties", {}).get(part)
    return _resolved(schema, node)


def _resolved(schema: dict[str, Any], node: dict[str, Any] | None) -> dict[str, Any] | None:
    if node is None:
        return None
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        node = branches[0] if len(branches) == 1 else node
    if "$ref" in node:
        node = schema.get("$defs", {}).get(node["$ref"].rsplit("/", 1)[-1])
    return node


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
    # Validation keeps the bounds and takes nulls: it runs on the parameters' own model, not on these.
    tool.parameters = published(spec.input_schema if spec.input_schema is not None else tool.parameters, inputs=True)
    if tool.fn_metadata.output_schema is not None:
        tool.fn_metadata.output_schema = published(tool.fn_metadata.output_schema, inputs=False)
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

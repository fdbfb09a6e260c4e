"""The `tools/call` path: each call passes a chain of small steps, in order.

authorize → ready → rate limit → run under limits (timeout, concurrency slot, error mapping) →
fit the size cap (a larger result is kept and linked: `Spills`), all observed (metrics and one
log line). A step that refuses the call raises `Refused` with the result the client gets and the
outcome the metrics count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import pydantic_core
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    CallToolRequestParams,
    CallToolResult,
    InputRequiredResult,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from toolpark.contract.asking import Asker
from toolpark.contract.context import ToolContext
from toolpark.contract.errors import ToolError, describe_validation_error, error_result, foreseen_error, incident_id
from toolpark.contract.identity import LOCAL, Identity
from toolpark.contract.plugin import ToolSpec
from toolpark.host.runtime import PluginRuntime
from toolpark.host.services import Services
from toolpark.host.tasks.asking import DirectAsker, InputNeeded, RoundsAsker
from toolpark.host.tasks.parts import content_bytes
from toolpark.host.tasks.record import Task, TaskAsker
from toolpark.host.tasks.registry import TASKS_EXTENSION, TooManyTasks
from toolpark.operations.metrics import current_tool
from toolpark.operations.traces import failed, span
from toolpark.sdk import subscriptions_of
from toolpark.security.auth import identity_from_scope
from toolpark.security.ratelimit import RateLimiter

__all__ = ["Entry", "ToolCaller", "callable_by", "caller", "owner_of", "owner_of_request", "result_size"]

logger = logging.getLogger("toolpark.calls")

_SUCCEEDED = frozenset({"ok", "input_required", "task", "spilled"})  # outcomes that are not an error.type


def _error_type(outcome: str) -> str:
    """The conventions' `error.type` of a call's outcome ("" when it succeeded); a result with
    isError is a `tool_error`."""
    if outcome in _SUCCEEDED:
        return ""
    return "tool_error" if outcome == "error" else outcome


Result = CallToolResult | InputRequiredResult
Answered = Result | dict[str, Any]


@dataclass(frozen=True)
class Entry:
    """A tool as one server exposes it: its plugin's runtime, its declaration and the SDK's tool."""

    runtime: PluginRuntime
    spec: ToolSpec
    tool: Tool


@dataclass
class Call:
    """One `tools/call` on its way through the steps."""

    ctx: ServerRequestContext[Any, Any]
    params: CallToolRequestParams
    entry: Entry
    identity: Identity
    outcome: str = field(default="ok")

    @property
    def name(self) -> str:
        return self.params.name

    @property
    def runtime(self) -> PluginRuntime:
        return self.entry.runtime


class Refused(Exception):
    """A step stopped the call: `result` goes to the client, `outcome` to the metrics."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.result = error_result(message)


def caller(ctx: ServerRequestContext[Any, Any]) -> Identity:
    """The identity the HTTP auth middleware attached to this request; the local user elsewhere."""
    return identity_from_scope(getattr(ctx.request, "scope", None)) or LOCAL


def missing_grants(spec: ToolSpec, identity: Identity) -> list[str]:
    """The scopes or roles `spec` requires that `identity` lacks."""
    return [need for need in spec.requires if not identity.may(need)]


def writes_refused(spec: ToolSpec, identity: Identity) -> bool:
    """Whether `identity` is a read-only caller and the tool changes data."""
    return identity.read_only and not spec.annotations.read_only_hint


def callable_by(spec: ToolSpec, identity: Identity) -> bool:
    """Whether `identity` may call the tool at all: it holds what the tool requires, and a
    read-only caller calls read-only tools only."""
    return not missing_grants(spec, identity) and not writes_refused(spec, identity)


def result_size(result: CallToolResult) -> int:
    """Bytes the result's payload takes on the wire, near enough to enforce a cap."""
    size = sum(content_bytes(block) for block in result.content)
    if result.structured_content is not None:
        size += len(pydantic_core.to_json(result.structured_content))
    return size


def authorize(call: Call) -> None:
    identity = call.identity
    if writes_refused(call.entry.spec, identity):
        raise Refused(
            "denied",
            f"Tool '{call.name}' changes data, and {identity.via or identity.subject!r} may call read-only tools "
            "only: it speaks for many people at once. Call it with your own credentials.",
        )
    missing = missing_grants(call.entry.spec, identity)
    if not missing:
        return
    needs = " and ".join(f"'{need}'" for need in missing)
    carried = ", ".join(f"'{grant}'" for grant in sorted(identity.grants)) or "none"
    logger.warning(
        "denied %s/%s to %s: missing %s", call.runtime.name, call.name, identity.subject, needs,
        extra={"plugin": call.runtime.name, "tool": call.name, "subject": identity.subject, "missing": missing},
    )  # fmt: skip
    raise Refused(
        "denied",
        f"Tool '{call.name}' needs the role or scope {needs}; {identity.grants_from or 'your credentials'} "
        f"carried {carried}. Ask the operator to grant {needs}.",
    )


def check_ready(call: Call) -> None:
    runtime = call.runtime
    if runtime.status != "ready":
        raise Refused(
            "unavailable",
            f"The '{runtime.name}' server is not ready ({runtime.failure or runtime.status}). "
            "Try again later; if it persists, the operator must fix its configuration.",
        )


def rate_limit(call: Call, services: Services) -> None:
    """One bucket per caller and plugin, so a busy server never spends a caller's budget on another;
    and one per caller and tool for a tool that declares its own `RateLimit`."""
    plugin, tool, owner = call.runtime.name, call.entry.spec.name, owner_of(call.identity)
    if services.rate_limiter is not None and (wait := services.rate_limiter.take(f"{plugin}:{owner}")):
        services.metrics.rate_limited.labels(plugin, tool, "plugin").inc()
        raise Refused(
            "rate_limited",
            f"Rate limit reached: too many calls to the '{plugin}' tools from you in the last minute. "
            f"Try again in {wait:.0f} s.",
        )
    declared = call.entry.spec.rate_limit
    if declared is None:
        return
    limiter = services.tool_limiters.setdefault(f"{plugin}/{tool}", RateLimiter(declared.per_minute, declared.burst))
    if wait := limiter.take(owner):
        services.metrics.rate_limited.labels(plugin, tool, "tool").inc()
        raise Refused(
            "rate_limited",
            f"Rate limit reached: tool '{call.name}' takes {declared.per_minute:g} calls a minute from each "
            f"caller. Try again in {wait:.0f} s; other tools are not affected.",
        )


async def fit(call: Call, result: CallToolResult, services: Services) -> CallToolResult:
    """`result` if it fits the plugin's cap; else a link to it, kept for the caller (`Spills`);
    refused only when even the store cannot hold it."""
    size, limit = result_size(result), call.runtime.settings.max_result_bytes
    if size <= limit:
        return result
    spilled = await services.spills.keep(owner_of(call.identity), call.name, result, limit)
    if spilled is None:
        raise Refused(
            "too_large",
            f"Tool '{call.name}' produced {size} bytes, more than this server keeps. Ask for less: a narrower "
            "query, fewer items, or a smaller page (max_length / start_index where the tool has them).",
        )
    call.outcome = "spilled"
    return spilled


def failure(call: Call, exc: ToolError) -> Refused:
    """What the client learns of an exception the tool raised: its message when foreseen, else an incident id."""
    if not isinstance(exc, UnexpectedToolError):  # a ToolError: the tool's own words, or the bad fields
        cause = exc.__cause__
        if isinstance(cause, ValidationError):
            return Refused("invalid_arguments", describe_validation_error(call.name, cause))
        return Refused("error", str(cause) if cause is not None else str(exc))
    if (foreseen := foreseen_error(exc.__cause__)) is not None:  # raised inside a task group
        return Refused("error", str(foreseen))
    incident = incident_id()
    plugin, request = call.runtime.name, call.ctx.request_id
    logger.error(
        "incident %s: tool %s of plugin %s crashed", incident, call.name, plugin, exc_info=exc.__cause__ or exc,
        extra={"incident": incident, "plugin": plugin, "tool": call.name, "request_id": request},
    )  # fmt: skip
    return Refused(
        "crash",
        f"Tool '{call.name}' failed with an internal error (incident {incident}). "
        "Retrying will probably not help; the operator can look the incident up in the server log.",
    )


def owner_of(identity: Identity) -> str:
    """Whose a task is: the authenticated caller, however it authenticated."""
    return f"{identity.method}:{identity.subject}"


def owner_of_request(ctx: ServerRequestContext[Any, Any]) -> str:
    """The owner (`owner_of`) of the caller of a request: whose its tasks and round state are."""
    return owner_of(caller(ctx))


def takes_tasks(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request's client declared the tasks extension (2026-07-28 requests only: the
    handshake-era wire has no place for a `CreateTaskResult`)."""
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return False
    capabilities = ctx.session.client_capabilities
    return bool(capabilities and capabilities.extensions and TASKS_EXTENSION in capabilities.extensions)


class ToolCaller:
    """The `tools/call` handler of one MCP server: lookup, then the steps, observed."""

    def __init__(self, server: MCPServer[Any], entries: dict[str, Entry], services: Services) -> None:
        self.server = server
        self.entries = entries
        self.services = services

    async def __call__(self, ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams) -> Answered:
        entry = self.entries.get(params.name)
        identity = caller(ctx)
        if entry is None:
            return self._unknown(params.name, identity)
        call = Call(ctx, params, entry, identity)
        with self._observed(call):
            try:
                authorize(call)
                check_ready(call)
                rate_limit(call, self.services)
                result = await self._run(call)
                if isinstance(result, CallToolResult):
                    call.outcome = "error" if result.is_error else "ok"
                    result = await fit(call, result, self.services)
                elif isinstance(result, InputRequiredResult):
                    call.outcome = "input_required"
                else:
                    call.outcome = "task"
                    return result.created_result()
                return result
            except Refused as refused:
                call.outcome = refused.outcome
                return refused.result

    def _unknown(self, name: str, identity: Identity) -> CallToolResult:
        known = sorted(n for n, e in self.entries.items() if callable_by(e.spec, identity))
        return error_result(f"Unknown tool '{name}'. Available tools: {', '.join(known) or 'none'}.")

    async def _run(self, call: Call) -> Result | Task:
        support = call.entry.spec.task
        if support is not None and takes_tasks(call.ctx):
            return await Detachable(self, call).outcome()
        if support == "required":
            raise MCPError(
                code=MISSING_REQUIRED_CLIENT_CAPABILITY,
                message=f"Tool '{call.name}' runs only as a task; the client did not declare the tasks extension",
                data={"requiredCapabilities": {"extensions": {TASKS_EXTENSION: {}}}},
            )
        timeout = _timeout(call)
        try:
            with anyio.fail_after(timeout):
                async with call.runtime.limiter:
                    return await self.invoke(call, self.context(call))
        except TimeoutError:
            raise _timed_out(call, timeout) from None

    async def invoke(self, call: Call, context: ToolContext[Any, Any]) -> Result:
        """The tool itself; its failures as `Refused`, a question the client must answer first as the
        `InputRequiredResult` that asks it."""
        try:
            # The SDK hands the ToolContext to the parameter we named as the context one; it is
            # typed for its own Context, which ToolContext wraps.
            result: Result = await call.entry.tool.run(
                call.params.arguments or {},
                context,  # type: ignore[arg-type]
                convert_result=True,
            )
            return result
        except ToolError as exc:  # UnexpectedToolError, the SDK's wrapper of a crash, is one too
            if isinstance(exc.__cause__, InputNeeded):
                return exc.__cause__.result
            raise failure(call, exc) from None

    def context(self, call: Call, detach: Callable[[], Awaitable[None]] | None = None) -> ToolContext[Any, Any]:
        runtime, ctx = call.runtime, call.ctx
        sdk = Context(
            request_context=ctx,
            mcp_server=self.server,
            input_params=call.params,
            subscriptions=subscriptions_of(self.server),
        )
        asker: Asker
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            params = call.params
            asker = RoundsAsker(ctx.session.client_capabilities, params.input_responses, params.request_state)
        else:
            asker = DirectAsker(ctx.session, ctx.request_id)
        return ToolContext(
            plugin=runtime.name,
            settings=runtime.settings,
            state=runtime.state,
            identity=call.identity,
            sdk=sdk,
            services=self.services,
            asker=asker,
            detach=detach,
        )

    @contextmanager
    def _observed(self, call: Call) -> Iterator[None]:
        """Calls in flight, the outcome count, the latency, a span, and one log line per call."""
        metrics, plugin, name = self.services.metrics, call.runtime.name, call.name
        started = time.perf_counter()
        metrics.in_flight.labels(plugin).inc()
        attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "toolpark.plugin": plugin}
        calling = current_tool.set((plugin, name))
        try:
            with span(f"execute_tool {name}", attributes=attributes) as current:
                try:
                    yield
                finally:
                    current.set_attribute("toolpark.outcome", call.outcome)
                    if error := _error_type(call.outcome):
                        failed(current, error)
        finally:
            current_tool.reset(calling)
            elapsed = time.perf_counter() - started
            error = _error_type(call.outcome)
            metrics.in_flight.labels(plugin).dec()
            metrics.calls.labels(plugin, name, call.outcome).inc()
            metrics.latency.labels("tools/call", name, error, plugin).observe(elapsed)
            identity = call.identity
            logger.info(
                "tool call %s/%s: %s", plugin, name, call.outcome,
                extra={
                    "request_id": call.ctx.request_id, "plugin": plugin, "tool": name, "subject": identity.subject,
                    "auth": identity.method, "duration_ms": round(elapsed * 1000, 2), "outcome": call.outcome,
                },
            )  # fmt: skip


def _timeout(call: Call) -> float:
    return call.entry.spec.timeout_s or call.runtime.settings.call_timeout_s


def _timed_out(call: Call, timeout: float) -> Refused:
    return Refused(
        "timeout",
        f"Tool '{call.name}' did not finish within {timeout:g} s and was cancelled. "
        "Try a smaller request, or try again later if the server is busy.",
    )


class Detachable:
    """A call of a tool that may run as a task, for a client that takes tasks.

    The work runs in the host's task group from the start, while the request waits for the first of:
    the result (a quick call stays an ordinary one), a question before it became a task (the
    `InputRequiredResult`; the next round runs it again), or the task, created when the tool calls
    `ctx.background()` or after `task_after_s`. From then on the request is answered and the work
    goes on under `task_timeout_s`; a request cancelled before that takes the work with it.
    """

    def __init__(self, caller: ToolCaller, call: Call) -> None:
        self.caller = caller
        self.call = call
        self.tasks = caller.services.tasks
        self.context = caller.context(call, detach=self.detach)
        self.scope = anyio.CancelScope()
        self.started = 0.0
        self._decided = anyio.Event()
        self._detaching = anyio.Lock()
        self._decision: Result | Task | MCPError | None = None
        self.task: Task | None = None  # set once the call runs as a task

    async def outcome(self) -> Result | Task:
        self.tasks.start(self._work)
        try:
            await self._decided.wait()
        except BaseException:
            if self.task is None:
                self.scope.cancel()
            raise
        if isinstance(self._decision, MCPError):
            raise self._decision
        assert self._decision is not None
        return self._decision

    def _decide(self, decision: Result | Task | MCPError) -> None:
        if not self._decided.is_set():
            self._decision = decision
            self._decided.set()

    async def detach(self) -> None:
        async with self._detaching:  # the tool's background() and the timer may both ask
            if self.task is not None or self._decided.is_set():
                return
            try:
                task = await self.tasks.create(owner_of(self.call.identity), self.call.name)
            except TooManyTasks as exc:
                self._decide(error_result(str(exc)))
                self.scope.cancel()
                return
            if self._decided.is_set():  # the work ended while the task was recorded: nobody will ask for it
                task.settle("cancelled")
                return
            task.scope = self.scope
            self.task = task
            self.context.run_as_task(task, TaskAsker(task))
            self.scope.deadline = self.started + self.call.runtime.settings.task_timeout_s
            self._decide(task)

    async def _detach_later(self) -> None:
        await anyio.sleep(self.call.runtime.settings.task_after_s)
        await self.detach()

    async def _work(self) -> None:
        call = self.call
        self.started = anyio.current_time()
        self.scope.deadline = self.started + _timeout(call)
        result: Result | MCPError | None = None
        crashed: Refused | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self._detach_later)
            with self.scope:
                try:
                    async with call.runtime.limiter:
                        result = await self.caller.invoke(call, self.context)
                    if isinstance(result, CallToolResult):
                        result = await fit(call, result, self.caller.services)
                except Refused as refused:
                    result, crashed = refused.result, refused if refused.outcome == "crash" else None
                except MCPError as exc:
                    result = exc
            group.cancel_scope.cancel()
        if result is None:  # the scope ran out, or the task was cancelled
            limit = call.runtime.settings.task_timeout_s if self.task else _timeout(call)
            result = _timed_out(call, limit).result
        if self.task is None:
            self._decide(result)
        else:
            self._settle(self.task, result, crashed)

    def _settle(self, task: Task, result: Result | MCPError, crashed: Refused | None) -> None:
        if isinstance(result, MCPError):
            task.settle("failed", error={"code": result.code, "message": str(result)})
        elif crashed is not None:
            task.settle("failed", error={"code": INTERNAL_ERROR, "message": str(crashed)})
        elif isinstance(result, CallToolResult):
            task.settle("completed", result=result.model_dump(by_alias=True, mode="json", exclude_none=True))
        else:  # an InputRequiredResult the tool built by hand: a task asks through ctx, never so
            message = f"Tool '{self.call.name}' asked a question by hand after it became a task; it must use ctx"
            task.settle("failed", error={"code": INTERNAL_ERROR, "message": message})
        logger.info(
            "task %s of tool %s/%s: %s", task.id, self.call.runtime.name, self.call.name, task.status,
            extra={"task": task.id, "plugin": self.call.runtime.name, "tool": self.call.name, "outcome": task.status},
        )  # fmt: skip

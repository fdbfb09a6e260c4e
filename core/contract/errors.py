"""How failures inside a tool call become results a model can act on.

Plugins raise `ToolError` for failures they foresaw; the host turns it into an `isError`
result carrying the message. Anything else is a bug: the host logs it with an incident id
and the client sees only that id, never a traceback or a secret.
"""

from __future__ import annotations

import secrets

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import ValidationError

__all__ = ["ToolError", "describe_validation_error", "error_result", "first_leaf", "foreseen_error", "incident_id"]


def incident_id() -> str:
    """A short random id that ties a client-visible error to a server log line."""
    return secrets.token_hex(6)


def error_result(message: str) -> CallToolResult:
    """An `isError` tool result with one text block."""
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def describe_validation_error(tool: str, error: ValidationError) -> str:
    """Name every bad field and why, without echoing the rejected values back."""
    problems = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"]) or "(arguments)"
        problems.append(f"'{field}': {detail['msg']}")
    return f"Invalid arguments for tool '{tool}': " + "; ".join(problems) + ". Fix these fields and call again."


def foreseen_error(exc: BaseException | None) -> ToolError | None:
    """The `ToolError` inside an exception group from a task group, when every failure in it was
    foreseen: the first one's message is the answer, not an incident."""
    if isinstance(exc, ToolError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        leaves = [foreseen_error(inner) for inner in exc.exceptions]
        if leaves and all(leaf is not None for leaf in leaves):
            return leaves[0]
    return None


def first_leaf(exc: BaseException) -> BaseException:
    """The first error inside (nested) exception groups: what a task group failed with."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc

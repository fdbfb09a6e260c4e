"""How failures inside a tool call become results a model can act on.

Plugins raise `ToolError` for failures they foresaw; the host turns it into an `isError`
result carrying the message. Anything else is a bug: the host logs it with an incident id
and the client sees only that id, never a traceback or a secret.
"""

from __future__ import annotations

import logging
import secrets

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import ValidationError

__all__ = ["ToolError", "describe_validation_error", "error_result", "incident_id"]

logger = logging.getLogger("toolpark.errors")


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

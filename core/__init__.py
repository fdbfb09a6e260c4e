"""toolpark's shared runtime: the plugin API and the host that serves plugins over MCP.

Plugin authors need only what is exported here; `toolpark.testing` holds the test harness.

The exports load on first use (PEP 562): they stand on the MCP SDK, half a second of imports
that `toolpark --help` and every other submodule that does not need them should not pay.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolpark.contract.context import ToolContext
    from toolpark.contract.errors import ToolError
    from toolpark.contract.pagination import Page, paginate
    from toolpark.contract.plugin import Plugin, RateLimit
    from toolpark.contract.results import text_result
    from toolpark.contract.settings import PluginSettings

__all__ = ["Page", "Plugin", "PluginSettings", "RateLimit", "ToolContext", "ToolError", "paginate", "text_result"]

_HOMES = {
    "ToolContext": "toolpark.contract.context",
    "ToolError": "toolpark.contract.errors",
    "Page": "toolpark.contract.pagination",
    "paginate": "toolpark.contract.pagination",
    "Plugin": "toolpark.contract.plugin",
    "RateLimit": "toolpark.contract.plugin",
    "text_result": "toolpark.contract.results",
    "PluginSettings": "toolpark.contract.settings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'toolpark' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

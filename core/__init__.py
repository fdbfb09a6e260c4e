"""toolpark's shared runtime: the plugin API and the host that serves plugins over MCP.

Plugin authors need only what is exported here; `toolpark.testing` holds the test harness.
"""

from toolpark.contract.context import ToolContext
from toolpark.contract.errors import ToolError
from toolpark.contract.pagination import Page, paginate
from toolpark.contract.plugin import Plugin, RateLimit
from toolpark.contract.results import text_result
from toolpark.contract.settings import PluginSettings

__all__ = ["Page", "Plugin", "PluginSettings", "RateLimit", "ToolContext", "ToolError", "paginate", "text_result"]

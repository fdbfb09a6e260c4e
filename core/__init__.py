"""toolpark's shared runtime: the plugin API and the host that serves plugins over MCP.

Plugin authors need only what is exported here; `core.testing` holds the test harness.
"""

from core.context import ToolContext
from core.errors import ToolError
from core.pagination import Page, paginate
from core.plugin import Plugin
from core.results import text_result
from core.settings import PluginSettings

__all__ = ["Page", "Plugin", "PluginSettings", "ToolContext", "ToolError", "paginate", "text_result"]

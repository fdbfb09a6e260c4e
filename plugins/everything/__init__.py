"""The `everything` example plugin: every MCP server feature, for the conformance suite.

Importing the package registers its tools, resources and prompts on `plugin`.
"""

from plugins.everything import content, tools
from plugins.everything.plugin import plugin

__all__ = ["content", "plugin", "tools"]

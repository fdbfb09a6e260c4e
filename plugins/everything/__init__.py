"""The `everything` example plugin: every MCP server feature, for the conformance suite.

Importing the package registers its tools, resources and prompts on `plugin`.
"""

from toolpark.plugins.everything import content, jobs, rounds, tools
from toolpark.plugins.everything.plugin import plugin

__all__ = ["content", "jobs", "plugin", "rounds", "tools"]

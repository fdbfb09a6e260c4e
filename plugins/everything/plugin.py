"""The `everything` plugin's declaration; tools and content modules register onto it."""

from toolpark import Plugin, PluginSettings


class EverythingSettings(PluginSettings):
    """Settings of the example plugin; it needs none of its own beyond the call limits."""


plugin: Plugin[EverythingSettings, None] = Plugin(
    "everything",
    version="0.1.0",
    description="Exercises every MCP feature toolpark offers; the conformance suite runs against it.",
    settings=EverythingSettings,
    instructions="A test server: its tools return fixed content to prove the protocol works.",
)

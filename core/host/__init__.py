"""The host: loading plugins, their runtime, the MCP servers built from them, the `tools/call` steps,
serving over stdio and HTTP, and its configuration.
"""

"""toolpark's first-party MCP servers, each a plugin registered like any third-party one."""

"""Developer tools: the `toolpark` CLI, its contributed commands, plugin scaffolding, LibreChat snippets."""

"""The plugin contract: `Plugin`, `ToolContext`, settings, errors, paging and results (re-exported by `toolpark`)."""

"""`web`: reads web pages as clean markdown through the host's SSRF-safe egress.

The `fetch` tool takes mcp-server-fetch's arguments (url, max_length, start_index, raw) and
answers in its format, plus `format`, metadata, robots.txt, an HTTP cache and per-site limits;
`fetch_many` reads several pages; `search` queries a SearXNG instance when one is configured.
"""

from toolpark.mcp_servers.web import tools
from toolpark.mcp_servers.web.plugin import plugin

__all__ = ["plugin", "tools"]

"""Point the MCP Python SDK at a toolpark endpoint: list its tools, call one, print the result.

    python docs/examples/connect.py http://127.0.0.1:8765/s3/mcp list_buckets '{}'

`tests/test_docs.py` runs this file against a running host, so the tutorial's code stays true.
"""

from __future__ import annotations

import asyncio
import json
import sys

from mcp import Client
from mcp_types import TextContent


async def main(url: str, tool: str, arguments: dict[str, object]) -> None:
    async with Client(url) as client:  # a URL string: streamable HTTP
        listed = await client.list_tools()
        print("tools:", ", ".join(t.name for t in listed.tools))
        result = await client.call_tool(tool, arguments)
        # A tool's failure is a result, not an exception: `is_error` with a message to act on.
        print("error:" if result.is_error else "result:")
        for block in result.content:
            print(block.text if isinstance(block, TextContent) else f"<{block.type}>")


if __name__ == "__main__":
    url, tool, *rest = sys.argv[1:]
    asyncio.run(main(url, tool, json.loads(rest[0]) if rest else {}))

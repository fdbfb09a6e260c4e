"""Tool search for the combined endpoint: two tools in the listing instead of every plugin's.

A client that connects many servers hands the model all their definitions on every turn. With
`[host] tool_search`, the combined endpoint lists only `search_tools` (find tools by what they do;
their definitions come back) and `call_tool` (call one of them by name). A call through
`call_tool` takes the same path as a direct one: the caller's grants, rate limits, timeouts, the
size cap. Clients that already know a tool's name may still call it directly.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from mcp_types import CallToolResult, TextContent, ToolAnnotations
from mcp_types import Tool as McpTool

__all__ = ["CALL_TOOL", "SEARCH_LISTING", "SEARCH_TOOL", "ToolIndex", "found_tools"]

SEARCH_TOOL = McpTool(
    name="search_tools",
    description="Find the tools that can do a task: describe it in a few words (e.g. 'read a PDF', "
    "'search company documents'). Returns the best matching tools with their input schemas; call one "
    "with call_tool.",
    input_schema={
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 500, "description": "What the tool should do."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
        },
        "required": ["query"],
    },
    annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False),
)

CALL_TOOL = McpTool(
    name="call_tool",
    description="Call a tool that search_tools found, by its name, with arguments that fit its input schema.",
    input_schema={
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "arguments": {"type": "object", "default": {}},
        },
        "required": ["name"],
    },
)

SEARCH_LISTING = (SEARCH_TOOL, CALL_TOOL)
"""What the combined endpoint lists with tool search on."""

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    # snake_case and camelCase names split into their words, as a query would spell them
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text).replace("_", " ")
    return _WORD.findall(spaced.lower())


def _document(tool: McpTool) -> list[str]:
    properties: dict[str, Any] = tool.input_schema.get("properties", {})
    parameters = " ".join(f"{name} {spec.get('description', '')}" for name, spec in properties.items())
    # The name counts twice: it is the shortest statement of what the tool does.
    return _words(f"{tool.name} {tool.name} {tool.title or ''} {tool.description or ''} {parameters}")


class ToolIndex:
    """BM25 over the tools one caller may call: name, title, description, parameters."""

    K1, B = 1.2, 0.75

    def __init__(self, tools: Sequence[McpTool]) -> None:
        self.tools = list(tools)
        self.documents = [Counter(_document(tool)) for tool in self.tools]
        self.average = sum(sum(d.values()) for d in self.documents) / max(1, len(self.documents))
        containing = Counter(word for document in self.documents for word in document)
        n = len(self.documents)
        self.idf = {word: math.log(1 + (n - k + 0.5) / (k + 0.5)) for word, k in containing.items()}

    def search(self, query: str, limit: int) -> list[McpTool]:
        words = set(_words(query))
        scored = []
        for tool, document in zip(self.tools, self.documents, strict=True):
            length = sum(document.values())
            score = sum(
                self.idf[word] * document[word] * (self.K1 + 1)
                / (document[word] + self.K1 * (1 - self.B + self.B * length / self.average))
                for word in words
                if word in document
            )  # fmt: skip
            if score > 0:
                scored.append((score, tool.name, tool))
        return [tool for _, _, tool in sorted(scored, key=lambda s: (-s[0], s[1]))[:limit]]


def found_tools(query: str, tools: Sequence[McpTool]) -> CallToolResult:
    """The answer of `search_tools`: the definitions as text for the model, and as structured data."""
    definitions = [
        tool.model_dump(mode="json", by_alias=True, exclude_none=True, include={"name", "description", "input_schema"})
        for tool in tools
    ]
    if not definitions:
        text = f"No tool matches {query!r}. Try other words for the task."
    else:
        lines = [f"- {d['name']}: {d.get('description', '')}\n  input schema: {d['inputSchema']}" for d in definitions]
        text = "Tools that match, best first (call one with call_tool):\n" + "\n".join(lines)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content={"tools": definitions})

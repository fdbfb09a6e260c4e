"""Building tool results by hand, for tools whose text is not their structured data.

A fetch tool's text is the page a model reads, while its structured data is the page's
metadata; declare the tool's return type as `Annotated[CallToolResult, Meta]` so `Meta` becomes
its outputSchema, and return `text_result(text, meta)`.
"""

from __future__ import annotations

from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

__all__ = ["text_result"]


def text_result(text: str, data: BaseModel | None = None) -> CallToolResult:
    """A result whose content is `text` and whose structured content is `data`."""
    structured = data.model_dump(mode="json", by_alias=True) if data is not None else None
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)

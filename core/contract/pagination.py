"""Paging long text with a continuation cursor, the way `mcp-server-fetch` does it.

A tool returns `text[start_index : start_index + max_length]` and, when more follows, the index
to ask for next. Models handle this well; every server that can return long text uses it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from toolpark.contract.errors import ToolError

__all__ = ["Page", "paginate"]


class Page(BaseModel):
    """One slice of a longer text."""

    text: str
    start_index: int = Field(description="Offset of this slice in the whole text, in characters.")
    next_index: int | None = Field(description="Offset to ask for next, or null when this slice ends the text.")
    total_length: int = Field(description="Length of the whole text, in characters.")


def paginate(text: str, *, start_index: int = 0, max_length: int) -> Page:
    """Cut `text` into the slice starting at `start_index`, at most `max_length` characters long.

    Raises `ToolError` for a negative or out-of-range start, so a model that mis-computes
    the cursor is told what went wrong.
    """
    if max_length < 1:
        raise ToolError("max_length must be at least 1")
    if start_index < 0:
        raise ToolError("start_index must not be negative")
    if start_index and start_index >= len(text):
        raise ToolError(f"start_index {start_index} is past the end of the content ({len(text)} characters)")
    end = min(start_index + max_length, len(text))
    return Page(
        text=text[start_index:end],
        start_index=start_index,
        next_index=end if end < len(text) else None,
        total_length=len(text),
    )

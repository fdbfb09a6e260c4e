"""A faster line split for sse_starlette's event encoder, which frames every SSE response.

`ServerSentEvent.encode` splits each event's data on line breaks with a regex, to send each line
as a `data:` field. The regex engine walks the whole text: 0.7 ms for a 128 KB event on this
machine, a sixth of the host's CPU for a tool returning 64 KB of text. JSON-RPC messages, as the
SDK serializes them, hold no raw line breaks (JSON escapes them), and a substring test finds that
out in microseconds. The encoder's output is unchanged: data with line breaks goes to the regex.
"""

from __future__ import annotations

import re
from typing import Any

from sse_starlette.event import ServerSentEvent

__all__ = ["use_fast_line_split"]


class _LineSplit:
    """The encoder's line-break pattern, skipping the regex when the text has no line break."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def split(self, text: str) -> list[str]:
        if "\n" not in text and "\r" not in text:
            return [text]
        return self.pattern.split(text)

    def sub(self, replacement: str, text: str) -> str:
        if "\n" not in text and "\r" not in text:
            return text
        return self.pattern.sub(replacement, text)

    def __getattr__(self, name: str) -> Any:  # anything else a later sse_starlette asks of its pattern
        return getattr(self.pattern, name)


def use_fast_line_split() -> None:
    """Put `_LineSplit` in front of the encoder's pattern (once; a no-op if sse_starlette changed)."""
    pattern = getattr(ServerSentEvent, "_LINE_SEP_EXPR", None)
    if isinstance(pattern, re.Pattern) and pattern.pattern == r"\r\n|\r|\n":
        ServerSentEvent._LINE_SEP_EXPR = _LineSplit(pattern)  # type: ignore[assignment]  # noqa: SLF001

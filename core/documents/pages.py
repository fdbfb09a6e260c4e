"""Page selections such as "1-3,7": parsed once, checked against the document's length."""

from __future__ import annotations

import re

from toolpark.contract.errors import ToolError

__all__ = ["joined", "select_pages"]

_PART = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d*)\s*)?$")


def select_pages(spec: str | None, count: int, *, limit: int) -> list[int]:
    """1-based page numbers from `spec` ("all" or None: every page), at most `limit` of them."""
    if count == 0:
        return []
    if spec is None or spec.strip().lower() in ("", "all"):
        chosen = list(range(1, count + 1))
    else:
        picked: set[int] = set()
        for part in spec.split(","):
            match = _PART.match(part)
            if not match:
                raise ToolError(
                    f"Invalid page range {part.strip()!r}: use forms like 1-3,7 or 5- (pages 1 to {count})."
                )
            first = int(match.group(1))
            last = first if match.group(2) is None else int(match.group(2) or count)
            if not 1 <= first <= last <= count:
                raise ToolError(f"Page range {part.strip()!r} is outside the document, which has {count} pages.")
            picked.update(range(first, last + 1))
        chosen = sorted(picked)
    if len(chosen) > limit:
        raise ToolError(f"{len(chosen)} pages requested; at most {limit} per call. Ask for a smaller range.")
    return chosen


def joined(found: list[tuple[int, str, bool]]) -> str:
    """Page texts as one text, each page under a `--- page N ---` marker."""
    return "\n\n".join(f"--- page {page} ---\n{text}" for page, text, _ in found)

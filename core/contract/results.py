"""Building tool results by hand, for tools whose text is not their structured data.

A fetch tool's text is the page a model reads, while its structured data is the page's
metadata; declare the tool's return type as `Annotated[CallToolResult, Meta]` so `Meta` becomes
its outputSchema, and return `text_result(text, meta)`.
"""

from __future__ import annotations

import hashlib
from html import escape

from mcp_types import CallToolResult, EmbeddedResource, TextContent, TextResourceContents
from pydantic import BaseModel

__all__ = ["Source", "sources_card", "text_result"]

Source = tuple[str, str, str]
"""One place a result came from: its name, where it is (a URL or an s3:// or file location), and
what of it (a page, a span); the last two may be empty."""


def text_result(text: str, data: BaseModel | None = None) -> CallToolResult:
    """A result whose content is `text` and whose structured content is `data`."""
    structured = data.model_dump(mode="json", by_alias=True) if data is not None else None
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def sources_card(title: str, sources: list[Source]) -> EmbeddedResource:
    """The sources of a result as a `ui://` HTML resource, for front ends that show those in their
    tool-call panel (LibreChat renders one for each such resource; the model gets only its id).
    Same sources, same URI: a front end that keys resources by URI shows one card once."""
    rows = []
    for name, where, what in sources:
        label = escape(name) + (f" <small>({escape(what)})</small>" if what else "")
        link = where.startswith(("https://", "http://"))
        target = f'<a href="{escape(where)}" target="_blank" rel="noopener">{label}</a>' if link else label
        rows.append(f"<li>{target}" + (f"<br><code>{escape(where)}</code>" if where and not link else "") + "</li>")
    html = (
        '<!doctype html><html><body style="font: 14px system-ui, sans-serif; margin: 8px">'
        f"<strong>{escape(title)}</strong><ol>{''.join(rows)}</ol></body></html>"
    )
    digest = hashlib.sha256(html.encode()).hexdigest()[:16]
    contents = TextResourceContents(uri=f"ui://toolpark/sources/{digest}", mime_type="text/html", text=html)
    return EmbeddedResource(type="resource", resource=contents)

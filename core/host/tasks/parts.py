"""A result too large for one message, in parts a model can read one after another.

A model sees a tool result only as the text its client hands it: LibreChat joins the text blocks
and JSON-stringifies any other block, Open WebUI keeps text, images and embedded resources and
drops links. So each part is ordinary content: whole paragraphs where they fit, else whole lines,
else whole words (a character cut only for a word longer than a part); images and embedded blobs
whole, or, when one alone is larger than a part, a line that says where the whole result is. A
result with structured content and no text is read as its indented JSON, line by line.

The same result and part size always give the same parts, so the host keeps only the result and
cuts it again for each read.
"""

from __future__ import annotations

import json

from mcp_types import (
    BlobResourceContents,
    CallToolResult,
    ContentBlock,
    EmbeddedResource,
    TextContent,
    TextResourceContents,
)

__all__ = ["content_bytes", "parts"]

_SEPARATORS = ("\n\n", "\n", " ")  # the widest boundary first


def content_bytes(block: ContentBlock) -> int:
    """The bytes of a block's payload, as the host's size cap counts them."""
    if isinstance(block, EmbeddedResource):
        inner = block.resource
        return len((inner.text if isinstance(inner, TextResourceContents) else inner.blob).encode())
    values = (getattr(block, "text", None), getattr(block, "data", None))
    return sum(len(value.encode()) for value in values if isinstance(value, str))


def parts(result: CallToolResult, budget: int, whole_at: str) -> list[list[ContentBlock]]:
    """`result`'s content in parts of at most `budget` payload bytes, in order; at least one part.
    `whole_at` names where a block too large for any part can be read whole."""
    blocks: list[ContentBlock] = list(result.content)
    if not blocks and result.structured_content is not None:
        indented = json.dumps(result.structured_content, indent=2, ensure_ascii=False)
        blocks = [TextContent(type="text", text=indented)]
    found: list[list[ContentBlock]] = [[]]
    used = 0
    for piece in _pieces(blocks, budget, whole_at):
        size = content_bytes(piece)
        if found[-1] and used + size > budget:
            found.append([])
            used = 0
        found[-1].append(piece)
        used += size
    return found


def _pieces(blocks: list[ContentBlock], budget: int, whole_at: str) -> list[ContentBlock]:
    pieces: list[ContentBlock] = []
    for block in blocks:
        text = _text_of(block)
        if text is not None and len(text.encode()) > budget:
            pieces.extend(TextContent(type="text", text=cut) for cut in _cut(text, budget))
        elif content_bytes(block) > budget:
            kind = getattr(block, "mime_type", None) or getattr(block, "type", "block")
            pieces.append(
                TextContent(
                    type="text",
                    text=f"[{kind}, {content_bytes(block):,} bytes: more than one part holds. The whole result, "
                    f"with it, is at {whole_at} for clients that read resources.]",
                )
            )
        else:
            pieces.append(block)
    return pieces


def _text_of(block: ContentBlock) -> str | None:
    if isinstance(block, TextContent):
        return block.text
    if isinstance(block, EmbeddedResource) and not isinstance(block.resource, BlobResourceContents):
        return block.resource.text
    return None


def _cut(text: str, budget: int, level: int = 0) -> list[str]:
    """`text` in pieces of at most `budget` bytes that join to it again, each as full as the widest
    boundary allows: paragraphs are cut into lines only when one alone is too large, and so on."""
    if len(text.encode()) <= budget:
        return [text]
    if level == len(_SEPARATORS):
        return _by_characters(text, budget)
    units = text.split(_SEPARATORS[level])
    pieces: list[str] = []
    for n, unit in enumerate(units):
        unit += _SEPARATORS[level] if n < len(units) - 1 else ""  # each piece keeps its boundary
        pieces.extend(_cut(unit, budget, level + 1))
    return _filled(pieces, budget)


def _filled(pieces: list[str], budget: int) -> list[str]:
    """Neighbouring pieces joined as long as they fit together."""
    joined: list[str] = []
    current, used = "", 0
    for piece in pieces:
        size = len(piece.encode())
        if current and used + size > budget:
            joined.append(current)
            current, used = "", 0
        current += piece
        used += size
    return [*joined, current] if current else joined


def _by_characters(text: str, budget: int) -> list[str]:
    data = text.encode()
    pieces: list[str] = []
    while data:
        piece = data[: max(budget, 4)].decode(errors="ignore")  # never half a character (at most 4 bytes)
        pieces.append(piece)
        data = data[len(piece.encode()) :]
    return pieces

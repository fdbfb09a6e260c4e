"""Bytes to text: the charset that was declared, else what the document says, else a guess.

For every server that turns fetched or stored bytes into text (web pages, S3 objects).
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

__all__ = ["decode", "is_textual"]

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_TEXTUAL = ("text/", "application/json", "application/xml", "application/javascript", "application/ld+json")


def is_textual(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind.startswith(_TEXTUAL) or kind.endswith(("+xml", "+json"))


def _known(name: bytes | str | None) -> str | None:
    if not name:
        return None
    label = name.decode("ascii", "ignore") if isinstance(name, bytes) else name
    try:
        return codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None


def _declared(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return _known(value)
    return None


def _mostly_right(content: bytes, text: str) -> bool:
    """Whether the bytes the declared charset could not read are few beside those it could.

    A page that declares UTF-8 and carries a stray byte or two is UTF-8: decoding it as declared,
    replacing only those bytes, keeps every other character, where a guess could garble it all.
    A Latin-1 file called UTF-8 fails on nearly every byte above 127: that one is mislabelled.
    """
    bad = text.count("\ufffd") - content.count("\ufffd".encode())
    high = sum(1 for byte in content if byte >= 0x80)
    return bad * 10 <= high


def decode(content: bytes, content_type: str = "") -> str:
    """Decode bytes, trying in turn: BOM, declared charset (or the meta/XML declaration), UTF-8,
    detection. A declared charset wins over a few bytes it cannot read, which become U+FFFD."""
    for bom, codec in _BOMS:
        if content.startswith(bom):
            return content.decode(codec, errors="replace")
    head = content[:4096]
    declared = _declared(content_type) or _known(next(iter(_META_CHARSET.findall(head)), None))
    declared = declared or _known(next(iter(_XML_ENCODING.findall(head)), None))
    if declared:
        try:
            return content.decode(declared)
        except UnicodeDecodeError:
            text = content.decode(declared, errors="replace")
            if _mostly_right(content, text):  # a few bad bytes in a page that is otherwise as declared
                return text
            # mislabelled (stores often call every .txt UTF-8): detect instead
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(content[:200_000]).best()
    return content.decode(best.encoding if best else "latin-1", errors="replace")

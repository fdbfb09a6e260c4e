"""Checks on the text callers send that every layer shares."""

from __future__ import annotations

__all__ = ["has_control_characters"]


def has_control_characters(text: str) -> bool:
    """Whether `text` holds a C0 or C1 control character or DEL (NUL, line breaks, escapes): what
    keys, paths, subjects and filter values never need, and what stores read differently or
    refuse (PostgreSQL rejects NUL in text and jsonb)."""
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)

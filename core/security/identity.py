"""The checks on a subject a front end or a token names: toolpark keeps some names for its own identities."""

from __future__ import annotations

import base64
import binascii
import re

from toolpark.contract.identity import ANONYMOUS, LOCAL
from toolpark.contract.text import has_control_characters

__all__ = ["RESERVED_PREFIX", "check_subject", "decode_header_value"]

_LONGEST_SUBJECT = 256
RESERVED_PREFIX = "key:"  # an API key's subject is key:<its name>


def check_subject(value: str, source: str) -> str:
    """`value` as the subject of a user named by a front end or a token, or a ValueError naming
    `source`. A blank subject would be one shared identity; control characters (NUL above all)
    break the stores that key by it; and the subjects toolpark gives its own identities (`key:<name>`
    for an API key, `anonymous`, `local`) are reserved: per-user spaces are keyed by the subject
    alone (`user:<subject>`, `users/<subject>/`), so a front-end user named `key:ada` would own API
    key ada's notes, collections and S3 folder."""
    if not value.strip():
        raise ValueError(f"{source} names no user (it is empty)")
    if value.startswith(RESERVED_PREFIX) or value in (ANONYMOUS.subject, LOCAL.subject):
        raise ValueError(f"{source} {value!r} is a name toolpark keeps for its own identities (API keys)")
    if len(value) > _LONGEST_SUBJECT or has_control_characters(value):
        raise ValueError(f"{source} must be at most {_LONGEST_SUBJECT} characters, none of them control characters")
    return value


def decode_header_value(value: str) -> str:
    """A user field as a front end sends it: LibreChat's that are not Latin-1 as `b64:<base64 of
    UTF-8>`; Open WebUI percent-encodes every character beyond ASCII (`quote(value, safe=punctuation)`,
    `open_webui.utils.headers`), so runs of %80-%FF escapes are the UTF-8 of such characters. Those
    runs alone are decoded: Open WebUI leaves `%` itself as it is, so `50%25` is what the user typed."""
    if value.startswith("b64:"):
        try:
            return base64.b64decode(value[4:], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError("a b64: header value is not valid base64 of UTF-8 text") from exc
    return _BEYOND_ASCII.sub(_utf8, value) if "%" in value else value


_BEYOND_ASCII = re.compile(r"(?:%[89A-Fa-f][0-9A-Fa-f])+")


def _utf8(escapes: re.Match[str]) -> str:
    try:
        return bytes.fromhex(escapes.group(0).replace("%", "")).decode("utf-8")
    except UnicodeDecodeError:  # not UTF-8: what was sent, unchanged
        return escapes.group(0)

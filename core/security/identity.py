"""Who is calling: what authentication established, handed to every tool as `ctx.identity`."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Literal

from toolpark.contract.text import has_control_characters

__all__ = ["ANONYMOUS", "LOCAL", "RESERVED_PREFIX", "Identity", "check_subject", "decode_header_value"]

Method = Literal["none", "stdio", "api_key", "oidc", "frontend"]


@dataclass(frozen=True)
class Identity:
    """The caller of a request.

    `method` says how it was established: `none` (auth off, loopback only), `stdio` (the local
    process that launched us), `api_key`, `oidc` (a verified bearer token), or `frontend` (a user
    named by a trusted front end such as LibreChat, on behalf of its API key, `via`).
    `grants` are the scopes and roles per-tool requirements are checked against; `grants_from`
    says where they came from, so a refusal can name the claim or header that carried none.
    `read_only`: the caller may call read-only tools only (a key that speaks for many people at
    once, such as LiteLLM's MCP gateway, whose users would otherwise share one writable space).
    """

    subject: str
    method: Method
    name: str | None = None
    email: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    grants: frozenset[str] = field(default_factory=frozenset)
    via: str | None = None
    grants_from: str = ""
    read_only: bool = False

    @property
    def authenticated(self) -> bool:
        return self.method not in ("none", "stdio")

    def may(self, requirement: str) -> bool:
        """Whether the caller holds `requirement` (a scope or role).

        Without authentication the host serves one local user, who may do everything: binding
        anywhere but loopback without auth is refused at start-up.
        """
        return not self.authenticated or requirement in self.grants


ANONYMOUS = Identity(subject="anonymous", method="none")
LOCAL = Identity(subject="local", method="stdio")


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
    """LibreChat sends user fields that are not Latin-1 as `b64:<base64 of UTF-8>`."""
    if not value.startswith("b64:"):
        return value
    try:
        return base64.b64decode(value[4:], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("a b64: header value is not valid base64 of UTF-8 text") from exc

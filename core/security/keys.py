"""API keys: how one is made, the form it is stored in, and how a presented credential is matched.

Apart from the auth middleware so that what writes keys (`toolpark auth new-key`, the deployment's
secrets) and what matches them (the scheduler's wake endpoint) need neither the MCP SDK nor Starlette.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from pydantic import BaseModel, Field

__all__ = ["ApiKey", "find_key", "hash_key", "new_api_key"]


def hash_key(key: str) -> str:
    """The stored form of an API key. Keys are random and long, so a plain SHA-256 suffices."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def find_key(credential: str, keys: Iterable[ApiKey]) -> ApiKey | None:
    """The key `credential` is, by its hash; every key is compared, so timing says nothing about which."""
    digest = hash_key(credential)
    found = None
    for key in keys:
        if hmac.compare_digest(digest, key.hash):
            found = key
    return found


def new_api_key() -> str:
    return "tpk_" + secrets.token_urlsafe(32)


class ApiKey(BaseModel):
    """One API key: a name for logs and audits, its hash, and what it may do."""

    name: str = Field(min_length=1)
    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    scopes: list[str] = Field(default_factory=list)
    trusted_frontend: bool = Field(False, description="May name the end user in X-User-* headers.")
    read_only: bool = Field(False, description="May call read-only tools only (a gateway speaking for many users).")

"""Who may wake the scheduled node: a request counts as demand only when it proves that a user of
this deployment sent it, since every wake-up is paid GPU time.

Proof is what the stack's own parts already hand their users, checked with the secrets the
scheduler holds in `.env`:
- a signed-in front-end session: LibreChat's `refreshToken` cookie (a JWT signed with
  JWT_REFRESH_SECRET) or Open WebUI's `token` cookie (a JWT signed with WEBUI_SECRET_KEY, our
  OPENWEBUI_SECRET_KEY), both HS256 as those front ends sign them;
- a key: LiteLLM's master key, or a toolpark API key (TOOLPARK_AUTH_API_KEYS holds their hashes),
  as a bearer token or typed into the offline page's form.
A caller is named by how it proved itself, so the daily cap counts per user or per key.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

import jwt
from pydantic import TypeAdapter

from toolpark.security.keys import ApiKey, find_key

__all__ = ["Wakers"]

# Cookie name, front end, and the .env secret its sessions are signed with.
_SESSIONS = (("refreshToken", "librechat", "JWT_REFRESH_SECRET"), ("token", "openwebui", "OPENWEBUI_SECRET_KEY"))
_LONGEST_ID = 128


class Wakers:
    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._master = secrets.get("LITELLM_MASTER_KEY", "")
        self._keys = TypeAdapter(list[ApiKey]).validate_json(secrets.get("TOOLPARK_AUTH_API_KEYS") or "[]")
        self._sessions = [(cookie, name, secrets[secret]) for cookie, name, secret in _SESSIONS if secrets.get(secret)]

    def caller(self, authorization: list[str], cookies: Mapping[str, str], key: str = "") -> str | None:
        """Who sent a request, or None when it proves nothing. A request with two Authorization
        headers proves nothing: which one counts would be up to each proxy on the way."""
        if not key and len(authorization) == 1:
            scheme, _, value = authorization[0].partition(" ")
            key = value.strip() if scheme.lower() == "bearer" else ""
        if key and (owner := self._key_owner(key)):
            return f"key:{owner}"
        for cookie, front_end, secret in self._sessions:
            if (token := cookies.get(cookie)) and (user := self._session_user(token, secret)):
                return f"{front_end}:{user}"
        return None

    def _key_owner(self, key: str) -> str | None:
        master = bool(self._master) and hmac.compare_digest(key.encode(), self._master.encode())
        toolpark = find_key(key, self._keys)  # asked either way, so timing says nothing of which
        return "litellm-master" if master else toolpark.name if toolpark else None

    @staticmethod
    def _session_user(token: str, secret: str) -> str | None:
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["id"]})
        except jwt.PyJWTError:
            return None
        user = claims["id"]
        return user if isinstance(user, str) and 0 < len(user) <= _LONGEST_ID and user.isprintable() else None

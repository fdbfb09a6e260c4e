"""Verifying OIDC bearer tokens against the issuer's JWKS (Keycloak is the reference issuer).

Checks: an allowed asymmetric algorithm (never `none`, never HMAC, so a public key cannot be
used as an HMAC secret), the signature under the key named by `kid`, `exp`/`nbf`/`iat` with a
small leeway, `iss`, the audience (`aud`, or `azp` for Keycloak's default tokens) and required
realm or client roles. The JWKS is cached and fetched again on an unknown `kid`, at most once
per `min_refresh_s`, so a flood of forged `kid`s cannot hammer the issuer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import jwt

__all__ = ["InvalidToken", "Jwks", "TokenVerifier", "VerifiedToken"]

logger = logging.getLogger("toolpark.auth")

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class InvalidToken(Exception):
    """The token was not accepted; `reason` is a short label for metrics, the message for the client."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Jwks:
    """The issuer's signing keys, cached; refreshed on an unknown `kid` at most once per `min_refresh_s`."""

    def __init__(self, url: str, *, min_refresh_s: float = 30.0, timeout_s: float = 10.0) -> None:
        self.url = url
        self.min_refresh_s = min_refresh_s
        self.timeout_s = timeout_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = anyio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        if kid not in self._keys:
            async with self._lock:
                if kid not in self._keys and time.monotonic() - self._fetched_at >= self.min_refresh_s:
                    await self._fetch()
        try:
            return self._keys[kid]
        except KeyError:
            raise InvalidToken("the token is signed with an unknown key", "unknown_kid") from None

    async def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.get(self.url)
                response.raise_for_status()
                keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            logger.error("could not fetch the JWKS from %s: %s", self.url, exc)
            return
        self._keys = {key.key_id: key for key in keys if key.key_id}


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    client: str | None
    issuer: str
    roles: frozenset[str]
    scopes: frozenset[str]
    name: str | None
    email: str | None


class TokenVerifier:
    """Verifies one issuer's access tokens for one audience."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: Jwks,
        audience_claim: str = "aud",
        required_roles: frozenset[str] = frozenset(),
        leeway_s: float = 30.0,
        algorithms: tuple[str, ...] = ASYMMETRIC,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.audience_claim = audience_claim
        self.required_roles = required_roles
        self.leeway_s = leeway_s
        self.algorithms = tuple(a for a in algorithms if a in ASYMMETRIC)

    async def verify(self, token: str) -> VerifiedToken:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is not a well-formed JWT", "malformed") from exc
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise InvalidToken(f"tokens signed with {algorithm!r} are not accepted", "algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("the token names no signing key (kid)", "unknown_kid")
        key = await self.jwks.key(kid)
        if key.algorithm_name and key.algorithm_name != algorithm:
            raise InvalidToken("the token's algorithm does not match its key", "algorithm")
        claims = self._decode(token, key, algorithm)
        roles = _roles(claims, self.audience)
        missing = self.required_roles - roles
        if missing:
            raise InvalidToken(f"the token lacks the role(s) {', '.join(sorted(missing))}", "missing_role")
        return VerifiedToken(
            subject=str(claims["sub"]),
            client=claims.get("azp"),
            issuer=self.issuer,
            roles=roles,
            scopes=frozenset(str(claims.get("scope", "")).split()),
            name=claims.get("preferred_username") or claims.get("name"),
            email=claims.get("email"),
        )

    def _decode(self, token: str, key: jwt.PyJWK, algorithm: str) -> dict[str, Any]:
        check_aud = self.audience_claim == "aud"
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                issuer=self.issuer,
                audience=self.audience if check_aud else None,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "sub"], "verify_aud": check_aud},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired", "expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("the token is not valid yet", "not_yet_valid") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("the token is from another issuer", "issuer") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("the token is for another audience", "audience") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("the token's signature does not verify", "signature") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the token is invalid: {exc}", "invalid") from exc
        if not check_aud and claims.get(self.audience_claim) != self.audience:
            raise InvalidToken(f"the token's {self.audience_claim} is not this server's client", "audience")
        return claims


def _roles(claims: Mapping[str, Any], client: str) -> frozenset[str]:
    """Keycloak's realm roles, and this client's roles as `<client>:<role>` and plain."""
    realm = claims.get("realm_access", {}).get("roles", [])
    own = claims.get("resource_access", {}).get(client, {}).get("roles", [])
    return frozenset(map(str, realm)) | frozenset(map(str, own)) | frozenset(f"{client}:{r}" for r in own)

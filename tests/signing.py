"""RSA-signed access tokens shaped like Keycloak's, and the JWKS that verifies them."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class Signer:
    """An RSA key published in a JWKS, and tokens signed with it."""

    def __init__(self, kid: str, issuer: str, audience: str | list[str]) -> None:
        self.kid, self.issuer, self.audience = kid, issuer, audience
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": "user-123", "azp": "librechat",
            "iat": now, "exp": now + 300,
            "preferred_username": "ada", "realm_access": {"roles": ["mcp-user", "staff"]},
        }  # fmt: skip
        claims.update(overrides)
        headers = {"kid": overrides.pop("kid", self.kid)}
        claims.pop("kid", None)
        return jwt.encode({k: v for k, v in claims.items() if v is not None}, self.key, "RS256", headers=headers)

"""How rendered files name what is decided elsewhere: secrets in .env, MCP paths, the issuer."""

from __future__ import annotations

import re

from toolpark.compose.spec import Deployment

__all__ = ["REFERENCE", "issuer", "mcp_path", "secret"]

# A `${NAME}` reference to .env as `secret` writes it (with or without a `:?`/`:-` tail); group 1 is NAME.
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(?::?[-?])[^}]*)?\}")


def secret(name: str) -> str:
    """A reference compose fills from .env, failing loudly (not with an empty value) when it is absent."""
    return f"${{{name}:?{name} is missing from .env}}"


def mcp_path(server: str) -> str:
    return f"/{server}/mcp"


def issuer(spec: Deployment) -> str:
    return f"https://{spec.sso_hostname}/realms/{spec.keycloak.realm}"

"""OAuth discovery for MCP clients: RFC 9728 Protected Resource Metadata.

Clients that log users in themselves (Claude Desktop, VS Code, the TypeScript SDK's OAuth client)
learn from a 401's `WWW-Authenticate: Bearer resource_metadata="…"` where the endpoint's metadata
is; it names the authorization server (the OIDC issuer), the scopes to ask for and the resource
URI, which the client sends as RFC 8707 `resource` and the token's audience must match.
"""

from __future__ import annotations

from typing import Any

from mcp.shared.auth import ProtectedResourceMetadata
from starlette.datastructures import URL
from starlette.types import Scope

from toolpark.security.auth import AuthSettings

__all__ = ["WELL_KNOWN", "metadata_path", "protected_resource", "public_base"]

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def metadata_path(endpoint_path: str) -> str:
    """Where RFC 9728 puts an endpoint's metadata: the well-known prefix before the endpoint's path."""
    return WELL_KNOWN + endpoint_path


def public_base(settings: AuthSettings, scope: Scope) -> str:
    """The scheme and host clients reach this host at: the configured public URL, else the request's own
    (behind a proxy, the Host it forwards)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    url = URL(scope=scope)
    return f"{url.scheme}://{url.netloc}"


def protected_resource(settings: AuthSettings, resource: str, name: str) -> dict[str, Any]:
    """The metadata document of the endpoint `resource` (its full public URL)."""
    assert settings.oidc_issuer is not None
    document = ProtectedResourceMetadata.model_validate(
        {
            "resource": resource,
            "authorization_servers": [settings.oidc_issuer],
            "scopes_supported": settings.oidc_scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": f"toolpark {name}",
        }
    )
    return document.model_dump(mode="json", exclude_none=True)

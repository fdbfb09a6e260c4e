"""The Keycloak realm import: the chat front ends' clients, the roles, and the audience the MCP servers check.

Keycloak puts `aud: account` and the client in `azp` by default; the audience mapper adds the
MCP servers' audience to the front ends' access tokens, so the servers accept exactly the tokens
the front ends forward and no token issued for another client. Keycloak resolves `${...}` in an
imported realm from its environment, so the client secret stays in .env.
"""

from __future__ import annotations

from typing import Any

from toolpark.compose.spec import Deployment

__all__ = ["realm"]


def _client(spec: Deployment, client_id: str, name: str, secret: str, public: str, callback: str) -> dict[str, Any]:
    return {
        **_audience_client(spec, client_id, name),
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "secret": f"${{{secret}}}",
        "redirectUris": [f"{public}{callback}"],
        "webOrigins": [public],
        "attributes": {"post.logout.redirect.uris": f"{public}/*", "pkce.code.challenge.method": "S256"},
    }


def _mcp_client(spec: Deployment, client_id: str) -> dict[str, Any]:
    """The client of MCP clients other than the front ends: public (an app on the user's machine keeps no
    secret), PKCE, codes only to loopback listeners; its tokens carry the MCP servers' audience."""
    return {
        **_audience_client(spec, client_id, "MCP clients"),
        "publicClient": True,
        "redirectUris": spec.keycloak.mcp_redirect_uris,
        "webOrigins": [],
        "attributes": {"pkce.code.challenge.method": "S256"},
    }


def _audience_client(spec: Deployment, client_id: str, name: str) -> dict[str, Any]:
    audience = spec.keycloak.audience
    return {
        "clientId": client_id,
        "name": name,
        "enabled": True,
        "protocol": "openid-connect",
        "standardFlowEnabled": True,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "defaultClientScopes": ["web-origins", "profile", "roles", "email"],
        "protocolMappers": [
            {
                "name": f"audience {audience}",
                "protocol": "openid-connect",
                "protocolMapper": "oidc-audience-mapper",
                "config": {
                    "included.custom.audience": audience,
                    "access.token.claim": "true",
                    "id.token.claim": "false",
                    "introspection.token.claim": "true",
                },
            }
        ],
    }


def realm(spec: Deployment) -> dict[str, Any]:
    kc = spec.keycloak
    clients = []
    if spec.librechat.enabled:
        chat = f"https://{spec.chat_hostname}"
        clients.append(
            _client(spec, kc.client_id, "LibreChat", "KEYCLOAK_CLIENT_SECRET", chat, "/oauth/openid/callback")
        )
    if spec.openwebui_hostname:
        public = f"https://{spec.openwebui_hostname}"
        owui = spec.openwebui.client_id
        clients.append(_client(spec, owui, "Open WebUI", "OPENWEBUI_CLIENT_SECRET", public, "/oauth/oidc/callback"))
    if kc.mcp_client_id:
        clients.append(_mcp_client(spec, kc.mcp_client_id))
    return {
        "realm": kc.realm,
        "enabled": True,
        "displayName": spec.librechat.title,
        "sslRequired": "external",
        "registrationAllowed": False,
        "loginWithEmailAllowed": True,
        "bruteForceProtected": True,
        "accessTokenLifespan": 900,
        "roles": {"realm": [{"name": role, "description": f"{role} of {spec.librechat.title}"} for role in kc.roles]},
        "defaultRoles": [kc.required_role] if kc.required_role else [],
        "clients": clients,
    }

"""The Keycloak realm import: LibreChat's client, the roles, and the audience the MCP servers check.

Keycloak puts `aud: account` and the client in `azp` by default; the audience mapper adds the
MCP servers' audience to LibreChat's access tokens, so the servers accept exactly the tokens
LibreChat forwards and no token issued for another client. Keycloak resolves `${...}` in an
imported realm from its environment, so the client secret stays in .env.
"""

from __future__ import annotations

from typing import Any

from toolpark.compose.spec import Deployment

__all__ = ["realm"]


def realm(spec: Deployment) -> dict[str, Any]:
    kc = spec.keycloak
    chat = f"https://{spec.chat_hostname}"
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
        "clients": [
            {
                "clientId": kc.client_id,
                "name": "LibreChat",
                "enabled": True,
                "protocol": "openid-connect",
                "publicClient": False,
                "clientAuthenticatorType": "client-secret",
                "secret": "${KEYCLOAK_CLIENT_SECRET}",
                "standardFlowEnabled": True,
                "directAccessGrantsEnabled": False,
                "serviceAccountsEnabled": False,
                "redirectUris": [f"{chat}/oauth/openid/callback"],
                "webOrigins": [chat],
                "attributes": {"post.logout.redirect.uris": f"{chat}/*", "pkce.code.challenge.method": "S256"},
                "defaultClientScopes": ["web-origins", "profile", "roles", "email"],
                "protocolMappers": [
                    {
                        "name": f"audience {kc.audience}",
                        "protocol": "openid-connect",
                        "protocolMapper": "oidc-audience-mapper",
                        "config": {
                            "included.custom.audience": kc.audience,
                            "access.token.claim": "true",
                            "id.token.claim": "false",
                            "introspection.token.claim": "true",
                        },
                    }
                ],
            }
        ],
    }

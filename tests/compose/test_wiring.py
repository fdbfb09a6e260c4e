"""The rendered settings fit together: a toolpark server configured exactly as its compose service
accepts what LibreChat, configured by the rendered librechat.yaml, sends it, and nothing else."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from tests.compose.rendering import rendered
from tests.signing import Signer
from tests.webhost import WebHost, web_host
from toolpark.compose.render import ENV_FILE
from toolpark.compose.secrets import parse_env
from toolpark.compose.wiring import WIRING
from toolpark.contract.settings import load_settings
from toolpark.host.loading import load_plugins
from toolpark.plugins.everything import plugin as everything
from toolpark.security.auth import AuthSettings
from toolpark.testing import RunningHost, http_client, post_initialize

pytestmark = pytest.mark.anyio


class Deployment:
    """One rendered deployment, with `${NAME}` resolved as docker compose resolves it from .env."""

    def __init__(self, case: str) -> None:
        self.files = rendered(case)
        self.secrets = parse_env(self.files[ENV_FILE])
        self.services: dict[str, Any] = {}
        for path, text in self.files.items():
            if path.startswith("compose"):
                self.services |= yaml.safe_load(text)["services"]
        self.librechat = yaml.safe_load(self.files["librechat/librechat.yaml"])

    def resolve(self, value: str) -> str:
        return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(:\?[^}]*)?\}", lambda m: self.secrets[m.group(1)], value)

    def environment(self, service: str) -> dict[str, str]:
        return {k: self.resolve(str(v)) for k, v in self.services[service]["environment"].items()}

    def auth_settings(self, service: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        """The auth section as the server in the container reads it: from its environment."""
        for key, value in self.environment(service).items():
            if key.startswith("TOOLPARK_AUTH_"):
                monkeypatch.setenv(key, value)
        return load_settings(AuthSettings, prefix="TOOLPARK_AUTH_", table={}).model_dump()

    def librechat_headers(self, server: str, user: dict[str, str]) -> dict[str, str]:
        """Headers LibreChat sends: `${VAR}` from its container env, `{{LIBRECHAT_*}}` from the user."""
        env = self.environment("librechat")
        headers = {}
        for name, value in self.librechat["mcpServers"][server]["headers"].items():
            value = re.sub(r"\$\{([A-Z_][A-Z0-9_]*)\}", lambda m: env[m.group(1)], value)
            headers[name] = re.sub(r"\{\{(LIBRECHAT_[A-Z_]+)\}\}", lambda m: user[m.group(1)], value)
        return headers


@pytest.fixture
def jwks() -> Iterator[WebHost]:
    with web_host("sso") as server:
        yield server


async def whoami(running: RunningHost, headers: dict[str, str]) -> dict[str, Any]:
    async with http_client(running.url("everything"), headers=headers) as client:
        result = await client.call_tool("whoami", {})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def refused(running: RunningHost, headers: dict[str, str], status: int = 401) -> bool:
    """Whether the host answers `status` before reading any MCP message."""
    return post_initialize(running.url("everything"), **headers).status_code == status


async def test_servers_accept_the_keycloak_tokens_librechat_forwards(
    toolpark_http: Callable[..., RunningHost], jwks: WebHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment("entry-gpu")
    realm = json.loads(deployment.files["keycloak/realm.json"])
    clients = {c["clientId"]: c for c in realm["clients"]}
    client, mcp_client = clients["librechat"], clients["mcp-clients"]
    (mapper,) = client["protocolMappers"]
    assert mcp_client["publicClient"] and mcp_client["protocolMappers"] == client["protocolMappers"]
    librechat = deployment.environment("librechat")
    assert librechat["OPENID_CLIENT_ID"] == client["clientId"] and librechat["OPENID_REUSE_TOKENS"] == "true"
    assert librechat["OPENID_CLIENT_SECRET"] == deployment.secrets["KEYCLOAK_CLIENT_SECRET"]

    auth = deployment.auth_settings("toolpark-web", monkeypatch)
    assert auth["oidc_issuer"] == librechat["OPENID_ISSUER"]
    assert auth["oidc_jwks_url"] == f"http://keycloak:8080/realms/{realm['realm']}/protocol/openid-connect/certs"
    auth["oidc_jwks_url"] = f"{jwks.url}/certs"  # the test's Keycloak stand-in publishes the key
    signer = Signer("kc-1", auth["oidc_issuer"], [mapper["config"]["included.custom.audience"], "account"])
    jwks.documents["/certs"] = json.dumps({"keys": [signer.jwk()]}).encode()
    running = toolpark_http(everything, auth=auth)

    # What Keycloak issues to LibreChat's client with the realm's audience mapper and default role.
    roles = {"roles": realm["defaultRoles"]}
    token = signer.token(azp=client["clientId"], realm_access=roles)
    headers = deployment.librechat_headers("web", {"LIBRECHAT_OPENID_ACCESS_TOKEN": token})
    me = await whoami(running, headers)
    assert (me["subject"], me["method"]) == ("user-123", "oidc")
    # A token for another client (Keycloak's default `aud: account`) or without the role is refused.
    assert refused(running, {"Authorization": f"Bearer {signer.token(aud='account', realm_access=roles)}"})
    assert refused(running, {"Authorization": f"Bearer {signer.token(realm_access={'roles': []})}"})
    # An MCP client other than LibreChat finds the issuer and the resource in the endpoint's OAuth
    # metadata, logs the user in with the realm's public client, and its token is taken too.
    found = (await running.get("/.well-known/oauth-protected-resource/everything/mcp")).json()
    assert found["authorization_servers"] == [auth["oidc_issuer"]]
    assert found["resource"] == f"{auth['public_url'] or running.base_url}/everything/mcp"  # no tools_hostname here
    other = await whoami(running, {"Authorization": f"Bearer {signer.token(azp='mcp-clients', realm_access=roles)}"})
    assert other["subject"] == "user-123"
    # The operator's key from .env works for smoke tests.
    ops = await whoami(running, {"Authorization": f"Bearer {deployment.secrets['TOOLPARK_OPS_KEY']}"})
    assert ops["subject"] == "key:operator"


async def test_servers_accept_librechats_key_and_user_headers(
    toolpark_http: Callable[..., RunningHost], monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment("single-node")
    running = toolpark_http(everything, auth=deployment.auth_settings("toolpark-web", monkeypatch))
    user = {
        "LIBRECHAT_USER_ID": "665f1c0ffee",
        "LIBRECHAT_USER_NAME": "Ada",
        "LIBRECHAT_USER_EMAIL": "ada@example.net",
        "LIBRECHAT_USER_ROLE": "USER",
    }
    me = await whoami(running, deployment.librechat_headers("web", user))
    assert me["subject"] == "665f1c0ffee" and me["via"] == "librechat"
    # The key alone may not speak for a user unless it is LibreChat's: the operator key cannot.
    ops = {"Authorization": f"Bearer {deployment.secrets['TOOLPARK_OPS_KEY']}", "X-User-ID": "someone"}
    assert refused(running, ops, 403)
    assert refused(running, {"Authorization": "Bearer tpk_wrong"})


def test_every_wiring_entry_names_a_setting_of_its_server() -> None:
    """The wiring table feeds settings that exist, with a type the rendered string can be read as."""
    servers = {feed.server for feed in WIRING}
    models = {plugin.name: plugin.settings_model for plugin in load_plugins(sorted(servers))}
    for feed in WIRING:
        assert feed.setting in models[feed.server].model_fields, f"{feed.server} has no setting {feed.setting}"

"""librechat.yaml: the model endpoint, one MCP server per toolpark server, file storage."""

from __future__ import annotations

from typing import Any

from toolpark.compose.references import mcp_path
from toolpark.compose.topology import Topology
from toolpark.devtools.librechat import allowed_addresses, mcp_server

__all__ = ["CONFIG_VERSION", "librechat_config"]

# The librechat.yaml version LibreChat's schema package (librechat-data-provider) names current.
CONFIG_VERSION = "1.3.17"


def _headers(topology: Topology) -> dict[str, str]:
    """With single sign-on LibreChat forwards the user's own Keycloak token, which the servers
    verify; otherwise it authenticates with its trusted-front-end key and names the user."""
    if topology.spec.auth_mode == "oidc":
        return {"Authorization": "Bearer {{LIBRECHAT_OPENID_ACCESS_TOKEN}}"}
    return {
        "Authorization": "Bearer ${TOOLPARK_LIBRECHAT_KEY}",
        "X-User-ID": "{{LIBRECHAT_USER_ID}}",
        "X-User-Name": "{{LIBRECHAT_USER_NAME}}",
        "X-User-Email": "{{LIBRECHAT_USER_EMAIL}}",
        "X-User-Roles": "{{LIBRECHAT_USER_ROLE}}",
    }


ENGINE_LABELS = {"vllm": "vLLM", "ollama": "Ollama", "llamacpp": "llama.cpp", "tgi": "TGI", "openai": "Models"}


def _endpoint(name: str, base_url: str, models: list[str], title_model: str) -> dict[str, Any]:
    return {
        "name": name,
        "apiKey": "${LLM_API_KEY}",
        "baseURL": base_url,
        "models": {"default": models, "fetch": False},
        "titleConvo": True,
        "titleModel": title_model,
    }


def _endpoints(topology: Topology) -> list[dict[str, Any]]:
    """LiteLLM routes every model behind one endpoint; without it each model's server is one."""
    spec = topology.spec
    chat, vision = spec.models.chat.served_name, spec.models.vision
    if spec.litellm.enabled:
        models = [chat] + ([vision.served_name] if vision else [])
        return [_endpoint("LiteLLM", topology.url("librechat", "litellm", "/v1"), models, chat)]
    label = ENGINE_LABELS[spec.models.chat.engine]
    found = [_endpoint(label, topology.model_url("librechat", "chat"), [chat], chat)]
    if vision is not None:
        url = topology.model_url("librechat", "vision")
        found.append(_endpoint(f"{ENGINE_LABELS[vision.engine]} vision", url, [vision.served_name], vision.served_name))
    return found


def librechat_config(topology: Topology) -> dict[str, Any]:
    spec = topology.spec
    endpoints = _endpoints(topology)
    servers = {
        name: mcp_server(
            topology.url("librechat", f"toolpark-{name}", mcp_path(name)),
            timeout_ms=spec.librechat.mcp_timeout_ms,
            headers=_headers(topology),
            server_instructions=server.server_instructions,
        )
        for name, server in spec.toolpark.servers.items()
    }
    config: dict[str, Any] = {
        "version": CONFIG_VERSION,
        "cache": True,
        "interface": {"customWelcome": f"Welcome to {spec.librechat.title}"},
        "registration": {"socialLogins": ["openid"] if spec.keycloak.enabled else []},
        "endpoints": {
            "allowedAddresses": allowed_addresses(e["baseURL"] for e in endpoints),
            "custom": endpoints,
        },
        "mcpSettings": {"allowedAddresses": allowed_addresses(s["url"] for s in servers.values())},
        "mcpServers": servers,
    }
    if spec.s3 is not None:
        config["fileStrategy"] = "s3"
    return config

"""LiteLLM's config.yaml: every model behind one OpenAI-compatible API with keys and spend."""

from __future__ import annotations

from typing import Any

from toolpark.compose.references import mcp_path
from toolpark.compose.secrets import model_key_secret
from toolpark.compose.topology import Topology

__all__ = ["litellm_config"]


def litellm_config(topology: Topology) -> dict[str, Any]:
    spec = topology.spec
    config: dict[str, Any] = {
        "model_list": [
            {
                "model_name": model.served_name,
                "litellm_params": {
                    # vLLM has its own provider in LiteLLM; the others speak the OpenAI API at /v1.
                    "model": f"{'hosted_vllm' if model.engine == 'vllm' else 'openai'}/{model.served_name}",
                    "api_base": topology.model_url("litellm", role),
                    "api_key": f"os.environ/{model_key_secret(model)}",
                },
                "model_info": {"mode": "embedding" if role == "embedding" else "chat"},
            }
            for role, model in spec.models.by_role().items()
        ],
        "litellm_settings": {"drop_params": True},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    if spec.litellm.database:
        config["general_settings"]["database_url"] = "os.environ/DATABASE_URL"
    if (fallback := spec.scheduler.fallback_model) is not None and spec.scheduled_node:
        # While the scheduled node is away, a call to the chat model that fails goes to this one.
        name = f"{spec.models.chat.served_name}-fallback"
        params = {"model": fallback.model}
        if fallback.api_base:
            params["api_base"] = fallback.api_base
        if fallback.api_key_secret:
            params["api_key"] = f"os.environ/{fallback.api_key_secret}"
        config["model_list"].append({"model_name": name, "litellm_params": params, "model_info": {"mode": "chat"}})
        config["router_settings"] = {"fallbacks": [{spec.models.chat.served_name: [name]}]}
    if spec.litellm.mcp_gateway:
        # LiteLLM's MCP gateway (/mcp) lists and calls the servers' tools for its own key holders;
        # it authenticates to the servers with its own toolpark key.
        config["mcp_servers"] = {
            name: {
                "url": topology.url("litellm", f"toolpark-{name}", mcp_path(name)),
                "transport": "http",
                "auth_type": "bearer_token",
                "auth_value": "os.environ/TOOLPARK_LITELLM_KEY",
                "description": f"toolpark {name} server",
            }
            for name in spec.toolpark.servers
        }
    return config

"""LiteLLM's config.yaml: every vLLM model behind one OpenAI-compatible API with keys and spend."""

from __future__ import annotations

from typing import Any

from toolpark.compose.topology import Topology

__all__ = ["litellm_config"]


def litellm_config(topology: Topology) -> dict[str, Any]:
    spec = topology.spec
    served = [("vllm-chat", spec.models.chat, "chat"), ("vllm-embedding", spec.models.embedding, "embedding")]
    if spec.models.vision is not None:
        served.append(("vllm-vision", spec.models.vision, "chat"))
    return {
        "model_list": [
            {
                "model_name": model.served_name,
                "litellm_params": {
                    "model": f"hosted_vllm/{model.served_name}",
                    "api_base": topology.url("litellm", service, "/v1"),
                    "api_key": "os.environ/VLLM_API_KEY",
                },
                "model_info": {"mode": mode},
            }
            for service, model, mode in served
        ],
        "litellm_settings": {"drop_params": True},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY", "database_url": "os.environ/DATABASE_URL"},
    }

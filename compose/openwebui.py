"""Open WebUI's settings: it reads them all from its environment (with persistent config off, so
the spec stays the source and an admin's edit in the UI does not outlive a restart).

The chat and embedding models come from LiteLLM, or straight from vLLM without it; its own document
search embeds through the stack's model, so nothing is downloaded at start (`OFFLINE_MODE`). Each
toolpark server is one MCP tool server connection: with single sign-on Open WebUI forwards the
user's own Keycloak token (`system_oauth`); otherwise it sends its trusted-front-end key and names
the user in the same X-User-* headers LibreChat sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolpark.compose.references import issuer, mcp_path, secret
from toolpark.compose.secrets import model_key_secret
from toolpark.compose.topology import Topology

if TYPE_CHECKING:
    from toolpark.compose.spec import Deployment

__all__ = [
    "OPENWEBUI_FOLDER",
    "SOURCES_FILE",
    "openwebui_entrypoint",
    "openwebui_environment",
    "openwebui_files",
    "openwebui_mounts",
    "tool_server_connections",
    "uploads_in_s3",
]

OPENWEBUI_FOLDER = "openwebui"
"""Where in the stack's bucket Open WebUI keeps its users' uploads (its S3_KEY_PREFIX)."""


# Open WebUI's start in the stack and the filter it installs (sources under the answer), rendered
# beside it: the compose target mounts both into the image and runs the start with its Python.
START_FILE = "openwebui/start.py"
SOURCES_FILE = "openwebui/toolpark_sources.py"
_IN_IMAGE = "/app/toolpark"


def openwebui_files() -> dict[str, str]:
    """The rendered folder's files for Open WebUI, by their paths in it."""
    here = Path(__file__).parent
    return {
        START_FILE: (here / "openwebui_start.py").read_text(),
        SOURCES_FILE: (here / "openwebui_sources.py").read_text(),
    }


def openwebui_mounts() -> dict[str, str]:
    """Where in the image each of those files is mounted."""
    return {file: f"{_IN_IMAGE}/{Path(file).name}" for file in (START_FILE, SOURCES_FILE)}


def openwebui_entrypoint() -> list[str]:
    """The image's command (its start script) runs under the start, which installs the filter."""
    mounted = openwebui_mounts()
    return ["python3", mounted[START_FILE], mounted[SOURCES_FILE], "--"]


def uploads_in_s3(spec: Deployment) -> bool:
    """Whether Open WebUI keeps uploads in the stack's S3, tagged with each user's id, for the tools
    to read each user's own. Not with single sign-on: the tools then know a user by the token's
    subject, which is not the Open WebUI user id the tags hold."""
    return spec.s3 is not None and spec.openwebui.enabled and spec.auth_mode != "oidc"


# Header templates Open WebUI fills per user (open_webui.utils.headers.parse_custom_headers).
_USER_HEADERS = {
    "X-User-ID": "{{USER_ID}}",
    "X-User-Name": "{{USER_NAME}}",
    "X-User-Email": "{{USER_EMAIL}}",
    "X-User-Roles": "{{USER_ROLE}}",
}


def tool_server_connections(topology: Topology) -> list[dict[str, Any]]:
    spec = topology.spec
    connections = []
    for name in spec.toolpark.servers:
        connection: dict[str, Any] = {
            "type": "mcp",
            "url": topology.url("openwebui", f"toolpark-{name}", mcp_path(name)),
            "path": "",
            "config": {
                "enable": True,
                # Every user may use the tools; the servers themselves decide what each user sees.
                "access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}],
            },
            "info": {"id": name, "name": name, "description": f"toolpark {name} server"},
        }
        if spec.auth_mode == "oidc":
            connection |= {"auth_type": "system_oauth", "key": ""}
        else:
            key = secret("TOOLPARK_OPENWEBUI_KEY")
            connection |= {"auth_type": "bearer", "key": key, "headers": _USER_HEADERS}
        connections.append(connection)
    return connections


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def openwebui_environment(topology: Topology) -> dict[str, str]:
    spec = topology.spec
    owui = spec.openwebui
    public = f"https://{spec.openwebui_hostname}"
    if spec.litellm.enabled:
        chat_url = embed_url = topology.url("openwebui", "litellm", "/v1")
        key = secret("LITELLM_MASTER_KEY")
    else:
        chat_url = topology.model_url("openwebui", "chat")
        embed_url = topology.model_url("openwebui", "embedding")
        key = secret(model_key_secret(spec.models.chat))
    tools = owui.tools if owui.tools is not None else list(spec.toolpark.servers)
    params: dict[str, Any] = {"function_calling": "native", **owui.model_params}
    if owui.tool_choice in ("auto", "required", "none"):
        params["custom_params"] = {"tool_choice": owui.tool_choice}
    elif owui.tool_choice:
        params["custom_params"] = {"tool_choice": {"type": "function", "function": {"name": owui.tool_choice}}}
    env = {
        "HOST": topology.bind_host,
        "PORT": str(owui.port),
        "WEBUI_URL": public,
        "WEBUI_NAME": owui.title,
        "WEBUI_SECRET_KEY": secret("OPENWEBUI_SECRET_KEY"),
        "DATA_DIR": "/app/backend/data",
        "ENABLE_PERSISTENT_CONFIG": "false",
        "OFFLINE_MODE": "true",
        "HF_HUB_OFFLINE": "1",
        "ENABLE_VERSION_UPDATE_CHECK": "false",
        "ENABLE_OLLAMA_API": "false",
        "ENABLE_OPENAI_API": "true",
        "OPENAI_API_BASE_URL": chat_url,
        "OPENAI_API_KEY": key,
        "DEFAULT_MODELS": spec.models.chat.served_name,
        "RAG_EMBEDDING_ENGINE": "openai",
        "RAG_OPENAI_API_BASE_URL": embed_url,
        "RAG_OPENAI_API_KEY": key,
        "RAG_EMBEDDING_MODEL": spec.models.embedding.served_name,
        "TOOL_SERVER_CONNECTIONS": _json(tool_server_connections(topology)),
        "DEFAULT_MODEL_METADATA": _json({"toolIds": [f"server:mcp:{name}" for name in tools]}),
        "DEFAULT_MODEL_PARAMS": _json(params),
        "CHAT_RESPONSE_MAX_TOOL_CALL_ITERATIONS": str(owui.max_tool_calls),
    }
    if spec.keycloak.enabled:
        kc = spec.keycloak
        env |= {
            "ENABLE_OAUTH_SIGNUP": "true",
            "ENABLE_LOGIN_FORM": "false",
            "ENABLE_SIGNUP": "false",
            "OAUTH_CLIENT_ID": owui.client_id,
            "OAUTH_CLIENT_SECRET": secret("OPENWEBUI_CLIENT_SECRET"),
            "OPENID_PROVIDER_URL": f"{issuer(spec)}/.well-known/openid-configuration",
            "OPENID_REDIRECT_URI": f"{public}/oauth/oidc/callback",
            "OAUTH_PROVIDER_NAME": "Keycloak",
            "OAUTH_SCOPES": "openid email profile",
            "ENABLE_OAUTH_ROLE_MANAGEMENT": "true",
            "OAUTH_ROLES_CLAIM": "realm_access.roles",
            "OAUTH_ALLOWED_ROLES": kc.required_role or ",".join(kc.roles),
            "OAUTH_ADMIN_ROLES": "admin" if "admin" in kc.roles else "",
        }
    else:
        # Its own accounts. The admin is made at the first start, before the site opens: otherwise
        # the first stranger to sign up would become it. Later sign-ups as the spec says.
        env |= {
            "WEBUI_ADMIN_EMAIL": owui.admin_email or spec.acme_email,
            "WEBUI_ADMIN_PASSWORD": secret("OPENWEBUI_ADMIN_PASSWORD"),
            "ENABLE_SIGNUP": "false" if owui.signup == "closed" else "true",
            "DEFAULT_USER_ROLE": "user" if owui.signup == "open" else "pending",
        }
    if uploads_in_s3(spec) and spec.s3 is not None:
        env |= {
            "STORAGE_PROVIDER": "s3",
            "S3_ENDPOINT_URL": spec.s3.endpoint_url,
            "S3_REGION_NAME": spec.s3.region,
            "S3_BUCKET_NAME": spec.s3.bucket,
            "S3_ACCESS_KEY_ID": secret("S3_ACCESS_KEY_ID"),
            "S3_SECRET_ACCESS_KEY": secret("S3_SECRET_ACCESS_KEY"),
            "S3_ADDRESSING_STYLE": "path" if spec.s3.path_style else "virtual",
            "S3_KEY_PREFIX": OPENWEBUI_FOLDER,
            "S3_ENABLE_TAGGING": "true",  # each upload tagged OpenWebUI-User-Id: the tools read each user's own
        }
    return env

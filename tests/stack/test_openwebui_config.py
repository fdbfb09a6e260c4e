"""Open WebUI's settings as the compose target renders them (Keycloak single sign-on, which cannot
run here), read by Open WebUI's own `open_webui.config` in its venv (scripts/stack-env)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.compose.rendering import SPECS, fixed_secrets
from tests.processes import env_folder
from toolpark.compose.files import read_spec
from toolpark.compose.render import render
from toolpark.compose.spec import Deployment

pytestmark = pytest.mark.stack

_READ = """
import json, open_webui.config as c
print(json.dumps({
    "providers": sorted(c.OAUTH_PROVIDERS), "tools": c.TOOL_SERVER_CONNECTIONS,
    "openai": c.OPENAI_API_BASE_URLS, "embedding": [c.RAG_EMBEDDING_ENGINE, c.RAG_EMBEDDING_MODEL],
    "roles_claim": c.OAUTH_ROLES_CLAIM, "persistent": c.ENABLE_PERSISTENT_CONFIG, "login_form": c.ENABLE_LOGIN_FORM,
}))
"""


def test_open_webui_reads_the_rendered_sso_and_tool_servers(tmp_path: Path) -> None:
    data = read_spec(SPECS["entry-gpu"]).model_dump(mode="json")
    data["openwebui"] = {"enabled": True, "hostname": "webui.example.org"}
    data["nodes"]["entry"]["services"].append("openwebui")  # its accounts and chats outlive the GPU node
    spec = Deployment.model_validate(data)
    secrets = fixed_secrets(spec)
    compose = yaml.safe_load(render(spec, secrets)["compose.entry.yaml"])
    env = {
        key: re.sub(r"\$\{([A-Z0-9_]+)[^}]*\}", lambda m: secrets[m.group(1)], value)
        for key, value in compose["services"]["openwebui"]["environment"].items()
    }
    (tmp_path / "data").mkdir()
    env |= {"DATA_DIR": str(tmp_path / "data"), "FROM_INIT_PY": "true", "PATH": "/usr/bin:/bin"}
    python = env_folder("stack-env") / "openwebui" / "bin" / "python"
    done = subprocess.run([str(python), "-c", _READ], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["providers"] == ["oidc"] and seen["roles_claim"] == "realm_access.roles"
    assert seen["persistent"] is False and seen["login_form"] is False
    # Across nodes: LiteLLM at the GPU node's private address.
    assert seen["openai"] == ["http://10.0.0.2:4000/v1"] and seen["embedding"] == ["openai", "bge-m3"]
    servers = {c["info"]["id"]: c for c in seen["tools"]}
    assert set(servers) == set(spec.toolpark.servers)
    # On the same node, by service name, with the user's own Keycloak token.
    assert servers["retrieval"]["url"] == "http://toolpark-retrieval:8101/retrieval/mcp"
    assert all(
        c["type"] == "mcp" and c["auth_type"] == "system_oauth" and c["config"]["enable"] for c in servers.values()
    )

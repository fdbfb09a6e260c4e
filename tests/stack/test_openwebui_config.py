"""Open WebUI's settings as the compose target renders them (Keycloak single sign-on, which cannot
run here), read by Open WebUI's own `open_webui.config` in its venv (scripts/stack-env); and its
uploads, kept in the stack's S3 by its own storage code as rendered, read through the tools by
their owner alone."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import anyio
import boto3
import pytest
import yaml
from mcp_types import CallToolResult

from tests.compose.rendering import SPECS, fixed_secrets
from tests.processes import env_folder
from toolpark.compose.files import read_spec
from toolpark.compose.render import render
from toolpark.compose.spec import Deployment
from toolpark.mcp_servers.extract import plugin as extract
from toolpark.operations.embedded import seaweedfs
from toolpark.security.keys import hash_key
from toolpark.testing import RunningHost, http_client

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


PAPER = Path(__file__).resolve().parents[1] / "fixtures" / "pdfs" / "pdflatex-4-pages.pdf"
PAPER_TEXT = "Hello, here is some text without a meaning"  # on its first page
_UPLOAD = """
import io, json, sys
from open_webui.storage.provider import Storage
for user_id, file_id, name, path in json.loads(sys.argv[1]):
    # As Open WebUI's upload route (routers/files.py) names and tags a file.
    tags = {"OpenWebUI-User-Email": user_id + "@example.org", "OpenWebUI-User-Id": user_id,
            "OpenWebUI-User-Name": user_id, "OpenWebUI-File-Id": file_id}
    with open(path, "rb") as body:
        print(Storage.upload_file(io.BytesIO(body.read()), file_id + "_" + name, tags)[1])
"""


def test_open_webui_uploads_are_read_through_the_tools_by_their_owner_alone(
    tmp_path: Path, toolpark_http: Callable[..., RunningHost]
) -> None:
    """Rendered with `[s3]` and Open WebUI's own accounts, Open WebUI keeps uploads in the stack's
    bucket under openwebui/, each tagged with its user's id, and the extract server reads an upload
    for the user whose id Open WebUI names in its X-User-ID header, and for no one else."""
    (tmp_path / "s3").mkdir()
    with seaweedfs(tmp_path / "s3") as store:
        boto3.client(
            "s3", endpoint_url=store.endpoint_url, aws_access_key_id=store.access_key_id,
            aws_secret_access_key=store.secret_access_key, region_name="us-east-1",
        ).create_bucket(Bucket="stack-files")  # fmt: skip
        data = read_spec(SPECS["single-node"]).model_dump(mode="json")
        data["openwebui"] = {"enabled": True, "hostname": "webui.example.org"}
        data["nodes"]["main"]["services"].append("openwebui")
        data["s3"] = {"endpoint_url": store.endpoint_url, "bucket": "stack-files"}
        spec = Deployment.model_validate(data)
        secrets = fixed_secrets(spec) | {"S3_ACCESS_KEY_ID": store.access_key_id,
                                         "S3_SECRET_ACCESS_KEY": store.secret_access_key}  # fmt: skip
        services = yaml.safe_load(render(spec, secrets)["compose.yaml"])["services"]

        def environment(service: str) -> dict[str, str]:
            return {
                key: re.sub(r"\$\{([A-Z0-9_]+)[^}]*\}", lambda m: secrets[m.group(1)], str(value))
                for key, value in services[service]["environment"].items()
            }

        (tmp_path / "data").mkdir()
        env = environment("openwebui") | {"DATA_DIR": str(tmp_path / "data"), "FROM_INIT_PY": "true",
                                          "PATH": "/usr/bin:/bin"}  # fmt: skip
        uploads = [["u-ada", "f1", "notes.pdf", str(PAPER)], ["u-bob", "f2", "salary.pdf", str(PAPER)]]
        python = env_folder("stack-env") / "openwebui" / "bin" / "python"
        done = subprocess.run([str(python), "-c", _UPLOAD, json.dumps(uploads)], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert [word for word in done.stdout.split() if word.startswith("s3://")] == [
            "s3://stack-files/openwebui/f1_notes.pdf",
            "s3://stack-files/openwebui/f2_salary.pdf",
        ]

        prefix = "TOOLPARK_EXTRACT_"
        wired = {
            k.removeprefix(prefix).lower(): v
            for k, v in environment("toolpark-extract").items()
            if k.startswith(f"{prefix}S3_")
        }
        assert wired["s3_owner_tags"] == "openwebui/=OpenWebUI-User-Id"
        frontend = {"name": "webui", "hash": hash_key("tpk_webui"), "trusted_frontend": True}
        running = toolpark_http(extract, settings={"extract": wired}, documents={"workers": 1},
                                auth={"api_keys": [frontend]})  # fmt: skip

        async def read(user: str, url: str) -> CallToolResult:
            headers = {"Authorization": "Bearer tpk_webui", "X-User-ID": user}
            async with http_client(running.url("extract"), headers=headers) as client:
                return await client.call_tool("extract_text", {"url": url})

        own = anyio.run(read, "u-ada", "s3://stack-files/openwebui/f1_notes.pdf")
        theirs = anyio.run(read, "u-ada", "s3://stack-files/openwebui/f2_salary.pdf")
    assert not own.is_error and PAPER_TEXT in str(own.content)
    assert theirs.is_error and "outside what you may read" in str(theirs.content)

"""docker compose files, one per node, as plain dicts (YAML is written in `toolpark.compose.render`)."""

from __future__ import annotations

import json
from typing import Any

from toolpark.compose.postgres import database_roles, password_secret
from toolpark.compose.spec import ChatModel, Deployment, Model
from toolpark.compose.topology import Topology
from toolpark.compose.wiring import SERVICE_OF, WIRING, Fact, Source
from toolpark.contract.settings import env_prefix

__all__ = ["compose_file", "mcp_path", "secret", "toolpark_environment"]

Service = dict[str, Any]


def secret(name: str) -> str:
    """A reference compose fills from .env, failing loudly (not with an empty value) when it is absent."""
    return f"${{{name}:?{name} is missing from .env}}"


def mcp_path(server: str) -> str:
    return f"/{server}/mcp"


def _healthcheck(test: list[str], start_period: str = "30s", interval: str = "15s") -> dict[str, Any]:
    return {"test": test, "interval": interval, "timeout": "5s", "retries": 5, "start_period": start_period}


def _http_probe(url: str) -> list[str]:
    """Python is in the vLLM, LiteLLM and toolpark images; curl is not in all of them."""
    return ["CMD", "python3", "-c", f"import urllib.request; urllib.request.urlopen({url!r}, timeout=4)"]


def _publish(topology: Topology, service: str, port: int) -> list[str]:
    """Publish on the node's private address only, and only when another node calls the service."""
    if not topology.published(service):
        return []
    return [f"{topology.spec.nodes[topology.node_of(service)].address}:{port}:{port}"]


def _postgres_url(topology: Topology, consumer: str, role: str) -> str:
    """The URL of `role`'s own database (named as the role), as `consumer` reaches it."""
    address = topology.address(consumer, "postgres")
    return f"postgresql://{role}:${{{password_secret(role)}}}@{address}/{role}"


def _postgres(topology: Topology) -> Service:
    spec = topology.spec
    env = {"POSTGRES_PASSWORD": secret("POSTGRES_PASSWORD")}
    env |= {password_secret(role): secret(password_secret(role)) for role in database_roles(spec)}
    return {
        "image": spec.images.postgres,
        "command": ["postgres", "-c", f"port={spec.postgres.port}"],
        "environment": env,
        "volumes": [
            "postgres-data:/var/lib/postgresql/data",
            "./postgres/init-databases.sh:/docker-entrypoint-initdb.d/10-databases.sh:ro",
        ],
        "healthcheck": _healthcheck(["CMD-SHELL", f"pg_isready -U postgres -p {spec.postgres.port}"]),
    }


def _vllm(topology: Topology, model: Model, service: str) -> Service:
    spec = topology.spec
    args = ["--model", model.model, "--served-model-name", model.served_name, "--host", "0.0.0.0"]
    args += ["--port", str(model.port), "--gpu-memory-utilization", str(model.gpu_memory_utilization)]
    if model.max_model_len:
        args += ["--max-model-len", str(model.max_model_len)]
    if isinstance(model, ChatModel):
        args += ["--enable-auto-tool-choice", "--tool-call-parser", model.tool_call_parser]
    else:
        args += ["--runner", "pooling"]
    node = spec.nodes[topology.node_of(service)]
    return {
        "image": spec.images.vllm,
        "command": [*args, *model.extra_args],
        "environment": {"HF_TOKEN": "${HF_TOKEN:-}", "VLLM_API_KEY": secret("VLLM_API_KEY")},
        "volumes": ["hf-cache:/root/.cache/huggingface"],
        "ipc": "host",
        "deploy": {
            "resources": {
                "reservations": {"devices": [{"driver": "nvidia", "count": node.gpus, "capabilities": ["gpu"]}]}
            }
        },
        # Downloading and loading weights takes minutes; a short start period would restart it forever.
        "healthcheck": _healthcheck(_http_probe(f"http://localhost:{model.port}/health"), "900s", "30s"),
    }


def _litellm(topology: Topology) -> Service:
    spec = topology.spec
    return {
        "image": spec.images.litellm,
        "command": ["--config", "/app/config.yaml", "--port", str(spec.litellm.port)],
        "environment": {
            "DATABASE_URL": _postgres_url(topology, "litellm", "litellm"),
            "LITELLM_MASTER_KEY": secret("LITELLM_MASTER_KEY"),
            "LITELLM_SALT_KEY": secret("LITELLM_SALT_KEY"),
            "VLLM_API_KEY": secret("VLLM_API_KEY"),
            "STORE_MODEL_IN_DB": "False",
        },
        "volumes": ["./litellm/config.yaml:/app/config.yaml:ro"],
        "healthcheck": _healthcheck(_http_probe(f"http://localhost:{spec.litellm.port}/health/liveliness"), "120s"),
    }


def _mongodb(topology: Topology) -> Service:
    return {
        "image": topology.spec.images.mongodb,
        "environment": {
            "MONGO_INITDB_ROOT_USERNAME": "librechat",
            "MONGO_INITDB_ROOT_PASSWORD": secret("MONGO_PASSWORD"),
        },
        "volumes": ["mongo-data:/data/db"],
        "healthcheck": _healthcheck(["CMD", "mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok"]),
    }


def _librechat(topology: Topology) -> Service:
    spec = topology.spec
    public = f"https://{spec.chat_hostname}"
    mongo = topology.address("librechat", "mongodb")
    env: dict[str, str] = {
        "HOST": "0.0.0.0",
        "PORT": str(spec.librechat.port),
        "DOMAIN_CLIENT": public,
        "DOMAIN_SERVER": public,
        "CONFIG_PATH": "/app/librechat.yaml",
        "MONGO_URI": f"mongodb://librechat:${{MONGO_PASSWORD}}@{mongo}/LibreChat?authSource=admin",
        "CREDS_KEY": secret("CREDS_KEY"),
        "CREDS_IV": secret("CREDS_IV"),
        "JWT_SECRET": secret("JWT_SECRET"),
        "JWT_REFRESH_SECRET": secret("JWT_REFRESH_SECRET"),
        "SEARCH": "false",
    }
    env["LLM_API_KEY"] = secret("LITELLM_MASTER_KEY" if spec.litellm.enabled else "VLLM_API_KEY")
    if spec.auth_mode == "api-key":
        env["TOOLPARK_LIBRECHAT_KEY"] = secret("TOOLPARK_LIBRECHAT_KEY")
    if spec.keycloak.enabled:
        env |= {
            "ALLOW_SOCIAL_LOGIN": "true",
            "ALLOW_REGISTRATION": "false",
            "ALLOW_EMAIL_LOGIN": "false",
            "OPENID_ISSUER": _issuer(spec),
            "OPENID_CLIENT_ID": spec.keycloak.client_id,
            "OPENID_CLIENT_SECRET": secret("KEYCLOAK_CLIENT_SECRET"),
            "OPENID_SESSION_SECRET": secret("OPENID_SESSION_SECRET"),
            "OPENID_SCOPE": "openid profile email",
            "OPENID_CALLBACK_URL": "/oauth/openid/callback",
            "OPENID_BUTTON_LABEL": "Sign in",
            # LibreChat forwards the user's own access token to the MCP servers only with this on.
            "OPENID_REUSE_TOKENS": "true",
        }
        if spec.keycloak.required_role:
            env |= {
                "OPENID_REQUIRED_ROLE": spec.keycloak.required_role,
                "OPENID_REQUIRED_ROLE_TOKEN_KIND": "access",
                "OPENID_REQUIRED_ROLE_PARAMETER_PATH": "realm_access.roles",
            }
    if spec.s3 is not None:
        env |= {
            "AWS_ENDPOINT_URL": spec.s3.endpoint_url,
            "AWS_REGION": spec.s3.region,
            "AWS_BUCKET_NAME": spec.s3.bucket,
            "AWS_FORCE_PATH_STYLE": str(spec.s3.path_style).lower(),
            "AWS_ACCESS_KEY_ID": secret("S3_ACCESS_KEY_ID"),
            "AWS_SECRET_ACCESS_KEY": secret("S3_SECRET_ACCESS_KEY"),
        }
    return {
        "image": spec.images.librechat,
        "environment": env,
        "volumes": ["./librechat/librechat.yaml:/app/librechat.yaml:ro", "librechat-logs:/app/api/logs"],
        "healthcheck": _healthcheck(
            [
                "CMD",
                "node",
                "-e",
                f"fetch('http://localhost:{spec.librechat.port}/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))",
            ],
            "60s",
        ),
    }


def _issuer(spec: Deployment) -> str:
    return f"https://{spec.sso_hostname}/realms/{spec.keycloak.realm}"


def _keycloak(topology: Topology) -> Service:
    spec = topology.spec
    kc = spec.keycloak
    probe = "exec 3<>/dev/tcp/127.0.0.1/9000 && printf 'GET /health/ready HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q UP <&3"
    return {
        "image": spec.images.keycloak,
        "command": ["start", "--import-realm"],
        "environment": {
            "KC_DB": "postgres",
            "KC_DB_URL": f"jdbc:postgresql://{topology.address('keycloak', 'postgres')}/keycloak",
            "KC_DB_USERNAME": "keycloak",
            "KC_DB_PASSWORD": secret(password_secret("keycloak")),
            "KC_HOSTNAME": f"https://{spec.sso_hostname}",
            "KC_HTTP_ENABLED": "true",
            "KC_HTTP_PORT": str(kc.port),
            "KC_PROXY_HEADERS": "xforwarded",
            "KC_HEALTH_ENABLED": "true",
            "KC_BOOTSTRAP_ADMIN_USERNAME": "admin",
            "KC_BOOTSTRAP_ADMIN_PASSWORD": secret("KEYCLOAK_ADMIN_PASSWORD"),
            # The realm import resolves ${KEYCLOAK_CLIENT_SECRET} from the environment.
            "KEYCLOAK_CLIENT_SECRET": secret("KEYCLOAK_CLIENT_SECRET"),
        },
        "volumes": [f"./keycloak/realm.json:/opt/keycloak/data/import/{kc.realm}.json:ro"],
        "healthcheck": _healthcheck(["CMD-SHELL", probe], "120s"),
    }


def _setting_value(value: object) -> str:
    """Env vars are strings; lists and tables travel as JSON, which pydantic-settings decodes."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def toolpark_environment(topology: Topology, server: str) -> dict[str, str]:
    """Settings of one toolpark server: the wiring to the rest of the stack, then the spec's own."""
    spec = topology.spec
    service = f"toolpark-{server}"
    allowed = [f"{service}:*"]
    if topology.published(service):
        allowed.append(f"{spec.nodes[topology.node_of(service)].address}:*")
    if spec.tools_hostname:
        allowed.append(spec.tools_hostname)
    env = {"TOOLPARK_ALLOWED_HOSTS": ",".join(allowed), "TOOLPARK_AUTH_API_KEYS": secret("TOOLPARK_AUTH_API_KEYS")}
    if spec.auth_mode == "oidc":
        env |= {
            "TOOLPARK_AUTH_OIDC_ISSUER": _issuer(spec),
            "TOOLPARK_AUTH_OIDC_AUDIENCE": spec.keycloak.audience,
            "TOOLPARK_AUTH_OIDC_JWKS_URL": topology.url(
                service, "keycloak", f"/realms/{spec.keycloak.realm}/protocol/openid-connect/certs"
            ),
        }
        if spec.keycloak.required_role:
            env["TOOLPARK_AUTH_OIDC_REQUIRED_ROLES"] = spec.keycloak.required_role
    prefix = env_prefix(server)
    wiring: dict[str, str] = {}
    for feed in WIRING:
        if feed.server == server and (facts := _source_facts(topology, service, feed.source)) is not None:
            wiring[feed.setting.upper()] = facts[feed.fact]
    own = spec.toolpark.servers[server]
    wiring |= {key.upper(): _setting_value(value) for key, value in own.settings.items()}
    documents = {f"TOOLPARK_DOCUMENTS_{k.upper()}": _setting_value(v) for k, v in own.documents.items()}
    return env | {prefix + key: value for key, value in wiring.items()} | documents


def _source_facts(topology: Topology, consumer: str, source: Source) -> dict[Fact, str] | None:
    """What `consumer` needs to know of `source` (address, model, credentials), or None where the
    spec has no such source."""
    spec = topology.spec
    if source == "database":
        return {"url": _postgres_url(topology, consumer, "toolpark")}
    if source == "s3":
        if spec.s3 is None:
            return None
        return {
            "url": spec.s3.endpoint_url, "access_key_id": secret("S3_ACCESS_KEY_ID"),
            "secret_access_key": secret("S3_SECRET_ACCESS_KEY"), "buckets": spec.s3.bucket,
            "region": spec.s3.region, "path_style": str(spec.s3.path_style).lower(),
        }  # fmt: skip
    model = spec.models.embedding if source == "embeddings" else spec.models.vision
    if model is None:
        return None
    return {
        "url": topology.url(consumer, SERVICE_OF[source], "/v1"), "model": model.served_name,
        "api_key": secret("VLLM_API_KEY"), "truncate": "true",
    }  # fmt: skip


def _toolpark(topology: Topology, server: str) -> Service:
    spec = topology.spec
    port = spec.toolpark.servers[server].port
    return {
        "image": spec.toolpark.image,
        "command": ["serve", server, "--transport", "http", "--host", "0.0.0.0", "--port", str(port)],
        "environment": toolpark_environment(topology, server),
        "healthcheck": _healthcheck(_http_probe(f"http://localhost:{port}/healthz")),
    }


def _caddy(topology: Topology) -> Service:
    return {
        "image": topology.spec.images.caddy,
        "ports": ["80:80", "443:443", "443:443/udp"],
        "volumes": ["./caddy/Caddyfile:/etc/caddy/Caddyfile:ro", "caddy-data:/data", "caddy-config:/config"],
    }


def _service(topology: Topology, name: str) -> Service:
    spec = topology.spec
    component = topology.services[name].component
    if component == "vllm":
        model = {"vllm-chat": spec.models.chat, "vllm-embedding": spec.models.embedding}.get(name, spec.models.vision)
        assert model is not None  # vllm-vision exists only with a vision model
        return _vllm(topology, model, name)
    if component == "toolpark":
        return _toolpark(topology, name.removeprefix("toolpark-"))
    builders = {
        "postgres": _postgres,
        "litellm": _litellm,
        "mongodb": _mongodb,
        "librechat": _librechat,
        "keycloak": _keycloak,
        "caddy": _caddy,
    }
    return builders[component](topology)


def compose_file(topology: Topology, node: str) -> dict[str, Any]:
    """The compose file of one node: its services in start-up order, with their volumes."""
    spec = topology.spec
    services: dict[str, Service] = {}
    volumes: set[str] = set()
    for entry in topology.services_on(node):
        service = {"restart": "unless-stopped", **_service(topology, entry.name)}
        if ports := _publish(topology, entry.name, entry.port):
            service["ports"] = [*service.get("ports", []), *ports]
        if depends := topology.depends_on(entry.name):
            # Caddy serves an error page until its upstreams are up; others wait for health.
            condition = "service_started" if entry.name == "caddy" else "service_healthy"
            service["depends_on"] = {d: {"condition": condition} for d in depends}
        services[entry.name] = service
        # Named volumes (not ./bind mounts) must be declared at the top level too.
        volumes.update(v.split(":")[0] for v in service.get("volumes", []) if not v.startswith((".", "/")))
    document: dict[str, Any] = {"name": f"{spec.name}-{node}" if len(spec.nodes) > 1 else spec.name}
    document["services"] = services
    if volumes:
        document["volumes"] = {v: {} for v in sorted(volumes)}
    return document

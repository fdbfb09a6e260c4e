"""One definition per service, whatever runs it: command, environment, files, data and health.

Each render target (`toolpark.compose.targets`) turns the definitions into its own form: the
compose target into docker compose services, the processes target into supervisord programs on
one machine. They read the same `ServiceDef`, so running the processes target exercises the
command line, the environment and the config files `docker compose` would give the container.
What differs is only where things are: addresses (the target's `Addressing`), container paths
(mapped onto the rendered folder) and the program standing in for the image's entry point
(`[processes]` in the spec).

Secrets appear as `${NAME}` references to `.env`, never as values.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

from toolpark.compose.openwebui import (
    OPENWEBUI_FOLDER,
    openwebui_entrypoint,
    openwebui_environment,
    openwebui_mounts,
    uploads_in_s3,
)
from toolpark.compose.postgres import database_roles, password_secret
from toolpark.compose.references import issuer, secret
from toolpark.compose.secrets import BOOT_KEY, WEIGHTS_SECRETS, model_key_secret
from toolpark.compose.spec import ChatModel, Deployment, Model
from toolpark.compose.topology import Topology
from toolpark.compose.wiring import ROLE_OF, WIRING, Fact, Source, service_of
from toolpark.contract.settings import env_prefix
from toolpark.storage.policy import LIBRECHAT_ROOTS, OPENWEBUI_OWNER

SCHEDULER_FOLDER = "/deploy"

__all__ = ["SCHEDULER_FOLDER", "Probe", "ServiceDef", "service_definition", "setting_value", "toolpark_environment"]


@dataclass(frozen=True)
class Probe:
    """How to tell the service is up: an HTTP GET on `path` answering 2xx, or (no path) a TCP
    connection accepted on `port`."""

    port: int
    path: str | None = None


@dataclass(frozen=True)
class ServiceDef:
    """A service as its image runs it. `command` follows the image's entry point; `files` maps a
    rendered file (relative to the deployment folder) to where the service reads it, `volumes` a
    named data volume to where the service keeps it. `start_s`: how long starting may take.

    The rest is what a container needs beyond its command, which a target gives it in its own
    terms (or, on one machine, has no use for): the node's GPUs, shared memory, the host's IPC
    namespace, another entry point, ports published on the host whatever the links."""

    image: str
    command: list[str]
    environment: dict[str, str]
    probe: Probe | None
    start_s: int = 30
    files: dict[str, str] = field(default_factory=dict)
    volumes: dict[str, str] = field(default_factory=dict)
    healthcheck: list[str] | None = None  # the container's own check where the image has no Python for the probe
    entrypoint: list[str] | None = None
    host_ipc: bool = False  # vLLM's workers share tensors through shared memory
    shm_size: str | None = None
    gpus: Literal["all"] | int = 0  # how many of the node's GPUs it reserves
    host_ports: list[str] = field(default_factory=list)  # "host:container[/udp]", published on every address
    # A `toolpark` command that must succeed before the service starts (the weights' check), with
    # the service's environment. The processes target runs it ahead of the program; on the compose
    # target the scheduled node's start script runs it in the toolpark image.
    check_first: list[str] | None = None
    # A `toolpark` command run once the service is healthy (saving vLLM's compile cache): a
    # one-shot container after it on compose, a program that waits for its health on processes.
    after_healthy: list[str] | None = None


def _postgres_url(topology: Topology, consumer: str, role: str) -> str:
    """The URL of `role`'s own database (named as the role), as `consumer` reaches it."""
    address = topology.address(consumer, "postgres")
    return f"postgresql://{role}:${{{password_secret(role)}}}@{address}/{role}"


def _postgres(topology: Topology) -> ServiceDef:
    spec = topology.spec
    env = {"POSTGRES_PASSWORD": secret("POSTGRES_PASSWORD"), "PGDATA": "/var/lib/postgresql/data"}
    env |= {password_secret(role): secret(password_secret(role)) for role in database_roles(spec)}
    return ServiceDef(
        image=spec.images.postgres,
        command=["postgres", "-c", f"port={spec.postgres.port}", "-c", f"listen_addresses={topology.bind_host}"],
        environment=env,
        probe=Probe(spec.postgres.port),
        files={"postgres/init-databases.sh": "/docker-entrypoint-initdb.d/10-databases.sh"},
        volumes={"postgres-data": "/var/lib/postgresql/data"},
        healthcheck=["CMD-SHELL", f"pg_isready -U postgres -p {spec.postgres.port}"],
    )


def _gpus(topology: Topology, service: str) -> Literal["all"] | int:
    """The GPUs of the node a model server runs on, all lent to it."""
    return topology.spec.nodes[topology.node_of(service)].gpus


def _weights_environment(spec: Deployment) -> dict[str, str]:
    """The stack's S3 as vLLM's streamer (runai_streamer, boto3's settings) and `toolpark models
    check` read it, with the read-only weights key; and no Hugging Face at all."""
    assert spec.s3 is not None  # checks: weights need the [s3] section
    key_id, key = WEIGHTS_SECRETS
    return {
        "AWS_ENDPOINT_URL": spec.s3.endpoint_url,
        "AWS_ACCESS_KEY_ID": secret(key_id),
        "AWS_SECRET_ACCESS_KEY": secret(key),
        "AWS_DEFAULT_REGION": spec.s3.region,
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-role lookup stalling the first read
        "RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING": "0" if spec.s3.path_style else "1",
        "HF_HUB_OFFLINE": "1",  # a stray Hugging Face download fails at once instead of taking minutes
    }


VLLM_CACHE = "/vllm-cache"


def _cache_key(image: str, command: list[str]) -> str:
    """Names vLLM's compile cache: a new image or other arguments compile anew."""
    return hashlib.sha256(json.dumps([image, command]).encode()).hexdigest()[:16]


def _weights_check(topology: Topology, service: str, weights: str, key: str) -> list[str]:
    """`toolpark models check` of the pushed copy, then the compile cache saved with it restored;
    on the scheduled node it reports the phase."""
    check = ["models", "check", weights, "--cache", VLLM_CACHE, "--cache-key", key]
    if topology.on_scheduled_node(service):
        check += ["--report", topology.url(service, "scheduler", "/boot")]
    return check


def _cache_save(topology: Topology, service: str, role: str, key: str) -> list[str] | None:
    """Once vLLM is healthy, its compile cache goes to the scheduler, which keeps it beside the
    weights (the node's key only reads); a cache saved before is not sent again."""
    if not topology.on_scheduled_node(service):
        return None  # an always-on node keeps its cache in its volume
    health = topology.url(service, service, "/health")
    target = topology.url(service, "scheduler", f"/boot/cache/{role}")
    return ["models", "save-cache", VLLM_CACHE, "--key", key, "--to", target, "--health", health]


def _boot_environment(topology: Topology, service: str) -> dict[str, str]:
    """The key the scheduled node's reports of its boot phases carry."""
    return {BOOT_KEY: secret(BOOT_KEY)} if topology.on_scheduled_node(service) else {}


def _vllm(topology: Topology, model: Model, service: str) -> ServiceDef:
    spec = topology.spec
    source = (
        ["--model", model.weights, "--load-format", "runai_streamer"] if model.weights else ["--model", model.model]
    )
    args = [*source, "--served-model-name", model.served_name, "--host", topology.bind_host]
    args += ["--port", str(model.port), "--gpu-memory-utilization", str(model.gpu_memory_utilization)]
    if model.max_model_len:
        args += ["--max-model-len", str(model.max_model_len)]
    if isinstance(model, ChatModel):
        assert model.tool_call_parser is not None  # checks: vLLM chat models name theirs
        args += ["--enable-auto-tool-choice", "--tool-call-parser", model.tool_call_parser]
    else:
        args += ["--runner", "pooling"]
    command = [*args, *model.extra_args]
    environment = {"VLLM_API_KEY": secret("VLLM_API_KEY")}
    if model.weights is None:
        return ServiceDef(
            image=spec.images.vllm,
            command=command,
            environment={"HF_TOKEN": "${HF_TOKEN:-}", **environment},
            probe=Probe(model.port, "/health"),
            # Downloading and loading weights takes minutes; a short start period would restart it forever.
            start_s=900,
            volumes={"hf-cache": "/root/.cache/huggingface"},
            host_ipc=True,
            gpus=_gpus(topology, service),
        )
    key, role = _cache_key(spec.images.vllm, command), service.removeprefix("vllm-")
    environment |= _weights_environment(spec) | _boot_environment(topology, service)
    return ServiceDef(
        image=spec.images.vllm,
        command=command,
        environment=environment | {"VLLM_CACHE_ROOT": VLLM_CACHE},
        probe=Probe(model.port, "/health"),
        start_s=900,
        volumes={f"{service}-cache": VLLM_CACHE},
        host_ipc=True,
        gpus=_gpus(topology, service),
        check_first=_weights_check(topology, service, model.weights, key),
        after_healthy=_cache_save(topology, service, role, key),
    )


LLAMACPP_MODELS = "/models"


def _llamacpp(topology: Topology, model: Model, service: str) -> ServiceDef:
    """llama.cpp's llama-server: one GGUF from the `models` volume. Chat models use the GGUF's own
    Jinja chat template, which is what gives llama-server tool calls; embedding models pool by mean."""
    path = model.model if model.model.startswith("/") else f"{LLAMACPP_MODELS}/{model.model}"
    args = ["--model", path, "--alias", model.served_name]
    args += ["--host", topology.bind_host, "--port", str(model.port), "--ctx-size", str(model.max_model_len or 4096)]
    args += ["--jinja"] if isinstance(model, ChatModel) else ["--embeddings", "--pooling", "mean"]
    gpus = _gpus(topology, service)
    if gpus:
        args += ["--n-gpu-layers", "999"]
    return ServiceDef(
        image=topology.spec.images.llamacpp,
        command=[*args, *model.extra_args],
        environment={"LLAMA_API_KEY": secret("VLLM_API_KEY")},
        probe=Probe(model.port, "/health"),  # 503 while the model loads; public, the key is not asked
        start_s=300,
        volumes={"models": LLAMACPP_MODELS},
        healthcheck=["CMD", "curl", "-fsS", f"http://localhost:{model.port}/health"],  # the image has no Python
        gpus=gpus,
    )


def _ollama(topology: Topology, model: Model, service: str) -> ServiceDef:
    """Ollama: it serves what it has pulled, so the container pulls the model (once: the volume keeps
    it) and names it `served_name` before it reports healthy. Ollama checks no API key: it listens
    on the node's network only, never published beyond the nodes that call it."""
    start = (
        "ollama serve & server=$$!; until ollama list >/dev/null 2>&1; do sleep 1; done; "
        f"ollama pull {model.model} && ollama cp {model.model} {model.served_name} && wait $$server"
    )
    environment = {"OLLAMA_HOST": f"{topology.bind_host}:{model.port}", "OLLAMA_KEEP_ALIVE": "-1"}
    if model.max_model_len:
        environment["OLLAMA_CONTEXT_LENGTH"] = str(model.max_model_len)
    return ServiceDef(
        image=topology.spec.images.ollama,
        command=[start],
        environment=environment,
        probe=Probe(model.port, "/api/version"),
        start_s=900,
        volumes={"ollama": "/root/.ollama"},
        healthcheck=["CMD", "ollama", "show", model.served_name],  # up, and the model pulled
        entrypoint=["/bin/sh", "-c"],
        gpus=_gpus(topology, service),
    )


def _tgi(topology: Topology, model: Model, service: str) -> ServiceDef:
    """Hugging Face's text-generation-inference: chat (tools by grammar), no embeddings (checks)."""
    args = ["--model-id", model.model, "--hostname", topology.bind_host, "--port", str(model.port)]
    if model.max_model_len:
        args += ["--max-total-tokens", str(model.max_model_len)]
    return ServiceDef(
        image=topology.spec.images.tgi,
        command=[*args, *model.extra_args],
        environment={"HF_TOKEN": "${HF_TOKEN:-}"},
        probe=Probe(model.port, "/health"),
        start_s=900,
        volumes={"hf-cache": "/data"},
        shm_size="1g",
        gpus=_gpus(topology, service),
    )


_ENGINES = {"vllm": _vllm, "llamacpp": _llamacpp, "ollama": _ollama, "tgi": _tgi}


def _litellm(topology: Topology) -> ServiceDef:
    spec = topology.spec
    env = {
        "LITELLM_MASTER_KEY": secret("LITELLM_MASTER_KEY"),
        "LITELLM_SALT_KEY": secret("LITELLM_SALT_KEY"),
        **{name: secret(name) for name in sorted({model_key_secret(m) for m in spec.models.by_role().values()})},
        "STORE_MODEL_IN_DB": "False",
    }
    if spec.litellm.database:
        env["DATABASE_URL"] = _postgres_url(topology, "litellm", "litellm")
    if spec.litellm.mcp_gateway:
        env["TOOLPARK_LITELLM_KEY"] = secret("TOOLPARK_LITELLM_KEY")
    if (fallback := spec.scheduler.fallback_model) is not None and fallback.api_key_secret and spec.scheduled_node:
        env[fallback.api_key_secret] = secret(fallback.api_key_secret)
    command = ["--config", "/app/config.yaml", "--host", topology.bind_host, "--port", str(spec.litellm.port)]
    return ServiceDef(
        image=spec.images.litellm,
        command=command,
        environment=env,
        probe=Probe(spec.litellm.port, "/health/liveliness"),
        start_s=120,
        files={"litellm/config.yaml": "/app/config.yaml"},
    )


def _mongodb(topology: Topology) -> ServiceDef:
    return ServiceDef(
        image=topology.spec.images.mongodb,
        command=[],
        environment={
            "MONGO_INITDB_ROOT_USERNAME": "librechat",
            "MONGO_INITDB_ROOT_PASSWORD": secret("MONGO_PASSWORD"),
        },
        probe=Probe(27017),
        volumes={"mongo-data": "/data/db"},
        healthcheck=["CMD", "mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok"],
    )


def _librechat(topology: Topology) -> ServiceDef:
    spec = topology.spec
    public = f"https://{spec.chat_hostname}"
    mongo = topology.address("librechat", "mongodb")
    env: dict[str, str] = {
        "HOST": topology.bind_host,
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
    env["LLM_API_KEY"] = secret("LITELLM_MASTER_KEY" if spec.litellm.enabled else model_key_secret(spec.models.chat))
    if spec.auth_mode == "api-key":
        env["TOOLPARK_LIBRECHAT_KEY"] = secret("TOOLPARK_LIBRECHAT_KEY")
    if spec.keycloak.enabled:
        env |= {
            "ALLOW_SOCIAL_LOGIN": "true",
            "ALLOW_REGISTRATION": "false",
            "ALLOW_EMAIL_LOGIN": "false",
            "OPENID_ISSUER": issuer(spec),
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
    port = spec.librechat.port
    probe = f"fetch('http://localhost:{port}/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
    return ServiceDef(
        image=spec.images.librechat,
        command=[],
        environment=env,
        probe=Probe(port, "/health"),
        start_s=60,
        files={"librechat/librechat.yaml": "/app/librechat.yaml"},
        volumes={"librechat-logs": "/app/api/logs"},
        healthcheck=["CMD", "node", "-e", probe],
    )


def _openwebui(topology: Topology) -> ServiceDef:
    spec = topology.spec
    return ServiceDef(
        image=spec.images.openwebui,
        command=["bash", "start.sh"],  # the image's own command, in its working directory /app/backend
        entrypoint=openwebui_entrypoint(),
        environment=openwebui_environment(topology),
        probe=Probe(spec.openwebui.port, "/health"),
        start_s=180,
        files=openwebui_mounts(),
        volumes={"openwebui-data": "/app/backend/data"},
    )


def _keycloak(topology: Topology) -> ServiceDef:
    spec = topology.spec
    kc = spec.keycloak
    probe = "exec 3<>/dev/tcp/127.0.0.1/9000 && printf 'GET /health/ready HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q UP <&3"
    return ServiceDef(
        image=spec.images.keycloak,
        command=["start", "--import-realm"],
        environment={
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
            # The realm import resolves ${...} client secrets from the environment.
            "KEYCLOAK_CLIENT_SECRET": secret("KEYCLOAK_CLIENT_SECRET"),
            **({"OPENWEBUI_CLIENT_SECRET": secret("OPENWEBUI_CLIENT_SECRET")} if spec.openwebui.enabled else {}),
        },
        probe=Probe(9000, "/health/ready"),
        start_s=120,
        files={"keycloak/realm.json": f"/opt/keycloak/data/import/{kc.realm}.json"},
        healthcheck=["CMD-SHELL", probe],
    )


def setting_value(value: object) -> str:
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
    if topology.one_machine:
        allowed.append("127.0.0.1:*")
    env = {
        "TOOLPARK_ALLOWED_HOSTS": ",".join(allowed),
        "TOOLPARK_AUTH_API_KEYS": secret("TOOLPARK_AUTH_API_KEYS"),
        # One key for every replica of a server, so a multi-round trip may land on any of them.
        "TOOLPARK_STATE_KEY": secret("TOOLPARK_STATE_KEY"),
    }
    if spec.librechat.enabled:
        # LibreChat shows ui:// resources in its tool-call panel: search and fetch add a card of their
        # sources for it, by its key's name or, with single sign-on, its tokens' client.
        clients = {"librechat", *([spec.keycloak.client_id] if spec.keycloak.enabled else [])}
        env["TOOLPARK_AUTH_UI_CLIENTS"] = ",".join(sorted(clients))
    if spec.auth_mode == "oidc":
        env |= {
            "TOOLPARK_AUTH_OIDC_ISSUER": issuer(spec),
            "TOOLPARK_AUTH_OIDC_AUDIENCE": spec.keycloak.audience,
            "TOOLPARK_AUTH_OIDC_JWKS_URL": topology.url(
                service, "keycloak", f"/realms/{spec.keycloak.realm}/protocol/openid-connect/certs"
            ),
            # What an MCP client's login asks for (the openid scope is what Keycloak needs), and the URL
            # the endpoints are public at, which their OAuth metadata names as the resource.
            "TOOLPARK_AUTH_OIDC_SCOPES": "openid,profile",
        }
        if spec.tools_hostname:
            env["TOOLPARK_AUTH_PUBLIC_URL"] = f"https://{spec.tools_hostname}"
        if spec.keycloak.required_role:
            env["TOOLPARK_AUTH_OIDC_REQUIRED_ROLES"] = spec.keycloak.required_role
    prefix = env_prefix(server)
    wiring: dict[str, str] = {}
    for feed in WIRING:
        facts = _source_facts(topology, service, feed.source) if feed.server == server else None
        if facts is not None and feed.fact in facts:
            wiring[feed.setting.upper()] = facts[feed.fact]
    own = spec.toolpark.servers[server]
    wiring |= {key.upper(): setting_value(value) for key, value in own.settings.items()}
    sections = {"TOOLPARK_DOCUMENTS_": own.documents, "TOOLPARK_TENANCY_": own.tenancy, "TOOLPARK_EGRESS_": own.egress}
    host = {
        f"{section}{k.upper()}": setting_value(v) for section, values in sections.items() for k, v in values.items()
    }
    return env | {prefix + key: value for key, value in wiring.items()} | host


def _s3_facts(spec: Deployment) -> dict[Fact, str] | None:
    """The stack's S3, for the servers that read it. LibreChat keeps each user's uploads in its
    bucket, a folder per user id, and Open WebUI in one folder, each tagged with its user's id: the
    servers give each caller its own, not everyone's."""
    if spec.s3 is None:
        return None
    roots = ["users/", *(LIBRECHAT_ROOTS if spec.librechat.enabled else ())]
    facts: dict[Fact, str] = {
        "url": spec.s3.endpoint_url, "access_key_id": secret("S3_ACCESS_KEY_ID"),
        "secret_access_key": secret("S3_SECRET_ACCESS_KEY"), "buckets": spec.s3.bucket,
        "user_roots": ",".join(roots), "region": spec.s3.region, "path_style": str(spec.s3.path_style).lower(),
    }  # fmt: skip
    if uploads_in_s3(spec):
        facts["owner_tags"] = f"{OPENWEBUI_FOLDER}/={OPENWEBUI_OWNER}"
    return facts


def _source_facts(topology: Topology, consumer: str, source: Source) -> dict[Fact, str] | None:
    """What `consumer` needs to know of `source` (address, model, credentials), or None where the
    spec has no such source."""
    spec = topology.spec
    if source == "database":
        return {"url": _postgres_url(topology, consumer, "toolpark")}
    if source == "s3":
        return _s3_facts(spec)
    role = ROLE_OF[source]
    model = spec.models.by_role().get(role)
    if model is None:
        return None
    facts: dict[Fact, str] = {
        "url": topology.model_url(consumer, role), "model": model.served_name,
        "api_key": secret(model_key_secret(model)),
        # vLLM refuses over-long inputs unless asked to cut them; llama.cpp and Ollama cut them
        # themselves, and an OpenAI-style endpoint may refuse the unknown field.
        "truncate": str(model.engine == "vllm").lower(),
    }  # fmt: skip
    service = service_of(spec, source)
    if service and topology.on_scheduled_node(service) and not topology.on_scheduled_node(consumer):
        facts["status_url"] = topology.url(consumer, "scheduler", "/status")
        if source == "embeddings" and spec.scheduler.embedding_fallback:
            facts["fallback_local"] = "true"
    return facts


_TASKS = "/var/lib/toolpark"


def _toolpark(topology: Topology, server: str) -> ServiceDef:
    spec = topology.spec
    port = spec.toolpark.servers[server].port
    return ServiceDef(
        image=spec.toolpark.image,
        command=["serve", server, "--transport", "http", "--host", topology.bind_host, "--port", str(port)],
        # Tasks and their results outlive a restart of the container (the ledger in its volume).
        # Two malloc arenas, not glibc's eight per core: the servers convert pages and PDFs and
        # encode in worker threads, and each thread's arena kept what it once held (the web
        # server grew by 430 MB under 100 users, bench/concurrent_users.py).
        environment={
            **toolpark_environment(topology, server),
            "TOOLPARK_TASKS_PATH": f"{_TASKS}/tasks.sqlite",
            "MALLOC_ARENA_MAX": "2",
        },
        volumes={f"toolpark-{server}-tasks": _TASKS},
        # Liveness, not readiness: a server whose vLLM node is away (scheduled off) is still up.
        probe=Probe(port, "/healthz"),
    )


def _caddy(topology: Topology) -> ServiceDef:
    return ServiceDef(
        image=topology.spec.images.caddy,
        command=["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"],
        # The image's own settings, named so that a caddy outside it keeps its state in the same place.
        environment={"XDG_DATA_HOME": "/data", "XDG_CONFIG_HOME": "/config"},
        probe=None,  # Caddy's readiness is its sites': the upstreams it proxies to are probed themselves
        files={"caddy/Caddyfile": "/etc/caddy/Caddyfile"},
        volumes={"caddy-data": "/data", "caddy-config": "/config"},
        host_ports=["80:80", "443:443", "443:443/udp"],
    )


def _scheduler(topology: Topology) -> ServiceDef:
    spec = topology.spec
    return ServiceDef(
        image=spec.toolpark.image,
        # The whole rendered folder: the spec it schedules by, the node's files it hands out at
        # bootstrap, and the provider's token in .env.
        command=["gpu", "run", "--deploy", SCHEDULER_FOLDER],
        environment={"TOOLPARK_SCHEDULER_DATABASE_URL": _postgres_url(topology, "scheduler", "scheduler")},
        probe=Probe(spec.scheduler.port, "/status"),
        files={".": SCHEDULER_FOLDER},
    )


def _registry(topology: Topology) -> ServiceDef:
    """A pull-through cache of Docker Hub for the scheduled node's docker (its `registry-mirrors`):
    the vLLM image (about 12 GB) comes over the private network at each boot, from the internet
    once per version. Published on the entry node's private address only, where the node looks."""
    spec = topology.spec
    port = spec.scheduler.image_mirror
    assert port is not None  # the service exists only with a port
    entry = spec.nodes[topology.node_of("registry")].address
    return ServiceDef(
        image=spec.images.registry,
        command=[],  # the image's own: serve /etc/distribution/config.yml, configured by the environment
        environment={
            "REGISTRY_HTTP_ADDR": f"{topology.bind_host}:{port}",
            "REGISTRY_PROXY_REMOTEURL": "https://registry-1.docker.io",
            "REGISTRY_STORAGE_DELETE_ENABLED": "true",  # the proxy expires what it cached (7 days unused)
        },
        probe=Probe(port, "/v2/"),
        healthcheck=["CMD", "wget", "-q", "--spider", f"http://localhost:{port}/v2/"],  # no Python in the image
        volumes={"registry-data": "/var/lib/registry"},
        host_ports=[f"{entry}:{port}:{port}"] if entry else [],
    )


def service_definition(topology: Topology, name: str) -> ServiceDef:
    spec = topology.spec
    component = topology.services[name].component
    if component in _ENGINES:
        model = spec.models.by_role()[name.removeprefix(f"{component}-")]
        return _ENGINES[component](topology, model, name)
    if component == "toolpark":
        return _toolpark(topology, name.removeprefix("toolpark-"))
    builders = {
        "postgres": _postgres,
        "litellm": _litellm,
        "mongodb": _mongodb,
        "librechat": _librechat,
        "openwebui": _openwebui,
        "keycloak": _keycloak,
        "caddy": _caddy,
        "scheduler": _scheduler,
        "registry": _registry,
    }
    return builders[component](topology)

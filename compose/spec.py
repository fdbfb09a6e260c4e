"""The deployment spec: one typed description of the whole stack, read from `deploy.toml` or YAML.

Everything `toolpark compose render` writes is derived from a `Deployment`; no hostname, port,
model name or secret name is typed twice. Field-level rules live on the models; rules that span
fields (placement, port clashes, server settings) are in `toolpark.compose.checks`, so every error can name
the spec field to fix.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from toolpark.compose.calendar import parse_dated_window, parse_window

__all__ = [
    "COMPONENTS",
    "ENGINES",
    "GPU_COMPONENTS",
    "S3",
    "TOOL_CALL_PARSERS",
    "Deployment",
    "Images",
    "Keycloak",
    "LibreChat",
    "LiteLLM",
    "Model",
    "Models",
    "Node",
    "OpenWebUI",
    "Postgres",
    "Processes",
    "Scheduler",
    "ServerSpec",
    "Toolpark",
]

# The inference servers the stack can run a model on (one process per model); `openai` is an
# OpenAI-compatible endpoint outside the stack (LM Studio, text-generation-webui, a hosted API).
ENGINES = ("vllm", "ollama", "llamacpp", "tgi")
Engine = Literal["vllm", "ollama", "llamacpp", "tgi", "openai"]
# What can be placed on a node. `toolpark` stands for every enabled toolpark server.
COMPONENTS = (
    "caddy", "postgres", "keycloak", "toolpark", *ENGINES, "litellm", "librechat", "mongodb", "openwebui"
)  # fmt: skip
GPU_COMPONENTS = frozenset(ENGINES)

# The tool-call parsers vLLM 0.32 (the pinned image) registers (`--tool-call-parser`); a test compares this list with
# the installed vLLM's registry, so a parser vLLM does not know is caught here, before deployment.
TOOL_CALL_PARSERS = frozenset(
    {
        "apertus",
        "cohere_command3",
        "cohere_command4",
        "deepseek_v3",
        "deepseek_v31",
        "deepseek_v32",
        "deepseek_v4",
        "deepseek_v41",
        "dots",
        "ernie45",
        "functiongemma",
        "gemma4",
        "gigachat3",
        "glm45",
        "glm47",
        "granite",
        "granite-20b-fc",
        "granite4",
        "hermes",
        "hf",
        "hunyuan_a13b",
        "hy_v3",
        "hy_v4",
        "inkling",
        "internlm",
        "jamba",
        "k2_horizon",
        "kimi_k2",
        "kimi_k3",
        "lfm2",
        "ling3",
        "llama3_json",
        "llama4_json",
        "llama4_pythonic",
        "longcat",
        "mimo",
        "minicpm5",
        "minimax_m2",
        "minimax_m3",
        "mistral",
        "muse_glimmer",
        "olmo3",
        "openai",
        "phi4_mini_json",
        "plamo3",
        "poolside_v1",
        "pythonic",
        "qwen3_coder",
        "qwen3_json",
        "qwen3_xml",
        "seed_oss",
        "step3",
        "step3p5",
        "xlam",
    }
)

Port = Annotated[int, Field(ge=1, le=65535)]
Hostname = Annotated[str, Field(max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")]
ServiceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,40}$")]


class _Strict(BaseModel):
    """Unknown keys are errors: a misspelt key must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Node(_Strict):
    """One machine. Services on different nodes reach each other at `address` (a private network)."""

    address: str | None = Field(
        None, description="Private address other nodes reach this one at; needed only with several nodes."
    )
    services: list[Literal[COMPONENTS]] = Field(description="Components this node runs.")  # type: ignore[valid-type]
    gpus: Literal["all"] | int = Field(0, description="GPUs the node lends to vLLM: a count, or 'all'.")
    lifecycle: Literal["always-on", "scheduled"] = Field(
        "always-on", description="'scheduled': created and removed by the scheduler on the spec's [scheduler]."
    )


class Model(_Strict):
    """One model, served by one inference-server process (each serves one model per process), or
    by an OpenAI-compatible endpoint outside the stack (`engine = "openai"` with `url`)."""

    engine: Engine = Field(
        "vllm", description="vllm, ollama, llamacpp (llama.cpp's server), tgi, or openai: an endpoint at url."
    )
    model: str = Field(
        min_length=1,
        description="vllm, tgi: Hugging Face id or path in the model volume; llamacpp: a GGUF file in the model "
        "volume; ollama: a model tag it pulls (qwen2.5:7b); openai: the endpoint's model name.",
    )
    served_name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._:/-]+$")
    port: Port = Field(8000, description="Its port; unused for an endpoint outside the stack.")
    url: str | None = Field(
        None, pattern=r"^https?://", description="engine openai: the endpoint's base URL, e.g. http://lmstudio:1234/v1."
    )
    api_key_secret: str | None = Field(
        None, pattern=r"^[A-Z][A-Z0-9_]*$", description="engine openai: the .env secret holding the endpoint's key."
    )
    max_model_len: int | None = Field(None, ge=256)
    dimension: int | None = Field(
        None, ge=1, description="An embedding model's vector width, where known: checked against stored collections."
    )
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1, description="vllm only: its share of the GPU.")
    weights: str | None = Field(
        None,
        pattern=r"^s3://[a-z0-9][a-z0-9.-]+[a-z0-9]/[^/].*$",
        description="vllm only: s3://bucket/prefix in the stack's S3 where `toolpark models push` put the model; "
        "vLLM streams it from there (runai_streamer) with the read-only WEIGHTS_S3_* keys, instead of downloading "
        "`model` from Hugging Face.",
    )
    extra_args: list[str] = Field(
        default_factory=list, description="Further arguments of the inference server, passed as they are."
    )

    @property
    def external(self) -> bool:
        return self.engine == "openai"


class ChatModel(Model):
    tool_call_parser: str | None = Field(
        None, description="vllm --tool-call-parser (needed there): hermes (Qwen2.5), llama3_json, mistral, ..."
    )
    tool_calls: bool = Field(
        True,
        description="Whether the model calls tools on its engine (llama.cpp through its Jinja chat template, "
        "Ollama for models with a tools template, TGI by grammar); LibreChat's agents need it.",
    )

    @field_validator("tool_call_parser")
    @classmethod
    def _known_parser(cls, value: str | None) -> str | None:
        if value is not None and value not in TOOL_CALL_PARSERS:
            raise ValueError(f"vLLM has no tool-call parser {value!r}; known: {', '.join(sorted(TOOL_CALL_PARSERS))}")
        return value


class Models(_Strict):
    chat: ChatModel
    embedding: Model
    vision: ChatModel | None = Field(None, description="Optional vision model for extract's describe tool.")

    def by_role(self) -> dict[str, Model]:
        """chat, embedding and (if any) vision, each with its model."""
        found: dict[str, Model] = {"chat": self.chat, "embedding": self.embedding}
        return found | ({"vision": self.vision} if self.vision is not None else {})

    def service(self, role: str) -> str | None:
        """The stack's service serving `role` (`vllm-chat`, `llamacpp-embedding`, ...); none for an
        endpoint outside the stack or a role without a model."""
        model = self.by_role().get(role)
        return None if model is None or model.external else f"{model.engine}-{role}"


class LiteLLM(_Strict):
    """LiteLLM in front of vLLM: one API, keys and spend tracking. Off: LibreChat talks to vLLM."""

    enabled: bool = True
    port: Port = 4000
    database: bool = Field(
        True,
        description="Keep virtual keys and spend in PostgreSQL (LiteLLM's Prisma client); off: the master key only.",
    )
    mcp_gateway: bool = Field(
        False, description="Also serve the toolpark servers' tools through LiteLLM's MCP gateway (/mcp)."
    )


class LibreChat(_Strict):
    enabled: bool = True
    port: Port = 3080
    title: str = "Assistant"
    mcp_timeout_ms: int = Field(120_000, ge=1000, description="Per-call timeout LibreChat gives MCP tools.")


class OpenWebUI(_Strict):
    """Open WebUI, a second chat front end beside (or instead of) LibreChat."""

    enabled: bool = False
    port: Port = 8090
    hostname: Hostname | None = Field(
        None, description="Its public name; needed beside LibreChat, else it takes chat_hostname."
    )
    title: str = "Assistant"
    client_id: str = Field("openwebui", pattern=r"^[A-Za-z0-9_.-]+$", description="Its Keycloak client.")
    tools: list[str] | None = Field(
        None, description="Toolpark servers whose tools every chat starts with; default all of them."
    )
    tool_choice: str | None = Field(
        None,
        description="The model's tool_choice in every chat: 'required', or a tool as Open WebUI names it "
        "('<server>_<tool>'), for a small model that never picks a tool itself; none leaves it to the model.",
    )
    max_tool_calls: int = Field(
        8, ge=1, le=256, description="Tool-call rounds per answer (CHAT_RESPONSE_MAX_TOOL_CALL_ITERATIONS)."
    )
    model_params: dict[str, float | int | str] = Field(
        default_factory=dict, description="Parameters every chat sends the model, e.g. {temperature = 0}."
    )
    signup: Literal["closed", "approval", "open"] = Field(
        "closed",
        description="Without Keycloak, who may make an account: closed (only the admin adds users), approval "
        "(anyone signs up, and waits as 'pending' until an admin lets them in), open (anyone signs up and at once "
        "calls every toolpark server as a user). Open WebUI itself keeps sign-ups closed for the run in which it "
        "made its admin: approval and open take effect from its next start.",
    )
    admin_email: str | None = Field(
        None,
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="Without Keycloak, the admin account made before the site opens (its password: "
        "OPENWEBUI_ADMIN_PASSWORD in .env), so no stranger's first sign-up becomes the admin; default acme_email.",
    )


class Processes(_Strict):
    """The one-machine target (`--target processes`): the programs that stand in for each image's
    entry point, and the loopback ports Caddy's sites get there in place of hostnames."""

    first_port: Port = Field(8080, description="Caddy's sites listen on consecutive loopback ports from here.")
    vllm: list[str] = Field(default_factory=lambda: ["vllm", "serve"], min_length=1)
    llamacpp: list[str] = Field(default_factory=lambda: ["llama-server"], min_length=1)
    litellm: list[str] = Field(default_factory=lambda: ["litellm"], min_length=1)
    openwebui: list[str] = Field(default_factory=lambda: ["open-webui"], min_length=1)
    caddy: list[str] = Field(default_factory=lambda: ["caddy"], min_length=1)
    toolpark: list[str] = Field(default_factory=lambda: ["toolpark"], min_length=1)


class FallbackModel(_Strict):
    """A model LiteLLM answers with while the scheduled node is away (a hosted API, or a small model
    elsewhere), under the chat model's name."""

    model: str = Field(min_length=1, description="LiteLLM's model string, e.g. openai/gpt-4o-mini.")
    api_base: str | None = Field(None, pattern=r"^https?://")
    api_key_secret: str | None = Field(
        None, pattern=r"^[A-Z][A-Z0-9_]*$", description="The .env secret holding its API key."
    )


class Scheduler(_Strict):
    """When the scheduled node runs, where it is created, and what it may cost. The scheduler runs
    on the node with PostgreSQL (its history is kept there) and creates the node through a
    provider plugin (entry-point group `toolpark.gpu_providers`: local, hetzner, scaleway)."""

    port: Port = Field(8190, description="The scheduler's HTTP port: /status, /metrics, the offline page, bootstrap.")
    timezone: str = Field("UTC", description="IANA time zone the windows are read in, e.g. Europe/Berlin.")
    windows: list[str] = Field(
        default_factory=lambda: ["mon-fri 08:00-18:00"],
        description="Weekly windows: days (mon-fri, sat, sun,mon) and a time range; 18:00-02:00 runs past midnight.",
    )
    days_off: list[date] = Field(default_factory=list, description="Dates with no weekly window (holidays).")
    extra_windows: list[str] = Field(
        default_factory=list, description="One-off windows: '2026-12-28 10:00-16:00'; they apply on days off too."
    )
    lead_minutes: int | None = Field(
        None,
        ge=0,
        le=240,
        description="How long before each window the node is created, so it serves when the window opens; the "
        "time counts toward budget_hours. None: learned, the p90 of the last boots' time to ready and a minute "
        "(2-60 min; 15 until 3 boots are measured).",
    )
    image_mirror: Port | None = Field(
        5000,
        description="The port of a pull-through cache of Docker Hub (the distribution registry) beside the "
        "scheduler: the node pulls the vLLM image from the entry server over the private network, and the internet "
        "serves each version once. None: the node pulls from Docker Hub itself.",
    )
    budget_hours: float | None = Field(None, gt=0, description="GPU hours per calendar month; none: no cap.")
    hourly_price: float = Field(0, ge=0, description="What the node costs per hour, to report cost.")
    currency: str = "EUR"
    wake_on_demand: bool = Field(
        False,
        description="Start the node when a signed-in user or a key holder needs it outside a window; stop it after "
        "idle_minutes. Needs budget_hours: wake-ups spend only the hours the month's windows leave over.",
    )
    wake_daily_cap: int = Field(4, ge=1, description="Wake-ups one user or key may cause in 24 hours.")
    idle_minutes: int = Field(30, ge=1)
    provider: str = Field(
        "local", pattern=r"^[a-z][a-z0-9_-]*$", description="local, hetzner, scaleway, or a plugin's."
    )
    provider_settings: dict[str, object] = Field(
        default_factory=dict, description="The provider's own settings (server type, image, zone, network)."
    )
    interval_s: int = Field(30, ge=1, description="How often the reconciler compares the schedule with the provider.")
    create_timeout_s: int = Field(600, ge=1)
    ready_timeout_s: int = Field(1800, ge=10, description="A node whose vLLM is not healthy by then is deleted.")
    delete_timeout_s: int = Field(600, ge=1)
    drain_s: int = Field(300, ge=0, description="At a window's end, how long running requests may finish.")
    webhook: str | None = Field(None, pattern=r"^https?://", description="POSTed a JSON event on every failure.")
    fallback_model: FallbackModel | None = Field(
        None, description="What LiteLLM answers with while the node is away; LiteLLM must be on an always-on node."
    )
    embedding_fallback: bool = Field(
        False,
        description="While the node is away, retrieval embeds with its own MiniLM on the entry node; only for an "
        "embedding model that is all-MiniLM-L6-v2 (other models' vectors do not compare). Off: searches say when "
        "the node is back.",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin") from None
        return value

    @field_validator("windows", "extra_windows")
    @classmethod
    def _windows(cls, value: list[str], info: ValidationInfo) -> list[str]:
        parse = parse_window if info.field_name == "windows" else parse_dated_window
        for window in value:
            parse(window)
        return value


class Keycloak(_Strict):
    """Single sign-on. Off: LibreChat keeps its own accounts and calls toolpark with an API key."""

    enabled: bool = True
    port: Port = 8080
    realm: str = Field("assistant", pattern=r"^[A-Za-z0-9_-]+$")
    client_id: str = Field("librechat", pattern=r"^[A-Za-z0-9_.-]+$")
    audience: str = Field("toolpark", pattern=r"^[A-Za-z0-9_.-]+$", description="Audience the MCP servers accept.")
    roles: list[str] = Field(default_factory=lambda: ["user", "admin"], min_length=1)
    required_role: str | None = Field("user", description="Role every user needs for chat and tools.")
    mcp_client_id: str | None = Field(
        "mcp-clients",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Public client (PKCE) for MCP clients that log users in themselves, such as VS Code or "
        "Claude Desktop, found through the endpoints' OAuth metadata; null: none.",
    )
    mcp_redirect_uris: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1/*", "http://localhost/*"],
        description="Where those clients may receive the login's code: their loopback listeners.",
    )


class Postgres(_Strict):
    """PostgreSQL with pgvector: toolpark's vectors, and LiteLLM's and Keycloak's databases."""

    port: Port = 5432


class S3(_Strict):
    """An S3-compatible store for LibreChat's files and the s3/extract/retrieval servers."""

    endpoint_url: str = Field(
        pattern=r"^https?://", description="S3 endpoint, e.g. https://s3.eu-central-1.amazonaws.com"
    )
    region: str = "us-east-1"
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="Bucket LibreChat stores files in.")
    path_style: bool = True


class ServerSpec(_Strict):
    """One toolpark server: its port, and settings as in `[plugins.<name>]` of toolpark.toml."""

    port: Port
    settings: dict[str, object] = Field(default_factory=dict)
    documents: dict[str, object] = Field(
        default_factory=dict, description="The host's [documents] settings in this server's process (workers, OCR)."
    )
    tenancy: dict[str, object] = Field(
        default_factory=dict,
        description="The host's [tenancy] settings: which roles read or write shared namespaces. The operator's "
        "key has the role 'operator'.",
    )
    egress: dict[str, object] = Field(
        default_factory=dict,
        description="The host's [egress] settings for this server's outbound HTTP: private destinations it may "
        "reach anyway (allow: an intranet's hosts), a proxy, limits.",
    )
    server_instructions: str | bool = Field(
        True, description="LibreChat serverInstructions: true takes the server's own instructions."
    )


def is_git_url(source: str) -> bool:
    """A build context docker fetches itself (`https://…/x.git#ref`, `git@host:x.git`), not a path."""
    return "://" in source or source.startswith("git@")


class Toolpark(_Strict):
    image: str = Field("toolpark:0.1.0", description="Image built from the rendered Dockerfile.")
    source: str | None = Field(
        None,
        description="Where the compose target builds `image` from, on the node that runs it: a toolpark "
        "checkout (a path there) or a git URL (`https://host/you/toolpark.git#v0.1.0`, what a scheduled node "
        "needs). `compose init` fills in where this toolpark came from. Unset: `image` is pulled, from a "
        "registry you pushed it to.",
    )
    auth: Literal["oidc", "api-key"] | None = Field(
        None, description="How LibreChat authenticates to the servers; default oidc with Keycloak, else api-key."
    )
    servers: dict[str, ServerSpec] = Field(min_length=1)

    @field_validator("servers")
    @classmethod
    def _service_names(cls, value: dict[str, ServerSpec]) -> dict[str, ServerSpec]:
        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", name):
                raise ValueError(f"server name {name!r} must be lower-case letters, digits and dashes")
        return value


class Images(_Strict):
    """Pinned images; `latest` is refused so a redeploy never changes versions by surprise."""

    vllm: str = "vllm/vllm-openai:v0.32.0"
    ollama: str = "ollama/ollama:0.12.6"
    llamacpp: str = "ghcr.io/ggml-org/llama.cpp:server-b6770"
    tgi: str = "ghcr.io/huggingface/text-generation-inference:3.3.6"
    litellm: str = "ghcr.io/berriai/litellm:main-v1.77.7-stable"
    librechat: str = "ghcr.io/danny-avila/librechat:v0.8.0"
    mongodb: str = "mongo:8.0.15"
    postgres: str = "pgvector/pgvector:0.8.1-pg17"
    keycloak: str = "quay.io/keycloak/keycloak:26.4.2"
    caddy: str = "caddy:2.10.2"
    openwebui: str = "ghcr.io/open-webui/open-webui:v0.12.4"
    registry: str = "registry:3.0.0"

    @field_validator("*")
    @classmethod
    def _pinned(cls, value: str) -> str:
        tag = value.rsplit("/", 1)[-1].partition(":")[2]
        if "@sha256:" not in value and tag in ("", "latest"):
            raise ValueError(f"image {value!r} must be pinned to a version tag or digest")
        return value


class Deployment(_Strict):
    """The whole stack."""

    name: ServiceName = Field(description="Compose project name.")
    acme_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="Contact for Let's Encrypt certificates.")
    chat_hostname: Hostname
    sso_hostname: Hostname | None = Field(None, description="Public name of Keycloak; needed when it is enabled.")
    tools_hostname: Hostname | None = Field(None, description="Publish the MCP endpoints here; none: internal only.")
    llm_hostname: Hostname | None = Field(None, description="Publish LiteLLM's API here; none: internal only.")
    nodes: dict[ServiceName, Node] = Field(min_length=1)
    models: Models
    litellm: LiteLLM = LiteLLM()
    librechat: LibreChat = LibreChat()
    openwebui: OpenWebUI = OpenWebUI()
    keycloak: Keycloak = Keycloak()
    postgres: Postgres = Postgres()
    s3: S3 | None = None
    toolpark: Toolpark
    images: Images = Images()
    processes: Processes = Processes()
    scheduler: Scheduler = Scheduler()

    @property
    def scheduled_node(self) -> str | None:
        """The node the scheduler creates and removes, if any (`toolpark.compose.checks` allows one)."""
        return next((name for name, node in self.nodes.items() if node.lifecycle == "scheduled"), None)

    @property
    def openwebui_hostname(self) -> str | None:
        """Open WebUI's public name: its own, or the chat name when LibreChat is off."""
        if not self.openwebui.enabled:
            return None
        return self.openwebui.hostname or (None if self.librechat.enabled else self.chat_hostname)

    @property
    def auth_mode(self) -> Literal["oidc", "api-key"]:
        if self.toolpark.auth is not None:
            return self.toolpark.auth
        return "oidc" if self.keycloak.enabled else "api-key"

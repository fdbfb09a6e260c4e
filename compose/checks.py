"""Rules that span several spec fields, each reported against the field an operator edits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from toolpark.compose.providers import ProviderError, provider_module
from toolpark.compose.secrets import external_secrets
from toolpark.compose.spec import COMPONENTS, ENGINES, GPU_COMPONENTS, ChatModel, Deployment, is_git_url
from toolpark.compose.topology import Topology
from toolpark.contract.settings import from_values
from toolpark.contract.tenancy import TenancySettings
from toolpark.documents.parser import DocumentSettings
from toolpark.host.loading import PluginLoadError, available_plugins, load_plugins
from toolpark.security.egress import EgressSettings

__all__ = [
    "Problem",
    "SpecError",
    "access_notes",
    "missing_secrets",
    "problems",
    "stored_collection_problems",
    "validation_problems",
]


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SpecError(Exception):
    """A spec that cannot be rendered; `problems` says every reason, each against its field."""

    def __init__(self, problems: list[Problem], source: str = "deploy spec") -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} has {len(problems)} problem(s):\n{lines}")


def validation_problems(exc: ValidationError) -> list[Problem]:
    """Pydantic's errors, with their locations written as the dotted spec field."""
    found = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not a known setting (misspelt?)"
        found.append(Problem(field, message))
    return found


def problems(spec: Deployment) -> list[Problem]:
    """Everything wrong with `spec` itself."""
    found = [*_placement(spec), *_scheduling(spec), *_references(spec), *_port_clashes(spec)]
    return [*found, *_engines(spec), *_gpu_memory(spec), *_servers(spec)]


_SIGNUP = {
    "closed": "only its admin adds accounts",
    "approval": "anyone may sign up, and waits until its admin lets them in (from Open WebUI's second start on)",
    "open": "anyone may sign up and at once calls every toolpark server as a user (from its second start on)",
}


def access_notes(spec: Deployment) -> list[str]:
    """Who can get in where the spec leaves it a choice: what `compose check` says besides "ok"."""
    notes = []
    owui = spec.openwebui
    if owui.enabled and not spec.keycloak.enabled:
        admin = owui.admin_email or spec.acme_email
        notes.append(
            f"openwebui.signup = {owui.signup!r}: {_SIGNUP[owui.signup]}; the admin is {admin} "
            "(password OPENWEBUI_ADMIN_PASSWORD in .env)"
        )
    if spec.litellm.enabled and spec.litellm.mcp_gateway:
        notes.append(
            "litellm.mcp_gateway: LiteLLM calls the servers with one key for all its users (it cannot name them), "
            "so they share one namespace and one rate limit, and it may call read-only tools only"
        )
    return notes


def missing_secrets(spec: Deployment, secrets: Mapping[str, str]) -> list[Problem]:
    """The secrets only the operator can supply that `secrets` (the .env values) lacks."""
    return [
        Problem(field, f"secret {name} is missing: add it to .env")
        for name, field in external_secrets(spec).items()
        if not secrets.get(name)
    ]


def _enabled(spec: Deployment) -> set[str]:
    off = {"keycloak"} if not spec.keycloak.enabled else set()
    off |= {"litellm"} if not spec.litellm.enabled else set()
    off |= {"librechat", "mongodb"} if not spec.librechat.enabled else set()
    off |= {"openwebui"} if not spec.openwebui.enabled else set()
    off |= set(ENGINES) - {m.engine for m in spec.models.by_role().values()}
    return set(COMPONENTS) - off


def _placement(spec: Deployment) -> list[Problem]:
    found = []
    where: dict[str, list[str]] = {}
    for node_name, node in spec.nodes.items():
        for component in node.services:
            where.setdefault(component, []).append(node_name)
        if (on_gpu := sorted(GPU_COMPONENTS & set(node.services))) and node.gpus == 0:
            found.append(Problem(f"nodes.{node_name}.gpus", f"runs {on_gpu[0]} but lends it no GPU"))
        if len(spec.nodes) > 1 and not node.address:
            found.append(Problem(f"nodes.{node_name}.address", "is needed when the deployment has several nodes"))
    enabled = _enabled(spec)
    for component in COMPONENTS:
        nodes = where.get(component, [])
        if component in enabled and not nodes:
            found.append(Problem("nodes", f"no node runs {component}; add it to one node's services"))
        elif component not in enabled and nodes:
            found.append(Problem(f"nodes.{nodes[0]}.services", f"lists {component}, which is disabled"))
        elif len(nodes) > 1:
            found.append(Problem(f"nodes.{nodes[1]}.services", f"{component} already runs on node {nodes[0]}"))
    return found


# What must outlive the scheduled node: the scheduler's history, its offline page, and the scheduler;
# and what keeps the users' data (conversations, accounts), which would go with the node's disk.
_ALWAYS_ON = ("postgres", "caddy", "mongodb", "openwebui")


def _scheduling(spec: Deployment) -> list[Problem]:
    scheduled = [name for name, node in spec.nodes.items() if node.lifecycle == "scheduled"]
    found = [Problem(f"nodes.{name}.lifecycle", "only one node can be scheduled") for name in scheduled[1:]]
    name = spec.scheduled_node  # the first of them
    if name is None:
        return found
    for component in _ALWAYS_ON:
        if component in spec.nodes[name].services:
            found.append(Problem(f"nodes.{name}.services", f"{component} must run on an always-on node"))
    source = spec.toolpark.source
    if "toolpark" in spec.nodes[name].services and source is not None and not is_git_url(source):
        message = f"is a path, and node {name}, which the scheduler creates, has no checkout: a git URL, or none and "
        found.append(Problem("toolpark.source", message + "toolpark.image one pushed to a registry"))
    found += _provider_settings(spec)
    if spec.scheduler.wake_on_demand and spec.scheduler.budget_hours is None:
        message = "wake_on_demand needs a monthly budget_hours: without one, wake-ups have no bound on cost"
        found.append(Problem("scheduler.budget_hours", message))
    if spec.scheduler.fallback_model and spec.litellm.enabled and "litellm" in spec.nodes[name].services:
        message = "LiteLLM runs on the scheduled node; it is away with the model it would fall back from"
        found.append(Problem("scheduler.fallback_model", message))
    model = spec.models.embedding.model
    if spec.scheduler.embedding_fallback and "all-minilm-l6-v2" not in model.lower().replace("_", "-"):
        message = f"the stand-in is all-MiniLM-L6-v2; vectors of {model} would not compare"
        found.append(Problem("scheduler.embedding_fallback", message))
    return found


def _provider_settings(spec: Deployment) -> list[Problem]:
    """The provider is a plugin; its module's `Settings` model (if it has one) checks its settings."""
    try:
        module = provider_module(spec.scheduler.provider)
    except ProviderError as exc:
        return [Problem("scheduler.provider", str(exc))]
    model = getattr(module, "Settings", None)
    if model is None:
        return []
    try:
        model.model_validate(spec.scheduler.provider_settings)
    except ValidationError as exc:
        return [Problem(f"scheduler.provider_settings.{p.field}", p.message) for p in validation_problems(exc)]
    return []


def _references(spec: Deployment) -> list[Problem]:
    found = []
    if spec.keycloak.enabled and not spec.sso_hostname:
        found.append(Problem("sso_hostname", "is needed while keycloak.enabled is true"))
    if spec.auth_mode == "oidc" and not spec.keycloak.enabled:
        found.append(Problem("toolpark.auth", "oidc needs keycloak.enabled = true (or use api-key)"))
    required = spec.keycloak.required_role
    if spec.keycloak.enabled and required is not None and required not in spec.keycloak.roles:
        found.append(Problem("keycloak.required_role", f"{required!r} is not one of keycloak.roles"))
    if not spec.librechat.enabled and not spec.openwebui.enabled:
        found.append(Problem("librechat.enabled", "no chat front end: enable librechat, openwebui or both"))
    if spec.librechat.enabled and spec.openwebui.enabled and not spec.openwebui.hostname:
        found.append(Problem("openwebui.hostname", "is needed beside LibreChat, which has chat_hostname"))
    if "s3" in spec.toolpark.servers and spec.s3 is None:
        found.append(Problem("toolpark.servers.s3", "needs an [s3] section"))
    hostnames = [(f, getattr(spec, f)) for f in ("chat_hostname", "sso_hostname", "tools_hostname", "llm_hostname")]
    if spec.openwebui.hostname:
        hostnames.append(("openwebui.hostname", spec.openwebui.hostname))
    seen: dict[str, str] = {}
    for field, host in hostnames:
        if host and host in seen:
            found.append(Problem(field, f"{host} is already {seen[host]}"))
        elif host:
            seen[host] = field
    return found


def _port_clashes(spec: Deployment) -> list[Problem]:
    topology = Topology(spec)
    found = []
    for node in spec.nodes:
        taken: dict[int, str] = {80: "(caddy's port 80)"} if topology.placement.get("caddy") == node else {}
        for service in topology.services_on(node):
            if service.port in taken:
                found.append(
                    Problem(service.port_field, f"port {service.port} on node {node} is also {taken[service.port]}")
                )
            else:
                taken[service.port] = service.port_field
    return found


def _engines(spec: Deployment) -> list[Problem]:
    """What a model's engine cannot do, or what the stack would need of it that it lacks."""
    found = []
    for role, model in spec.models.by_role().items():
        field = f"models.{role}"
        if model.external and model.url is None:
            found.append(Problem(f"{field}.url", "an endpoint outside the stack (engine openai) needs its url"))
        if not model.external and model.url is not None:
            found.append(Problem(f"{field}.url", f"{model.engine} runs in the stack; only engine openai takes a url"))
        if model.external and model.api_key_secret is None:
            message = "name the .env secret of the endpoint's key (any value where it checks none, as LM Studio)"
            found.append(Problem(f"{field}.api_key_secret", message + "; the stack's own key is not sent outside"))
        if model.weights is not None and model.engine != "vllm":
            found.append(Problem(f"{field}.weights", "only vllm streams weights from S3; name the model instead"))
        if model.weights is not None and spec.s3 is None:
            found.append(Problem(f"{field}.weights", "needs the stack's [s3] section: its endpoint serves the weights"))
        if role == "embedding" and model.engine == "tgi":
            message = "TGI serves no embeddings (Text Embeddings Inference does); use vllm, llamacpp, ollama or openai"
            found.append(Problem(f"{field}.engine", message))
        if not isinstance(model, ChatModel):
            continue
        if model.engine == "vllm" and model.tool_calls and model.tool_call_parser is None:
            found.append(Problem(f"{field}.tool_call_parser", "vLLM calls tools only with a --tool-call-parser"))
        if role == "vision" and model.engine == "llamacpp" and "--mmproj" not in model.extra_args:
            message = "llama.cpp reads images only with the model's projector: add --mmproj <file> to extra_args"
            found.append(Problem(f"{field}.extra_args", message))
    chat = spec.models.chat
    fronts = [name for name, on in (("LibreChat's agents", spec.librechat.enabled),
                                    ("Open WebUI's native tool calling", spec.openwebui.enabled)) if on]  # fmt: skip
    if not chat.tool_calls and fronts:
        found.append(
            Problem(
                "models.chat.tool_calls",
                f"{' and '.join(fronts)} reach toolpark's tools through the chat model's tool calls, and "
                f"{chat.served_name} on {chat.engine} makes none: the tools could not be used",
            )
        )
    if (node := spec.scheduled_node) and chat.engine != "vllm" and chat.engine in spec.nodes[node].services:
        message = "the scheduler tells the scheduled node ready and idle by vLLM's /health and /metrics"
        found.append(Problem("models.chat.engine", f"{message}; run the chat model there on vllm"))
    return found


def _gpu_memory(spec: Deployment) -> list[Problem]:
    """The vLLM processes share the node's GPUs: each takes its fraction of the memory up front."""
    models = {f"models.{role}": m for role, m in spec.models.by_role().items() if m.engine == "vllm"}
    total = sum(m.gpu_memory_utilization for m in models.values())
    if total > 0.95:
        field = f"{list(models)[-1]}.gpu_memory_utilization"
        return [Problem(field, f"the vLLM models together claim {total:.2f} of GPU memory; keep it at 0.95 or less")]
    return []


def _servers(spec: Deployment) -> list[Problem]:
    installed = available_plugins()
    found = []
    for name, server in spec.toolpark.servers.items():
        field = f"toolpark.servers.{name}"
        if name not in installed:
            found.append(
                Problem(field, f"no toolpark server named {name!r}; installed: {', '.join(sorted(installed))}")
            )
            continue
        try:
            (plugin,) = load_plugins([name])
        except PluginLoadError as exc:
            found.append(Problem(field, str(exc)))
            continue
        for section, model, values in (
            ("settings", plugin.settings_model, server.settings),
            ("documents", DocumentSettings, server.documents),
            ("tenancy", TenancySettings, server.tenancy),
            ("egress", EgressSettings, server.egress),
        ):
            try:
                from_values(model, dict(values))
            except ValidationError as exc:
                found += [Problem(f"{field}.{section}.{p.field}", p.message) for p in validation_problems(exc)]
    return found


async def stored_collection_problems(spec: Deployment, store_url: str) -> list[Problem]:
    """What the spec's embedding model cannot do with the collections already in the retrieval store
    at `store_url` (of the kind the spec's retrieval server is set to): search vectors of another
    model, or of another width."""
    from toolpark.mcp_servers.retrieval.stores.opening import BACKENDS, open_store

    server = spec.toolpark.servers.get("retrieval")
    chosen = (server.settings if server else {}).get("store", "pgvector")
    backend = next((b for b in BACKENDS if b == chosen), None)
    if backend is None:
        return [Problem("toolpark.servers.retrieval.settings.store", f"{chosen!r} is not one of {', '.join(BACKENDS)}")]
    async with open_store(backend, store_url, None, pool_size=1, timeout_s=10) as store:
        stored = await store.collections(None)
    model = spec.models.embedding
    unlike: dict[tuple[str, int], list[str]] = {}
    for collection in stored:
        if (
            collection.embedding_model != model.served_name
            or (model.dimension or collection.dimension) != collection.dimension
        ):
            unlike.setdefault((collection.embedding_model, collection.dimension), []).append(
                f"{collection.namespace}/{collection.name}"
            )
    return [
        Problem(
            "models.embedding",
            f"{len(names)} stored collection(s) ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}) hold "
            f"{dimension}-dimensional vectors of {stored_model}; {model.served_name}"
            + (f" ({model.dimension} dimensions)" if model.dimension else "")
            + " would not search them: keep that model, or create new collections and ingest again",
        )
        for (stored_model, dimension), names in sorted(unlike.items())
    ]

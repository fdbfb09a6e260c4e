"""Rules that span several spec fields, each reported against the field an operator edits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from toolpark.compose.secrets import external_secrets
from toolpark.compose.spec import COMPONENTS, GPU_COMPONENTS, Deployment
from toolpark.compose.topology import Topology
from toolpark.contract.settings import from_values
from toolpark.documents.parser import DocumentSettings
from toolpark.host.loading import PluginLoadError, available_plugins, load_plugins
from toolpark.security.tenancy import TenancySettings

__all__ = ["Problem", "SpecError", "missing_secrets", "problems", "validation_problems"]


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
    return [*found, *_gpu_memory(spec), *_servers(spec)]


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


# What must outlive the scheduled node: the scheduler's history, its offline page, and the scheduler.
_ALWAYS_ON = ("postgres", "caddy")


def _scheduling(spec: Deployment) -> list[Problem]:
    scheduled = [name for name, node in spec.nodes.items() if node.lifecycle == "scheduled"]
    found = [Problem(f"nodes.{name}.lifecycle", "only one node can be scheduled") for name in scheduled[1:]]
    name = spec.scheduled_node  # the first of them
    if name is None:
        return found
    for component in _ALWAYS_ON:
        if component in spec.nodes[name].services:
            found.append(Problem(f"nodes.{name}.services", f"{component} must run on an always-on node"))
    found += _provider_settings(spec)
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
    from toolpark.compose.scheduler.providers import ProviderError, provider_module

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


def _gpu_memory(spec: Deployment) -> list[Problem]:
    """The vLLM processes share the node's GPUs: each takes its fraction of the memory up front."""
    models = {f"models.{n}": m for n, m in (("chat", spec.models.chat), ("embedding", spec.models.embedding))}
    if spec.models.vision is not None:
        models["models.vision"] = spec.models.vision
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
        ):
            try:
                from_values(model, dict(values))
            except ValidationError as exc:
                found += [Problem(f"{field}.{section}.{p.field}", p.message) for p in validation_problems(exc)]
    return found

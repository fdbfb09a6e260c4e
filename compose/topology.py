"""Where each service runs and how the others reach it.

Which service runs on which node, and who calls whom, follow from the spec alone; how a caller
reaches a service is the render target's (`Addressing`). With docker compose a service on the same
node is reached by its service name on the node's network, one on another node at that node's
private address, where it publishes its port; which ports a node publishes follows from the links,
so nothing listens on a node address it does not have to. On one machine every service is at
127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from toolpark.compose.spec import Deployment
from toolpark.compose.wiring import WIRING, service_of

__all__ = ["LOOPBACK", "NODE_NETWORKS", "Addressing", "Link", "Loopback", "NodeNetworks", "Service", "Topology"]


@dataclass(frozen=True)
class Service:
    """One compose service: its name, the component it belongs to, the spec field of its port."""

    name: str
    component: str
    port: int
    port_field: str


@dataclass(frozen=True)
class Link:
    consumer: str
    provider: str


class Addressing(Protocol):
    """How the services of one render target reach each other."""

    @property
    def one_machine(self) -> bool:
        """Every service on this one machine: nothing is published to another node."""
        ...

    @property
    def bind_host(self) -> str:
        """Where a service listens."""
        ...

    def address(self, topology: Topology, consumer: str, provider: str) -> str:
        """`host:port` at which `consumer` reaches `provider`."""
        ...


@dataclass(frozen=True)
class NodeNetworks:
    """Containers on each node's own network (docker compose): the service's name on the same
    node, the node's private address across nodes."""

    one_machine: bool = False
    bind_host: str = "0.0.0.0"  # every interface of its container

    def address(self, topology: Topology, consumer: str, provider: str) -> str:
        port = topology.services[provider].port
        if topology.node_of(consumer) == topology.node_of(provider):
            return f"{provider}:{port}"
        return f"{topology.spec.nodes[topology.node_of(provider)].address}:{port}"


@dataclass(frozen=True)
class Loopback:
    """Every service a program on this machine, on its own loopback port (the processes target)."""

    one_machine: bool = True
    bind_host: str = "127.0.0.1"

    def address(self, topology: Topology, consumer: str, provider: str) -> str:
        return f"127.0.0.1:{topology.services[provider].port}"


NODE_NETWORKS = NodeNetworks()
LOOPBACK = Loopback()


class Topology:
    """The spec's services, where they run and who calls whom, as `addressing` reaches them."""

    def __init__(self, spec: Deployment, addressing: Addressing = NODE_NETWORKS) -> None:
        self.spec = spec
        self.addressing = addressing

    @property
    def one_machine(self) -> bool:
        return self.addressing.one_machine

    @property
    def bind_host(self) -> str:
        return self.addressing.bind_host

    @cached_property
    def services(self) -> dict[str, Service]:
        spec = self.spec
        found = [Service("postgres", "postgres", spec.postgres.port, "postgres.port")]
        for role in ("chat", "embedding"):
            if (name := spec.models.service(role)) is not None:
                model = spec.models.by_role()[role]
                found.append(Service(name, model.engine, model.port, f"models.{role}.port"))
        found.append(Service("caddy", "caddy", 443, "(caddy's ports 80 and 443)"))
        if spec.librechat.enabled:
            found.append(Service("librechat", "librechat", spec.librechat.port, "librechat.port"))
            found.append(Service("mongodb", "mongodb", 27017, "(mongodb's port 27017)"))
        if spec.openwebui.enabled:
            found.append(Service("openwebui", "openwebui", spec.openwebui.port, "openwebui.port"))
        if (vision := spec.models.service("vision")) is not None:
            assert spec.models.vision is not None
            found.append(Service(vision, spec.models.vision.engine, spec.models.vision.port, "models.vision.port"))
        if spec.litellm.enabled:
            found.append(Service("litellm", "litellm", spec.litellm.port, "litellm.port"))
        if spec.keycloak.enabled:
            found.append(Service("keycloak", "keycloak", spec.keycloak.port, "keycloak.port"))
        for name, server in spec.toolpark.servers.items():
            found.append(Service(f"toolpark-{name}", "toolpark", server.port, f"toolpark.servers.{name}.port"))
        if spec.scheduled_node:
            found.append(Service("scheduler", "scheduler", spec.scheduler.port, "scheduler.port"))
            if spec.scheduler.image_mirror is not None:
                found.append(Service("registry", "registry", spec.scheduler.image_mirror, "scheduler.image_mirror"))
        return {service.name: service for service in found}

    @cached_property
    def placement(self) -> dict[str, str]:
        """Component -> node name (the first node listing it; `toolpark.compose.checks` refuses doubles)."""
        placed: dict[str, str] = {}
        for node_name, node in self.spec.nodes.items():
            for component in node.services:
                placed.setdefault(component, node_name)
        if self.spec.scheduled_node and "postgres" in placed:
            placed["scheduler"] = placed["postgres"]  # it keeps its history there, and outlives the node
            placed["registry"] = placed["postgres"]  # beside it: an image cache outlives the node too
        return placed

    def on_scheduled_node(self, service: str) -> bool:
        return self.spec.scheduled_node is not None and self.node_of(service) == self.spec.scheduled_node

    def node_of(self, service: str) -> str:
        return self.placement[self.services[service].component]

    def services_on(self, node: str) -> list[Service]:
        return [s for s in self.services.values() if self.placement.get(s.component) == node]

    @cached_property
    def links(self) -> list[Link]:
        """Who calls whom inside the deployment (public traffic enters through Caddy)."""
        spec = self.spec
        toolpark = [f"toolpark-{name}" for name in spec.toolpark.servers]
        models = [s for s in (spec.models.service("chat"), spec.models.service("vision")) if s in self.services]
        embedding = [s for s in [spec.models.service("embedding")] if s in self.services]
        fronts = [s for s in ("librechat", "openwebui") if s in self.services]
        links = [Link("caddy", s) for s in fronts]
        if spec.librechat.enabled:
            links.append(Link("librechat", "mongodb"))
        links += [Link(front, s) for front in fronts for s in toolpark]
        if spec.openwebui.enabled and not spec.litellm.enabled:  # its document search embeds too
            links += [Link("openwebui", s) for s in embedding]
        if spec.litellm.enabled:
            links += [Link(front, "litellm") for front in fronts]
            links += [Link("litellm", "postgres")]
            links += [Link("litellm", s) for s in [*models, *embedding]]
            if spec.litellm.mcp_gateway:
                links += [Link("litellm", s) for s in toolpark]
            if spec.llm_hostname:
                links.append(Link("caddy", "litellm"))
        else:
            links += [Link(front, s) for front in fronts for s in models]
        if spec.keycloak.enabled:
            links += [Link("caddy", "keycloak"), Link("keycloak", "postgres")]
            if spec.auth_mode == "oidc":
                links += [Link(s, "keycloak") for s in toolpark]
        if spec.tools_hostname:
            links += [Link("caddy", s) for s in toolpark]
        if "scheduler" in self.services:
            links += [Link("scheduler", "postgres"), *(Link("scheduler", s) for s in models[:1])]
            if any(link.consumer == "caddy" and self.on_scheduled_node(link.provider) for link in links):
                links.append(Link("caddy", "scheduler"))  # the offline page
        for feed in WIRING:  # a server the stack feeds calls the feeding service
            wired = Link(f"toolpark-{feed.server}", service_of(spec, feed.source) or "")
            if feed.server in spec.toolpark.servers and wired.provider in self.services and wired not in links:
                links.append(wired)
        return links

    def address(self, consumer: str, provider: str) -> str:
        """`host:port` at which `consumer` reaches `provider`."""
        return self.addressing.address(self, consumer, provider)

    def url(self, consumer: str, provider: str, path: str = "") -> str:
        return f"http://{self.address(consumer, provider)}{path}"

    def model_url(self, consumer: str, role: str) -> str:
        """The OpenAI base URL (…/v1) at which `consumer` reaches the model of `role`."""
        model = self.spec.models.by_role()[role]
        service = self.spec.models.service(role)
        if service is None:
            assert model.url is not None  # an endpoint outside the stack has one (checks)
            return model.url
        return self.url(consumer, service, "/v1")

    def published(self, service: str) -> bool:
        """Whether a service on another node calls this one, so its port must be published. The
        scheduler is: the scheduled node fetches its files from it when it boots."""
        if service == "scheduler":
            return not self.one_machine
        return not self.one_machine and any(
            link.provider == service and self.node_of(link.consumer) != self.node_of(service) for link in self.links
        )

    def depends_on(self, service: str) -> list[str]:
        """Providers on the same node: compose can order start-up only within one node."""
        node = self.node_of(service)
        return sorted(
            {li.provider for li in self.links if li.consumer == service and self.node_of(li.provider) == node}
        )

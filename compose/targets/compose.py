"""The compose target: one docker compose file per node, from the shared service definitions."""

from __future__ import annotations

from typing import Any

from toolpark.compose.services import Probe, ServiceDef, service_definition
from toolpark.compose.spec import Deployment
from toolpark.compose.topology import Topology

__all__ = ["compose_file", "compose_path"]


def _healthcheck(test: list[str], start_s: int) -> dict[str, Any]:
    interval = "30s" if start_s > 300 else "15s"
    return {"test": test, "interval": interval, "timeout": "5s", "retries": 5, "start_period": f"{start_s}s"}


def _http_probe(probe: Probe) -> list[str]:
    """Python is in the vLLM, LiteLLM, Open WebUI and toolpark images; curl is not in all of them."""
    url = f"http://localhost:{probe.port}{probe.path}"
    return ["CMD", "python3", "-c", f"import urllib.request; urllib.request.urlopen({url!r}, timeout=4)"]


def _service(definition: ServiceDef) -> dict[str, Any]:
    service: dict[str, Any] = {"image": definition.image}
    if definition.command:
        service["command"] = definition.command
    service["environment"] = definition.environment
    volumes = [f"./{file}:{path}:ro" for file, path in definition.files.items()]
    volumes += [f"{volume}:{path}" for volume, path in definition.volumes.items()]
    if volumes:
        service["volumes"] = volumes
    service |= definition.container
    test = definition.healthcheck
    if test is None and definition.probe is not None and definition.probe.path is not None:
        test = _http_probe(definition.probe)
    if test is not None:
        service["healthcheck"] = _healthcheck(test, definition.start_s)
    return service


def _publish(topology: Topology, service: str, port: int) -> list[str]:
    """Publish on the node's private address only, and only when another node calls the service."""
    if not topology.published(service):
        return []
    return [f"{topology.spec.nodes[topology.node_of(service)].address}:{port}:{port}"]


def compose_path(spec: Deployment, node: str) -> str:
    """The compose file of a node, in the rendered folder."""
    return "compose.yaml" if len(spec.nodes) == 1 else f"compose.{node}.yaml"


def compose_file(topology: Topology, node: str) -> dict[str, Any]:
    """The compose file of one node: its services in start-up order, with their volumes."""
    spec = topology.spec
    services: dict[str, dict[str, Any]] = {}
    volumes: set[str] = set()
    for entry in topology.services_on(node):
        definition = service_definition(topology, entry.name)
        service = {"restart": "unless-stopped", **_service(definition)}
        if ports := _publish(topology, entry.name, entry.port):
            service["ports"] = [*service.get("ports", []), *ports]
        if depends := topology.depends_on(entry.name):
            # Caddy serves an error page until its upstreams are up; others wait for health.
            condition = "service_started" if entry.name == "caddy" else "service_healthy"
            service["depends_on"] = {d: {"condition": condition} for d in depends}
        services[entry.name] = service
        volumes.update(definition.volumes)
    document: dict[str, Any] = {"name": f"{spec.name}-{node}" if len(spec.nodes) > 1 else spec.name}
    document["services"] = services
    if volumes:
        document["volumes"] = {v: {} for v in sorted(volumes)}
    return document

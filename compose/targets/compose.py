"""The compose target: one docker compose file per node, from the shared service definitions, the
image they run (the Dockerfile), and the scheduled node's cloud-init user data. Services reach
each other on each node's network.

The user data holds no secret: a cloud keeps it, and shows it to anyone with console access.
It holds a placeholder that the scheduler replaces, per node, with a one-time bootstrap token;
the node trades that token for its compose file and the secrets it needs, over the private
network, once (`toolpark.compose.scheduler.service`).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from toolpark.compose.caddy import sites
from toolpark.compose.dockerfile import dockerfile
from toolpark.compose.formats import yaml_file
from toolpark.compose.secrets import BOOT_KEY
from toolpark.compose.services import Probe, ServiceDef, service_definition
from toolpark.compose.spec import Deployment
from toolpark.compose.topology import NODE_NETWORKS, Topology

__all__ = [
    "TARGET",
    "TOKEN_PLACEHOLDER",
    "ComposeTarget",
    "cloud_init",
    "compose_file",
    "compose_path",
    "user_data_file",
]


def _healthcheck(test: list[str], start_s: int) -> dict[str, Any]:
    interval = "30s" if start_s > 300 else "15s"
    return {"test": test, "interval": interval, "timeout": "5s", "retries": 5, "start_period": f"{start_s}s"}


def _http_probe(probe: Probe) -> list[str]:
    """Python is in the vLLM, LiteLLM, Open WebUI and toolpark images; curl is not in all of them."""
    url = f"http://localhost:{probe.port}{probe.path}"
    return ["CMD", "python3", "-c", f"import urllib.request; urllib.request.urlopen({url!r}, timeout=4)"]


def _container(definition: ServiceDef) -> dict[str, Any]:
    """What the container needs beyond its command, as compose names it."""
    keys: dict[str, Any] = {}
    if definition.entrypoint is not None:
        keys["entrypoint"] = definition.entrypoint
    if definition.host_ipc:
        keys["ipc"] = "host"
    if definition.shm_size is not None:
        keys["shm_size"] = definition.shm_size
    if definition.gpus:
        devices = [{"driver": "nvidia", "count": definition.gpus, "capabilities": ["gpu"]}]
        keys["deploy"] = {"resources": {"reservations": {"devices": devices}}}
    if definition.host_ports:
        keys["ports"] = definition.host_ports
    return keys


def _service(definition: ServiceDef, build: dict[str, Any] | None = None) -> dict[str, Any]:
    service: dict[str, Any] = {"image": definition.image}
    if build is not None:
        service["build"] = build
    if definition.command:
        service["command"] = definition.command
    service["environment"] = definition.environment
    volumes = [f"./{file}:{path}:ro" for file, path in definition.files.items()]
    volumes += [f"{volume}:{path}" for volume, path in definition.volumes.items()]
    if volumes:
        service["volumes"] = volumes
    service |= _container(definition)
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


def _toolpark_build(source: str) -> dict[str, Any]:
    """Build the toolpark image where it runs: the rendered Dockerfile, the code from `source` (a
    named context, so a checkout or a git URL serves alike)."""
    return {"context": "./toolpark", "additional_contexts": {"source": source}}


_CHECKED = "service_completed_successfully"


def _helper(
    spec: Deployment, definition: ServiceDef, command: list[str], build: dict[str, Any] | None
) -> dict[str, Any]:
    """A one-shot container in the toolpark image running a `toolpark` command for the service
    (its check first, the save after), with the service's volumes, its S3 settings and the boot
    report key (not its other secrets)."""
    needed = {key: value for key, value in definition.environment.items() if key.startswith("AWS_") or key == BOOT_KEY}
    service: dict[str, Any] = {"image": spec.toolpark.image, "command": command}
    if spec.toolpark.source is not None:
        service["build"] = build or _toolpark_build(spec.toolpark.source)
    volumes = [f"{volume}:{path}" for volume, path in definition.volumes.items()]
    return service | {"environment": needed, "volumes": volumes, "restart": "no"}


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
        source = spec.toolpark.source  # the toolpark image is built where it runs, from its source
        build = _toolpark_build(source) if source is not None and definition.image == spec.toolpark.image else None
        service = {"restart": "unless-stopped", **_service(definition, build)}
        if ports := _publish(topology, entry.name, entry.port):
            service["ports"] = [*service.get("ports", []), *ports]
        if depends := topology.depends_on(entry.name):
            # Caddy serves an error page until its upstreams are up; others wait for health.
            condition = "service_started" if entry.name == "caddy" else "service_healthy"
            service["depends_on"] = {d: {"condition": condition} for d in depends}
        if definition.check_first:
            # The check runs first, in the toolpark image (the model server's image lacks toolpark).
            check_name = f"{entry.name}-check"
            services[check_name] = _helper(spec, definition, definition.check_first, build)
            service["depends_on"] = {**service.get("depends_on", {}), check_name: {"condition": _CHECKED}}
        services[entry.name] = service
        if definition.after_healthy:
            after = _helper(spec, definition, definition.after_healthy, build)
            services[f"{entry.name}-after"] = after | {"depends_on": {entry.name: {"condition": "service_healthy"}}}
        volumes.update(definition.volumes)
    document: dict[str, Any] = {"name": f"{spec.name}-{node}" if len(spec.nodes) > 1 else spec.name}
    document["services"] = services
    if volumes:
        document["volumes"] = {v: {} for v in sorted(volumes)}
    return document


TOKEN_PLACEHOLDER = "__TOOLPARK_BOOTSTRAP_TOKEN__"

_START = r"""#!/bin/sh
# The scheduled node's start: wait for the private network, fetch the node's files from the
# scheduler with the one-time token, pull the pinned images, start.
set -eu
umask 077  # before the first byte of the bundle (it holds the node's secrets) is written
token="$1"
for i in $(seq 1 90); do
    ip -o addr show | grep -q " {address}/" && break
    echo "waiting for the private address {address} ($i)"; sleep 10
done
mkdir -p /opt/toolpark && cd /opt/toolpark
for i in $(seq 1 30); do
    curl -fsS --max-time 60 -H "Authorization: Bearer $token" -o bundle.tar.gz {url} && break
    echo "the scheduler at {url} did not answer ($i)"; sleep 10
done
tar -xzf bundle.tar.gz && rm bundle.tar.gz
# Boot phases for the scheduler's history (`toolpark gpu status`); a report that fails costs nothing.
key=$(sed -n 's/^TOOLPARK_BOOT_KEY=//p' .env)
report() {{
    curl -fsS --max-time 10 -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
        -d "{{\"phase\": \"$1\", \"ok\": $2}}" {boot} >/dev/null || true
}}
if docker compose -f {compose} pull --ignore-buildable; then report images true; else report images false; exit 1; fi
docker compose -f {compose} up -d
"""


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the start script) as literal blocks, readable in the rendered file."""


_Dumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None),
)


def user_data_file(node: str) -> str:
    return f"scheduler/{node}.cloud-init.yaml"


def cloud_init(topology: Topology, node: str) -> str:
    """#cloud-config for the scheduled node (compose target): the container runtime, then its start."""
    spec = topology.spec
    entry = spec.nodes[topology.node_of("scheduler")]
    url = f"http://{entry.address}:{spec.scheduler.port}/bootstrap"
    boot = f"http://{entry.address}:{spec.scheduler.port}/boot"
    start = _START.format(address=spec.nodes[node].address, url=url, boot=boot, compose=compose_path(spec, node))
    files = [{"path": "/usr/local/sbin/toolpark-node-start", "permissions": "0700", "content": start}]
    if (port := spec.scheduler.image_mirror) is not None:
        # Written before the packages install docker: Docker Hub's images come through the entry
        # server's cache (plain HTTP over the private network; docker falls back to the hub).
        mirror = f"{entry.address}:{port}"
        daemon = {"registry-mirrors": [f"http://{mirror}"], "insecure-registries": [mirror]}
        files.append({"path": "/etc/docker/daemon.json", "permissions": "0644", "content": json.dumps(daemon)})
    document = {
        "package_update": True,
        # The GPU driver and the NVIDIA container toolkit come with the provider's GPU image.
        "packages": ["docker.io", "docker-compose-v2", "curl"],
        "write_files": files,
        "runcmd": [
            ["systemctl", "enable", "--now", "docker"],
            ["/usr/local/sbin/toolpark-node-start", TOKEN_PLACEHOLDER],
        ],
    }
    header = "#cloud-config\n# Rendered by `toolpark compose render`; the scheduler fills in a one-time token.\n"
    return header + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=200)


class ComposeTarget:
    """Docker compose on each node; the whole folder goes to every node, and each runs its own file."""

    name = "compose"
    addressing = NODE_NETWORKS

    def render(self, topology: Topology) -> dict[str, str]:
        spec = topology.spec
        files = {compose_path(spec, node): yaml_file(compose_file(topology, node)) for node in spec.nodes}
        files["toolpark/Dockerfile"] = dockerfile(spec)
        if node := spec.scheduled_node:
            files[user_data_file(node)] = cloud_init(topology, node)
        return files

    def next_steps(self, topology: Topology, spec_path: str, out: str) -> list[str]:
        spec = topology.spec
        source, image = spec.toolpark.source, spec.toolpark.image
        steps = []
        if source is None:
            steps.append(
                f"build the image {image} and push it where the nodes pull it from: docker build "
                f"--build-context source=/path/to/toolpark -t {image} {out}/toolpark && docker push {image}"
            )
        build = " --build" if source is not None else ""  # builds toolpark.image from toolpark.source
        for node in spec.nodes:
            compose = compose_path(spec, node)
            if node == spec.scheduled_node:
                steps.append(
                    f"node {node}: nothing to copy; the scheduler creates it in its windows, and at boot it "
                    f"fetches {compose} and its secrets from the scheduler (toolpark gpu status --deploy {out})"
                )
                continue
            where = "the server" if len(spec.nodes) == 1 else f"node {node} ({spec.nodes[node].address})"
            steps.append(
                f"{where}: copy {out}/ there (its .env holds every secret: keep it mode 0600), then in it: "
                f"docker compose -f {compose} up -d{build}"
            )
        hostnames = [host for host, _ in sites(topology)]
        entry = topology.node_of("caddy")
        steps.append(
            f"DNS: point {', '.join(hostnames)} at node {entry}'s public address, with ports 80 and 443 open; "
            "Caddy fetches their certificates on the first request"
        )
        steps.append(
            f"open https://{hostnames[0]}: the first login, upgrades and backups are in docs/deploying/compose.md"
        )
        return steps


TARGET = ComposeTarget()

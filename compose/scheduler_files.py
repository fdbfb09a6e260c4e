"""What the scheduler needs rendered beside the stack: the spec it schedules by, the scheduled
node's cloud-init user data, and the bundle of files that node fetches when it boots.

The user data holds no secret: a cloud keeps it, and shows it to anyone with console access.
It holds a placeholder that the scheduler replaces, per node, with a one-time bootstrap token;
the node trades that token for its compose file and the secrets it needs, over the private
network, once (`toolpark.compose.scheduler.service`).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path

import yaml

from toolpark.compose.references import REFERENCE
from toolpark.compose.secrets import format_env
from toolpark.compose.services import service_definition
from toolpark.compose.stack import compose_path
from toolpark.compose.topology import Topology

__all__ = ["SPEC_FILE", "TOKEN_PLACEHOLDER", "bundle", "cloud_init", "scheduler_files", "user_data_file"]

SPEC_FILE = "scheduler/spec.json"
TOKEN_PLACEHOLDER = "__TOOLPARK_BOOTSTRAP_TOKEN__"

_START = """#!/bin/sh
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
docker compose -f {compose} pull
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
    start = _START.format(address=spec.nodes[node].address, url=url, compose=compose_path(spec, node))
    document = {
        "package_update": True,
        # The GPU driver and the NVIDIA container toolkit come with the provider's GPU image.
        "packages": ["docker.io", "docker-compose-v2", "curl"],
        "write_files": [{"path": "/usr/local/sbin/toolpark-node-start", "permissions": "0700", "content": start}],
        "runcmd": [
            ["systemctl", "enable", "--now", "docker"],
            ["/usr/local/sbin/toolpark-node-start", TOKEN_PLACEHOLDER],
        ],
    }
    header = "#cloud-config\n# Rendered by `toolpark compose render`; the scheduler fills in a one-time token.\n"
    return header + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=200)


def scheduler_files(topology: Topology, target: str) -> dict[str, str]:
    node = topology.spec.scheduled_node
    assert node is not None
    files = {SPEC_FILE: json.dumps({"target": target, "spec": topology.spec.model_dump(mode="json")}, indent=2)}
    if target == "compose":
        files[user_data_file(node)] = cloud_init(topology, node)
    return files


def bundle(folder: Path, topology: Topology, node: str, secrets: Mapping[str, str]) -> bytes:
    """tar.gz of what the node runs: its compose file, the files its services mount, and the
    secrets those name (only those: the node never sees the entry server's own)."""
    names = [compose_path(topology.spec, node)]
    for service in topology.services_on(node):
        names += [file for file in service_definition(topology, service.name).files if file != "."]
    texts = {name: (folder / name).read_text(encoding="utf-8") for name in dict.fromkeys(names)}
    needed = {ref for text in texts.values() for ref in REFERENCE.findall(text)}
    texts[".env"] = format_env({key: value for key, value in secrets.items() if key in needed})
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in texts.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
